/* The .pnw loader accepts the fixture and refuses each kind of bad file with its own error
 * code and a one-line reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "percepnet.h"

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n);
    if (fread(b, 1, *n, f) != *n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    return b;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void fix_crc(unsigned char *b, size_t n) { put_u32(b + 24, pn_crc32(b + 28, n - 28)); }

static int expect(const char *what, const unsigned char *b, size_t n, int want)
{
    pn_model *m = (pn_model *)1;
    char err[200] = "unset";
    int rc = pn_model_load(b, n, &m, err, sizeof err);
    if (rc != want || (rc != PN_OK && (m != NULL || !err[0] || strchr(err, '\n')))) {
        printf("FAIL %s: got %d (%s), want %d\n", what, rc, err, want);
        return 1;
    }
    printf("ok   %s: %s\n", what, rc == PN_OK ? "loaded" : err);
    pn_model_free(rc == PN_OK ? m : NULL);
    return 0;
}

int main(void)
{
    size_t n;
    unsigned char *orig = read_all("tests/fixtures/models/tiny.pnw", &n);
    if (!orig) {
        printf("FAIL cannot read tests/fixtures/models/tiny.pnw\n");
        return 1;
    }
    unsigned char *b = malloc(n + 64);
    int bad = 0;

#define CASE(what, edit, want)          \
    do {                                \
        size_t len = n;                 \
        memcpy(b, orig, n);             \
        edit;                           \
        bad += expect(what, b, len, want); \
    } while (0)

    CASE("valid file", (void)0, PN_OK);
    CASE("bad magic", b[0] = 'X', PN_ERR_MODEL_FORMAT);
    CASE("empty", len = 0, PN_ERR_MODEL_FORMAT);
    CASE("header only", len = PN_MODEL_HEADER_SIZE, PN_ERR_MODEL_FORMAT);
    CASE("truncated by one byte", len = n - 1, PN_ERR_MODEL_FORMAT);
    CASE("trailing garbage", (len = n + 16, memset(b + n, 0, 16)), PN_ERR_MODEL_FORMAT);
    CASE("format version 1", put_u32(b + 4, 1), PN_ERR_MODEL_VERSION);
    CASE("format version 4", put_u32(b + 4, 4), PN_ERR_MODEL_VERSION);
    CASE("version 2 file that says version 3", (put_u32(b + 4, 3), fix_crc(b, len)), PN_ERR_MODEL_FORMAT);
    CASE("feature version 2", (put_u32(b + 72, PN_FEATURE_VERSION + 1), fix_crc(b, len)), PN_ERR_MODEL_FEATURES);
    CASE("trained at 16 kHz", (put_u32(b + 76, 16000), fix_crc(b, len)), PN_ERR_MODEL_FEATURES);
    CASE("feature count 71", put_u32(b + 8, 71), PN_ERR_MODEL_SHAPE);
    CASE("output count 34", put_u32(b + 12, 34), PN_ERR_MODEL_SHAPE);
    CASE("zero layers", put_u32(b + 16, 0), PN_ERR_MODEL_FORMAT);
    CASE("huge layer count", put_u32(b + 16, 0xFFFFFFFFu), PN_ERR_MODEL_FORMAT);
    CASE("huge payload size", put_u32(b + 20, 0xFFFFFFF0u), PN_ERR_MODEL_FORMAT);
    CASE("one weight byte flipped", b[n / 2] ^= 0x10, PN_ERR_MODEL_CHECKSUM);
    CASE("checksum flipped", b[24] ^= 1, PN_ERR_MODEL_CHECKSUM);
    /* Consistent checksums over inconsistent tables: the validator itself must refuse. */
    CASE("first layer takes 69 features", (put_u32(b + PN_MODEL_HEADER_SIZE + 8, 69), fix_crc(b, len)), PN_ERR_MODEL_SHAPE);
    CASE("layer width 100000", (put_u32(b + PN_MODEL_HEADER_SIZE + 12, 100000), fix_crc(b, len)), PN_ERR_MODEL_FORMAT);
    CASE("unknown layer type", (put_u32(b + PN_MODEL_HEADER_SIZE, 9), fix_crc(b, len)), PN_ERR_MODEL_FORMAT);
    CASE("source is a later layer", (b[PN_MODEL_HEADER_SIZE + 24] = 5, b[PN_MODEL_HEADER_SIZE + 25] = 0, fix_crc(b, len)), PN_ERR_MODEL_FORMAT);
    CASE("outputs from one layer only", (put_u32(b + 28, 1), fix_crc(b, len)), PN_ERR_MODEL_SHAPE);
    CASE("NaN scale", (memset(b + n - 4, 0xFF, 4), fix_crc(b, len)), PN_ERR_MODEL_FORMAT);

    /* Version 3: an encoding per matrix (tiny_int4.pnw: layer 0 int8, layer 1 int4). */
    size_t n4;
    unsigned char *orig4 = read_all("tests/fixtures/models/tiny_int4.pnw", &n4);
    if (!orig4) {
        printf("FAIL cannot read tests/fixtures/models/tiny_int4.pnw\n");
        return 1;
    }
    unsigned char *b4 = malloc(n4 + 64);
    const size_t l0 = PN_MODEL_HEADER_SIZE, l1 = l0 + PN_MODEL_LAYER_SIZE_V3;
#define CASE4(what, edit, want)           \
    do {                                  \
        size_t len = n4;                  \
        memcpy(b4, orig4, n4);            \
        edit;                             \
        bad += expect(what, b4, len, want); \
    } while (0)
    CASE4("int4 file (version 3)", (void)0, PN_OK);
    CASE4("version 3 file that says version 2", (put_u32(b4 + 4, 2), fix_crc(b4, len)), PN_ERR_MODEL_FORMAT);
    CASE4("unknown weight encoding 5", (put_u32(b4 + l1 + 32, 5), fix_crc(b4, len)), PN_ERR_MODEL_FORMAT);
    CASE4("int4 matrix said to be int8", (put_u32(b4 + l1 + 32, PN_WEIGHTS_INT8), fix_crc(b4, len)), PN_ERR_MODEL_FORMAT);
    CASE4("encoding for a dense layer's second matrix", (put_u32(b4 + l0 + 36, PN_WEIGHTS_INT4), fix_crc(b4, len)),
          PN_ERR_MODEL_FORMAT);
    CASE4("int4 file truncated by one byte", len = n4 - 1, PN_ERR_MODEL_FORMAT);
    free(b4);
    free(orig4);

    pn_model *m = NULL;
    char err[200];
    if (pn_model_load_file("no/such/model.pnw", &m, err, sizeof err) != PN_ERR_IO || m) {
        printf("FAIL missing file is not PN_ERR_IO\n");
        bad++;
    }
    if (pn_model_load_file("tests/fixtures/models/tiny.pnw", &m, NULL, 0) != PN_OK) {
        printf("FAIL fixture does not load from file\n");
        bad++;
    } else {
        pn_model_info info;
        pn_model_get_info(m, &info);
        printf("ok   fixture: %s, %d layers, %ld weights\n", info.name, info.n_layers, info.n_weights);
        if (info.n_layers < 5 || info.n_weights < 1000)
            bad++;
        pn_model_free(m);
    }
    free(b);
    free(orig);
    return bad != 0;
}
