/* Drives libpercepnet_ladspa.so as a LADSPA host would, on the host and under qemu for each
 * board, and compares it with the kernel linked in here:
 *   ladspa_check PLUGIN.so MODEL.pnw
 * Checks: rates the kernel does not take refused; output = the kernel's output delayed by the
 * `latency` port, bit for bit, for any block sizes (and in place), at 48 kHz and at 16 and
 * 44.1 kHz (converted inside the kernel); the attenuation port; bypass = the input delayed
 * by the same latency, and back to the kernel's output (it kept running); a NaN sample does not
 * stop the stream; activate() starts over; run() calls no allocator (malloc and friends are
 * interposed here and counted). */
#include <dlfcn.h>
#include <ladspa.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "percepnet.h"

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); return 1; } } while (0)
#define HOPS 40
#define LEN (HOPS * PN_HOP)

enum { PORT_IN, PORT_OUT, PORT_ATTEN, PORT_BYPASS, PORT_LATENCY, N_PORTS };

/* Every allocation while `counting`: the plugin resolves malloc to these (exported, -rdynamic).
 * Under AddressSanitizer, which owns malloc, allocations are not counted. */
static int counting, allocs;
#ifdef __SANITIZE_ADDRESS__
#define COUNTS_ALLOCS 0
#else
#define COUNTS_ALLOCS 1
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);
PN_EXPORT void *malloc(size_t n) { allocs += counting; return __libc_malloc(n); }
PN_EXPORT void *calloc(size_t n, size_t size) { allocs += counting; return __libc_calloc(n, size); }
PN_EXPORT void *realloc(void *p, size_t n) { allocs += counting; return __libc_realloc(p, n); }
PN_EXPORT void free(void *p) { allocs += counting; __libc_free(p); }
#endif

static float sig[LEN], ref[LEN], ref6[LEN], out[LEN];
static LADSPA_Data atten, bypass, latency;
static const LADSPA_Descriptor *d;

/* The kernel's own output for HOPS hops of sig at `rate` with an attenuation limit of db */
static int kernel_out(const char *model_path, float db, int rate, float *y)
{
    pn_model *m;
    pn_state *st;
    pn_config cfg;
    pn_config_default(&cfg);
    cfg.rate = rate;
    const int hop = pn_hop_samples(rate);
    if (pn_model_load_file(model_path, &m, NULL, 0) != PN_OK)
        return 0;
    int ok = pn_create(&cfg, m, &st) == PN_OK && pn_set_atten_lim(st, db) == PN_OK;
    for (int h = 0; ok && h < HOPS; h++)
        ok = pn_process(st, sig + h * hop, y + h * hop) == PN_OK;
    pn_destroy(st);
    pn_model_free(m);
    return ok;
}

/* Runs the plugin over sig[from..to) in blocks cycling through `sizes` (0 ends the list). */
static void play(LADSPA_Handle h, const float *x, float *y, int from, int to, const int *sizes)
{
    for (int i = from, k = 0; i < to; k = sizes[k + 1] ? k + 1 : 0) {
        int n = sizes[k] < to - i ? sizes[k] : to - i;
        d->connect_port(h, PORT_IN, (LADSPA_Data *)x + i);
        d->connect_port(h, PORT_OUT, y + i);
        counting = 1;
        d->run(h, (unsigned long)n);
        counting = 0;
        i += n;
    }
}

/* max |y[n] - x[n - delay]| over [from, to), x taken as 0 before the start */
static float err_delayed(const float *y, const float *x, int delay, int from, int to)
{
    float e = 0.f;
    for (int n = from; n < to; n++)
        e = fmaxf(e, fabsf(y[n] - (n >= delay ? x[n - delay] : 0.f)));
    return e;
}

/* At another rate than 48 kHz: the latency port, and the kernel's output at that rate delayed
 * by one hop, bit for bit, in odd block sizes. */
static int check_rate(const char *model_path, int rate, const int *sizes)
{
    const int hop = pn_hop_samples(rate), n = HOPS * hop;
    CHECK(kernel_out(model_path, 0.f, rate, ref));
    LADSPA_Handle h = d->instantiate(d, (unsigned long)rate);
    CHECK(h);
    d->connect_port(h, PORT_ATTEN, &atten);
    d->connect_port(h, PORT_BYPASS, &bypass);
    d->connect_port(h, PORT_LATENCY, &latency);
    d->activate(h);
    play(h, sig, out, 0, n, sizes);
    CHECK((int)latency == hop + pn_latency_samples(rate));
    CHECK(err_delayed(out, ref, hop, 0, n) == 0.f);
    d->cleanup(h);
    printf("%d Hz: latency %d samples\n", rate, (int)latency);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: ladspa_check PLUGIN.so MODEL.pnw\n");
        return 2;
    }
    srand(3);
    for (int i = 0; i < LEN; i++)  /* a vowel-like harmonic tone in noise */
        sig[i] = 0.1f * sinf(0.0196f * i) + 0.05f * sinf(0.0392f * i + 1.f)
                 + 0.08f * ((float)rand() / RAND_MAX - 0.5f);
    CHECK(kernel_out(argv[2], 0.f, PN_SAMPLE_RATE, ref) && kernel_out(argv[2], 6.f, PN_SAMPLE_RATE, ref6));
    CHECK(setenv("PERCEPNET_MODEL", argv[2], 1) == 0);

    void *so = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!so)
        printf("dlopen: %s\n", dlerror());
    CHECK(so);
    LADSPA_Descriptor_Function get = (LADSPA_Descriptor_Function)(size_t)dlsym(so, "ladspa_descriptor");
    CHECK(get && (d = get(0)) && !get(1));
    CHECK(d->PortCount == N_PORTS && !strcmp(d->Label, "percepnet_mono"));
    CHECK(LADSPA_IS_HARD_RT_CAPABLE(d->Properties) && !LADSPA_IS_INPLACE_BROKEN(d->Properties));
    CHECK(!strcmp(d->PortNames[PORT_LATENCY], "latency"));
    CHECK(d->PortDescriptors[PORT_LATENCY] == (LADSPA_PORT_OUTPUT | LADSPA_PORT_CONTROL));
    CHECK(d->instantiate(d, 22050) == NULL && d->instantiate(d, 96000) == NULL);

    allocs = 0;
    counting = 1;
    LADSPA_Handle h = d->instantiate(d, 48000);
    counting = 0;
    CHECK(h && (allocs > 0) == COUNTS_ALLOCS);  /* the interposition sees the plugin's allocations */
    allocs = 0;
    d->connect_port(h, PORT_ATTEN, &atten);
    d->connect_port(h, PORT_BYPASS, &bypass);
    d->connect_port(h, PORT_LATENCY, &latency);

    /* output = the kernel's, delayed by the latency port, whatever the host's blocks */
    static const int hop_sized[] = {PN_HOP, 0}, odd[] = {1, 7, 479, 1000, 4096, 333, 0};
    d->activate(h);
    play(h, sig, out, 0, LEN, hop_sized);
    const int L = (int)latency;
    CHECK(L == PN_HOP + pn_latency_samples(PN_SAMPLE_RATE));
    CHECK(err_delayed(out, ref, PN_HOP, 0, LEN) == 0.f);
    d->activate(h);
    play(h, sig, out, 0, LEN, odd);
    CHECK(err_delayed(out, ref, PN_HOP, 0, LEN) == 0.f);
    d->activate(h);            /* in place: the host hands the same buffer for in and out */
    memcpy(out, sig, sizeof out);
    play(h, out, out, 0, LEN, odd);
    CHECK(err_delayed(out, ref, PN_HOP, 0, LEN) == 0.f);

    /* the attenuation port */
    atten = 6.f;
    d->activate(h);
    play(h, sig, out, 0, LEN, odd);
    CHECK(err_delayed(out, ref6, PN_HOP, 0, LEN) == 0.f);
    atten = 0.f;

    /* bypass from the start: the input delayed by the same latency */
    bypass = 1.f;
    d->activate(h);
    play(h, sig, out, 0, LEN, odd);
    CHECK(err_delayed(out, sig, L, 0, LEN) == 0.f);

    /* toggled mid-stream: a hop of crossfade (halfway 240 samples in), then exactly the
     * other signal; the kernel kept running under the bypass */
    const int t1 = 10 * PN_HOP + 123, t2 = 25 * PN_HOP + 7;
    bypass = 0.f;
    d->activate(h);
    play(h, sig, out, 0, t1, odd);
    bypass = 1.f;
    play(h, sig, out, t1, t2, odd);
    bypass = 0.f;
    play(h, sig, out, t2, LEN, odd);
    CHECK(err_delayed(out, ref, PN_HOP, 0, t1) == 0.f);
    CHECK(err_delayed(out, sig, L, t1 + PN_HOP + 1, t2) == 0.f);
    CHECK(err_delayed(out, ref, PN_HOP, t2 + PN_HOP + 1, LEN) == 0.f);
    const int mid = t1 + PN_HOP / 2;
    CHECK(fabsf(out[mid] - 0.5f * (ref[mid - PN_HOP] + sig[mid - L])) < 1e-5f);
    CHECK(fabsf(ref[mid - PN_HOP] - sig[mid - L]) > 1e-3f);  /* a real fade, not a hard switch */

    /* a NaN sample is played as silence and the stream goes on */
    static float bad[LEN];
    memcpy(bad, sig, sizeof bad);
    bad[5000] = NAN;
    d->activate(h);
    play(h, bad, out, 0, LEN, odd);
    for (int n = 0; n < LEN; n++)
        CHECK(isfinite(out[n]));
    CHECK(err_delayed(out, ref, PN_HOP, 0, (5000 / PN_HOP + 1) * PN_HOP) == 0.f);  /* hops before it */

    CHECK(allocs == 0);
    d->cleanup(h);
    if (check_rate(argv[2], 16000, odd) || check_rate(argv[2], 44100, odd))
        return 1;
    CHECK(allocs == 0);
    dlclose(so);
    printf("ok: latency %d samples, output = kernel delayed by one hop, bit-exact for block sizes "
           "1..4096%s\n", L, COUNTS_ALLOCS ? "; run() allocated nothing" : "");
    return 0;
}
