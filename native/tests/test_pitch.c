/* Pitch tracking finds the period of harmonic voices from 70 to 650 Hz in noise, reports a
 * high correlation for them and a low one for noise alone. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "percepnet.h"

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); return 1; } } while (0)

static float noise(void) { return (float)rand() / RAND_MAX - 0.5f; }

/* Runs 12 hops of a voice at f0 (0: no voice) plus noise; returns the last stats. */
static int run(float f0, float noise_amp, pn_stats *s, float *feat_period)
{
    pn_state *st;
    if (pn_create(NULL, NULL, &st) != PN_OK)
        return 0;
    float in[PN_HOP], f[PN_NB_FEATURES];
    double phase = 0.0;
    for (int h = 0; h < 12; h++) {
        for (int i = 0; i < PN_HOP; i++) {
            float v = 0.f;
            for (int k = 1; f0 > 0.f && k * f0 < 4000.f; k++)
                v += sinf((float)(k * phase)) / (float)k;
            phase += 2.0 * 3.14159265358979 * f0 / PN_SAMPLE_RATE;
            in[i] = 0.1f * v + noise_amp * noise();
        }
        pn_analyze(st, in, f);
    }
    pn_get_stats(st, s);
    *feat_period = f[2 * PN_NB_BANDS] * 800.f;
    pn_destroy(st);
    return 1;
}

int main(void)
{
    static const float f0s[] = {70.f, 110.f, 150.f, 220.f, 300.f, 450.f, 650.f};
    srand(5);
    for (unsigned i = 0; i < sizeof f0s / sizeof f0s[0]; i++) {
        pn_stats s;
        float fp;
        CHECK(run(f0s[i], 0.05f, &s, &fp));
        float want = PN_SAMPLE_RATE / f0s[i];
        printf("f0 %.0f Hz: period %.1f (want %.1f) corr %.2f, newest %.0f\n", f0s[i], s.pitch_period, want,
               s.pitch_corr, fp);
        CHECK(fabsf(s.pitch_period - want) <= 0.01f * want + 1.f);
        CHECK(fabsf(fp - want) <= 0.01f * want + 1.f);
        CHECK(s.pitch_corr > 0.7f);
    }
    pn_stats s;
    float fp;
    CHECK(run(0.f, 0.3f, &s, &fp));
    CHECK(s.pitch_corr < 0.5f);
    printf("ok: noise alone corr %.2f\n", s.pitch_corr);
    return 0;
}
