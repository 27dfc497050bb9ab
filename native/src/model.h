/* The network description read from a .pnw weight file (format below), validated once at load
 * so the engine never checks sizes per frame.
 *
 * .pnw, all integers little-endian:
 *   header, 80 bytes:
 *     0  "PNWF"         4  u32 version (2)     8  u32 n_features    12 u32 n_outputs
 *     16 u32 n_layers   20 u32 payload bytes   24 u32 CRC-32 of bytes 28..end of file
 *     28 u32 n_out_src  32 i16 out_src[4]      40 char name[32] (NUL padded)
 *     72 u32 feature version (PN_FEATURE_VERSION it was trained on)   76 u32 sample rate
 *   layer table, 32 bytes per layer:
 *     u32 type (1 dense, 2 conv, 3 gru), u32 activation (0 none, 1 tanh, 2 sigmoid, 3 relu),
 *     u32 n_in (per frame: the sum of the sources' widths), u32 n_out, u32 kernel (frames,
 *     1 unless conv), u32 n_src, i16 src[4] (-1: the features, else an earlier layer)
 *   payload, per layer in order, per matrix (dense/conv: W; gru: W then U):
 *     int8 weights in 8x4 blocks (rows padded to 8, columns to 4, zeros in the padding):
 *       block (r/8, c/4) at (r/8)*8*cols_pad + (c/4)*32, byte (r%8)*4 + c%4
 *     f32 scale[rows] (weight scale per output), f32 bias[rows]
 *   The model's outputs are the outputs of layers out_src[0..n_out_src-1], concatenated. */
#ifndef PN_MODEL_H
#define PN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "percepnet.h"

#define PN_MODEL_HEADER_SIZE 80
#define PN_MODEL_LAYER_SIZE 32
#define PN_MAX_LAYERS 16
#define PN_MAX_SRC 4
#define PN_MAX_WIDTH 4096  /* largest layer input or output */
#define PN_MAX_KERNEL 16

enum { PN_LAYER_DENSE = 1, PN_LAYER_CONV = 2, PN_LAYER_GRU = 3 };
enum { PN_ACT_NONE = 0, PN_ACT_TANH = 1, PN_ACT_SIGMOID = 2, PN_ACT_RELU = 3 };

/* Weight bytes a frame may leave in the last-level cache: the matrices that start beyond
 * them are read with a non-temporal hint where the ISA has one (AVX2), so a model larger than
 * the cache does not evict its own first megabytes every frame. Tuned on an 8 MB L3 (AMD EPYC):
 * the paper-size model's network step drops by ~10%. */
#define PN_CACHE_KEEP_BYTES (5u << 20)

/* rows x cols int8 weights in 8x4 blocks, real value = w * scale[row]. */
typedef struct {
    int rows, cols, rows_pad, cols_pad;
    int stream;  /* starts beyond PN_CACHE_KEEP_BYTES of weights: prefetch non-temporally */
    const int8_t *w;
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
