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

/* The elementwise float loops (nnet_arch.h), 4 entries per vector and several independent
 * vectors per step, whose long dependency chains an in-order core (Cortex-A53) interleaves.
 * AArch64 only: armv7 NEON has no vector divide and flushes denormals, so its copy keeps the
 * scalar loops. No fused multiply-adds: every operation rounds as the scalar one does. */
#if defined(__aarch64__)
#define PN_F32_LOOPS

static inline float32x4_t exp2_approx4(float32x4_t x)
{
    const float32x4_t lo = vdupq_n_f32(-126.f);
    x = vbslq_f32(vcgtq_f32(x, lo), x, lo);  /* NaN -> -126 */
    x = vminq_f32(x, vdupq_n_f32(126.f));
    int32x4_t n = vsubq_s32(vcvtq_s32_f32(vaddq_f32(x, vdupq_n_f32(127.5f))), vdupq_n_s32(127));
    float32x4_t y = vmulq_n_f32(vsubq_f32(x, vcvtq_f32_s32(n)), 0.69314718f);
    float32x4_t p = vaddq_f32(vmulq_n_f32(y, 1.f / 720), vdupq_n_f32(1.f / 120));
    p = vaddq_f32(vmulq_f32(y, p), vdupq_n_f32(1.f / 24));
    p = vaddq_f32(vmulq_f32(y, p), vdupq_n_f32(1.f / 6));
    p = vaddq_f32(vmulq_f32(y, p), vdupq_n_f32(0.5f));
    p = vaddq_f32(vmulq_f32(y, p), vdupq_n_f32(1.f));
    p = vaddq_f32(vmulq_f32(y, p), vdupq_n_f32(1.f));
    return vmulq_f32(p, vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n, vdupq_n_s32(127)), 23)));
}

static inline float32x4_t sigmoid_approx4(float32x4_t x)
{
    const float32x4_t one = vdupq_n_f32(1.f);
    return vdivq_f32(one, vaddq_f32(one, exp2_approx4(vmulq_n_f32(x, -1.44269504f))));
}

static inline float32x4_t tanh_approx4(float32x4_t x)
{
    return vsubq_f32(vmulq_n_f32(sigmoid_approx4(vmulq_n_f32(x, 2.f)), 2.f), vdupq_n_f32(1.f));
}

/* Each step loads all its vectors before it stores any: the stores could alias the loads,
 * and the compiler would keep each vector's chain apart from the next one's. */
static inline int pn_activate(float *y, int n, int act)
{
    if (act != PN_ACT_TANH && act != PN_ACT_SIGMOID)
        return 0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        float32x4_t v[4];
        for (int k = 0; k < 4; k++)
            v[k] = vld1q_f32(y + i + 4 * k);
        for (int k = 0; k < 4; k++)
            vst1q_f32(y + i + 4 * k, act == PN_ACT_TANH ? tanh_approx4(v[k]) : sigmoid_approx4(v[k]));
    }
    return i;
}

static inline int pn_gru_gates(float *h, const float *gx, const float *gh, int n)
{
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        float32x4_t z[2], r[2], c[2], u[2], hv[2];  /* c, u: the candidate's input and state terms */
        for (int k = 0; k < 2; k++) {
            const int at = j + 4 * k;
            z[k] = vaddq_f32(vld1q_f32(gx + at), vld1q_f32(gh + at));
            r[k] = vaddq_f32(vld1q_f32(gx + n + at), vld1q_f32(gh + n + at));
            c[k] = vld1q_f32(gx + 2 * n + at);
            u[k] = vld1q_f32(gh + 2 * n + at);
        }
        for (int k = 0; k < 2; k++) {
            z[k] = sigmoid_approx4(z[k]);
            c[k] = tanh_approx4(vaddq_f32(c[k], vmulq_f32(sigmoid_approx4(r[k]), u[k])));
            hv[k] = vld1q_f32(h + j + 4 * k);
        }
        for (int k = 0; k < 2; k++)
            vst1q_f32(h + j + 4 * k, vaddq_f32(vmulq_f32(z[k], hv[k]), vmulq_f32(vsubq_f32(vdupq_n_f32(1.f), z[k]), c[k])));
    }
    return j;
}

/* y = acc * (scale * xs) + bias */
static inline int pn_scale_bias(const int32_t *acc, const float *scale, float xs, const float *bias, int n, float *y)
{
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        float32x4_t v[4];
        for (int k = 0; k < 4; k++)
            v[k] = vaddq_f32(vmulq_f32(vcvtq_f32_s32(vld1q_s32(acc + i + 4 * k)), vmulq_n_f32(vld1q_f32(scale + i + 4 * k), xs)),
                             vld1q_f32(bias + i + 4 * k));
        for (int k = 0; k < 4; k++)
            vst1q_f32(y + i + 4 * k, v[k]);
    }
    return i;
}

/* the largest |x| bit pattern of the finite entries, 16 per step into four running maxima */
static inline int pn_absmax_bits(const float *x, int n, int32_t *mbits)
{
    int32x4_t m[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
    const int32x4_t abs = vdupq_n_s32(0x7FFFFFFF), inf = vdupq_n_s32(0x7F800000);
    int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 4; k++) {
            int32x4_t a = vandq_s32(vreinterpretq_s32_f32(vld1q_f32(x + i + 4 * k)), abs);
            m[k] = vmaxq_s32(m[k], vandq_s32(a, vreinterpretq_s32_u32(vcltq_s32(a, inf))));
        }
    *mbits = vmaxvq_s32(vmaxq_s32(vmaxq_s32(m[0], m[1]), vmaxq_s32(m[2], m[3])));
    return i;
}

/* q = round(x * inv) as quantize's scalar loop */
static inline int pn_round_q(const float *x, int n, float inv, int8_t *q)
{
    const float32x4_t lo = vdupq_n_f32(-127.f), hi = vdupq_n_f32(127.f), zero = vdupq_n_f32(0.f);
    const float32x4_t half = vdupq_n_f32(0.5f), mhalf = vdupq_n_f32(-0.5f);
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        int32x4_t r[4];
        for (int k = 0; k < 4; k++) {
            float32x4_t v = vmulq_n_f32(vld1q_f32(x + i + 4 * k), inv);
            v = vreinterpretq_f32_u32(vandq_u32(vceqq_f32(v, v), vreinterpretq_u32_f32(v)));  /* NaN -> 0 */
            v = vminq_f32(vmaxq_f32(v, lo), hi);
            r[k] = vcvtq_s32_f32(vaddq_f32(v, vbslq_f32(vcgeq_f32(v, zero), half, mhalf)));
        }
        int16x8_t r01 = vcombine_s16(vmovn_s32(r[0]), vmovn_s32(r[1])), r23 = vcombine_s16(vmovn_s32(r[2]), vmovn_s32(r[3]));
        vst1q_s8(q + i, vcombine_s8(vmovn_s16(r01), vmovn_s16(r23)));
    }
    return i;
}
#endif

#include "nnet_arch.h"
