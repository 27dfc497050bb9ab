/* LADSPA plugin: the kernel as a mono effect for PipeWire's filter-chain, sox, Ardour...
 *
 * The hop is `edge run`'s (native/src/hop.c, pn_hop_run_float): the host's blocks, of any size,
 * are gathered into 10 ms hops, so output sample n is the kernel's output for input sample
 * n - latency, with latency = one hop of gathering plus pn_latency_samples(rate), reported on
 * the `latency` output port. Bypass plays the input delayed by the same latency (the kernel
 * keeps running, so switching back is seamless), crossfaded over one hop. Any rate the kernel
 * takes (8 to 48 kHz, converted inside it); instantiate() refuses others.
 *
 * The model is $PERCEPNET_MODEL, or percepnet.pnw in the plugin's own directory. Everything is
 * allocated in instantiate(); run() neither allocates, locks nor prints. */
#define _GNU_SOURCE  /* dladdr */
#include <dlfcn.h>
#include <ladspa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "percepnet.h"

#define MODEL_ENV "PERCEPNET_MODEL"
#define MODEL_FILE "percepnet.pnw"
#define ATTEN_MAX_DB 100.f
#define UNIQUE_ID 4870331  /* not registered at ladspa.org */

enum { PORT_IN, PORT_OUT, PORT_ATTEN, PORT_BYPASS, PORT_LATENCY, N_PORTS };

typedef struct {
    pn_model *model;
    pn_state *st;
    pn_hop *hop;
    LADSPA_Data *port[N_PORTS];
    float atten_db;            /* the limit the state has */
    int latency;               /* samples, input to output */
} plugin;

static void cleanup(LADSPA_Handle h)
{
    plugin *p = h;
    pn_hop_destroy(p->hop);
    pn_destroy(p->st);
    pn_model_free(p->model);
    free(p);
}

/* $PERCEPNET_MODEL, else MODEL_FILE beside this library; 0 when it does not fit in `size`. */
static int model_path(char *path, size_t size)
{
    const char *env = getenv(MODEL_ENV);
    if (env && *env)
        return snprintf(path, size, "%s", env) < (int)size;
    Dl_info info;
    if (!dladdr((void *)model_path, &info) || !info.dli_fname)
        return 0;
    const char *slash = strrchr(info.dli_fname, '/');
    if (!slash)
        return snprintf(path, size, "%s", MODEL_FILE) < (int)size;
    return snprintf(path, size, "%.*s/%s", (int)(slash - info.dli_fname), info.dli_fname, MODEL_FILE) < (int)size;
}

static LADSPA_Handle instantiate(const LADSPA_Descriptor *d, unsigned long rate)
{
    (void)d;
    pn_config cfg;
    pn_config_default(&cfg);
    cfg.rate = rate > PN_SAMPLE_RATE ? 0 : (int)rate;  /* no int overflow: above 48 kHz is refused */
    if (pn_hop_samples(cfg.rate) < 0) {
        fprintf(stderr, "percepnet: %lu Hz: %s\n", rate, pn_strerror(PN_ERR_RATE));
        return NULL;
    }
    char path[4096], err[256] = "";
    if (!model_path(path, sizeof path)) {
        fprintf(stderr, "percepnet: cannot locate the model; set " MODEL_ENV "\n");
        return NULL;
    }
    plugin *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->latency = pn_hop_samples(cfg.rate) + pn_latency_samples(cfg.rate);
    int rc = pn_model_load_file(path, &p->model, err, sizeof err);
    if (rc == PN_OK)
        rc = pn_create(&cfg, p->model, &p->st);
    if (rc == PN_OK)
        rc = pn_hop_create(p->st, 1, 0, -1, &p->hop);
    if (rc != PN_OK) {
        fprintf(stderr, "percepnet: %s: %s\n", path, *err ? err : pn_strerror(rc));
        cleanup(p);
        return NULL;
    }
    return p;
}

static void connect_port(LADSPA_Handle h, unsigned long port, LADSPA_Data *data)
{
    if (port < N_PORTS)
        ((plugin *)h)->port[port] = data;
}

static void activate(LADSPA_Handle h)
{
    pn_hop_reset(((plugin *)h)->hop);
}

static void run(LADSPA_Handle h, unsigned long n)
{
    plugin *p = h;
    *p->port[PORT_LATENCY] = (LADSPA_Data)p->latency;
    float db = *p->port[PORT_ATTEN];   /* NaN keeps the last limit */
    db = db < 0.f ? 0.f : (db > ATTEN_MAX_DB ? ATTEN_MAX_DB : db);
    if (db != p->atten_db && pn_set_atten_lim(p->st, db) == PN_OK)
        p->atten_db = db;
    /* a kernel error plays the delayed input for that hop: nothing to report from run() */
    pn_hop_run_float(p->hop, p->port[PORT_IN], p->port[PORT_OUT], n,
                     *p->port[PORT_BYPASS] > 0.f ? PN_HOP_PRIME : PN_HOP_KERNEL);
}

static const LADSPA_PortDescriptor port_kinds[N_PORTS] = {
    LADSPA_PORT_INPUT | LADSPA_PORT_AUDIO,
    LADSPA_PORT_OUTPUT | LADSPA_PORT_AUDIO,
    LADSPA_PORT_INPUT | LADSPA_PORT_CONTROL,
    LADSPA_PORT_INPUT | LADSPA_PORT_CONTROL,
    LADSPA_PORT_OUTPUT | LADSPA_PORT_CONTROL,
};

static const char *const port_names[N_PORTS] = {
    "Input", "Output", "Attenuation limit (dB, 0 = none)", "Bypass", "latency",
};

static const LADSPA_PortRangeHint port_hints[N_PORTS] = {
    {0, 0.f, 0.f},
    {0, 0.f, 0.f},
    {LADSPA_HINT_BOUNDED_BELOW | LADSPA_HINT_BOUNDED_ABOVE | LADSPA_HINT_DEFAULT_MINIMUM, 0.f, ATTEN_MAX_DB},
    {LADSPA_HINT_TOGGLED | LADSPA_HINT_DEFAULT_0, 0.f, 0.f},
    {0, 0.f, 0.f},
};

static const LADSPA_Descriptor descriptor = {
    .UniqueID = UNIQUE_ID,
    .Label = "percepnet_mono",
    .Properties = LADSPA_PROPERTY_HARD_RT_CAPABLE,
    .Name = "PercepNet speech enhancement (mono, 8-48 kHz)",
    .Maker = "percepnet-edge",
    .Copyright = "BSD-3-Clause",
    .PortCount = N_PORTS,
    .PortDescriptors = port_kinds,
    .PortNames = port_names,
    .PortRangeHints = port_hints,
    .instantiate = instantiate,
    .connect_port = connect_port,
    .activate = activate,
    .run = run,
    .cleanup = cleanup,
};

PN_EXPORT const LADSPA_Descriptor *ladspa_descriptor(unsigned long index)
{
    return index == 0 ? &descriptor : NULL;
}
