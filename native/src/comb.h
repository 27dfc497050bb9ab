/* Time-domain comb filter over pitch periods: p[i] = sum_k w_k x[i + k T], k = -3..3,
 * Hann-shaped weights. Taps whose samples lie beyond the lookahead are dropped by the caller
 * (kmax) and the remaining weights renormalised, which keeps the delay at 30 ms. */
#ifndef PN_COMB_H
#define PN_COMB_H

#include "dsp.h"

#define PN_COMB_M 3

/* The largest future tap k <= PN_COMB_M with k*period <= future samples available. */
int pn_comb_kmax(int period, int future);
/* p[0..n) from x (x needs PN_COMB_M*period samples before it and kmax*period after n).
 * with_centre = 0 leaves out k = 0: the prediction of x from its other periods, whose
 * correlation with x is the pitch coherence. */
void pn_comb(const pn_dsp_ops *ops, const float *x, int n, int period, int kmax, int with_centre,
              float *p);

/* White-noise power gain of that filter: the sum of its squared normalised weights. */
float pn_comb_noise_gain(int kmax, int with_centre);

#endif
