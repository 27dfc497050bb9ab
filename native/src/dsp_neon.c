/* NEON twins of dsp.c's scalar primitives (armv7 and aarch64). */
#include <arm_neon.h>

#include "dsp.h"

#define FFT_STAGE fft_stage_neon
#include "fft_stage.h"

static float hsum(float32x4_t v)
{
    float32x2_t s = vadd_f32(vget_low_f32(v), vget_high_f32(v));
    return vget_lane_f32(vpadd_f32(s, s), 0);
}

static float dot_neon(const float *x, const float *y, int n)
{
    float32x4_t a0 = vdupq_n_f32(0.f), a1 = vdupq_n_f32(0.f);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        a0 = vmlaq_f32(a0, vld1q_f32(x + i), vld1q_f32(y + i));
        a1 = vmlaq_f32(a1, vld1q_f32(x + i + 4), vld1q_f32(y + i + 4));
    }
    float acc = hsum(vaddq_f32(a0, a1));
    for (; i < n; i++)
        acc += x[i] * y[i];
    return acc;
}

static void xcorr_neon(const float *x, const float *y, int n, int lags, float *out)
{
    int l = 0;
    for (; l + 4 <= lags; l += 4) {
        float32x4_t a0 = vdupq_n_f32(0.f), a1 = a0, a2 = a0, a3 = a0;
        const float *yl = y + l;
        int i = 0;
        for (; i + 4 <= n; i += 4) {
            float32x4_t xv = vld1q_f32(x + i);
            a0 = vmlaq_f32(a0, xv, vld1q_f32(yl + i));
            a1 = vmlaq_f32(a1, xv, vld1q_f32(yl + i + 1));
            a2 = vmlaq_f32(a2, xv, vld1q_f32(yl + i + 2));
            a3 = vmlaq_f32(a3, xv, vld1q_f32(yl + i + 3));
        }
        pn_xcorr4_tail(x, yl, i, n, hsum(a0), hsum(a1), hsum(a2), hsum(a3), out + l);
    }
    for (; l < lags; l++)
        out[l] = dot_neon(x, y + l, n);
}

static void axpy_neon(float *y, const float *x, float a, int n)
{
    int i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vmlaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
    for (; i < n; i++)
        y[i] += a * x[i];
}

const pn_dsp_ops pn_dsp_neon = {dot_neon, xcorr_neon, axpy_neon, fft_stage_neon};
