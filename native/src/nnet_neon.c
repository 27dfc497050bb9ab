/* NEON without dot products (Cortex-A53/A72, armv7 and aarch64): vmull_s8 multiplies 8 bytes
 * (2 rows x 4 columns) into int16, vpadalq_s16 adds neighbouring pairs into int32 lanes; each
 * row ends up split over two lanes, summed once at the end. Everything fits exactly. */
#include <arm_neon.h>

#include "nnet.h"

#define PN_ISA neon

/* The high halves' products. AArch64 multiplies the high halves of two q registers in one
 * instruction; vmull_s8(vget_high_s8(w), ...) there costs an extra mov per multiply. On armv7
 * a d register is half of a q register, so vget_high_s8 is free. */
#if defined(__aarch64__)
#define MULL_HIGH(w, x) vmull_high_s8(w, x)
#define MLAL_HIGH(acc, w, x) vmlal_high_s8(acc, w, x)
#else
#define MULL_HIGH(w, x) vmull_s8(vget_high_s8(w), vget_high_s8(x))
#define MLAL_HIGH(acc, w, x) vmlal_s8(acc, vget_high_s8(w), vget_high_s8(x))
#endif

static inline int32x4_t rows4_sum(int32x4_t a, int32x4_t b)
{
    return vcombine_s32(vpadd_s32(vget_low_s32(a), vget_high_s32(a)),
                        vpadd_s32(vget_low_s32(b), vget_high_s32(b)));
}

/* x[0..4) repeated over a q register, so both halves pair with a 2-row x 4-column block */
static inline int8x16_t dup4(const int8_t *x)
{
    int32_t x4;
    memcpy(&x4, x, sizeof x4);
    return vreinterpretq_s8_s32(vdupq_n_s32(x4));
}

static inline void pn_rows8(const int8_t *w, int cols_pad, const int8_t *x, int32_t *y)
{
    int32x4_t a0 = vdupq_n_s32(0), a1 = a0, a2 = a0, a3 = a0;
    int c = 0;
    /* two column groups per step: a product is at most 127*127, so two of them still fit
     * the int16 lane (vmull + vmlal) before the pairwise widening add */
    for (; c + 8 <= cols_pad; c += 8, w += 64) {
        int8x16_t xa = dup4(x + c), xb = dup4(x + c + 4);
        int8x16_t w0 = vld1q_s8(w), w1 = vld1q_s8(w + 16), w2 = vld1q_s8(w + 32), w3 = vld1q_s8(w + 48);
        a0 = vpadalq_s16(a0, vmlal_s8(vmull_s8(vget_low_s8(w0), vget_low_s8(xa)), vget_low_s8(w2), vget_low_s8(xb)));
        a1 = vpadalq_s16(a1, MLAL_HIGH(MULL_HIGH(w0, xa), w2, xb));
        a2 = vpadalq_s16(a2, vmlal_s8(vmull_s8(vget_low_s8(w1), vget_low_s8(xa)), vget_low_s8(w3), vget_low_s8(xb)));
        a3 = vpadalq_s16(a3, MLAL_HIGH(MULL_HIGH(w1, xa), w3, xb));
    }
    if (c < cols_pad) {
        int8x16_t xa = dup4(x + c);
        int8x16_t w0 = vld1q_s8(w), w1 = vld1q_s8(w + 16);
        a0 = vpadalq_s16(a0, vmull_s8(vget_low_s8(w0), vget_low_s8(xa)));
        a1 = vpadalq_s16(a1, MULL_HIGH(w0, xa));
        a2 = vpadalq_s16(a2, vmull_s8(vget_low_s8(w1), vget_low_s8(xa)));
        a3 = vpadalq_s16(a3, MULL_HIGH(w1, xa));
    }
    vst1q_s32(y, rows4_sum(a0, a1));
    vst1q_s32(y + 4, rows4_sum(a2, a3));
}

/* int4 (model.h): a byte's low nibble belongs to the first 8x4 block of a pair, its high
 * nibble to the second; shifts sign-extend them to int8, and from there the products go as in
 * pn_rows8. With |q x| <= 8*127 a 32-column block's dot product, 32512 at most, fits an
 * int16 lane all the way, so a block costs three pairwise adds and a widening
 * multiply-accumulate by its multipliers per 8 rows. */
static inline int8x16_t nibbles_lo(int8x16_t p) { return vshrq_n_s8(vshlq_n_s8(p, 4), 4); }
static inline int8x16_t nibbles_hi(int8x16_t p) { return vshrq_n_s8(p, 4); }

/* pairwise sums of neighbouring int16 lanes, a's then b's */
static inline int16x8_t padd16(int16x8_t a, int16x8_t b)
{
#if defined(__aarch64__)
    return vpaddq_s16(a, b);
#else
    return vcombine_s16(vpadd_s16(vget_low_s16(a), vget_high_s16(a)), vpadd_s16(vget_low_s16(b), vget_high_s16(b)));
#endif
}

/* nb (1 or 2, a constant at each call) row blocks of 8 int4 rows. Two share each broadcast
 * of x, and their sums are independent chains: an in-order core (Cortex-A53) issues one's
 * multiply-accumulates while the other's wait for their accumulators. */
static inline void rows_q4(int nb, const int8_t *w, const uint8_t *mul, int cols_pad, const int8_t *x, int32_t *y)
{
    const size_t stride = (size_t)4 * cols_pad, mstride = (size_t)cols_pad / PN_Q4_BLOCK * 8;
    int32x4_t a[4];  /* rows 0..3, 4..7 of each row block */
    for (int k = 0; k < 2 * nb; k++)
        a[k] = vdupq_n_s32(0);
    for (int c = 0; c < cols_pad; c += PN_Q4_BLOCK, w += 128, mul += 8) {
        /* lane (row, column mod 4) of rows 0-1, 2-3, 4-5, 6-7 of each row block: 8 products each */
        int16x8_t s[8];
        for (int k = 0; k < 4 * nb; k++)
            s[k] = vdupq_n_s16(0);
        for (int g = 0; g < PN_Q4_BLOCK; g += 8) {
            int8x16_t xa = dup4(x + c + g), xb = dup4(x + c + g + 4);
            for (int b = 0; b < nb; b++) {
                int8x16_t p0 = vld1q_s8(w + b * stride + 4 * g), p1 = vld1q_s8(w + b * stride + 4 * g + 16);
                int8x16_t a0 = nibbles_lo(p0), b0 = nibbles_hi(p0), a1 = nibbles_lo(p1), b1 = nibbles_hi(p1);
                int16x8_t *t = s + 4 * b;
                t[0] = vmlal_s8(vmlal_s8(t[0], vget_low_s8(a0), vget_low_s8(xa)), vget_low_s8(b0), vget_low_s8(xb));
                t[1] = MLAL_HIGH(MLAL_HIGH(t[1], a0, xa), b0, xb);
                t[2] = vmlal_s8(vmlal_s8(t[2], vget_low_s8(a1), vget_low_s8(xa)), vget_low_s8(b1), vget_low_s8(xb));
                t[3] = MLAL_HIGH(MLAL_HIGH(t[3], a1, xa), b1, xb);
            }
        }
        for (int b = 0; b < nb; b++) {
            const int16x8_t *t = s + 4 * b;
            int16x8_t dot = padd16(padd16(t[0], t[1]), padd16(t[2], t[3]));  /* rows 0..7 */
            int16x8_t m = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mul + b * mstride)));
            a[2 * b] = vmlal_s16(a[2 * b], vget_low_s16(dot), vget_low_s16(m));
            a[2 * b + 1] = vmlal_s16(a[2 * b + 1], vget_high_s16(dot), vget_high_s16(m));
        }
    }
    for (int k = 0; k < 2 * nb; k++)
        vst1q_s32(y + 4 * k, a[k]);
}

static inline void pn_rows8_q4(const int8_t *w, const uint8_t *mul, int cols_pad, const int8_t *x, int32_t *y)
{
    rows_q4(1, w, mul, cols_pad, x, y);
}

/* AArch64 only: armv7's 16 q registers cannot hold two row blocks' sums and their operands */
#if defined(__aarch64__)
#define PN_ROWS32_Q4
static inline void pn_rows32_q4(const int8_t *w, const uint8_t *mul, int cols_pad, const int8_t *x, int32_t *y)
{
    for (int r = 0; r < 32; r += 16)
        rows_q4(2, w + (size_t)r * cols_pad / 2, mul + (size_t)r * cols_pad / PN_Q4_BLOCK, cols_pad, x, y + r);
}
#endif

#include "nnet_arch.h"
