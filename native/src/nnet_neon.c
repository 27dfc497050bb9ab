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

static inline void pn_rows8_q4(const int8_t *w, const uint8_t *mul, int cols_pad, const int8_t *x, int32_t *y)
{
    int32x4_t y0 = vdupq_n_s32(0), y1 = y0;  /* rows 0..3, 4..7 */
    for (int c = 0; c < cols_pad; c += PN_Q4_BLOCK, mul += 8) {
        /* lane (row, column mod 4) of rows 0-1, 2-3, 4-5, 6-7: 8 products each */
        int16x8_t s0 = vdupq_n_s16(0), s1 = s0, s2 = s0, s3 = s0;
        for (int g = c; g < c + PN_Q4_BLOCK; g += 8, w += 32) {
            int8x16_t p0 = vld1q_s8(w), p1 = vld1q_s8(w + 16);
            int8x16_t xa = dup4(x + g), xb = dup4(x + g + 4);
            int8x16_t a0 = nibbles_lo(p0), b0 = nibbles_hi(p0), a1 = nibbles_lo(p1), b1 = nibbles_hi(p1);
            s0 = vmlal_s8(vmlal_s8(s0, vget_low_s8(a0), vget_low_s8(xa)), vget_low_s8(b0), vget_low_s8(xb));
            s1 = MLAL_HIGH(MLAL_HIGH(s1, a0, xa), b0, xb);
            s2 = vmlal_s8(vmlal_s8(s2, vget_low_s8(a1), vget_low_s8(xa)), vget_low_s8(b1), vget_low_s8(xb));
            s3 = MLAL_HIGH(MLAL_HIGH(s3, a1, xa), b1, xb);
        }
        int16x8_t dot = padd16(padd16(s0, s1), padd16(s2, s3));  /* rows 0..7 */
        int16x8_t m = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mul)));
        y0 = vmlal_s16(y0, vget_low_s16(dot), vget_low_s16(m));
        y1 = vmlal_s16(y1, vget_high_s16(dot), vget_high_s16(m));
    }
    vst1q_s32(y, y0);
    vst1q_s32(y + 4, y1);
}

#include "nnet_arch.h"
