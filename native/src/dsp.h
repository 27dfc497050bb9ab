/* DSP vector primitives behind one table of function pointers, picked from the active SIMD
 * level (scalar twin in dsp.c, AVX2 in dsp_avx2.c, NEON in dsp_neon.c). */
#ifndef PN_DSP_H
#define PN_DSP_H

#include "fft.h"
#include "simd.h"

#define PN_TAPS_MAX 8

typedef struct {
    /* sum x[i]*y[i] */
    float (*dot)(const float *x, const float *y, int n);
    /* out[l] = sum_{i<n} x[i]*y[i+l] for l in [0, lags) */
    void (*xcorr)(const float *x, const float *y, int n, int lags, float *out);
    /* y[i] = sum_t w[t]*x[i + off[t]], t = 0..ntaps-1 added in that order: the comb filter's
     * shifted copies in one pass, y written once (ntaps <= PN_TAPS_MAX) */
    void (*taps)(const float *x, const int *off, const float *w, int ntaps, int n, float *y);
    pn_fft_stage_fn fft_stage;
} pn_dsp_ops;

/* The table for a level, or NULL when that level is not compiled in or not supported. */
const pn_dsp_ops *pn_dsp_ops_for(pn_simd_level level);
/* The table for the active level (falls back to the nearest compiled one). */
const pn_dsp_ops *pn_dsp_ops_active(void);

extern const pn_dsp_ops pn_dsp_scalar;
#if defined(PN_HAVE_AVX2)
extern const pn_dsp_ops pn_dsp_avx2;
#endif
#if defined(PN_HAVE_NEON)
extern const pn_dsp_ops pn_dsp_neon;
#endif

/* The scalar tail of a four-lag correlation (lags l..l+3, y already offset by l): adds
 * samples i..n-1 to the vector sums s0..s3 and stores them in out[0..3]. */
static inline void pn_xcorr4_tail(const float *x, const float *y, int i, int n,
                                  float s0, float s1, float s2, float s3, float *out)
{
    for (; i < n; i++) {
        s0 += x[i] * y[i];
        s1 += x[i] * y[i + 1];
        s2 += x[i] * y[i + 2];
        s3 += x[i] * y[i + 3];
    }
    out[0] = s0;
    out[1] = s1;
    out[2] = s2;
    out[3] = s3;
}

#endif
