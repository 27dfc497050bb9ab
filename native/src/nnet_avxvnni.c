/* AVX-VNNI: vpdpbusd does the 4-byte dot products into int32 directly (no int16 stage);
 * same |x| and signed-w trick as the AVX2 path. */
#include <immintrin.h>

#include "nnet.h"

#define PN_ISA avxvnni

static inline void pn_rows8(const int8_t *w, int cols_pad, const int8_t *x, int32_t *y)
{
    __m256i acc = _mm256_setzero_si256();
    for (int c = 0; c < cols_pad; c += 4, w += 32) {
        int32_t x4;
        memcpy(&x4, x + c, sizeof x4);
        __m256i xb = _mm256_set1_epi32(x4);
        __m256i wv = _mm256_loadu_si256((const __m256i *)w);
        acc = _mm256_dpbusd_avx_epi32(acc, _mm256_abs_epi8(xb), _mm256_sign_epi8(wv, xb));
    }
    _mm256_storeu_si256((__m256i *)y, acc);
}

#define PN_ROWS32
static inline void pn_rows32(const int8_t *w, int cols_pad, const int8_t *x, int32_t *y)
{
    const size_t stride = (size_t)8 * cols_pad;  /* bytes from one row block to the next */
    __m256i a[4];
    for (int b = 0; b < 4; b++)
        a[b] = _mm256_setzero_si256();
    for (int c = 0; c < cols_pad; c += 4, w += 32) {
        int32_t x4;
        memcpy(&x4, x + c, sizeof x4);
        __m256i xb = _mm256_set1_epi32(x4), xa = _mm256_abs_epi8(xb);
        for (int b = 0; b < 4; b++) {
            __m256i wv = _mm256_loadu_si256((const __m256i *)(w + b * stride));
            a[b] = _mm256_dpbusd_avx_epi32(a[b], xa, _mm256_sign_epi8(wv, xb));
        }
    }
    for (int b = 0; b < 4; b++)
        _mm256_storeu_si256((__m256i *)(y + 8 * b), a[b]);
}

/* int4: the AVX2 kernels (a vpdpbusd form is not written: no AVX-VNNI CPU here to test it) */
#include "nnet_q4_avx2.h"
#include "nnet_arch.h"
