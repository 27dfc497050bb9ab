/* The live loop's hop: one period of S16_LE frames captured in, one period to play out.
 *
 * The supervisor (edge/supervisor/loop.py) decides each hop what plays: the state's output,
 * the input delayed by the state's latency (bypass), or a one-hop crossfade from the delayed
 * input back to the state's output. This file does that hop's sample work, allocation-free:
 * the captured channel to float, the delay line, the state's step, the crossfade, and float
 * back to S16 (rounded half to even, saturated) on the played channel(s). The float <-> S16
 * rule is edge/audio/pcm.py's, so the two paths give the same bytes. */
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
    float x[PN_HOP], dry[PN_HOP], wet[PN_HOP];
    float fade[PN_HOP];         /* i / hop */
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
    for (int i = 0; i < h->hop; i++)
        h->fade[i] = (float)((double)i / h->hop);
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

int pn_hop_run(pn_hop *h, const int16_t *in, int16_t *out, int mode)
{
    if (!h || !in || !out)
        return PN_ERR_ARG;
    const int n = h->hop, ch = h->channels;
    for (int i = 0; i < n; i++)
        h->x[i] = (float)in[i * ch + h->capture_channel] * (1.f / 32768.f);
    /* the delay line: dry is what went in delay_len samples ago (delay_len >= n) */
    const int first = h->delay_len - h->delay_pos < n ? h->delay_len - h->delay_pos : n;
    memcpy(h->dry, h->delay + h->delay_pos, (size_t)first * sizeof *h->dry);
    memcpy(h->delay + h->delay_pos, h->x, (size_t)first * sizeof *h->x);
    memcpy(h->dry + first, h->delay, (size_t)(n - first) * sizeof *h->dry);
    memcpy(h->delay, h->x + first, (size_t)(n - first) * sizeof *h->x);
    h->delay_pos = (h->delay_pos + n) % h->delay_len;

    int rc = PN_OK;
    const float *y = h->dry;
    switch (mode) {
    case PN_HOP_BYPASS:
        break;
    case PN_HOP_PRIME:              /* refill the state's buffers; the delayed input plays */
        rc = pn_process(h->st, h->x, h->wet);
        break;
    case PN_HOP_KERNEL:
    case PN_HOP_FADE:
        rc = pn_process(h->st, h->x, h->wet);
        if (rc != PN_OK)
            break;                  /* never silence: the delayed input plays */
        if (mode == PN_HOP_FADE)
            for (int i = 0; i < n; i++)
                h->wet[i] = h->dry[i] + h->fade[i] * (h->wet[i] - h->dry[i]);
        y = h->wet;
        break;
    default:
        rc = PN_ERR_ARG;
    }

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
    return rc;
}
