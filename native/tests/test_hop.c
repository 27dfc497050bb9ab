/* The live hop: bypass plays the input delayed by exactly the latency, the kernel mode plays
 * what the state alone gives (converted to S16 as edge/audio/pcm.py does), priming feeds the
 * state while the delayed input plays, the crossfade runs from one to the other, channels are
 * picked and filled, bad arguments and modes are refused (the delayed input still plays). The
 * float entry (the LADSPA plugin's), in blocks of any size, plays the same bytes one hop later. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "percepnet.h"

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); return 1; } } while (0)
#define HOPS 24
#define MAXCH 3

static int16_t sig[HOPS * PN_HOP];

static void make_signal(int n)
{
    srand(5);
    for (int i = 0; i < n; i++)
        sig[i] = (int16_t)(9000.f * sinf(0.023f * i) * sinf(0.0011f * i) + (rand() % 2001) - 1000);
}

/* edge/audio/pcm.py's rule: x * 32768 rounded half to even, saturated */
static int16_t ref_s16(float v)
{
    v *= 32768.f;
    return v >= 32767.f ? 32767 : (v <= -32768.f ? -32768 : (int16_t)lrintf(v));
}

static long frames_of(const pn_state *st)
{
    pn_stats s;
    return pn_get_stats(st, &s) == PN_OK ? s.frames : -1;
}

/* The state alone, one hop: unit gains, no comb (what pn_hop does without a model). */
static int ref_step(pn_state *st, const float *x, float *y)
{
    float f[PN_NB_FEATURES], ones[PN_NB_BANDS], zeros[PN_NB_BANDS];
    for (int b = 0; b < PN_NB_BANDS; b++) {
        ones[b] = 1.f;
        zeros[b] = 0.f;
    }
    return pn_analyze(st, x, f) == PN_OK && pn_synthesize(st, ones, zeros, y) == PN_OK;
}

static int float_blocks_at(int rate);

static int modes_at(int rate)
{
    const int hop = pn_hop_samples(rate), L = pn_latency_samples(rate), n = HOPS * hop;
    make_signal(n);
    pn_config cfg;
    pn_config_default(&cfg);
    cfg.rate = rate;
    pn_state *st, *ref;
    pn_hop *h;
    CHECK(pn_create(&cfg, NULL, &st) == PN_OK && pn_create(&cfg, NULL, &ref) == PN_OK);
    CHECK(pn_hop_create(st, 1, 0, -1, &h) == PN_OK);
    int16_t out[PN_HOP];
    float x[PN_HOP], y[PN_HOP];

    /* hops 0-5 bypass, 6-9 prime, 10 fades in, the rest play the kernel */
    for (int k = 0; k < HOPS; k++) {
        const int16_t *in = sig + k * hop;
        const int mode = k < 6 ? PN_HOP_BYPASS : k < 10 ? PN_HOP_PRIME : k == 10 ? PN_HOP_FADE : PN_HOP_KERNEL;
        const long before = frames_of(st);
        CHECK(pn_hop_run(h, in, out, mode) == PN_OK);
        CHECK(frames_of(st) == before + (mode != PN_HOP_BYPASS));
        for (int i = 0; i < hop; i++)
            x[i] = in[i] / 32768.f;
        if (mode != PN_HOP_BYPASS)
            CHECK(ref_step(ref, x, y));         /* the reference state sees the same hops */
        for (int i = 0; i < hop; i++) {
            const int t = k * hop + i;
            const int16_t dry = t >= L ? sig[t - L] : 0;
            int16_t want = dry;
            if (mode == PN_HOP_KERNEL)
                want = ref_s16(y[i]);
            else if (mode == PN_HOP_FADE) {
                const float d = dry / 32768.f, f = (float)((double)i / hop);
                want = ref_s16(d + f * (y[i] - d));
            }
            CHECK(out[i] == want);
        }
    }
    pn_hop_destroy(h);
    pn_destroy(st);
    pn_destroy(ref);
    return float_blocks_at(rate);
}

/* The same hops through pn_hop_run and pn_hop_run_float (blocks of 1 to 1000 samples): the
 * float entry plays output hop k in the samples of input hop k + 1, and so takes there the
 * mode that feeds hop k + 1 as pn_hop_run does and plays hop k as it does: its crossfade, a
 * change from priming to the kernel, is pn_hop_run's fade hop. */
static int float_blocks_at(int rate)
{
    const int hop = pn_hop_samples(rate), n = HOPS * hop;
    static const int sizes[] = {1, 7, 479, 1000, 333, 160};
    pn_config cfg;
    pn_config_default(&cfg);
    cfg.rate = rate;
    pn_state *st, *fst;
    pn_hop *h, *fh;
    CHECK(pn_create(&cfg, NULL, &st) == PN_OK && pn_create(&cfg, NULL, &fst) == PN_OK);
    CHECK(pn_hop_create(st, 1, 0, -1, &h) == PN_OK && pn_hop_create(fst, 1, 0, -1, &fh) == PN_OK);
    static int16_t want[HOPS * PN_HOP];
    static float x[HOPS * PN_HOP], y[HOPS * PN_HOP];
    for (int k = 0; k < HOPS; k++) {
        const int mode = k < 6 ? PN_HOP_BYPASS : k < 10 ? PN_HOP_PRIME : k == 10 ? PN_HOP_FADE : PN_HOP_KERNEL;
        CHECK(pn_hop_run(h, sig + k * hop, want + k * hop, mode) == PN_OK);
    }
    for (int i = 0; i < n; i++)
        x[i] = sig[i] / 32768.f;
    for (int t = 0, b = 0; t < n; b = (b + 1) % (int)(sizeof sizes / sizeof *sizes)) {
        const int k = t / hop, end = (k + 1) * hop, len = t + sizes[b] < end ? sizes[b] : end - t;
        const int mode = k < 6 ? PN_HOP_BYPASS : k < 11 ? PN_HOP_PRIME : PN_HOP_KERNEL;
        CHECK(pn_hop_run_float(fh, x + t, y + t, (size_t)len, mode) == PN_OK);
        t += len;
    }
    for (int t = hop; t < n; t++)
        CHECK(ref_s16(y[t]) == want[t - hop]);
    for (int t = 0; t < hop; t++)
        CHECK(y[t] == 0.f);
    pn_hop_destroy(h);
    pn_hop_destroy(fh);
    pn_destroy(st);
    pn_destroy(fst);
    return 0;
}

int main(void)
{
    const int rates[] = {48000, 16000, 44100};
    for (size_t r = 0; r < sizeof rates / sizeof *rates; r++)
        if (modes_at(rates[r]))
            return 1;

    pn_state *st;
    pn_hop *h = (pn_hop *)1;
    CHECK(pn_create(NULL, NULL, &st) == PN_OK);
    CHECK(pn_hop_create(NULL, 1, 0, -1, &h) == PN_ERR_ARG && h == NULL);
    CHECK(pn_hop_create(st, 0, 0, -1, &h) == PN_ERR_ARG);
    CHECK(pn_hop_create(st, 2, 2, -1, &h) == PN_ERR_ARG);
    CHECK(pn_hop_create(st, 2, 0, 2, &h) == PN_ERR_ARG);
    CHECK(pn_hop_create(st, 1, 0, -1, NULL) == PN_ERR_ARG);

    /* three channels: the middle one is heard, the last one plays, the others are silent */
    make_signal(HOPS * PN_HOP);
    const int L = pn_latency_samples(PN_SAMPLE_RATE);
    static int16_t in[PN_HOP * MAXCH], out[PN_HOP * MAXCH];
    pn_hop *all;
    CHECK(pn_hop_create(st, MAXCH, 1, 2, &h) == PN_OK && pn_hop_create(st, MAXCH, 1, -1, &all) == PN_OK);
    for (int k = 0; k < 5; k++) {
        for (int i = 0; i < PN_HOP; i++) {
            in[i * MAXCH] = 1234;
            in[i * MAXCH + 1] = sig[k * PN_HOP + i];
            in[i * MAXCH + 2] = -4321;
        }
        CHECK(pn_hop_run(h, in, out, PN_HOP_BYPASS) == PN_OK);
        for (int i = 0; i < PN_HOP; i++) {
            const int t = k * PN_HOP + i;
            CHECK(out[i * MAXCH] == 0 && out[i * MAXCH + 1] == 0);
            CHECK(out[i * MAXCH + 2] == (t >= L ? sig[t - L] : 0));
        }
        CHECK(pn_hop_run(all, in, out, PN_HOP_BYPASS) == PN_OK);
        for (int i = 0; i < PN_HOP; i++) {
            const int t = k * PN_HOP + i;
            for (int c = 0; c < MAXCH; c++)
                CHECK(out[i * MAXCH + c] == (t >= L ? sig[t - L] : 0));
        }
    }
    pn_hop_destroy(all);

    /* an unknown mode is refused, and the delayed input still plays */
    memset(out, 0x55, sizeof out);
    CHECK(pn_hop_run(h, in, out, 7) == PN_ERR_ARG);
    for (int i = 0; i < PN_HOP; i++)
        CHECK(out[i * MAXCH + 2] == sig[5 * PN_HOP + i - L] && out[i * MAXCH] == 0);
    CHECK(pn_hop_run(NULL, in, out, PN_HOP_BYPASS) == PN_ERR_ARG);
    CHECK(pn_hop_run(h, NULL, out, PN_HOP_BYPASS) == PN_ERR_ARG);
    pn_hop_destroy(h);
    pn_hop_destroy(NULL);
    pn_destroy(st);
    printf("ok\n");
    return 0;
}
