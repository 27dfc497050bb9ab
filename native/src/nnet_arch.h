/* The network step, written once and compiled once per instruction set (Opus style).
 *
 * Include from nnet_<isa>.c after defining PN_ISA (the suffix of the generated names: the ISA's
 * table is pn_nnet_<isa>, nnet.h) and
 *   static inline void pn_rows8(const int8_t *w, int cols_pad, const int8_t *x, int32_t *y);
 * which computes 8 rows of an 8x4-blocked int8 matrix times x into y[0..8), exactly; and
 * optionally (defining PN_ROWS32) pn_rows32 with the same arguments for 32 rows, and
 * (defining PN_ROWS32_STREAM) pn_rows32_stream, the same with non-temporal prefetches, used
 * for the matrices marked stream (model.h). For int4 matrices, likewise
 *   static inline void pn_rows8_q4(const int8_t *w, const uint8_t *mul, int cols_pad,
 *                                  const int8_t *x, int32_t *y);
 * 8 rows of packed int4 block pairs with their multipliers (model.h), and optionally
 * (PN_ROWS32_Q4, PN_ROWS32_Q4_STREAM) pn_rows32_q4 and pn_rows32_q4_stream for 32 rows.
 * Defining PN_F32_LOOPS, an ISA gives its own forms of the elementwise loops below
 * (pn_absmax_bits, pn_round_q, pn_scale_bias, pn_activate, pn_gru_gates): each does a multiple
 * of its width with the scalar loop's operations in the same order, so the same floats, and
 * returns how many entries it did; the scalar loop finishes the rest. (Hooks under #ifdef, not
 * stubs returning 0: stubs change the other copies' register allocation, AVX2's and dotprod's
 * int4 loops among them, for the worse.)
 *
 * Arithmetic: each layer input is quantised to int8 with one scale per vector (max |x| -> 127),
 * products accumulate in int32 (int4: each 32-column block's sum times its integer multiplier,
 * still exact), and are scaled back to float by (weight scale of the row) x (input scale).
 * Activations, GRU gates and GRU states are float. Everything after the int32
 * product is elementwise with no reassociation (C99 mode: no FMA contraction), so every ISA's
 * copy computes the same floats as the scalar one. */
#include <math.h>
#include <string.h>

#include "nnet.h"

/* Lets GCC if-convert the float clamps below so the elementwise loops vectorise. It only
 * drops the promise to raise FP exception flags (nothing here reads them): values are
 * unchanged, so every ISA's copy still computes the scalar copy's floats. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#define PN_GLUE_(a, b) a##_##b
#define PN_GLUE(a, b) PN_GLUE_(a, b)

static inline void matvec(const int8_t *w, int rows_pad, int cols_pad, const int8_t *x, int32_t *y, int stream)
{
    int r = 0;
#ifdef PN_ROWS32
    /* 4 row blocks per pass over x: one broadcast of x feeds 4 independent weight streams */
    for (; r + 32 <= rows_pad; r += 32) {
#ifdef PN_ROWS32_STREAM
        if (stream) {
            pn_rows32_stream(w + (size_t)r * cols_pad, cols_pad, x, y + r);
            continue;
        }
#endif
        pn_rows32(w + (size_t)r * cols_pad, cols_pad, x, y + r);
    }
#endif
    (void)stream;
    for (; r < rows_pad; r += 8)
        pn_rows8(w + (size_t)r * cols_pad, cols_pad, x, y + r);
}

static void PN_GLUE(pn_matvec, PN_ISA)(const int8_t *w, int rows_pad, int cols_pad, const int8_t *x, int32_t *y)
{
    matvec(w, rows_pad, cols_pad, x, y, 0);
}

/* Row block r of an int4 matrix starts at w + r * cols_pad / 2 and mul + r * cols_pad / 32. */
static inline void matvec4(const int8_t *w, const uint8_t *mul, int rows_pad, int cols_pad, const int8_t *x,
                           int32_t *y, int stream)
{
    const int blocks = cols_pad / PN_Q4_BLOCK;
    int r = 0;
#ifdef PN_ROWS32_Q4
    for (; r + 32 <= rows_pad; r += 32) {
#ifdef PN_ROWS32_Q4_STREAM
        if (stream) {
            pn_rows32_q4_stream(w + (size_t)r * cols_pad / 2, mul + (size_t)r * blocks, cols_pad, x, y + r);
            continue;
        }
#endif
        pn_rows32_q4(w + (size_t)r * cols_pad / 2, mul + (size_t)r * blocks, cols_pad, x, y + r);
    }
#endif
    (void)stream;
    for (; r < rows_pad; r += 8)
        pn_rows8_q4(w + (size_t)r * cols_pad / 2, mul + (size_t)r * blocks, cols_pad, x, y + r);
}

static void PN_GLUE(pn_matvec4, PN_ISA)(const int8_t *w, const uint8_t *mul, int rows_pad, int cols_pad,
                                        const int8_t *x, int32_t *y)
{
    matvec4(w, mul, rows_pad, cols_pad, x, y, 0);
}

/* 2^x: the exponent from the rounded integer part, e^(f ln 2) for f in [-0.5, 0.5] from a
 * degree-6 Taylor polynomial (truncation error ~1e-7 relative). Branch-free so loops vectorise. */
static inline float exp2_approx(float x)
{
    x = x > -126.f ? x : -126.f;  /* also maps NaN to -126 */
    x = x < 126.f ? x : 126.f;
    int n = (int)(x + 127.5f) - 127;  /* x + 127.5 > 0: truncation is floor */
    float y = (x - (float)n) * 0.69314718f;
    float p = 1.f + y * (1.f + y * (0.5f + y * (1.f / 6 + y * (1.f / 24 + y * (1.f / 120 + y * (1.f / 720))))));
    int32_t bits = (int32_t)(n + 127) << 23;
    float two_n;
    memcpy(&two_n, &bits, sizeof two_n);
    return p * two_n;
}

static inline float sigmoid_approx(float x) { return 1.f / (1.f + exp2_approx(-1.44269504f * x)); }

static inline float tanh_approx(float x) { return 2.f * sigmoid_approx(2.f * x) - 1.f; }

static void activate(float *y, int n, int act)
{
    int i = 0;
#ifdef PN_F32_LOOPS
    i = pn_activate(y, n, act);
#endif
    if (act == PN_ACT_TANH)
        for (; i < n; i++)
            y[i] = tanh_approx(y[i]);
    else if (act == PN_ACT_SIGMOID)
        for (; i < n; i++)
            y[i] = sigmoid_approx(y[i]);
    else if (act == PN_ACT_RELU)
        for (; i < n; i++)
            y[i] = y[i] > 0.f ? y[i] : 0.f;
}

/* q = round(x * 127 / max|x|), zero padded to n_pad; returns the scale (0 for an all-zero x).
 * NaN inputs quantise to 0 and infinite ones to +-127, never to undefined conversions. */
static float quantize(const float *x, int n, int n_pad, int8_t *q)
{
    /* max |x| over the finite entries, on the bit patterns: an integer max vectorises */
    int32_t mbits = 0;
    int i = 0;
#ifdef PN_F32_LOOPS
    i = pn_absmax_bits(x, n, &mbits);
#endif
    for (; i < n; i++) {
        union { float f; int32_t i; } v;
        v.f = x[i];
        int32_t a = v.i & 0x7FFFFFFF;
        a = a < 0x7F800000 ? a : 0;
        mbits = a > mbits ? a : mbits;
    }
    union { int32_t i; float f; } m;
    m.i = mbits;
    float mx = m.f, inv = mx > 0.f ? 127.f / mx : 0.f;
    i = 0;
#ifdef PN_F32_LOOPS
    i = pn_round_q(x, n, inv, q);
#endif
    for (; i < n; i++) {
        float v = x[i] * inv;
        v = v == v ? v : 0.f;          /* NaN -> 0 */
        v = v > -127.f ? v : -127.f;   /* the max entry may round to 127.00001 */
        v = v < 127.f ? v : 127.f;
        q[i] = (int8_t)(int)(v + (v >= 0.f ? 0.5f : -0.5f));
    }
    memset(q + n, 0, (size_t)(n_pad - n));
    return mx / 127.f;
}

static void affine(const pn_matrix *m, const int8_t *xq, float xs, int32_t *acc, float *y)
{
    if (m->bits == PN_WEIGHTS_INT4)
        matvec4(m->w, m->mul, m->rows_pad, m->cols_pad, xq, acc, m->stream);
    else
        matvec(m->w, m->rows_pad, m->cols_pad, xq, acc, m->stream);
    int i = 0;
#ifdef PN_F32_LOOPS
    i = pn_scale_bias(acc, m->scale, xs, m->bias, m->rows, y);
#endif
    for (; i < m->rows; i++)
        y[i] = (float)acc[i] * (m->scale[i] * xs) + m->bias[i];
}

static void gru_update(float *h, const float *gx, const float *gh, int n)
{
    int j = 0;
#ifdef PN_F32_LOOPS
    j = pn_gru_gates(h, gx, gh, n);
#endif
    for (; j < n; j++) {
        float z = sigmoid_approx(gx[j] + gh[j]);
        float r = sigmoid_approx(gx[n + j] + gh[n + j]);
        float c = tanh_approx(gx[2 * n + j] + r * gh[2 * n + j]);
        h[j] = z * h[j] + (1.f - z) * c;
    }
}

static void run_layer(pn_nnet *nn, int i, const float *features)
{
    const pn_model *m = nn->model;
    const pn_layer *l = &m->layers[i];
    float *y = nn->out[i];
    int hist_n = (l->kernel - 1) * l->n_in;
    float *x = nn->xf;
    if (hist_n)
        memcpy(x, nn->hist[i], (size_t)hist_n * sizeof *x);
    float *dst = x + hist_n;
    for (int s = 0; s < l->n_src; s++) {
        int w = pn_layer_width(m, l->src[s]);
        memcpy(dst, l->src[s] < 0 ? features : nn->out[l->src[s]], (size_t)w * sizeof *dst);
        dst += w;
    }
    const pn_matrix *W = &l->m[0];
    float xs = quantize(x, W->cols, W->cols_pad, nn->xq);
    if (l->type == PN_LAYER_GRU) {
        const pn_matrix *U = &l->m[1];
        affine(W, nn->xq, xs, nn->acc, nn->gx);
        float hs = quantize(y, U->cols, U->cols_pad, nn->hq);
        affine(U, nn->hq, hs, nn->acc, nn->gh);
        gru_update(y, nn->gx, nn->gh, l->n_out);
    } else {
        affine(W, nn->xq, xs, nn->acc, y);
        activate(y, l->n_out, l->act);
        if (hist_n)
            memcpy(nn->hist[i], x + l->n_in, (size_t)hist_n * sizeof *x);
    }
}

static void PN_GLUE(pn_nnet_run, PN_ISA)(pn_nnet *nn, const float *features, float *outputs)
{
    const pn_model *m = nn->model;
    for (int i = 0; i < m->n_layers; i++)
        run_layer(nn, i, features);
    for (int s = 0; s < m->n_out_src; s++) {
        int w = m->layers[m->out_src[s]].n_out;
        memcpy(outputs, nn->out[m->out_src[s]], (size_t)w * sizeof *outputs);
        outputs += w;
    }
}

const pn_nnet_ops PN_GLUE(pn_nnet, PN_ISA) = {
    PN_GLUE(pn_matvec, PN_ISA), PN_GLUE(pn_matvec4, PN_ISA), PN_GLUE(pn_nnet_run, PN_ISA)};
