/* The network engine (int8 and int4 weights, int8 inputs): state of one stream, and the per-ISA entry points that
 * nnet_arch.h generates (one copy per instruction set, picked at pn_nnet_create). */
#ifndef PN_NNET_H
#define PN_NNET_H

#include <stdint.h>
#include <string.h>

#include "model.h"

struct pn_nnet {
    const pn_model *model;
    void (*run)(pn_nnet *nn, const float *features, float *outputs);
    float *out[PN_MAX_LAYERS];   /* each layer's latest output; for a GRU, also its state */
    float *hist[PN_MAX_LAYERS];  /* conv layers: the previous kernel-1 input frames, oldest first */
    float *xf;                   /* gathered layer input (kernel frames for a conv) */
    int8_t *xq;                  /* its int8 quantisation, zero padded to a multiple of 4 */
    int8_t *hq;                  /* GRU state quantised */
    int32_t *acc;                /* matrix-vector products, rows padded to 8 */
    float *gx, *gh;              /* GRU gate pre-activations from the input and from the state */
    void *arena;
};

/* y[0..rows_pad) = W x over int8 in 8x4 blocks (model.h), exact int32. x has cols_pad entries
 * in [-127, 127]. One per compiled ISA; the SIMD ones match pn_matvec_scalar bit for bit. */
typedef void (*pn_matvec_fn)(const int8_t *w, int rows_pad, int cols_pad, const int8_t *x, int32_t *y);

/* The same over int4 weights in packed block pairs with their block multipliers (model.h):
 * y[r] = sum over 32-column blocks b of mul[r, b] * (w[r, b] . x[b]), exact int32 when each
 * row's multipliers sum to at most PN_Q4_MUL_SUM_MAX; cols_pad a multiple of PN_Q4_BLOCK. */
typedef void (*pn_matvec4_fn)(const int8_t *w, const uint8_t *mul, int rows_pad, int cols_pad,
                              const int8_t *x, int32_t *y);

#define PN_NNET_DECLARE(isa)                                                                     \
    void pn_matvec_##isa(const int8_t *w, int rows_pad, int cols_pad, const int8_t *x, int32_t *y); \
    void pn_matvec4_##isa(const int8_t *w, const uint8_t *mul, int rows_pad, int cols_pad,          \
                          const int8_t *x, int32_t *y);                                           \
    void pn_nnet_run_##isa(pn_nnet *nn, const float *features, float *outputs);

PN_NNET_DECLARE(scalar)
PN_NNET_DECLARE(avx2)
PN_NNET_DECLARE(avxvnni)
PN_NNET_DECLARE(neon)
PN_NNET_DECLARE(dotprod)

/* The matvecs of a SIMD level, NULL when this build lacks it (for the exact-match test). */
pn_matvec_fn pn_matvec_for(int level);
pn_matvec4_fn pn_matvec4_for(int level);

#endif
