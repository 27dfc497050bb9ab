/* NEON with the dot product extension (Cortex-A76 and later): vdotq_s32 adds the 4-byte dot
 * product of each row's 4 weights with 4 inputs into that row's int32 lane. 16 inputs are
 * loaded at once and each group of 4 is picked by the lane-indexed form (sdot v.4s, v.16b,
 * v.4b[k]), which needs no broadcast; a tail of 4, 8 or 12 columns broadcasts each group. */
#include <arm_neon.h>

#include "nnet.h"

#define PN_ISA dotprod

static inline int8x16_t dup4(const int8_t *x)
{
    int32_t x4;
    memcpy(&x4, x, sizeof x4);
    return vreinterpretq_s8_s32(vdupq_n_s32(x4));
}

/* Row blocks 0..nb of a 4-column step (weights w, stride bytes apart) times the 4 inputs in
 * lane k of xv, into a[2b], a[2b+1]. */
#define DOT_STEP(nb, a, w, stride, xv, k)                                                     \
    for (int b = 0; b < (nb); b++) {                                                          \
        a[2 * b] = vdotq_laneq_s32(a[2 * b], vld1q_s8((w) + b * (stride)), xv, k);             \
        a[2 * b + 1] = vdotq_laneq_s32(a[2 * b + 1], vld1q_s8((w) + b * (stride) + 16), xv, k); \
    }

/* nb row blocks (1 or 4, a constant at each call) of 8 rows, stride bytes apart. */
static inline void rows(int nb, const int8_t *w, int cols_pad, const int8_t *x, int32_t *y)
{
    const size_t stride = (size_t)8 * cols_pad;
    int32x4_t a[8];
    for (int k = 0; k < 2 * nb; k++)
        a[k] = vdupq_n_s32(0);
    int c = 0;
    for (; c + 16 <= cols_pad; c += 16, w += 128) {
        int8x16_t xv = vld1q_s8(x + c);
        DOT_STEP(nb, a, w, stride, xv, 0)
        DOT_STEP(nb, a, w + 32, stride, xv, 1)
        DOT_STEP(nb, a, w + 64, stride, xv, 2)
        DOT_STEP(nb, a, w + 96, stride, xv, 3)
    }
    for (; c < cols_pad; c += 4, w += 32) {
        int8x16_t xv = dup4(x + c);
        DOT_STEP(nb, a, w, stride, xv, 0)
    }
    for (int k = 0; k < 2 * nb; k++)
        vst1q_s32(y + 4 * k, a[k]);
}

static inline void pn_rows8(const int8_t *w, int cols_pad, const int8_t *x, int32_t *y)
{
    rows(1, w, cols_pad, x, y);
}

#define PN_ROWS32
static inline void pn_rows32(const int8_t *w, int cols_pad, const int8_t *x, int32_t *y)
{
    rows(4, w, cols_pad, x, y);
}

#include "nnet_arch.h"
