/* pn_selftest [LIBRARY.so]: the health check `edge flash` runs on a board.
 *
 * Pushes one second of synthetic voiced audio through pn_analyze/pn_synthesize with unit gains
 * and checks the output is finite, not silent, and the input delayed by pn_latency_samples(PN_SAMPLE_RATE).
 * Without an argument it tests the kernel linked into this program; with one it dlopen()s
 * that library (the copy a release ships in edge/_lib/) and tests it through the same calls.
 * Prints one JSON line; exit 0 healthy, 1 unhealthy, 2 usage. */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "percepnet.h"

#define SECONDS 1
#define HOPS (SECONDS * PN_SAMPLE_RATE / PN_HOP)
#define MIN_SNR_DB 10.0
#define TWO_PI 6.283185307179586

typedef struct {
    int (*abi_version)(void);
    const char *(*version_string)(void);
    const char *(*strerror_)(int);
    int (*latency_samples)(int);
    const char *(*simd_active)(void);
    void (*config_default)(pn_config *);
    int (*create)(const pn_config *, const pn_model *, pn_state **);
    void (*destroy)(pn_state *);
    int (*analyze)(pn_state *, const float *, float *);
    int (*synthesize)(pn_state *, const float *, const float *, float *);
} pn_api;

static const pn_api linked = {
    pn_abi_version, pn_version_string, pn_strerror, pn_latency_samples, pn_simd_active,
    pn_config_default, pn_create, pn_destroy, pn_analyze, pn_synthesize,
};

static int fail(const char *what, const char *why)
{
    fprintf(stderr, "pn_selftest: %s: %s\n", what, why);
    return 1;
}

/* Every entry point through dlsym; the name of the first missing one in *missing. */
static int load(const char *path, pn_api *api, const char **missing)
{
    static const char *names[] = {
        "pn_abi_version", "pn_version_string", "pn_strerror", "pn_latency_samples",
        "pn_simd_active", "pn_config_default", "pn_create", "pn_destroy", "pn_analyze",
        "pn_synthesize",
    };
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    void *sym[sizeof names / sizeof names[0]];
    size_t i;

    if (!h) {
        *missing = dlerror();
        return -1;
    }
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        sym[i] = dlsym(h, names[i]);
        if (!sym[i]) {
            *missing = names[i];
            return -1;
        }
    }
    /* POSIX guarantees object and function pointers convert; copy them field by field. */
    memcpy(&api->abi_version, &sym[0], sizeof(void *));
    memcpy(&api->version_string, &sym[1], sizeof(void *));
    memcpy(&api->strerror_, &sym[2], sizeof(void *));
    memcpy(&api->latency_samples, &sym[3], sizeof(void *));
    memcpy(&api->simd_active, &sym[4], sizeof(void *));
    memcpy(&api->config_default, &sym[5], sizeof(void *));
    memcpy(&api->create, &sym[6], sizeof(void *));
    memcpy(&api->destroy, &sym[7], sizeof(void *));
    memcpy(&api->analyze, &sym[8], sizeof(void *));
    memcpy(&api->synthesize, &sym[9], sizeof(void *));
    return 0;
}

/* A 140 Hz voice-like buzz (12 harmonics, 1/k amplitude) plus a little white noise. */
static void synth(float *x, int n)
{
    unsigned lcg = 12345u;
    int i, k;
    for (i = 0; i < n; i++) {
        double t = (double)i / PN_SAMPLE_RATE, v = 0;
        for (k = 1; k <= 12; k++)
            v += 0.08 / k * sin(TWO_PI * 140.0 * k * t);
        lcg = lcg * 1664525u + 1013904223u;
        x[i] = (float)(v + 0.005 * ((double)(lcg >> 8) / (1 << 24) - 0.5));
    }
}

int main(int argc, char **argv)
{
    static float in[HOPS * PN_HOP], out[HOPS * PN_HOP];
    float features[PN_NB_FEATURES], gains[PN_NB_BANDS], strengths[PN_NB_BANDS];
    const char *lib = argc > 1 ? argv[1] : NULL, *missing = "";
    pn_api api = linked;
    pn_config cfg;
    pn_state *st;
    double sig = 0, err = 0, out_energy = 0, snr;
    int i, h, rc, delay, n;

    if (argc > 2 || (lib && lib[0] == '-')) {
        fprintf(stderr, "usage: pn_selftest [LIBRARY.so]\n");
        return 2;
    }
    if (lib && load(lib, &api, &missing) != 0)
        return fail(lib, missing);
    if (api.abi_version() != PN_ABI_VERSION)
        return fail("abi", "library ABI version differs from this program's header");

    api.config_default(&cfg);
    rc = api.create(&cfg, NULL, &st);
    if (rc != PN_OK)
        return fail("pn_create", api.strerror_(rc));
    for (i = 0; i < PN_NB_BANDS; i++) {
        gains[i] = 1.0f;
        strengths[i] = 0.0f;
    }
    synth(in, HOPS * PN_HOP);
    for (h = 0; h < HOPS; h++) {
        rc = api.analyze(st, in + h * PN_HOP, features);
        if (rc == PN_OK)
            rc = api.synthesize(st, gains, strengths, out + h * PN_HOP);
        if (rc != PN_OK) {
            api.destroy(st);
            return fail("processing", api.strerror_(rc));
        }
        for (i = 0; i < PN_NB_FEATURES; i++)
            if (!isfinite(features[i])) {
                api.destroy(st);
                return fail("pn_analyze", "non-finite feature");
            }
    }
    api.destroy(st);

    delay = api.latency_samples(PN_SAMPLE_RATE);
    n = HOPS * PN_HOP;
    if (delay < 0 || delay >= n / 2)
        return fail("pn_latency_samples", "out of range");
    for (i = 0; i < n; i++)
        if (!isfinite(out[i]))
            return fail("output", "non-finite sample");
    /* Skip the start-up (latency plus a window) where the output is still filling. */
    for (i = delay + PN_WINDOW; i < n; i++) {
        double d = out[i] - in[i - delay];
        sig += (double)in[i - delay] * in[i - delay];
        out_energy += (double)out[i] * out[i];
        err += d * d;
    }
    n -= delay + PN_WINDOW;
    snr = 10 * log10(sig / (err + 1e-20));
    printf("{\"library\": \"%s\", \"abi\": %d, \"version\": \"%s\", \"simd\": \"%s\", "
           "\"hops\": %d, \"latency_samples\": %d, \"rms_in\": %.5f, \"rms_out\": %.5f, "
           "\"snr_db\": %.2f}\n", lib ? lib : "linked", api.abi_version(), api.version_string(),
           api.simd_active(), HOPS, delay, sqrt(sig / n), sqrt(out_energy / n), snr);
    if (out_energy < 0.01 * sig)
        return fail("output", "silent (under -20 dB of the input)");
    if (snr < MIN_SNR_DB)
        return fail("output", "unit gains do not give back the delayed input");
    return 0;
}
