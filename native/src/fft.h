/* Real FFT of PN_WINDOW (960) points through a 480-point complex mixed-radix FFT
 * (480 = 4*4*2*3*5, self-sorting Stockham stages on split real/imaginary arrays, so the
 * butterfly loops run over contiguous data and vectorise). Tables live in the struct. */
#ifndef PN_FFT_H
#define PN_FFT_H

#include "percepnet.h"

#define PN_PI 3.14159265358979323846
#define PN_CFFT_N (PN_WINDOW / 2)
#define PN_FFT_STAGES 5

typedef struct {
    float r, i;
} pn_cpx;

typedef struct pn_fft pn_fft;
/* One Stockham stage (fft_stage.h), per ISA: see pn_dsp_ops. */
typedef void (*pn_fft_stage_fn)(const pn_fft *f, int s, const float *ir, const float *ii, float *or_,
                                float *oi);

struct pn_fft {
    pn_fft_stage_fn stage;
    int radix[PN_FFT_STAGES];
    int ns[PN_FFT_STAGES];              /* length of the sub-transforms a stage combines */
    int tw_off[PN_FFT_STAGES];
    float twr[4 * PN_CFFT_N], twi[4 * PN_CFFT_N];   /* per stage: [(q-1)*ns + k] */
    float rtwr[PN_CFFT_N + 1], rtwi[PN_CFFT_N + 1]; /* exp(-2 pi i k / 960): real split */
};

void pn_fft_init(pn_fft *f, pn_fft_stage_fn stage);
/* Complex forward DFT of PN_CFFT_N points in split form, unnormalised; in is destroyed
 * (used as scratch). */
void pn_cfft(const pn_fft *f, float *re, float *im, float *out_re, float *out_im);
/* X[k] = sum x[n] e^{-2 pi i k n / 960}, k = 0..480. */
void pn_rfft(const pn_fft *f, const float *x, pn_cpx *X);
/* X = pn_rfft(w * x) */
void pn_windowed_rfft(const pn_fft *f, const float *w, const float *x, pn_cpx *X);
/* Inverse of pn_rfft (includes the 1/960). */
void pn_irfft(const pn_fft *f, const pn_cpx *X, float *x);

#endif
