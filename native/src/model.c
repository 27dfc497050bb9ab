/* Loading and validating .pnw weight files (format in model.h). Every size is checked against
 * the bytes actually present before anything is read, so a hostile file cannot make the loader
 * read out of bounds or allocate without limit. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define HEADER_SIZE PN_MODEL_HEADER_SIZE
#define FORMAT_VERSION 3   /* reads 2 (int8 only) and 3 (an encoding per matrix) */
#define FORMAT_VERSION_MIN 2
#define MAX_FILE_SIZE (256L << 20)

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

static uint32_t rd_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int rd_i16(const unsigned char *p)
{
    return (int16_t)(uint16_t)(p[0] | p[1] << 8);
}

static float rd_f32(const unsigned char *p)
{
    uint32_t u = rd_u32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* CRC-32 (IEEE, reflected), four bits at a time from a constant table: no lazily built
 * state, so concurrent loads are safe. */
uint32_t pn_crc32(const unsigned char *p, size_t n)
{
    static const uint32_t nibble[16] = {
        0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
        0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
        0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c = nibble[(c ^ p[i]) & 0xF] ^ (c >> 4);
        c = nibble[(c ^ (p[i] >> 4)) & 0xF] ^ (c >> 4);
    }
    return c ^ 0xFFFFFFFFu;
}

static size_t pad(size_t n, size_t to) { return (n + to - 1) / to * to; }

/* Sizes of one matrix's parts (model.h), 64-bit so that no layer table can wrap the sums on
 * 32-bit boards: weight bytes, int4 multiplier bytes, scale and bias bytes. */
static uint64_t pad64(uint64_t n, uint64_t to) { return (n + to - 1) / to * to; }

static uint64_t weight_bytes(int bits, int rows, int cols)
{
    if (bits == PN_WEIGHTS_INT4)
        return pad64((uint64_t)rows, 8) * pad64((uint64_t)cols, PN_Q4_BLOCK) / 2;
    return pad64((uint64_t)rows, 8) * pad64((uint64_t)cols, 4);
}

static uint64_t mul_bytes(int bits, int rows, int cols)
{
    if (bits == PN_WEIGHTS_INT4)
        return pad64((uint64_t)rows, 8) * (pad64((uint64_t)cols, PN_Q4_BLOCK) / PN_Q4_BLOCK);
    return 0;
}

static uint64_t matrix_file_bytes(int bits, int rows, int cols)
{
    return weight_bytes(bits, rows, cols) + mul_bytes(bits, rows, cols) + 8 * (uint64_t)rows;
}

static uint64_t matrix_arena_bytes(int bits, int rows, int cols)
{
    return pad64(weight_bytes(bits, rows, cols), 32) + pad64(mul_bytes(bits, rows, cols), 32)
           + pad64(8 * (uint64_t)rows, 32);
}

static void matrix_dims(const pn_layer *l, int which, int *rows, int *cols)
{
    if (l->type == PN_LAYER_GRU) {
        *rows = 3 * l->n_out;
        *cols = which == 0 ? l->n_in : l->n_out;
    } else {
        *rows = l->n_out;
        *cols = l->kernel * l->n_in;
    }
}

static int n_matrices(const pn_layer *l) { return l->type == PN_LAYER_GRU ? 2 : 1; }

/* One layer table entry; version 3 entries also give each matrix's weight encoding. */
static int parse_layer(const unsigned char *p, int version, int index, pn_model *m, char *err, size_t errlen)
{
    pn_layer *l = &m->layers[index];
    uint32_t type = rd_u32(p), act = rd_u32(p + 4), n_in = rd_u32(p + 8), n_out = rd_u32(p + 12);
    uint32_t kernel = rd_u32(p + 16), n_src = rd_u32(p + 20);
    if (type < PN_LAYER_DENSE || type > PN_LAYER_GRU || act > PN_ACT_RELU)
        return fail(err, errlen, PN_ERR_MODEL_FORMAT, "layer %d: unknown type %u or activation %u",
                    index, (unsigned)type, (unsigned)act);
    if (n_in < 1 || n_in > PN_MAX_WIDTH || n_out < 1 || n_out > PN_MAX_WIDTH
        || kernel < 1 || kernel > PN_MAX_KERNEL || (type != PN_LAYER_CONV && kernel != 1)
        || (type == PN_LAYER_GRU && (act != PN_ACT_NONE || 3 * n_out > PN_MAX_WIDTH))
        || n_src < 1 || n_src > PN_MAX_SRC)
        return fail(err, errlen, PN_ERR_MODEL_FORMAT, "layer %d: sizes out of range", index);
    l->type = (int)type;
    l->act = (int)act;
    l->n_in = (int)n_in;
    l->n_out = (int)n_out;
    l->kernel = (int)kernel;
    l->n_src = (int)n_src;
    int width = 0;
    for (int s = 0; s < l->n_src; s++) {
        l->src[s] = rd_i16(p + 24 + 2 * s);
        if (l->src[s] < -1 || l->src[s] >= index)
            return fail(err, errlen, PN_ERR_MODEL_FORMAT, "layer %d: source %d is not an earlier layer",
                        index, l->src[s]);
        width += pn_layer_width(m, l->src[s]);
    }
    if (width != l->n_in)
        return fail(err, errlen, PN_ERR_MODEL_SHAPE, "layer %d: takes %d inputs, its sources give %d",
                    index, l->n_in, width);
    for (int k = 0; k < 2; k++) {
        uint32_t bits = version >= 3 ? rd_u32(p + 32 + 4 * k) : PN_WEIGHTS_INT8;
        if (k >= n_matrices(l)) {  /* a dense or conv layer has one matrix: the other slot is 0 */
            if (version >= 3 && bits != 0)
                return fail(err, errlen, PN_ERR_MODEL_FORMAT, "layer %d: an encoding for a second matrix it lacks",
                            index);
            continue;
        }
        if (bits != PN_WEIGHTS_INT8 && bits != PN_WEIGHTS_INT4)
            return fail(err, errlen, PN_ERR_MODEL_FORMAT, "layer %d: unknown weight encoding %u of matrix %d",
                        index, (unsigned)bits, k);
        l->m[k].bits = (int)bits;
    }
    return PN_OK;
}

/* An int4 matrix's multipliers: no row's sum may exceed PN_Q4_MUL_SUM_MAX (model.h). */
static int check_multipliers(const uint8_t *mul, int rows_pad, int blocks)
{
    for (int r = 0; r < rows_pad; r++) {
        long sum = 0;
        for (int b = 0; b < blocks; b++)
            sum += mul[(size_t)(r / 8) * 8 * blocks + (size_t)b * 8 + r % 8];
        if (sum > PN_Q4_MUL_SUM_MAX)
            return PN_ERR_MODEL_FORMAT;
    }
    return PN_OK;
}

/* Copies one matrix (its encoding already in mx->bits) from the file into the arena; checks
 * that int8 weights are in [-127, 127], int4 multipliers within bounds, scales and biases
 * finite. */
static int load_matrix(pn_matrix *mx, int rows, int cols, const unsigned char **p, unsigned char **arena)
{
    int q4 = mx->bits == PN_WEIGHTS_INT4;
    size_t wbytes = (size_t)weight_bytes(mx->bits, rows, cols), mbytes = (size_t)mul_bytes(mx->bits, rows, cols);
    mx->rows = rows;
    mx->cols = cols;
    mx->rows_pad = (int)pad((size_t)rows, 8);
    mx->cols_pad = (int)pad((size_t)cols, q4 ? PN_Q4_BLOCK : 4);
    memcpy(*arena, *p, wbytes);
    mx->w = (const int8_t *)*arena;
    if (!q4)
        for (size_t i = 0; i < wbytes; i++)  /* symmetric int8: the SIMD sign trick needs no -128 */
            if (mx->w[i] == -128)
                return PN_ERR_MODEL_FORMAT;
    *arena += pad(wbytes, 32);
    *p += wbytes;
    mx->mul = NULL;
    if (q4) {
        memcpy(*arena, *p, mbytes);
        mx->mul = *arena;
        if (check_multipliers(mx->mul, mx->rows_pad, mx->cols_pad / PN_Q4_BLOCK) != PN_OK)
            return PN_ERR_MODEL_FORMAT;
        *arena += pad(mbytes, 32);
        *p += mbytes;
    }
    float *sb = (float *)*arena;
    for (int i = 0; i < 2 * rows; i++) {
        sb[i] = rd_f32(*p + 4 * (size_t)i);
        if (!isfinite(sb[i]))
            return PN_ERR_MODEL_FORMAT;
    }
    mx->scale = sb;
    mx->bias = sb + rows;
    *arena += pad(8 * (size_t)rows, 32);
    *p += 8 * (size_t)rows;
    return PN_OK;
}

static int parse(const unsigned char *d, size_t size, pn_model *m, char *err, size_t errlen)
{
    if (size < HEADER_SIZE || memcmp(d, "PNWF", 4) != 0)
        return fail(err, errlen, PN_ERR_MODEL_FORMAT, "not a .pnw weight file (bad magic or too short)");
    uint32_t version = rd_u32(d + 4);
    if (version < FORMAT_VERSION_MIN || version > FORMAT_VERSION)
        return fail(err, errlen, PN_ERR_MODEL_VERSION, "weight file format %u, this build reads %d to %d%s",
                    (unsigned)version, FORMAT_VERSION_MIN, FORMAT_VERSION,
                    version < FORMAT_VERSION_MIN ? " (re-export it: edge export MODEL.tflite --out MODEL.pnw)" : "");
    size_t layer_size = version >= 3 ? PN_MODEL_LAYER_SIZE_V3 : PN_MODEL_LAYER_SIZE;
    uint32_t features = rd_u32(d + 72), rate = rd_u32(d + 76);
    if (features != PN_FEATURE_VERSION || rate != PN_SAMPLE_RATE)
        return fail(err, errlen, PN_ERR_MODEL_FEATURES,
                    "model was trained on feature version %u at %u Hz, this kernel computes version %d "
                    "at %d Hz: use a model trained for this kernel", (unsigned)features, (unsigned)rate,
                    PN_FEATURE_VERSION, PN_SAMPLE_RATE);
    if (rd_u32(d + 8) != PN_NB_FEATURES || rd_u32(d + 12) != PN_NB_OUTPUTS)
        return fail(err, errlen, PN_ERR_MODEL_SHAPE, "model is %u features -> %u outputs, kernel needs %d -> %d",
                    (unsigned)rd_u32(d + 8), (unsigned)rd_u32(d + 12), PN_NB_FEATURES, PN_NB_OUTPUTS);
    uint32_t n_layers = rd_u32(d + 16), payload = rd_u32(d + 20);
    if (n_layers < 1 || n_layers > PN_MAX_LAYERS)
        return fail(err, errlen, PN_ERR_MODEL_FORMAT, "%u layers (1..%d allowed)", (unsigned)n_layers, PN_MAX_LAYERS);
    size_t table_end = HEADER_SIZE + (size_t)n_layers * layer_size;
    if (size < table_end || size - table_end != payload)
        return fail(err, errlen, PN_ERR_MODEL_FORMAT, "file is %zu bytes, header says %llu (truncated or padded)",
                    size, (unsigned long long)table_end + payload);
    if (pn_crc32(d + 28, size - 28) != rd_u32(d + 24))
        return fail(err, errlen, PN_ERR_MODEL_CHECKSUM, "checksum mismatch (corrupt weight file)");

    m->n_layers = (int)n_layers;
    memcpy(m->name, d + 40, sizeof m->name);
    m->name[sizeof m->name - 1] = '\0';
    uint64_t need_file = 0, need_arena = 0;
    for (int i = 0; i < m->n_layers; i++) {
        int rc = parse_layer(d + HEADER_SIZE + (size_t)i * layer_size, (int)version, i, m, err, errlen);
        if (rc != PN_OK)
            return rc;
        for (int k = 0; k < n_matrices(&m->layers[i]); k++) {
            int rows, cols, bits = m->layers[i].m[k].bits;
            matrix_dims(&m->layers[i], k, &rows, &cols);
            need_file += matrix_file_bytes(bits, rows, cols);
            need_arena += matrix_arena_bytes(bits, rows, cols);
            m->n_weights += (long)rows * cols;
        }
    }
    if (need_file != payload)
        return fail(err, errlen, PN_ERR_MODEL_FORMAT, "payload is %u bytes, the layer table needs %llu",
                    (unsigned)payload, (unsigned long long)need_file);

    uint32_t n_out_src = rd_u32(d + 28);
    if (n_out_src < 1 || n_out_src > PN_MAX_SRC)
        return fail(err, errlen, PN_ERR_MODEL_FORMAT, "%u output layers (1..%d allowed)", (unsigned)n_out_src, PN_MAX_SRC);
    m->n_out_src = (int)n_out_src;
    int width = 0;
    for (int s = 0; s < m->n_out_src; s++) {
        m->out_src[s] = rd_i16(d + 32 + 2 * s);
        if (m->out_src[s] < 0 || m->out_src[s] >= m->n_layers)
            return fail(err, errlen, PN_ERR_MODEL_FORMAT, "output source %d is not a layer", m->out_src[s]);
        width += m->layers[m->out_src[s]].n_out;
    }
    if (width != PN_NB_OUTPUTS)
        return fail(err, errlen, PN_ERR_MODEL_SHAPE, "model outputs %d values, kernel needs %d", width, PN_NB_OUTPUTS);

    if (posix_memalign(&m->arena, 32, (size_t)need_arena) != 0)
        return fail(err, errlen, PN_ERR_NOMEM, "out of memory for %llu bytes of weights",
                    (unsigned long long)need_arena);
    const unsigned char *p = d + table_end;
    unsigned char *a = m->arena;
    size_t before = 0;  /* weight bytes of the matrices a step reads before this one */
    for (int i = 0; i < m->n_layers; i++) {
        pn_layer *l = &m->layers[i];
        for (int k = 0; k < n_matrices(l); k++) {
            int rows, cols;
            matrix_dims(l, k, &rows, &cols);
            if (load_matrix(&l->m[k], rows, cols, &p, &a) != PN_OK)
                return fail(err, errlen, PN_ERR_MODEL_FORMAT, "layer %d: %s, or a scale or bias not finite", i,
                            l->m[k].bits == PN_WEIGHTS_INT4 ? "int4 block multipliers too large" : "weight -128");
            l->m[k].stream = before >= PN_CACHE_KEEP_BYTES;
            before += (size_t)weight_bytes(l->m[k].bits, rows, cols);
        }
    }
    return PN_OK;
}

int pn_model_load(const void *data, size_t size, pn_model **out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!data || !out)
        return fail(err, errlen, PN_ERR_ARG, "no model data");
    *out = NULL;
    pn_model *m = calloc(1, sizeof *m);
    if (!m)
        return fail(err, errlen, PN_ERR_NOMEM, "out of memory");
    int rc = parse(data, size, m, err, errlen);
    if (rc != PN_OK) {
        pn_model_free(m);
        return rc;
    }
    *out = m;
    return PN_OK;
}

int pn_model_load_file(const char *path, pn_model **out, char *err, size_t errlen)
{
    if (!path || !out)
        return fail(err, errlen, PN_ERR_ARG, "no model path");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, errlen, PN_ERR_IO, "cannot open %s", path);
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size < 0 || size > MAX_FILE_SIZE || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return fail(err, errlen, size > MAX_FILE_SIZE ? PN_ERR_MODEL_FORMAT : PN_ERR_IO,
                    "%s: unreadable or larger than %ld MB", path, MAX_FILE_SIZE >> 20);
    }
    unsigned char *buf = malloc(size ? (size_t)size : 1);
    if (!buf) {
        fclose(f);
        return fail(err, errlen, PN_ERR_NOMEM, "out of memory reading %s", path);
    }
    size_t got = fread(buf, 1, (size_t)size, f);
    fclose(f);
    int rc = got == (size_t)size ? pn_model_load(buf, got, out, err, errlen)
                                 : fail(err, errlen, PN_ERR_IO, "%s: read error", path);
    free(buf);
    return rc;
}

void pn_model_free(pn_model *model)
{
    if (model) {
        free(model->arena);
        free(model);
    }
}

int pn_model_get_info(const pn_model *model, pn_model_info *info)
{
    if (!model || !info)
        return PN_ERR_ARG;
    memset(info, 0, sizeof *info);
    info->n_weights = model->n_weights;
    info->n_layers = model->n_layers;
    memcpy(info->name, model->name, sizeof info->name);
    return PN_OK;
}
