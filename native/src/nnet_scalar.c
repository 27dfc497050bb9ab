/* Scalar reference: defines what every SIMD copy of the network must compute. */
#include "nnet.h"

#define PN_ISA scalar

static inline void pn_rows8(const int8_t *w, int cols_pad, const int8_t *x, int32_t *y)
{
    int32_t acc[8] = {0};
    for (int c = 0; c < cols_pad; c += 4, w += 32)
        for (int r = 0; r < 8; r++)
            for (int k = 0; k < 4; k++)
                acc[r] += w[4 * r + k] * x[c + k];
    for (int r = 0; r < 8; r++)
        y[r] = acc[r];
}

#include "nnet_arch.h"
