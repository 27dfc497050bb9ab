/* The live hop, the one both live callers run:
 *   pn_hop_run        one period of S16_LE frames in, one out: `edge run`, whose supervisor
 *                     (edge/supervisor/loop.py) picks each hop's mode;
 *   pn_hop_run_float  float blocks of any size, gathered into hops here: the LADSPA plugin,
 *                     whose bypass port picks the mode.
 * A hop is stepped the same way for both: the input through the delay line (the bypass path)
 * and, unless bypassed, the state's step; then the hop plays the state's output, the delayed
 * input, or a one-hop linear crossfade between them. Allocation-free after create. Float back
 * to S16 is rounded half to even and saturated; edge/audio/pcm.py writes files through the same
 * conversion (pn_hop_s16), so that a period played by `edge run` holds the bytes `edge denoise`
 * writes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"

struct pn_hop {
    pn_state *st;
    int hop;                    /* samples per hop at the state's rate */
    int channels, capture_channel, playback_channel;
    float *delay;               /* ring of delay_len input samples: the bypass path */
    int delay_len, delay_pos;
    float x[PN_HOP];            /* the hop's input (pn_hop_run_float: the hop being gathered) */
    float dry[PN_HOP], wet[PN_HOP];  /* the last hop stepped: its delayed input, what the state gave */
    float y[PN_HOP];            /* pn_hop_run: what plays, before S16 */
    float fade[PN_HOP + 1];     /* k / hop: the state output's weight k samples into a crossfade */
    int mix;                    /* that k for the next sample played; -1: none yet (float entry) */
    int pos;                    /* pn_hop_run_float: samples gathered into x, and played of dry/wet */
};

int pn_hop_create(pn_state *st, int channels, int capture_channel, int playback_channel, pn_hop **out)
{
    if (!out)
        return PN_ERR_ARG;
    *out = NULL;
    if (!st || channels < 1 || capture_channel < 0 || capture_channel >= channels
        || playback_channel >= channels)
        return PN_ERR_ARG;
    pn_hop *h = calloc(1, sizeof *h);
    if (!h)
        return PN_ERR_NOMEM;
    h->st = st;
    h->hop = st->hop;
    h->channels = channels;
    h->capture_channel = capture_channel;
    h->playback_channel = playback_channel < 0 ? -1 : playback_channel;
    h->delay_len = pn_latency_samples(st->cfg.rate);
    h->delay = calloc((size_t)h->delay_len, sizeof *h->delay);
    if (!h->delay) {
        free(h);
        return PN_ERR_NOMEM;
    }
    for (int i = 0; i <= h->hop; i++)
        h->fade[i] = (float)((double)i / h->hop);
    h->mix = -1;
    *out = h;
    return PN_OK;
}

void pn_hop_destroy(pn_hop *h)
{
    if (!h)
        return;
    free(h->delay);
    free(h);
}

void pn_hop_reset(pn_hop *h)
{
    if (!h)
        return;
    pn_reset(h->st);
    memset(h->delay, 0, (size_t)h->delay_len * sizeof *h->delay);
    memset(h->x, 0, sizeof h->x);
    memset(h->dry, 0, sizeof h->dry);
    memset(h->wet, 0, sizeof h->wet);
    h->delay_pos = h->pos = 0;
    h->mix = -1;
}

/* x through the delay line into dry (delay_len >= hop) and, when fed, the state into wet.
 * Where the state gave nothing (bypassed, or its error), wet is dry: a crossfade still under
 * way then plays the delayed input, never stale output or silence. */
static int step(pn_hop *h, int feed)
{
    const int n = h->hop;
    const int first = h->delay_len - h->delay_pos < n ? h->delay_len - h->delay_pos : n;
    memcpy(h->dry, h->delay + h->delay_pos, (size_t)first * sizeof *h->dry);
    memcpy(h->delay + h->delay_pos, h->x, (size_t)first * sizeof *h->x);
    memcpy(h->dry + first, h->delay, (size_t)(n - first) * sizeof *h->dry);
    memcpy(h->delay, h->x + first, (size_t)(n - first) * sizeof *h->x);
    h->delay_pos = (h->delay_pos + n) % h->delay_len;
    const int rc = feed ? pn_process(h->st, h->x, h->wet) : PN_OK;
    if (!feed || rc != PN_OK)
        memcpy(h->wet, h->dry, (size_t)n * sizeof *h->wet);
    return rc;
}

/* n samples of the last hop stepped, from `from`: dry + fade[mix] * (wet - dry), mix moving
 * one step a sample towards target (0: the delayed input, hop: the state's output), which
 * then plays exactly. */
static void play(pn_hop *h, int from, float *y, int n, int target)
{
    const float *dry = h->dry + from, *wet = h->wet + from;
    int i = 0;
    for (; i < n && h->mix != target; i++) {
        y[i] = dry[i] + h->fade[h->mix] * (wet[i] - dry[i]);
        h->mix += h->mix < target ? 1 : -1;
    }
    memcpy(y + i, (target ? wet : dry) + i, (size_t)(n - i) * sizeof *y);
}

static int known(int mode)
{
    return mode == PN_HOP_KERNEL || mode == PN_HOP_FADE || mode == PN_HOP_BYPASS || mode == PN_HOP_PRIME;
}

static int16_t to_s16(float v)
{
    v *= 32768.f;
    v = v > 32767.f ? 32767.f : v;
    v = v < -32768.f ? -32768.f : v;
    v = v == v ? v : 0.f;                   /* NaN */
    /* to nearest, ties to even, as lrintf (a libm call) and numpy's rint: past 2^23 a float
     * has no fraction bits, and 1.5 * 2^23 is even. Branch-free, so the loops vectorise. */
    return (int16_t)((v + 12582912.f) - 12582912.f);
}

void pn_hop_s16(const float *x, int16_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = to_s16(x[i]);
}

int pn_hop_run(pn_hop *h, const int16_t *in, int16_t *out, int mode)
{
    if (!h || !in || !out)
        return PN_ERR_ARG;
    const int n = h->hop, ch = h->channels;
    for (int i = 0; i < n; i++)
        h->x[i] = (float)in[i * ch + h->capture_channel] * (1.f / 32768.f);
    const int ok = known(mode);
    const int rc = step(h, ok && mode != PN_HOP_BYPASS);
    h->mix = ok && mode == PN_HOP_KERNEL ? n : 0;
    play(h, 0, h->y, n, ok && (mode == PN_HOP_KERNEL || mode == PN_HOP_FADE) ? n : 0);

    const float *y = h->y;
    if (ch == 1) {
        for (int i = 0; i < n; i++)
            out[i] = to_s16(y[i]);
    } else if (h->playback_channel < 0) {
        for (int i = 0; i < n; i++) {
            const int16_t s = to_s16(y[i]);
            for (int c = 0; c < ch; c++)
                out[i * ch + c] = s;
        }
    } else {
        memset(out, 0, (size_t)n * (size_t)ch * sizeof *out);
        for (int i = 0; i < n; i++)
            out[i * ch + h->playback_channel] = to_s16(y[i]);
    }
    return ok ? rc : PN_ERR_ARG;
}

int pn_hop_run_float(pn_hop *h, const float *in, float *out, size_t n, int mode)
{
    if (!h || (n && (!in || !out)))
        return PN_ERR_ARG;
    const int ok = known(mode);
    const int target = ok && (mode == PN_HOP_KERNEL || mode == PN_HOP_FADE) ? h->hop : 0;
    if (h->mix < 0)
        h->mix = target;            /* the first call after create or reset: no crossfade */
    int rc = PN_OK;
    while (n > 0) {
        const int k = n < (size_t)(h->hop - h->pos) ? (int)n : h->hop - h->pos;
        for (int i = 0; i < k; i++)  /* read before out is written: in place is fine */
            h->x[h->pos + i] = isfinite(in[i]) ? in[i] : 0.f;   /* the state refuses a NaN */
        play(h, h->pos, out, k, target);
        h->pos += k;
        in += k;
        out += k;
        n -= (size_t)k;
        if (h->pos == h->hop) {
            h->pos = 0;
            const int r = step(h, ok && mode != PN_HOP_BYPASS);
            rc = r != PN_OK ? r : rc;
        }
    }
    return ok ? rc : PN_ERR_ARG;
}
