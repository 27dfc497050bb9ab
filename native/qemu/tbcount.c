/* tbcount: a QEMU TCG plugin that counts how often each translation block runs, for
 * `edge bench --estimate`. Written for Debian 12's qemu-user 7.2 (plugin API version 1).
 *
 *   qemu-aarch64 -plugin build/qemu/libtbcount.so,out=FILE PROGRAM ARGS...
 *
 * At exit FILE holds one line per block that ran:
 *   VADDR EXECUTIONS N_INSNS HEX HEX ...    (hex: each instruction's bytes, in memory order)
 * The count is an inline add in the generated code (no helper call per block), so counting
 * costs little. A block translated again (after a flush) shares its counter with the first
 * translation: the key is its address and length.
 *
 * Debian's qemu ships no qemu-plugin.h: the few API v1 entry points used are declared here.
 * Their signatures are QEMU's public plugin ABI as of 7.2 (later QEMUs replace the inline
 * counter call with a per-vCPU one). */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op,
                                              void *ptr, uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *udata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);

#define EXPORT __attribute__((visibility("default")))
EXPORT int qemu_plugin_version = 1;

typedef struct block {
    uint64_t vaddr, count;
    size_t n_insns, n_bytes;
    unsigned char *sizes, *bytes;  /* per instruction: its size; all bytes concatenated */
    struct block *next;            /* hash chain */
} block;

#define BUCKETS 65536  /* power of two; a run translates a few thousand blocks */
static block *table[BUCKETS];
static FILE *out;

static block *find_or_add(const struct qemu_plugin_tb *tb)
{
    uint64_t vaddr = qemu_plugin_tb_vaddr(tb);
    size_t n = qemu_plugin_tb_n_insns(tb), i, off = 0;
    block **slot = &table[(vaddr >> 1 ^ vaddr >> 17 ^ n) & (BUCKETS - 1)], *b;

    for (b = *slot; b; b = b->next)
        if (b->vaddr == vaddr && b->n_insns == n)
            return b;
    b = calloc(1, sizeof *b);
    if (!b || !(b->sizes = malloc(n ? n : 1)))
        return NULL;
    for (i = 0; i < n; i++)
        b->n_bytes += b->sizes[i] = (unsigned char)qemu_plugin_insn_size(qemu_plugin_tb_get_insn(tb, i));
    if (!(b->bytes = malloc(b->n_bytes ? b->n_bytes : 1)))
        return NULL;
    for (i = 0; i < n; i++) {
        const struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        memcpy(b->bytes + off, qemu_plugin_insn_data(insn), b->sizes[i]);
        off += b->sizes[i];
    }
    b->vaddr = vaddr;
    b->n_insns = n;
    b->next = *slot;
    *slot = b;
    return b;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    block *b = find_or_add(tb);
    (void)id;
    if (b)
        qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &b->count, 1);
    else
        fprintf(stderr, "tbcount: out of memory: counts are incomplete\n");
}

static void at_exit_cb(qemu_plugin_id_t id, void *udata)
{
    size_t h, i, off;
    const block *b;
    (void)id, (void)udata;
    for (h = 0; h < BUCKETS; h++)
        for (b = table[h]; b; b = b->next) {
            if (!b->count)
                continue;
            fprintf(out, "%" PRIx64 " %" PRIu64 " %zu", b->vaddr, b->count, b->n_insns);
            for (i = 0, off = 0; i < b->n_insns; off += b->sizes[i++]) {
                size_t k;
                fputc(' ', out);
                for (k = 0; k < b->sizes[i]; k++)
                    fprintf(out, "%02x", b->bytes[off + k]);
            }
            fputc('\n', out);
        }
    fclose(out);
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const struct qemu_info_t *info, int argc,
                               char **argv)
{
    const char *path = NULL;
    int i;
    (void)info;
    for (i = 0; i < argc; i++)
        if (!strncmp(argv[i], "out=", 4))
            path = argv[i] + 4;
    if (!path) {
        fprintf(stderr, "tbcount: give the output file: -plugin libtbcount.so,out=FILE\n");
        return -1;
    }
    if (!(out = fopen(path, "w"))) {
        perror(path);
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, at_exit_cb, NULL);
    return 0;
}
