/* Streaming rational resampler between a caller's rate and the kernel's 48 kHz.
 *
 * One linear-phase Kaiser-windowed sinc prototype per pair of rates, designed at F, the least
 * common multiple of the two rates, with its cutoff at half the lower rate; it is split into
 * polyphase branches, so an output costs one short dot product. Its delay is exactly
 * PN_RESAMPLE_HALF samples of the lower rate, so converting up and back down adds
 * 2 * PN_RESAMPLE_HALF samples at the caller's rate: 2 ms at 16 kHz. */
#ifndef PN_RESAMPLE_H
#define PN_RESAMPLE_H

#include "dsp.h"

#define PN_RESAMPLE_HALF 16     /* prototype half-length, in samples of the lower rate */

typedef struct {
    const pn_dsp_ops *ops;  /* its dot product runs each output's branch */
    int up, down;   /* F / input rate, F / output rate: the input's and the output's spacing on F */
    int taps;       /* per polyphase branch */
    int pos;        /* time of the next output on F, from the newest call's first input sample */
    float *coef;    /* `up` branches of `taps`, each reversed so that it runs forward over buf */
    float *buf;     /* taps - 1 samples of history, then the newest call's input */
} pn_resampler;

/* PN_OK, PN_ERR_ARG (a rate or max_in <= 0) or PN_ERR_NOMEM; r is usable by pn_resampler_free
 * either way. */
int pn_resampler_init(pn_resampler *r, const pn_dsp_ops *ops, int in_rate, int out_rate, int max_in);
void pn_resampler_free(pn_resampler *r);
/* Back to silence, as after init. */
void pn_resampler_reset(pn_resampler *r);
/* Converts n <= max_in samples; returns how many it wrote to out (at most
 * ceil(n * out_rate / in_rate)). Any split of a stream into calls gives the same samples. */
int pn_resample(pn_resampler *r, const float *in, int n, float *out);

#endif
