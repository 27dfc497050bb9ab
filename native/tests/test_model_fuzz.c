/* Deterministic mutation fuzzing of the .pnw loader: bit flips, hostile header and layer-table
 * values, truncation and extension, half of them with the checksum recomputed so that the
 * validator (not only the CRC) must catch them. Each mutant sits in a buffer of exactly its
 * length, so under AddressSanitizer (scons asan=1) any read past it aborts the test. Models
 * that still load are run for a few steps. Iterations: argv[1] (default 3000), half over the
 * int8 fixture (format version 2), half over its int4 export (version 3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "percepnet.h"

static uint32_t rng = 2024;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static size_t mutate(unsigned char *b, size_t n, size_t cap, size_t layer_size, size_t table_end)
{
    static const uint32_t hostile[] = {0, 1, 2, 3, 4, 7, 8, 16, 17, 34, 68, 69, 70, 4096, 4097,
                                       65535, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFFFu, 0xFFFFFFF0u};
    switch (rnd() % 5) {
    case 0:  /* a few bit flips anywhere */
        for (uint32_t k = 1 + rnd() % 4; k > 0; k--)
            b[rnd() % n] ^= (unsigned char)(1u << (rnd() % 8));
        return n;
    case 1:  /* a hostile 32-bit field in the header or layer table */
    {
        size_t at = 4 * (rnd() % (table_end / 4));  /* sequenced: same mutants on every compiler */
        put_u32(b + at, hostile[rnd() % (sizeof hostile / sizeof hostile[0])]);
        return n;
    }
    case 2: {  /* a layer source or output source index */
        size_t at = 32;
        if (rnd() % 2) {
            at += 2 * (rnd() % 4);
        } else {
            at = PN_MODEL_HEADER_SIZE + layer_size * (rnd() % ((table_end - PN_MODEL_HEADER_SIZE) / layer_size));
            at += 24 + 2 * (rnd() % 4);
        }
        int16_t v = (int16_t)((int)(rnd() % 40) - 20);
        b[at] = (unsigned char)v;
        b[at + 1] = (unsigned char)((uint16_t)v >> 8);
        return n;
    }
    case 3:  /* truncation */
        return rnd() % n;
    default: {  /* extension, header told or not */
        size_t extra = 1 + rnd() % (cap - n);
        for (size_t i = n; i < n + extra; i++)
            b[i] = (unsigned char)rnd();
        if (rnd() % 2)
            put_u32(b + 20, (uint32_t)(n + extra - table_end));
        return n + extra;
    }
    }
}

/* iters mutants of one fixture; 0 when both outcomes occurred as they must */
static int fuzz(const char *path, long iters)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("FAIL cannot open %s\n", path);
        return 1;
    }
    static unsigned char orig[1 << 16];
    size_t n = fread(orig, 1, sizeof orig, f);
    fclose(f);
    size_t layer_size = orig[4] >= 3 ? PN_MODEL_LAYER_SIZE_V3 : PN_MODEL_LAYER_SIZE;
    size_t cap = n + 256, table_end = PN_MODEL_HEADER_SIZE + layer_size * (size_t)(orig[16] | orig[17] << 8);
    if (n < 100 || n == sizeof orig || table_end > n) {
        printf("FAIL %s has an unexpected size %zu\n", path, n);
        return 1;
    }
    unsigned char *work = malloc(cap);
    long loaded = 0, loaded_fixed = 0, rejected = 0;
    int codes[16] = {0};
    for (long it = 0; it < iters; it++) {
        memcpy(work, orig, n);
        size_t len = mutate(work, n, cap, layer_size, table_end);
        int fixed = len >= 28 && rnd() % 2;
        if (fixed)
            put_u32(work + 24, pn_crc32(work + 28, len - 28));
        unsigned char *exact = malloc(len ? len : 1);
        memcpy(exact, work, len);
        pn_model *m = NULL;
        char err[160];
        int rc = pn_model_load(exact, len, &m, err, sizeof err);
        free(exact);  /* the model must not keep pointers into the caller's buffer */
        if (rc == PN_OK) {
            pn_nnet *nn;
            float feats[PN_NB_FEATURES], out[PN_NB_OUTPUTS];
            for (int i = 0; i < PN_NB_FEATURES; i++)
                feats[i] = (float)(rnd() % 2000) / 500.f - 2.f;
            if (pn_nnet_create(m, &nn) == PN_OK) {
                for (int t = 0; t < 3; t++)
                    pn_nnet_step(nn, feats, out);
                pn_nnet_destroy(nn);
            }
            pn_model_free(m);
            loaded++;
            loaded_fixed += fixed;
        } else {
            if (m != NULL || !err[0]) {
                printf("FAIL %s iteration %ld: error %d without a reason or with a model\n", path, it, rc);
                free(work);
                return 1;
            }
            rejected++;
            codes[-rc & 15]++;
        }
    }
    printf("%s: %ld mutants: %ld loaded (%ld with a recomputed checksum), %ld rejected "
           "(format %d, version %d, checksum %d, shape %d)\n", path, iters, loaded, loaded_fixed, rejected,
           codes[-PN_ERR_MODEL_FORMAT], codes[-PN_ERR_MODEL_VERSION], codes[-PN_ERR_MODEL_CHECKSUM],
           codes[-PN_ERR_MODEL_SHAPE]);
    free(work);
    /* Both outcomes must occur, and the validator must have refused checksum-valid mutants. */
    return !(loaded > 0 && rejected > 0 && codes[-PN_ERR_MODEL_FORMAT] > 0 && codes[-PN_ERR_MODEL_SHAPE] > 0);
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 3000;
    /* the int8 file (format version 2) and its int4 export (version 3), half each */
    int bad = fuzz("tests/fixtures/models/micro.pnw", iters / 2);
    bad += fuzz("tests/fixtures/models/micro_int4.pnw", iters - iters / 2);
    return bad != 0;
}
