/* pn_framecost dsp|frame AUDIO.f32 FRAMES [MODEL.pnw] [SIMD]: run the kernel over FRAMES hops
 * of raw float32 audio (looped when shorter), for `edge bench --estimate`, which counts the
 * instructions this program executes under qemu-user.
 *
 *   dsp    pn_analyze + pn_synthesize with fixed gains and strengths (comb and postfilter on,
 *          as `edge bench --dsp`), no model;
 *   frame  pn_process with MODEL: the DSP plus the network.
 * The network's cost is frame minus dsp. Everything outside the hop loop (loading, set-up) is
 * the same for any FRAMES, so the difference of two runs is the cost of the extra hops.
 * SIMD picks a path with pn_simd_select (default: the best the CPU has).
 * Prints one JSON line (with where main was loaded, so a report can name the functions of the
 * addresses qemu saw); exit 0 done, 1 kernel or I/O error, 2 usage. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "percepnet.h"

static int fail(const char *what, const char *why)
{
    fprintf(stderr, "pn_framecost: %s: %s\n", what, why);
    return 1;
}

/* The whole file as floats; NULL with *n = 0 on failure. */
static float *read_audio(const char *path, long *n)
{
    FILE *f = fopen(path, "rb");
    float *x = NULL;
    long bytes;

    *n = 0;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (bytes = ftell(f)) >= (long)(PN_HOP * sizeof(float))
        && fseek(f, 0, SEEK_SET) == 0 && (x = malloc((size_t)bytes))) {
        *n = bytes / (long)sizeof(float);
        if (fread(x, sizeof(float), (size_t)*n, f) != (size_t)*n) {
            free(x);
            x = NULL;
            *n = 0;
        }
    }
    fclose(f);
    return x;
}

int main(int argc, char **argv)
{
    float out[PN_HOP], features[PN_NB_FEATURES], gains[PN_NB_BANDS], strengths[PN_NB_BANDS];
    char err[256] = "";
    pn_model *model = NULL;
    pn_state *st = NULL;
    pn_config cfg;
    float *audio;
    long n, frames, t;
    int dsp, rc = PN_OK, i;
    char *end;

    dsp = argc > 1 && !strcmp(argv[1], "dsp");
    frames = argc > 3 ? strtol(argv[3], &end, 10) : 0;
    if (argc < 4 || argc > 6 || (!dsp && strcmp(argv[1], "frame")) || *end || frames < 1
        || (dsp ? argc > 4 && strcmp(argv[4], "-") : argc < 5)) {
        fprintf(stderr, "usage: pn_framecost dsp AUDIO.f32 FRAMES [- SIMD]\n"
                        "       pn_framecost frame AUDIO.f32 FRAMES MODEL.pnw [SIMD]\n");
        return 2;
    }
    if (argc > 5 && (rc = pn_simd_select(argv[5])) != PN_OK)
        return fail(argv[5], pn_strerror(rc));
    if (!(audio = read_audio(argv[2], &n)))
        return fail(argv[2], "cannot read at least one hop of float32 samples");
    if (!dsp && (rc = pn_model_load_file(argv[4], &model, err, sizeof err)) != PN_OK) {
        free(audio);
        return fail(argv[4], err[0] ? err : pn_strerror(rc));
    }
    pn_config_default(&cfg);
    if ((rc = pn_create(&cfg, model, &st)) != PN_OK) {
        pn_model_free(model);
        free(audio);
        return fail("pn_create", pn_strerror(rc));
    }
    for (i = 0; i < PN_NB_BANDS; i++)
        gains[i] = strengths[i] = 0.5f;  /* non-zero strengths: the comb path runs every hop */
    n -= n % PN_HOP;
    for (t = 0; t < frames && rc == PN_OK; t++) {
        const float *hop = audio + t * PN_HOP % n;
        if (dsp) {
            rc = pn_analyze(st, hop, features);
            if (rc == PN_OK)
                rc = pn_synthesize(st, gains, strengths, out);
        } else {
            rc = pn_process(st, hop, out);
        }
    }
    pn_destroy(st);
    pn_model_free(model);
    free(audio);
    if (rc != PN_OK)
        return fail("processing", pn_strerror(rc));
    printf("{\"mode\": \"%s\", \"frames\": %ld, \"simd\": \"%s\", \"main\": \"0x%jx\"}\n",
           argv[1], frames, pn_simd_active(), (uintmax_t)(uintptr_t)main);
    return 0;
}
