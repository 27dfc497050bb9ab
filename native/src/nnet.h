/* The network engine (int8 and int4 weights, int8 inputs): state of one stream, and the table of
 * per-ISA entry points that nnet_arch.h generates (one copy per instruction set, picked at
 * pn_nnet_create from the active SIMD level, as the DSP's table in dsp.h is at pn_create). */
#ifndef PN_NNET_H
#define PN_NNET_H

#include <stdint.h>
#include <string.h>

#include "model.h"
#include "simd.h"

typedef struct pn_nnet_ops pn_nnet_ops;

struct pn_nnet {
    const pn_model *model;
    const pn_nnet_ops *ops;
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

struct pn_nnet_ops {
    pn_matvec_fn matvec;
    pn_matvec4_fn matvec4;
    /* one network step: features in, the model's outputs out */
    void (*run)(pn_nnet *nn, const float *features, float *outputs);
};

/* The table for a level, or NULL when that level is not compiled in or not supported. */
const pn_nnet_ops *pn_nnet_ops_for(pn_simd_level level);

/* scalar: the reference every other table is tested against (tests/test_nnet_simd.c) */
extern const pn_nnet_ops pn_nnet_scalar;
#if defined(PN_HAVE_AVX2)
extern const pn_nnet_ops pn_nnet_avx2;
#endif
#if defined(PN_HAVE_AVXVNNI)
extern const pn_nnet_ops pn_nnet_avxvnni;
#endif
#if defined(PN_HAVE_NEON)
extern const pn_nnet_ops pn_nnet_neon;
#endif
#if defined(PN_HAVE_DOTPROD)
extern const pn_nnet_ops pn_nnet_dotprod;
#endif

#endif
