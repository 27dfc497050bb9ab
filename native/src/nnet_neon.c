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

#include "nnet_arch.h"
