/* int4 row kernels for the x86 copies (nnet_avx2.c, nnet_avxvnni.c): AVX2 only.
 *
 * maddubs multiplies unsigned by signed bytes, so the nibbles are read offset by 8: q ^ 8 in
 * the nibble is q + 8 in 0..15, and sum (q + 8) x over a 32-column block is the dot product
 * plus 8 times the block's sum of x, which is taken off. Pair sums are at most 2*15*127, and
 * the 8 of a block's column groups at most 30480, so the int16 stage never saturates; each
 * row's block product (at most 32512) is then multiplied by its multiplier in int32. Exact,
 * so it matches the scalar copy bit for bit. */
#ifndef PN_NNET_Q4_AVX2_H
#define PN_NNET_Q4_AVX2_H

#include <immintrin.h>

#include "nnet.h"

static inline __m256i q4_bcast4(const int8_t *x)
{
    int32_t x4;
    memcpy(&x4, x, sizeof x4);
    return _mm256_set1_epi32(x4);
}

/* 8 * (x[0] + ... + x[31]) in every int32 lane */
static inline __m256i q4_offset(const int8_t *x)
{
    __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), _mm256_loadu_si256((const __m256i *)x)),
                                  _mm256_set1_epi16(1));
    s = _mm256_add_epi32(s, _mm256_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm256_add_epi32(s, _mm256_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    s = _mm256_add_epi32(s, _mm256_permute2x128_si256(s, s, 1));
    return _mm256_slli_epi32(s, 3);
}

/* nb row blocks (1 or 4, a constant at each call) of 8 int4 rows; stream adds the
 * non-temporal prefetch of rows32 in nnet_avx2.c, once per 64-byte line of each block. */
static inline void rows_q4(int nb, const int8_t *w, const uint8_t *mul, int cols_pad, const int8_t *x,
                           int32_t *y, int stream)
{
    const __m256i low4 = _mm256_set1_epi8(0x0F), flip = _mm256_set1_epi8((char)0x88), ones = _mm256_set1_epi16(1);
    const size_t stride = (size_t)4 * cols_pad, mstride = (size_t)cols_pad / PN_Q4_BLOCK * 8;
    __m256i acc[4];
    for (int b = 0; b < nb; b++)
        acc[b] = _mm256_setzero_si256();
    for (int c = 0; c < cols_pad; c += PN_Q4_BLOCK, mul += 8) {
        __m256i s[4];
        for (int b = 0; b < nb; b++)
            s[b] = _mm256_setzero_si256();
        for (int g = c; g < c + PN_Q4_BLOCK; g += 8, w += 32) {
            __m256i xa = q4_bcast4(x + g), xb = q4_bcast4(x + g + 4);
            for (int b = 0; b < nb; b++) {
                if (stream && !(g & 8))
                    _mm_prefetch((const char *)w + b * stride + 512, _MM_HINT_NTA);
                __m256i v = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(w + b * stride)), flip);
                __m256i lo = _mm256_and_si256(v, low4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
                s[b] = _mm256_add_epi16(s[b], _mm256_maddubs_epi16(lo, xa));
                s[b] = _mm256_add_epi16(s[b], _mm256_maddubs_epi16(hi, xb));
            }
        }
        __m256i off = q4_offset(x + c);
        for (int b = 0; b < nb; b++) {
            __m256i dot = _mm256_sub_epi32(_mm256_madd_epi16(s[b], ones), off);
            __m256i m = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(mul + b * mstride)));
            acc[b] = _mm256_add_epi32(acc[b], _mm256_mullo_epi32(dot, m));
        }
    }
    for (int b = 0; b < nb; b++)
        _mm256_storeu_si256((__m256i *)(y + 8 * b), acc[b]);
}

static inline void pn_rows8_q4(const int8_t *w, const uint8_t *mul, int cols_pad, const int8_t *x, int32_t *y)
{
    rows_q4(1, w, mul, cols_pad, x, y, 0);
}

#define PN_ROWS32_Q4
static inline void pn_rows32_q4(const int8_t *w, const uint8_t *mul, int cols_pad, const int8_t *x, int32_t *y)
{
    rows_q4(4, w, mul, cols_pad, x, y, 0);
}

#define PN_ROWS32_Q4_STREAM
static inline void pn_rows32_q4_stream(const int8_t *w, const uint8_t *mul, int cols_pad, const int8_t *x,
                                       int32_t *y)
{
    rows_q4(4, w, mul, cols_pad, x, y, 1);
}

#endif
