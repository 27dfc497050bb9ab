#include <stddef.h>

#include "dsp.h"

#define FFT_STAGE fft_stage_scalar
#include "fft_stage.h"

static float dot_scalar(const float *x, const float *y, int n)
{
    float acc = 0.f;
    for (int i = 0; i < n; i++)
        acc += x[i] * y[i];
    return acc;
}

static void xcorr_scalar(const float *x, const float *y, int n, int lags, float *out)
{
    for (int l = 0; l < lags; l++)
        out[l] = dot_scalar(x, y + l, n);
}

static void taps_scalar(const float *x, const int *off, const float *w, int ntaps, int n, float *y)
{
    for (int i = 0; i < n; i++) {
        float acc = 0.f;
        for (int t = 0; t < ntaps; t++)
            acc += w[t] * x[i + off[t]];
        y[i] = acc;
    }
}

const pn_dsp_ops pn_dsp_scalar = {dot_scalar, xcorr_scalar, taps_scalar, fft_stage_scalar};

const pn_dsp_ops *pn_dsp_ops_for(pn_simd_level level)
{
    if (!pn_simd_level_supported(level))
        return NULL;
    switch (level) {
    case PN_SIMD_SCALAR:
        return &pn_dsp_scalar;
#if defined(PN_HAVE_AVX2)
    case PN_SIMD_AVX2:
    case PN_SIMD_AVXVNNI:  /* VNNI only adds int8 dot products: the float DSP is AVX2's */
        return &pn_dsp_avx2;
#endif
#if defined(PN_HAVE_NEON)
    case PN_SIMD_NEON:
    case PN_SIMD_DOTPROD:
        return &pn_dsp_neon;
#endif
    default:
        return NULL;
    }
}

const pn_dsp_ops *pn_dsp_ops_active(void)
{
    const pn_dsp_ops *ops = pn_dsp_ops_for(pn_simd_level_active());
    return ops ? ops : &pn_dsp_scalar;
}
