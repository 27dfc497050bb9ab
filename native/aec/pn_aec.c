/* speexdsp's canceller takes 16-bit samples: the hop's floats are converted in buffers
 * allocated at create. */
#include "pn_aec.h"

#include <math.h>
#include <stdlib.h>

#include <speex/speex_echo.h>

#define PN_AEC_EXPORT __attribute__((visibility("default")))

struct pn_aec {
    SpeexEchoState *echo;
    int hop;
    spx_int16_t *mic, *far, *out;
};

static void to_s16(const float *x, spx_int16_t *y, int n)
{
    for (int i = 0; i < n; i++) {
        float v = x[i] * 32768.0f;
        v = v > 32767.0f ? 32767.0f : v < -32768.0f ? -32768.0f : v;
        y[i] = (spx_int16_t)lrintf(v);
    }
}

PN_AEC_EXPORT void pn_aec_destroy(pn_aec *st)
{
    if (!st)
        return;
    if (st->echo)
        speex_echo_state_destroy(st->echo);
    free(st->mic);
    free(st);
}

PN_AEC_EXPORT pn_aec *pn_aec_create(int rate, int hop, int tail)
{
    if (rate < 8000 || rate > 96000 || hop < 1 || hop > rate || tail < hop || tail > 4 * rate)
        return NULL;
    pn_aec *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->hop = hop;
    st->mic = malloc(3 * (size_t)hop * sizeof *st->mic);
    st->echo = speex_echo_state_init(hop, tail);
    if (!st->mic || !st->echo) {
        pn_aec_destroy(st);
        return NULL;
    }
    st->far = st->mic + hop;
    st->out = st->far + hop;
    speex_echo_ctl(st->echo, SPEEX_ECHO_SET_SAMPLING_RATE, &rate);
    return st;
}

PN_AEC_EXPORT void pn_aec_run(pn_aec *st, const float *mic, const float *far, float *out)
{
    to_s16(mic, st->mic, st->hop);
    to_s16(far, st->far, st->hop);
    speex_echo_cancellation(st->echo, st->mic, st->far, st->out);
    for (int i = 0; i < st->hop; i++)
        out[i] = st->out[i] * (1.0f / 32768.0f);
}
