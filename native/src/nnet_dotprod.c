/* NEON with the dot product extension (Cortex-A76 and later): vdotq_s32 adds the 4-byte dot
 * product of each row's 4 weights with the 4 broadcast inputs into that row's int32 lane. */
#include <arm_neon.h>

#include "nnet.h"

#define PN_ISA dotprod

static inline void pn_rows8(const int8_t *w, int cols_pad, const int8_t *x, int32_t *y)
{
    int32x4_t a0 = vdupq_n_s32(0), a1 = a0;
    for (int c = 0; c < cols_pad; c += 4, w += 32) {
        int32_t x4;
        memcpy(&x4, x + c, sizeof x4);
        int8x16_t xb = vreinterpretq_s8_s32(vdupq_n_s32(x4));
        a0 = vdotq_s32(a0, vld1q_s8(w), xb);
        a1 = vdotq_s32(a1, vld1q_s8(w + 16), xb);
    }
    vst1q_s32(y, a0);
    vst1q_s32(y + 4, a1);
}

#define PN_ROWS32
static inline void pn_rows32(const int8_t *w, int cols_pad, const int8_t *x, int32_t *y)
{
    const size_t stride = (size_t)8 * cols_pad;  /* bytes from one row block to the next */
    int32x4_t a[8];
    for (int k = 0; k < 8; k++)
        a[k] = vdupq_n_s32(0);
    for (int c = 0; c < cols_pad; c += 4, w += 32) {
        int32_t x4;
        memcpy(&x4, x + c, sizeof x4);
        int8x16_t xb = vreinterpretq_s8_s32(vdupq_n_s32(x4));
        for (int b = 0; b < 4; b++) {
            a[2 * b] = vdotq_s32(a[2 * b], vld1q_s8(w + b * stride), xb);
            a[2 * b + 1] = vdotq_s32(a[2 * b + 1], vld1q_s8(w + b * stride + 16), xb);
        }
    }
    for (int k = 0; k < 8; k++)
        vst1q_s32(y + 4 * k, a[k]);
}

#include "nnet_arch.h"
