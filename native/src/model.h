/* The network description read from a .pnw weight file (format below), validated once at load
 * so the engine never checks sizes per frame.
 *
 * .pnw, all integers little-endian:
 *   header, 80 bytes:
 *     0  "PNWF"         4  u32 version (2 or 3)  8  u32 n_features  12 u32 n_outputs
 *     16 u32 n_layers   20 u32 payload bytes   24 u32 CRC-32 of bytes 28..end of file
 *     28 u32 n_out_src  32 i16 out_src[4]      40 char name[32] (NUL padded)
 *     72 u32 feature version (PN_FEATURE_VERSION it was trained on)   76 u32 sample rate
 *   layer table, 32 bytes per layer in version 2, 40 in version 3:
 *     u32 type (1 dense, 2 conv, 3 gru), u32 activation (0 none, 1 tanh, 2 sigmoid, 3 relu),
 *     u32 n_in (per frame: the sum of the sources' widths), u32 n_out, u32 kernel (frames,
 *     1 unless conv), u32 n_src, i16 src[4] (-1: the features, else an earlier layer);
 *     version 3 only: u32 weights[2], the encoding of each matrix (PN_WEIGHTS_*; 0 for a
 *     dense/conv layer's absent second one). Version 2 matrices are all int8.
 *   payload, per layer in order, per matrix (dense/conv: W; gru: W then U):
 *     PN_WEIGHTS_INT8: int8 weights in 8x4 blocks (rows padded to 8, columns to 4, zeros in
 *       the padding): block (r/8, c/4) at (r/8)*8*cols_pad + (c/4)*32, byte (r%8)*4 + c%4;
 *       real weight = w * scale[row]
 *     PN_WEIGHTS_INT4: int4 weights (two's complement nibbles, -8..7), columns padded to 32:
 *       the int8 layout above with each two neighbouring 8x4 blocks of a row block packed
 *       into one 32-byte group, block 2k in the low nibbles and 2k+1 in the high ones:
 *       group (r/8, c/8) at (r/8)*4*cols_pad + (c/8)*32, nibble (c/4)%2 of its byte
 *       (r%8)*4 + c%4; then u8 mul[rows_pad/8][cols_pad/32][8], one multiplier per row and
 *       32-column block: mul (r/8, c/32) at (r/8)*8*(cols_pad/32) + (c/32)*8 + r%8;
 *       real weight = w * mul * scale[row]. For any row, the sum of its multipliers times
 *       32*8*127 must fit an int32 (PN_Q4_MUL_SUM_MAX), so every product is exact
 *     f32 scale[rows] (weight scale per output), f32 bias[rows]
 *   The model's outputs are the outputs of layers out_src[0..n_out_src-1], concatenated. */
#ifndef PN_MODEL_H
#define PN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "percepnet.h"

#define PN_MODEL_HEADER_SIZE 80
#define PN_MODEL_LAYER_SIZE 32      /* version 2; version 3 adds the two weight encodings */
#define PN_MODEL_LAYER_SIZE_V3 40
#define PN_MAX_LAYERS 16
#define PN_MAX_SRC 4
#define PN_MAX_WIDTH 4096  /* largest layer input or output */
#define PN_MAX_KERNEL 16

enum { PN_LAYER_DENSE = 1, PN_LAYER_CONV = 2, PN_LAYER_GRU = 3 };
enum { PN_ACT_NONE = 0, PN_ACT_TANH = 1, PN_ACT_SIGMOID = 2, PN_ACT_RELU = 3 };
enum { PN_WEIGHTS_INT8 = 8, PN_WEIGHTS_INT4 = 4 };  /* the code is the bits per weight */

#define PN_Q4_BLOCK 32  /* int4 columns per multiplier */
/* Largest sum of one int4 row's multipliers: each times a block's dot product (at most
 * 32 * 8 * 127 = 32512 in magnitude) must add up without leaving int32. */
#define PN_Q4_MUL_SUM_MAX (INT32_MAX / (PN_Q4_BLOCK * 8 * 127))

/* Weight bytes a frame may leave in the last-level cache: the matrices that start beyond
 * them are read with a non-temporal hint where the ISA has one (AVX2), so a model larger than
 * the cache does not evict its own first megabytes every frame. Tuned on an 8 MB L3 (AMD EPYC):
 * the paper-size model's network step drops by ~10%. */
#define PN_CACHE_KEEP_BYTES (5u << 20)

/* rows x cols weights, int8 in 8x4 blocks (real value = w * scale[row]) or int4 in packed
 * block pairs (real value = w * mul[row, block] * scale[row]): the layouts above. */
typedef struct {
    int rows, cols, rows_pad, cols_pad;  /* cols_pad: to 4 for int8, to PN_Q4_BLOCK for int4 */
    int bits;    /* PN_WEIGHTS_INT8 or PN_WEIGHTS_INT4 */
    int stream;  /* starts beyond PN_CACHE_KEEP_BYTES of weights: prefetch non-temporally */
    const int8_t *w;
    const uint8_t *mul;  /* int4: the block multipliers; NULL for int8 */
    const float *scale;
    const float *bias;
} pn_matrix;

typedef struct {
    int type, act, n_in, n_out, kernel, n_src;
    int src[PN_MAX_SRC];
    pn_matrix m[2];  /* dense/conv: W over kernel*n_in inputs; gru: W (3*n_out x n_in), U */
} pn_layer;

struct pn_model {
    char name[32];
    int n_layers, n_out_src;
    int out_src[PN_MAX_SRC];
    pn_layer layers[PN_MAX_LAYERS];
    long n_weights;
    void *arena;  /* weights, scales and biases, 32-byte aligned per matrix */
};

uint32_t pn_crc32(const unsigned char *p, size_t n);  /* IEEE 802.3, as zlib.crc32 */

/* Width of what a layer writes (all layers output floats). */
static inline int pn_layer_width(const pn_model *m, int src)
{
    return src < 0 ? PN_NB_FEATURES : m->layers[src].n_out;
}

#endif
