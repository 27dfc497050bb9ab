/* The stream state behind the opaque pn_state, shared by denoise.c and oracle.c. */
#ifndef PN_STATE_H
#define PN_STATE_H

#include "resample.h"
#include "stft.h"

struct pn_state {
    pn_config cfg;
    float gain_floor;           /* pn_set_atten_lim's limit as a linear gain; 0: none */
    const pn_model *model;
    pn_nnet *nn;                /* NULL without a model */
    const pn_dsp_ops *ops;
    pn_fft fft;
    pn_bands bands;
    float window[PN_WINDOW];
    int hop;                    /* samples per hop at cfg.rate */
    /* cfg.rate to 48 kHz (noisy and, for the oracle, clean) and back; unused at 48 kHz */
    pn_resampler up, up_clean, down;
    /* cleared by pn_reset from here on */
    pn_track noisy;
    pn_track clean;             /* oracle only */
    pn_pitch pitch;
    int period;                 /* refined period of the frame being synthesised */
    float period_corr;
    float synth_mem[PN_HOP];    /* second half of the last synthesised frame */
    float analyze_us;
    pn_stats stats;
};

/* q[b]: normalised correlation between the frame `back` hops old and its comb prediction
 * from the other periods (taps -PN_COMB_M..kmax without k = 0): the band pitch coherence. */
void pn_state_coherence(const pn_state *st, const pn_track *t, int back, int period, int kmax, float *q);
double pn_now_us(void);
/* 1 when all n samples are finite */
int pn_hop_is_finite(const float *x, int n);
/* x, one hop at the state's rate, at 48 kHz: x itself at 48 kHz, else converted into buf */
const float *pn_state_to_kernel(pn_resampler *r, const pn_state *st, const float *x, float *buf);

#endif
