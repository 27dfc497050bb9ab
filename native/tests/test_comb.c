/* Comb filter: a signal periodic in T passes unchanged, white noise loses power by the
 * predicted gain, and future taps are limited to the lookahead. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "comb.h"

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); return 1; } } while (0)
#define T 240
#define N 960
#define PAD (PN_COMB_M * T)

int main(void)
{
    static float buf[PAD + N + PAD], p[N];
    const pn_dsp_ops *ops = &pn_dsp_scalar;
    CHECK(pn_comb_kmax(320, 960) == 3);
    CHECK(pn_comb_kmax(400, 960) == 2);
    CHECK(pn_comb_kmax(800, 960) == 1);
    CHECK(pn_comb_kmax(200, 0) == 0);
    CHECK(fabsf(pn_comb_noise_gain(0, 1) - pn_comb_noise_gain(3, 1)) > 0.01f);  /* fewer taps, less gain */

    for (int i = 0; i < PAD + N + PAD; i++)
        buf[i] = sinf(2.f * 3.14159265f * i / T) + 0.3f * sinf(6.f * 3.14159265f * i / T + 1.f);
    for (int kmax = 0; kmax <= PN_COMB_M; kmax++) {
        pn_comb(ops, buf + PAD, N, T, kmax, kmax % 2, p);
        for (int i = 0; i < N; i++)
            CHECK(fabsf(p[i] - buf[PAD + i]) < 1e-4f);
    }

    srand(3);
    for (int i = 0; i < PAD + N + PAD; i++)
        buf[i] = (float)rand() / RAND_MAX - 0.5f;
    double ex = 0.0, ep = 0.0;
    pn_comb(ops, buf + PAD, N, T, PN_COMB_M, 1, p);
    for (int i = 0; i < N; i++) {
        ex += buf[PAD + i] * buf[PAD + i];
        ep += p[i] * p[i];
    }
    double gain = ep / ex, want = pn_comb_noise_gain(PN_COMB_M, 1);
    CHECK(fabs(gain - want) < 0.25 * want);
    CHECK(want < 0.25);
    printf("ok: noise power gain %.3f (predicted %.3f)\n", gain, want);
    return 0;
}
