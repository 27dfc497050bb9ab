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

/* The two's complement nibbles of a byte, -8..7 */
static inline int nibble_lo(int8_t b) { return (((uint8_t)b & 15) ^ 8) - 8; }
static inline int nibble_hi(int8_t b) { return (((uint8_t)b >> 4) ^ 8) - 8; }

static inline void pn_rows8_q4(const int8_t *w, const uint8_t *mul, int cols_pad, const int8_t *x, int32_t *y)
{
    int32_t acc[8] = {0};
    for (int c = 0; c < cols_pad; c += PN_Q4_BLOCK, mul += 8) {
        int32_t dot[8] = {0};
        for (int g = c; g < c + PN_Q4_BLOCK; g += 8, w += 32)  /* a packed pair of 8x4 blocks */
            for (int r = 0; r < 8; r++)
                for (int k = 0; k < 4; k++)
                    dot[r] += nibble_lo(w[4 * r + k]) * x[g + k] + nibble_hi(w[4 * r + k]) * x[g + 4 + k];
        for (int r = 0; r < 8; r++)
            acc[r] += mul[r] * dot[r];
    }
    for (int r = 0; r < 8; r++)
        y[r] = acc[r];
}

#include "nnet_arch.h"
