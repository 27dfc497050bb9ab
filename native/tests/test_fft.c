/* The 960-point real FFT against a direct DFT, and its inverse round trip. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "dsp.h"

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); return 1; } } while (0)

int main(void)
{
    static pn_fft f;
    pn_fft_init(&f, pn_dsp_scalar.fft_stage);
    float x[PN_WINDOW], y[PN_WINDOW];
    pn_cpx X[PN_BINS];
    srand(1);
    for (int i = 0; i < PN_WINDOW; i++)
        x[i] = (float)rand() / RAND_MAX - 0.5f;
    pn_rfft(&f, x, X);
    double worst = 0.0;
    for (int k = 0; k < PN_BINS; k++) {
        double re = 0.0, im = 0.0;
        for (int n = 0; n < PN_WINDOW; n++) {
            double a = -2.0 * PN_PI * (double)k * n / PN_WINDOW;
            re += x[n] * cos(a);
            im += x[n] * sin(a);
        }
        double e = hypot(X[k].r - re, X[k].i - im);
        worst = e > worst ? e : worst;
    }
    CHECK(worst < 1e-3);  /* |X| ~ 9 here: float rounding */
    pn_irfft(&f, X, y);
    float err = 0.f;
    for (int i = 0; i < PN_WINDOW; i++)
        err = fmaxf(err, fabsf(y[i] - x[i]));
    CHECK(err < 1e-5f);
    /* a bin-centred cosine lands in its bin only */
    for (int i = 0; i < PN_WINDOW; i++)
        x[i] = cosf((float)(2.0 * PN_PI * 37 * i / PN_WINDOW));
    pn_rfft(&f, x, X);
    CHECK(fabsf(X[37].r - PN_WINDOW / 2) < 1e-2f);
    CHECK(fabsf(X[36].r) < 1e-2f && fabsf(X[38].i) < 1e-2f);
    printf("ok: max DFT error %.2g, round trip %.2g\n", worst, err);
    return 0;
}
