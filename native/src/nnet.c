/* Network streams: allocation, state reset, and the choice of the per-ISA table (nnet_arch.h). */
#include <stdlib.h>

#include "nnet.h"

const pn_nnet_ops *pn_nnet_ops_for(pn_simd_level level)
{
    if (!pn_simd_level_supported(level))
        return NULL;
    switch (level) {
    case PN_SIMD_SCALAR:
        return &pn_nnet_scalar;
#if defined(PN_HAVE_AVX2)
    case PN_SIMD_AVX2:
        return &pn_nnet_avx2;
#endif
#if defined(PN_HAVE_AVXVNNI)
    case PN_SIMD_AVXVNNI:
        return &pn_nnet_avxvnni;
#endif
#if defined(PN_HAVE_NEON)
    case PN_SIMD_NEON:
        return &pn_nnet_neon;
#endif
#if defined(PN_HAVE_DOTPROD)
    case PN_SIMD_DOTPROD:
        return &pn_nnet_dotprod;
#endif
    default:
        return NULL;
    }
}

static size_t align32(size_t n) { return (n + 31) & ~(size_t)31; }

static int imax(int a, int b) { return a > b ? a : b; }

int pn_nnet_create(const pn_model *model, pn_nnet **out)
{
    if (!model || !out)
        return PN_ERR_ARG;
    *out = NULL;
    const pn_nnet_ops *ops = pn_nnet_ops_for(pn_simd_level_active());
    if (!ops)
        return PN_ERR_SIMD;
    /* Scratch sized for the widest layer; states per layer. */
    int xf = 0, xq = 0, acc = 0, gates = 0;
    size_t states = 0;
    for (int i = 0; i < model->n_layers; i++) {
        const pn_layer *l = &model->layers[i];
        xf = imax(xf, l->kernel * l->n_in);
        for (int k = 0; k < (l->type == PN_LAYER_GRU ? 2 : 1); k++) {
            xq = imax(xq, l->m[k].cols_pad);
            acc = imax(acc, l->m[k].rows_pad);
        }
        if (l->type == PN_LAYER_GRU)
            gates = imax(gates, 3 * l->n_out);
        states += align32((size_t)l->n_out * sizeof(float))
                  + align32((size_t)(l->kernel - 1) * l->n_in * sizeof(float));
    }
    size_t bytes = states + align32((size_t)xf * sizeof(float)) + 2 * align32((size_t)xq)
                   + align32((size_t)acc * sizeof(int32_t)) + 2 * align32((size_t)gates * sizeof(float));
    pn_nnet *nn = calloc(1, sizeof *nn);
    void *arena = NULL;
    if (!nn || posix_memalign(&arena, 32, bytes) != 0) {
        free(nn);
        return PN_ERR_NOMEM;
    }
    nn->model = model;
    nn->ops = ops;
    nn->arena = arena;
    unsigned char *p = arena;
    for (int i = 0; i < model->n_layers; i++) {
        const pn_layer *l = &model->layers[i];
        nn->out[i] = (float *)p;
        p += align32((size_t)l->n_out * sizeof(float));
        nn->hist[i] = (float *)p;
        p += align32((size_t)(l->kernel - 1) * l->n_in * sizeof(float));
    }
    nn->xf = (float *)p;
    p += align32((size_t)xf * sizeof(float));
    nn->xq = (int8_t *)p;
    p += align32((size_t)xq);
    nn->hq = (int8_t *)p;
    p += align32((size_t)xq);
    nn->acc = (int32_t *)p;
    p += align32((size_t)acc * sizeof(int32_t));
    nn->gx = (float *)p;
    p += align32((size_t)gates * sizeof(float));
    nn->gh = (float *)p;
    memset(arena, 0, bytes);
    *out = nn;
    return PN_OK;
}

void pn_nnet_destroy(pn_nnet *nn)
{
    if (nn) {
        free(nn->arena);
        free(nn);
    }
}

void pn_nnet_reset(pn_nnet *nn)
{
    if (!nn)
        return;
    for (int i = 0; i < nn->model->n_layers; i++) {
        const pn_layer *l = &nn->model->layers[i];
        memset(nn->out[i], 0, (size_t)l->n_out * sizeof(float));
        memset(nn->hist[i], 0, (size_t)(l->kernel - 1) * l->n_in * sizeof(float));
    }
}

int pn_nnet_step(pn_nnet *nn, const float *features, float *outputs)
{
    if (!nn || !features || !outputs)
        return PN_ERR_ARG;
    nn->ops->run(nn, features, outputs);
    return PN_OK;
}
