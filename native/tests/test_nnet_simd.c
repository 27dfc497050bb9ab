/* Every compiled SIMD path computes the scalar path's integers exactly: the int8 and int4
 * matrix-vector products bit for bit (random and extreme values, all block shapes; int4 up to
 * the largest multipliers the loader admits), and whole network steps over a real model, int8
 * and int4, non-finite features included, whose floats then match too. The scalar path itself
 * is checked against a plain row-major product, which pins the 8x4 block layout and the int4
 * packing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnet.h"
#include "percepnet.h"
#include "simd.h"

static const char *const levels[PN_SIMD_COUNT] = {"scalar", "avx2", "avxvnni", "neon", "dotprod"};
static unsigned rng = 12345;

static int rnd(int lo, int hi)
{
    rng = rng * 1103515245u + 12345u;
    return lo + (int)((rng >> 8) % (unsigned)(hi - lo + 1));
}

/* Row-major rows x cols into 8x4 blocks (the layout edge/model/pnw.py writes). */
static void block(const int8_t *rm, int rows, int cols, int8_t *w)
{
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            w[(r / 8) * 8 * cols + (c / 4) * 32 + (r % 8) * 4 + c % 4] = rm[r * cols + c];
}

static int check_matvec(int rows, int cols, int extreme)
{
    int8_t *rm = malloc((size_t)rows * cols), *w = malloc((size_t)rows * cols), *x = malloc((size_t)cols);
    int32_t *ref = malloc(sizeof(int32_t) * rows), *y0 = malloc(sizeof(int32_t) * rows),
            *y = malloc(sizeof(int32_t) * rows);
    int bad = 0;
    for (int i = 0; i < rows * cols; i++)
        rm[i] = (int8_t)(extreme ? (rnd(0, 1) ? 127 : -127) : rnd(-127, 127));
    for (int i = 0; i < cols; i++)
        x[i] = (int8_t)(extreme ? (rnd(0, 1) ? 127 : -127) : rnd(-127, 127));
    if (extreme == 2)  /* all products +127*127: the largest pair sums */
        for (int i = 0; i < rows * cols; i++)
            rm[i] = x[i % cols];
    block(rm, rows, cols, w);
    for (int r = 0; r < rows; r++) {
        int32_t s = 0;
        for (int c = 0; c < cols; c++)
            s += rm[r * cols + c] * x[c];
        ref[r] = s;
    }
    pn_nnet_scalar.matvec(w, rows, cols, x, y0);
    if (memcmp(ref, y0, sizeof(int32_t) * rows) != 0) {
        printf("FAIL scalar matvec %dx%d differs from row-major product\n", rows, cols);
        bad++;
    }
    for (int l = 1; l < PN_SIMD_COUNT; l++) {
        const pn_nnet_ops *ops = pn_nnet_ops_for((pn_simd_level)l);
        if (!ops)
            continue;
        const pn_matvec_fn f = ops->matvec;
        memset(y, 0x55, sizeof(int32_t) * rows);
        f(w, rows, cols, x, y);
        if (memcmp(y0, y, sizeof(int32_t) * rows) != 0) {
            printf("FAIL %s matvec %dx%d (extreme=%d) differs from scalar\n", levels[l], rows, cols, extreme);
            bad++;
        }
    }
    free(rm), free(w), free(x), free(ref), free(y0), free(y);
    return bad;
}

/* Row-major rows x cols int4 values (-8..7) into packed 8x4 block pairs (model.h), and
 * row-major multipliers [rows][cols / 32] into their layout. */
static void block4(const int8_t *rm, const uint8_t *mrm, int rows, int cols, int8_t *w, uint8_t *mul)
{
    memset(w, 0, (size_t)rows * cols / 2);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            int at = (r / 8) * 4 * cols + (c / 8) * 32 + (r % 8) * 4 + c % 4;
            int nib = rm[r * cols + c] & 15;
            w[at] = (int8_t)((uint8_t)w[at] | (uint8_t)((c / 4) % 2 ? nib << 4 : nib));
        }
    int blocks = cols / PN_Q4_BLOCK;
    for (int r = 0; r < rows; r++)
        for (int b = 0; b < blocks; b++)
            mul[(r / 8) * 8 * blocks + b * 8 + r % 8] = mrm[r * blocks + b];
}

/* extreme: 0 random; 1 all q = -8 and x = -127 with each row's multipliers summing to
 * PN_Q4_MUL_SUM_MAX (the largest sums the loader admits, positive); 2 the same with x = 127
 * (negative); 3 random signs at full scale */
static int check_matvec4(int rows, int cols, int extreme)
{
    int blocks = cols / PN_Q4_BLOCK;
    int8_t *rm = malloc((size_t)rows * cols), *w = malloc((size_t)rows * cols / 2), *x = malloc((size_t)cols);
    uint8_t *mrm = malloc((size_t)rows * blocks), *mul = malloc((size_t)rows * blocks);
    int32_t *ref = malloc(sizeof(int32_t) * rows), *y0 = malloc(sizeof(int32_t) * rows),
            *y = malloc(sizeof(int32_t) * rows);
    int bad = 0;
    for (int i = 0; i < rows * cols; i++)
        rm[i] = (int8_t)(extreme == 1 || extreme == 2 ? -8 : extreme == 3 ? (rnd(0, 1) ? 7 : -8) : rnd(-8, 7));
    for (int i = 0; i < cols; i++)
        x[i] = (int8_t)(extreme == 1 ? -127 : extreme == 2 ? 127 : extreme == 3 ? (rnd(0, 1) ? 127 : -127) : rnd(-127, 127));
    for (int r = 0; r < rows; r++) {
        int left = PN_Q4_MUL_SUM_MAX;
        for (int b = 0; b < blocks; b++) {
            int m = extreme ? (left < 255 ? left : 255) : rnd(0, 255);
            if (!extreme && b == 0)
                m = 0;  /* an all-zero block */
            mrm[r * blocks + b] = (uint8_t)m;
            left -= m;
        }
    }
    block4(rm, mrm, rows, cols, w, mul);
    for (int r = 0; r < rows; r++) {
        int64_t s = 0;
        for (int b = 0; b < blocks; b++) {
            int64_t dot = 0;
            for (int c = b * PN_Q4_BLOCK; c < (b + 1) * PN_Q4_BLOCK; c++)
                dot += rm[r * cols + c] * x[c];
            s += mrm[r * blocks + b] * dot;
        }
        ref[r] = (int32_t)s;
        if (s != ref[r]) {
            printf("FAIL test setup: int4 row %d sum %lld leaves int32\n", r, (long long)s);
            bad++;
        }
    }
    pn_nnet_scalar.matvec4(w, mul, rows, cols, x, y0);
    if (memcmp(ref, y0, sizeof(int32_t) * rows) != 0) {
        printf("FAIL scalar int4 matvec %dx%d (extreme=%d) differs from row-major product\n", rows, cols, extreme);
        bad++;
    }
    for (int l = 1; l < PN_SIMD_COUNT; l++) {
        const pn_nnet_ops *ops = pn_nnet_ops_for((pn_simd_level)l);
        if (!ops)
            continue;
        const pn_matvec4_fn f = ops->matvec4;
        memset(y, 0x55, sizeof(int32_t) * rows);
        f(w, mul, rows, cols, x, y);
        if (memcmp(y0, y, sizeof(int32_t) * rows) != 0) {
            printf("FAIL %s int4 matvec %dx%d (extreme=%d) differs from scalar\n", levels[l], rows, cols, extreme);
            bad++;
        }
    }
    free(rm), free(w), free(x), free(mrm), free(mul), free(ref), free(y0), free(y);
    return bad;
}

static int check_network(const char *path)
{
    pn_model *m;
    char err[200];
    int rc = pn_model_load_file(path, &m, err, sizeof err);
    if (rc != PN_OK) {
        printf("FAIL cannot load %s: %s\n", path, err);
        return 1;
    }
    enum { FRAMES = 200 };
    static float feats[FRAMES][PN_NB_FEATURES], ref[FRAMES][PN_NB_OUTPUTS], out[PN_NB_OUTPUTS];
    for (int t = 0; t < FRAMES; t++)
        for (int i = 0; i < PN_NB_FEATURES; i++)
            feats[t][i] = (float)rnd(-3000, 3000) / 1000.f;
    /* some frames with non-finite, huge and denormal features (quantisation's NaN, infinity
     * and clamp paths), one whose finite features are all zero (a zero scale) */
    static const float special[] = {NAN, INFINITY, -INFINITY, 1e30f, -1e30f, 1e-40f};
    for (int t = 5; t < FRAMES; t += 23)
        for (int k = 0; k < 6; k++)
            feats[t][(t + 7 * k) % PN_NB_FEATURES] = special[k];
    memset(feats[3], 0, sizeof feats[3]);
    feats[3][0] = INFINITY;
    feats[3][1] = NAN;
    int bad = 0, ran = 0;
    /* second pass: every matrix marked stream (as a model beyond PN_CACHE_KEEP_BYTES has),
     * so the non-temporal kernels are checked against the same scalar reference */
    for (int pass = 0; pass < 2 * PN_SIMD_COUNT; pass++) {
        int l = pass % PN_SIMD_COUNT, stream = pass / PN_SIMD_COUNT;
        if ((stream && l == 0) || pn_simd_select(levels[l]) != PN_OK)
            continue;
        for (int i = 0; i < m->n_layers; i++)
            m->layers[i].m[0].stream = m->layers[i].m[1].stream = stream;
        pn_nnet *nn;
        if (pn_nnet_create(m, &nn) != PN_OK) {
            printf("FAIL pn_nnet_create on %s\n", levels[l]);
            bad++;
            continue;
        }
        for (int t = 0; t < FRAMES; t++) {
            pn_nnet_step(nn, feats[t], l == 0 ? ref[t] : out);
            for (int i = 0; i < PN_NB_OUTPUTS; i++) {
                float v = l == 0 ? ref[t][i] : out[i];
                if (!(v >= 0.f && v <= 1.f)) {
                    printf("FAIL %s frame %d output %d = %g outside [0, 1]\n", levels[l], t, i, v);
                    bad++;
                    t = FRAMES;
                    break;
                }
            }
            if (l && t < FRAMES && memcmp(out, ref[t], sizeof out) != 0) {
                printf("FAIL %s%s network step %d differs from scalar\n", levels[l], stream ? " (stream)" : "", t);
                bad++;
                break;
            }
        }
        pn_nnet_destroy(nn);
        ran++;
        printf("%s%s: %s, %d network steps %s\n", levels[l], stream ? " (stream)" : "", path, FRAMES,
               l ? "identical to scalar" : "(reference)");
    }
    pn_model_free(m);
    return bad + (ran == 0);
}

int main(void)
{
    int bad = 0;
    static const int shapes[][2] = {{8, 4}, {16, 8}, {8, 72}, {96, 132}, {192, 640}, {1536, 512}, {40, 2560}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int extreme = 0; extreme < 3; extreme++)
            bad += check_matvec(shapes[s][0], shapes[s][1], extreme);
    static const int shapes4[][2] = {{8, 32}, {16, 64}, {32, 96}, {96, 160}, {192, 640}, {1536, 512}, {40, 2560}, {8, 8448}};
    for (size_t s = 0; s < sizeof shapes4 / sizeof shapes4[0]; s++)
        for (int extreme = 0; extreme < 4; extreme++)
            bad += check_matvec4(shapes4[s][0], shapes4[s][1], extreme);
    bad += check_network("tests/fixtures/models/tiny.pnw");
    bad += check_network("tests/fixtures/models/tiny_int4.pnw");
    printf("available: %s\n", pn_simd_available());
    if (bad)
        printf("%d failures\n", bad);
    return bad != 0;
}
