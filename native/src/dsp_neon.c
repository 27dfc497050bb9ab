/* NEON twins of dsp.c's scalar primitives (armv7 and aarch64). Multiply-adds are fused
 * (vfmaq_f32, one rounding, as the AVX2 twins' FMA): AArch64 has no unfused vector
 * multiply-add, so vmlaq_f32 there is a multiply and an add. Like AVX2, these sums are
 * reassociated and fused (the FFT stage too: SConstruct builds the dsp_ twins with
 * -ffp-contract=fast), so they agree with scalar to rounding, not bit for bit. */
#include <arm_neon.h>

#include "dsp.h"

#define FFT_STAGE fft_stage_neon
#include "fft_stage.h"

static float hsum(float32x4_t v)
{
    float32x2_t s = vadd_f32(vget_low_f32(v), vget_high_f32(v));
    return vget_lane_f32(vpadd_f32(s, s), 0);
}

/* Four accumulators: a fused multiply-add's latency (4 cycles on Cortex-A72/A76) would
 * otherwise bound the loop. */
static float dot_neon(const float *x, const float *y, int n)
{
    float32x4_t a0 = vdupq_n_f32(0.f), a1 = a0, a2 = a0, a3 = a0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = vfmaq_f32(a0, vld1q_f32(x + i), vld1q_f32(y + i));
        a1 = vfmaq_f32(a1, vld1q_f32(x + i + 4), vld1q_f32(y + i + 4));
        a2 = vfmaq_f32(a2, vld1q_f32(x + i + 8), vld1q_f32(y + i + 8));
        a3 = vfmaq_f32(a3, vld1q_f32(x + i + 12), vld1q_f32(y + i + 12));
    }
    for (; i + 4 <= n; i += 4)
        a0 = vfmaq_f32(a0, vld1q_f32(x + i), vld1q_f32(y + i));
    float acc = hsum(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
    for (; i < n; i++)
        acc += x[i] * y[i];
    return acc;
}

/* Lags 0 .. 4*g-1 (g = 1 or 2, a constant at each call) of x against yl, into out. Each
 * step multiplies 4 samples of x into every lag's accumulator, with the lag's own unaligned
 * load of yl: the loads issue beside the multiply-adds, where shifting one load with
 * vextq_f32 would take the FP pipes the multiply-adds need. Eight accumulators keep a fused
 * multiply-add's latency off the critical path where four cannot (Cortex-A53, Neoverse-N1). */
static inline void xcorr_lags(const float *x, const float *yl, int n, int g, float *out)
{
    float32x4_t a[8];
    for (int k = 0; k < 4 * g; k++)
        a[k] = vdupq_n_f32(0.f);
    int i = 0;
    for (; i + 4 <= n; i += 4) {  /* the last lag reads yl[i + 4g + 2] <= yl[n + 4g - 2] */
        const float32x4_t xv = vld1q_f32(x + i);
        for (int k = 0; k < 4 * g; k++)
            a[k] = vfmaq_f32(a[k], xv, vld1q_f32(yl + i + k));
    }
    float s[8];
    for (int k = 0; k < 4 * g; k++)
        s[k] = hsum(a[k]);
    for (int k = 0; k < 4 * g; k += 4)
        pn_xcorr4_tail(x, yl + k, i, n, s[k], s[k + 1], s[k + 2], s[k + 3], out + k);
}

static void xcorr_neon(const float *x, const float *y, int n, int lags, float *out)
{
    int l = 0;
    for (; l + 8 <= lags; l += 8)
        xcorr_lags(x, y + l, n, 2, out + l);
    for (; l + 4 <= lags; l += 4)
        xcorr_lags(x, y + l, n, 1, out + l);
    for (; l < lags; l++)
        out[l] = dot_neon(x, y + l, n);
}

/* Four vectors of y a step, each a chain of multiply-adds over the taps: the chains
 * interleave (an in-order Cortex-A53 would otherwise wait out each one's latency). */
static void taps_neon(const float *x, const int *off, const float *w, int ntaps, int n, float *y)
{
    float32x4_t wv[PN_TAPS_MAX];
    for (int t = 0; t < ntaps; t++)
        wv[t] = vdupq_n_f32(w[t]);  /* armv7 has no vfmaq_n_f32 */
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        float32x4_t a0 = vdupq_n_f32(0.f), a1 = a0, a2 = a0, a3 = a0;
        for (int t = 0; t < ntaps; t++) {
            const float *xt = x + off[t] + i;
            a0 = vfmaq_f32(a0, vld1q_f32(xt), wv[t]);
            a1 = vfmaq_f32(a1, vld1q_f32(xt + 4), wv[t]);
            a2 = vfmaq_f32(a2, vld1q_f32(xt + 8), wv[t]);
            a3 = vfmaq_f32(a3, vld1q_f32(xt + 12), wv[t]);
        }
        vst1q_f32(y + i, a0);
        vst1q_f32(y + i + 4, a1);
        vst1q_f32(y + i + 8, a2);
        vst1q_f32(y + i + 12, a3);
    }
    pn_dsp_scalar.taps(x + i, off, w, ntaps, n - i, y + i);
}

const pn_dsp_ops pn_dsp_neon = {dot_neon, xcorr_neon, taps_neon, fft_stage_neon};
