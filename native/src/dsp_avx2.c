/* AVX2+FMA twins of dsp.c's scalar primitives. */
#include <immintrin.h>

#include "dsp.h"

#define FFT_STAGE fft_stage_avx2
#include "fft_stage.h"

static float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static float dot_avx2(const float *x, const float *y, int n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    float acc = hsum(_mm256_add_ps(a0, a1));
    for (; i < n; i++)
        acc += x[i] * y[i];
    return acc;
}

/* Four lags at a time share each load of x. */
static void xcorr_avx2(const float *x, const float *y, int n, int lags, float *out)
{
    int l = 0;
    for (; l + 4 <= lags; l += 4) {
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        const float *yl = y + l;
        int i = 0;
        for (; i + 8 <= n; i += 8) {
            __m256 xv = _mm256_loadu_ps(x + i);
            a0 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(yl + i), a0);
            a1 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(yl + i + 1), a1);
            a2 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(yl + i + 2), a2);
            a3 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(yl + i + 3), a3);
        }
        pn_xcorr4_tail(x, yl, i, n, hsum(a0), hsum(a1), hsum(a2), hsum(a3), out + l);
    }
    for (; l < lags; l++)
        out[l] = dot_avx2(x, y + l, n);
}

/* Two vectors of y a step, each a chain of multiply-adds over the taps. */
static void taps_avx2(const float *x, const int *off, const float *w, int ntaps, int n, float *y)
{
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        for (int t = 0; t < ntaps; t++) {
            const __m256 wt = _mm256_set1_ps(w[t]);
            a0 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(x + off[t] + i), a0);
            a1 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(x + off[t] + i + 8), a1);
        }
        _mm256_storeu_ps(y + i, a0);
        _mm256_storeu_ps(y + i + 8, a1);
    }
    pn_dsp_scalar.taps(x + i, off, w, ntaps, n - i, y + i);
}

const pn_dsp_ops pn_dsp_avx2 = {dot_avx2, xcorr_avx2, taps_avx2, fft_stage_avx2};
