/* Real FFT of PN_WINDOW (960) points through a 480-point complex mixed-radix FFT
 * (480 = 4*4*2*3*5, self-sorting Stockham stages). Tables live in the struct: no allocation. */
#ifndef PN_FFT_H
#define PN_FFT_H

#include "percepnet.h"

typedef struct {
    float r, i;
} pn_cpx;

#define PN_PI 3.14159265358979323846
#define PN_CFFT_N (PN_WINDOW / 2)
#define PN_FFT_MAX_STAGES 8

typedef struct {
    int nstages;
    int radix[PN_FFT_MAX_STAGES];
    pn_cpx tw[PN_CFFT_N];        /* exp(-2 pi i k / 480) */
    pn_cpx rtw[PN_CFFT_N + 1];   /* exp(-2 pi i k / 960), for the real split */
} pn_fft;

void pn_fft_init(pn_fft *f);
/* Complex forward DFT of PN_CFFT_N points, unnormalised. scratch: PN_CFFT_N entries. */
void pn_cfft(const pn_fft *f, const pn_cpx *in, pn_cpx *out, pn_cpx *scratch);
/* X[k] = sum x[n] e^{-2 pi i k n / 960}, k = 0..480. */
void pn_rfft(const pn_fft *f, const float *x, pn_cpx *X);
/* Inverse of pn_rfft (includes the 1/960). */
void pn_irfft(const pn_fft *f, const pn_cpx *X, float *x);

#endif
