/* Every compiled and supported SIMD path of the DSP primitives (dot, xcorr, taps, FFT stage)
 * agrees with the scalar twin. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "dsp.h"

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); return 1; } } while (0)
#define N 963
#define LAGS 37

static int close_to(float a, float b) { return fabsf(a - b) <= 1e-4f * (1.f + fabsf(b)); }

int main(void)
{
    static float x[N + LAGS], y[N + LAGS], ref[LAGS], got[LAGS], a1[N], a2[N];
    srand(7);
    for (int i = 0; i < N + LAGS; i++) {
        x[i] = (float)rand() / RAND_MAX - 0.5f;
        y[i] = (float)rand() / RAND_MAX - 0.5f;
    }
    const pn_dsp_ops *s = &pn_dsp_scalar;
    static pn_fft fs, fv;
    static float frame[PN_WINDOW];
    static pn_cpx Xs[PN_BINS], Xv[PN_BINS];
    pn_fft_init(&fs, s->fft_stage);
    for (int i = 0; i < PN_WINDOW; i++)
        frame[i] = x[i % N];
    pn_rfft(&fs, frame, Xs);
    int tested = 0;
    for (int level = 1; level < PN_SIMD_COUNT; level++) {
        const pn_dsp_ops *v = pn_dsp_ops_for((pn_simd_level)level);
        if (!v)
            continue;
        tested++;
        for (int n = 0; n <= N; n += (n < 40 ? 1 : 97)) {
            CHECK(close_to(v->dot(x, y, n), s->dot(x, y, n)));
            int lags = n % LAGS + 1;
            s->xcorr(x, y, n, lags, ref);
            v->xcorr(x, y, n, lags, got);
            for (int l = 0; l < lags; l++)
                CHECK(close_to(got[l], ref[l]));
            /* taps around x + LAGS / 2, the comb filter's shape: up to PN_TAPS_MAX, both signs */
            int ntaps = n % PN_TAPS_MAX + 1, off[PN_TAPS_MAX];
            float w[PN_TAPS_MAX];
            for (int t = 0; t < ntaps; t++) {
                off[t] = (t * 5) % LAGS - LAGS / 2;
                w[t] = 0.1f * (float)(t + 1);
            }
            s->taps(x + LAGS / 2, off, w, ntaps, n, a1);
            v->taps(x + LAGS / 2, off, w, ntaps, n, a2);
            for (int i = 0; i < n; i++)
                CHECK(close_to(a2[i], a1[i]));
        }
        pn_fft_init(&fv, v->fft_stage);
        pn_rfft(&fv, frame, Xv);
        for (int k = 0; k < PN_BINS; k++)
            CHECK(close_to(Xv[k].r, Xs[k].r) && close_to(Xv[k].i, Xs[k].i));
    }
    CHECK(pn_dsp_ops_for(PN_SIMD_SCALAR) == s);
    CHECK(pn_dsp_ops_active() != NULL);
    printf("ok: %d SIMD path(s) match scalar\n", tested);
    return 0;
}
