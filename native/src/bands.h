/* 34 triangular bands, ERB-spaced centres (at least 2 bins = 100 Hz apart), 50% overlap:
 * bin k between centres c_b and c_{b+1} belongs to both with weights that sum to 1, so
 * interpolating equal band values gives exactly that value on every bin. */
#ifndef PN_BANDS_H
#define PN_BANDS_H

#include "fft.h"

typedef struct {
    short centre[PN_NB_BANDS];   /* bin of each band's peak; 0 and PN_BINS-1 at the ends */
    float frac[PN_BINS];         /* weight of the upper band of the bin's segment; the lower gets 1-frac */
} pn_bands;

void pn_bands_init(pn_bands *b);
/* E[b] = sum_k tri_b(k) |X_k|^2 */
void pn_band_energy(const pn_bands *b, const pn_cpx *X, float *E);
/* C[b] = sum_k tri_b(k) Re(X_k conj(P_k)) */
void pn_band_corr(const pn_bands *b, const pn_cpx *X, const pn_cpx *P, float *C);
/* g_bin[k] from band values by linear interpolation between centres */
void pn_band_interp(const pn_bands *b, const float *v, float *g_bin);

#endif
