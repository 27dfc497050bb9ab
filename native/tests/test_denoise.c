/* The stream pipeline: unit gains and no comb give the input back delayed by the latency,
 * the oracle of a clean signal against itself keeps everything, zero gains silence the
 * output, and bad arguments are refused with codes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "percepnet.h"

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); return 1; } } while (0)
#define HOPS 20
#define LEN (HOPS * PN_HOP)

static float sig[LEN], out[LEN];

static void make_signal(void)
{
    srand(11);
    for (int i = 0; i < LEN; i++)
        sig[i] = 0.3f * sinf(0.031f * i) * sinf(0.0007f * i) + 0.05f * ((float)rand() / RAND_MAX - 0.5f);
}

static int run(pn_state *st, const float *g, const float *r)
{
    float f[PN_NB_FEATURES];
    for (int h = 0; h < HOPS; h++) {
        if (pn_analyze(st, sig + h * PN_HOP, f) != PN_OK || pn_synthesize(st, g, r, out + h * PN_HOP) != PN_OK)
            return 0;
        for (int k = 0; k < PN_NB_FEATURES; k++)
            if (!isfinite(f[k]))
                return 0;
    }
    return 1;
}

int main(void)
{
    float ones[PN_NB_BANDS], zeros[PN_NB_BANDS], g[PN_NB_BANDS], r[PN_NB_BANDS], f[PN_NB_FEATURES];
    for (int b = 0; b < PN_NB_BANDS; b++) {
        ones[b] = 1.f;
        zeros[b] = 0.f;
    }
    make_signal();
    const int L = pn_latency_samples(PN_SAMPLE_RATE);
    CHECK(L == 3 * PN_HOP);  /* 30 ms */

    pn_config cfg;
    pn_config_default(&cfg);
    CHECK(cfg.comb == 1 && cfg.postfilter == 1);
    pn_state *st;
    CHECK(pn_create(&cfg, NULL, &st) == PN_OK);
    CHECK(run(st, ones, zeros));
    float err = 0.f;
    for (int i = L; i < LEN; i++)
        err = fmaxf(err, fabsf(out[i] - sig[i - L]));
    CHECK(err < 1e-5f);
    for (int i = 0; i < L; i++)
        CHECK(fabsf(out[i]) < 1e-6f);

    /* reset gives the same stream again */
    float first = out[LEN - 1];
    pn_reset(st);
    CHECK(run(st, ones, zeros));
    CHECK(out[LEN - 1] == first);

    /* zero gains: silence */
    pn_reset(st);
    CHECK(run(st, zeros, zeros));
    for (int i = 0; i < LEN; i++)
        CHECK(out[i] == 0.f);

    /* full comb strength keeps the signal's level (energy normalisation) */
    pn_reset(st);
    CHECK(run(st, ones, ones));
    double ei = 0.0, eo = 0.0;
    for (int i = L + PN_HOP; i < LEN; i++) {
        ei += sig[i - L] * sig[i - L];
        eo += out[i] * out[i];
    }
    CHECK(eo > 0.7 * ei && eo < 1.3 * ei);

    /* the oracle of a signal against itself keeps it */
    pn_reset(st);
    for (int h = 0; h < HOPS; h++) {
        CHECK(pn_oracle_step(st, sig + h * PN_HOP, sig + h * PN_HOP, f, g, r) == PN_OK);
        for (int b = 0; b < PN_NB_BANDS; b++) {
            CHECK(fabsf(g[b] - 1.f) < 1e-3f);
            CHECK(r[b] >= 0.f && r[b] <= 1.f);
        }
    }

    /* errors are codes */
    CHECK(pn_create(NULL, NULL, NULL) == PN_ERR_ARG);
    CHECK(pn_analyze(st, NULL, f) == PN_ERR_ARG);
    CHECK(pn_synthesize(st, ones, NULL, out) == PN_ERR_ARG);
    g[3] = NAN;
    CHECK(pn_synthesize(st, g, zeros, out) == PN_ERR_ARG);
    /* without a model, pn_process is the DSP alone: unit gains and no comb */
    pn_state *twin;
    CHECK(pn_create(&cfg, NULL, &twin) == PN_OK);
    pn_reset(st);
    float a[PN_HOP], b[PN_HOP];
    for (int h = 0; h < 20; h++) {
        CHECK(pn_process(st, sig + h * PN_HOP, a) == PN_OK);
        CHECK(pn_analyze(twin, sig + h * PN_HOP, f) == PN_OK);
        CHECK(pn_synthesize(twin, ones, zeros, b) == PN_OK);
        CHECK(memcmp(a, b, sizeof a) == 0);
    }
    pn_destroy(twin);
    /* a non-finite sample is refused before it reaches the state */
    static float bad[PN_HOP];
    bad[100] = INFINITY;
    CHECK(pn_analyze(st, bad, f) == PN_ERR_ARG);
    bad[100] = NAN;
    CHECK(pn_oracle_step(st, sig, bad, f, g, r) == PN_ERR_ARG);
    pn_reset(st);
    CHECK(run(st, ones, zeros));
    CHECK(out[LEN - 1] == first);
    pn_stats stats;
    CHECK(pn_get_stats(st, &stats) == PN_OK);
    CHECK(stats.frames > 0 && stats.dsp_us >= 0.f);
    CHECK(pn_get_stats(NULL, &stats) == PN_ERR_ARG);
    pn_destroy(st);
    pn_destroy(NULL);
    printf("ok: passthrough error %.2g at %d samples delay\n", err, L);
    return 0;
}
