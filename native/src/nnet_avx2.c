/* AVX2: one 256-bit register holds an 8x4 weight block. maddubs wants unsigned x signed
 * bytes, so |x| is multiplied by w carrying x's sign; with both in [-127, 127] a pair sum is
 * at most 2*127*127 < 32767 and never saturates, hence exact. */
#include <immintrin.h>

#include "nnet.h"

#define PN_ISA avx2

static inline void pn_rows8(const int8_t *w, int cols_pad, const int8_t *x, int32_t *y)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc = _mm256_setzero_si256();
    for (int c = 0; c < cols_pad; c += 4, w += 32) {
        int32_t x4;
        memcpy(&x4, x + c, sizeof x4);
        __m256i xb = _mm256_set1_epi32(x4);
        __m256i wv = _mm256_loadu_si256((const __m256i *)w);
        __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(xb), _mm256_sign_epi8(wv, xb));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, ones));
    }
    _mm256_storeu_si256((__m256i *)y, acc);
}

/* 4 row blocks per pass over x. stream (a constant at each call) adds a non-temporal prefetch
 * of each block stream, 512 bytes ahead, once per 64-byte line: the line skips the L2 and so
 * never lands in the L3 (a victim cache on AMD), which keeps the model's first part there. */
static inline void rows32(const int8_t *w, int cols_pad, const int8_t *x, int32_t *y, int stream)
{
    const __m256i ones = _mm256_set1_epi16(1);
    const size_t stride = (size_t)8 * cols_pad;  /* bytes from one row block to the next */
    __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    for (int c = 0; c < cols_pad; c += 4, w += 32) {
        if (stream && !(c & 4)) {
            for (int b = 0; b < 4; b++)
                _mm_prefetch((const char *)w + b * stride + 512, _MM_HINT_NTA);
        }
        int32_t x4;
        memcpy(&x4, x + c, sizeof x4);
        __m256i xb = _mm256_set1_epi32(x4), xa = _mm256_abs_epi8(xb);
        __m256i w0 = _mm256_loadu_si256((const __m256i *)w);
        __m256i w1 = _mm256_loadu_si256((const __m256i *)(w + stride));
        __m256i w2 = _mm256_loadu_si256((const __m256i *)(w + 2 * stride));
        __m256i w3 = _mm256_loadu_si256((const __m256i *)(w + 3 * stride));
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_maddubs_epi16(xa, _mm256_sign_epi8(w0, xb)), ones));
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(_mm256_maddubs_epi16(xa, _mm256_sign_epi8(w1, xb)), ones));
        acc2 = _mm256_add_epi32(acc2, _mm256_madd_epi16(_mm256_maddubs_epi16(xa, _mm256_sign_epi8(w2, xb)), ones));
        acc3 = _mm256_add_epi32(acc3, _mm256_madd_epi16(_mm256_maddubs_epi16(xa, _mm256_sign_epi8(w3, xb)), ones));
    }
    _mm256_storeu_si256((__m256i *)y, acc0);
    _mm256_storeu_si256((__m256i *)(y + 8), acc1);
    _mm256_storeu_si256((__m256i *)(y + 16), acc2);
    _mm256_storeu_si256((__m256i *)(y + 24), acc3);
}

#define PN_ROWS32
static inline void pn_rows32(const int8_t *w, int cols_pad, const int8_t *x, int32_t *y)
{
    rows32(w, cols_pad, x, y, 0);
}

#define PN_ROWS32_STREAM
static inline void pn_rows32_stream(const int8_t *w, int cols_pad, const int8_t *x, int32_t *y)
{
    rows32(w, cols_pad, x, y, 1);
}

#include "nnet_q4_avx2.h"
#include "nnet_arch.h"
