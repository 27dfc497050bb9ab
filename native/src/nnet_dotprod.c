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

/* int4 (model.h): shifted into the top of each byte, a nibble q becomes the int8 16q, exact
 * (the low one by a left shift, the high one by masking), so sdot gives 16 times each row's
 * dot product; a 32-column block's (at most 16 * 32512) is shifted back down, exactly, narrowed
 * to int16 and multiply-accumulated with its multiplier. A block of 32 inputs is two 16-byte
 * loads; a packed group of 8 columns uses two of their four lanes. */
#define DOT_Q4(d0, d1, w, xv, k)                                                              \
    do {                                                                                      \
        int8x16_t p0 = vld1q_s8(w), p1 = vld1q_s8((w) + 16);                                  \
        d0 = vdotq_laneq_s32(d0, vshlq_n_s8(p0, 4), xv, k);                                  \
        d0 = vdotq_laneq_s32(d0, vandq_s8(p0, hi4), xv, (k) + 1);                            \
        d1 = vdotq_laneq_s32(d1, vshlq_n_s8(p1, 4), xv, k);                                  \
        d1 = vdotq_laneq_s32(d1, vandq_s8(p1, hi4), xv, (k) + 1);                            \
    } while (0)

/* nb row blocks (1 or 4, a constant at each call) of 8 int4 rows. */
static inline void rows_q4(int nb, const int8_t *w, const uint8_t *mul, int cols_pad, const int8_t *x, int32_t *y)
{
    const size_t stride = (size_t)4 * cols_pad, mstride = (size_t)cols_pad / PN_Q4_BLOCK * 8;
    const int8x16_t hi4 = vdupq_n_s8((int8_t)0xF0);
    int32x4_t a[8];
    for (int k = 0; k < 2 * nb; k++)
        a[k] = vdupq_n_s32(0);
    for (int c = 0; c < cols_pad; c += PN_Q4_BLOCK, w += 128, mul += 8) {
        int8x16_t x0 = vld1q_s8(x + c), x1 = vld1q_s8(x + c + 16);
        for (int b = 0; b < nb; b++) {
            const int8_t *wb = w + b * stride;
            int32x4_t d0 = vdupq_n_s32(0), d1 = d0;  /* 16 x (rows 0..3, rows 4..7) */
            DOT_Q4(d0, d1, wb, x0, 0);
            DOT_Q4(d0, d1, wb + 32, x0, 2);
            DOT_Q4(d0, d1, wb + 64, x1, 0);
            DOT_Q4(d0, d1, wb + 96, x1, 2);
            int16x8_t m = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mul + b * mstride)));
            a[2 * b] = vmlal_s16(a[2 * b], vshrn_n_s32(d0, 4), vget_low_s16(m));
            a[2 * b + 1] = vmlal_s16(a[2 * b + 1], vshrn_n_s32(d1, 4), vget_high_s16(m));
        }
    }
    for (int k = 0; k < 2 * nb; k++)
        vst1q_s32(y + 4 * k, a[k]);
}

static inline void pn_rows8_q4(const int8_t *w, const uint8_t *mul, int cols_pad, const int8_t *x, int32_t *y)
{
    rows_q4(1, w, mul, cols_pad, x, y);
}

#define PN_ROWS32_Q4
static inline void pn_rows32_q4(const int8_t *w, const uint8_t *mul, int cols_pad, const int8_t *x, int32_t *y)
{
    rows_q4(4, w, mul, cols_pad, x, y);
}

#include "nnet_arch.h"
