/* LADSPA plugin: the kernel as a mono effect for PipeWire's filter-chain, sox, Ardour...
 *
 * The host's blocks, of any size, are gathered into 10 ms hops: output sample n is the
 * kernel's output for input sample n - latency, with latency = one hop of gathering plus
 * pn_latency_samples(rate), reported on the `latency` output port. Bypass plays the input
 * delayed by the same latency (the kernel keeps running, so switching back is seamless),
 * crossfaded over one hop. Any rate the kernel takes (8 to 48 kHz, converted inside it);
 * instantiate() refuses others.
 *
 * The model is $PERCEPNET_MODEL, or percepnet.pnw in the plugin's own directory. Everything is
 * allocated in instantiate(); run() neither allocates, locks nor prints. */
#define _GNU_SOURCE  /* dladdr */
#include <dlfcn.h>
#include <ladspa.h>
#include <math.h>
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
    LADSPA_Data *port[N_PORTS];
    float atten_db;            /* the limit the state has */
    float mix;                 /* 0: enhanced, 1: bypassed; < 0 right after activate */
    int hop;                   /* samples per hop at the host's rate, at most PN_HOP */
    int pos;                   /* position in the hop being gathered (and the one being played) */
    float in[PN_HOP];          /* the hop being gathered */
    float wet[PN_HOP];         /* the last hop's kernel output, played while the next gathers */
    float dry[PN_HOP];         /* the same hop of input, delayed as the kernel delays it */
    float *delay;              /* pn_latency_samples(rate) of input, for dry */
    int delay_len, delay_pos;
} plugin;

static void cleanup(LADSPA_Handle h)
{
    plugin *p = h;
    pn_destroy(p->st);
    pn_model_free(p->model);
    free(p->delay);
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
    p->hop = pn_hop_samples(cfg.rate);
    p->delay_len = pn_latency_samples(cfg.rate);
    p->delay = calloc((size_t)p->delay_len, sizeof *p->delay);
    int rc = p->delay ? pn_model_load_file(path, &p->model, err, sizeof err) : PN_ERR_NOMEM;
    if (rc == PN_OK)
        rc = pn_create(&cfg, p->model, &p->st);
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
    plugin *p = h;
    pn_reset(p->st);
    memset(p->in, 0, sizeof p->in);
    memset(p->wet, 0, sizeof p->wet);
    memset(p->dry, 0, sizeof p->dry);
    memset(p->delay, 0, (size_t)p->delay_len * sizeof *p->delay);
    p->pos = p->delay_pos = 0;
    p->mix = -1.f;
}

/* The gathered hop is complete: enhance it into wet, delay it into dry. */
static void hop(plugin *p)
{
    for (int i = 0; i < p->hop; i++) {
        p->dry[i] = p->delay[p->delay_pos];
        p->delay[p->delay_pos] = p->in[i];
        if (++p->delay_pos == p->delay_len)
            p->delay_pos = 0;
    }
    if (pn_process(p->st, p->in, p->wet) != PN_OK)
        memcpy(p->wet, p->dry, (size_t)p->hop * sizeof *p->wet);  /* never silence */
}

static void run(LADSPA_Handle h, unsigned long n)
{
    plugin *p = h;
    const LADSPA_Data *in = p->port[PORT_IN];
    LADSPA_Data *out = p->port[PORT_OUT];
    *p->port[PORT_LATENCY] = (LADSPA_Data)(p->hop + p->delay_len);

    float db = *p->port[PORT_ATTEN];   /* NaN keeps the last limit */
    db = db < 0.f ? 0.f : (db > ATTEN_MAX_DB ? ATTEN_MAX_DB : db);
    if (db != p->atten_db && pn_set_atten_lim(p->st, db) == PN_OK)
        p->atten_db = db;
    const float target = *p->port[PORT_BYPASS] > 0.f ? 1.f : 0.f;
    if (p->mix < 0.f)
        p->mix = target;

    for (unsigned long i = 0; i < n; i++) {
        const float x = in[i];         /* read before out[i] is written: in-place is fine */
        if (p->mix != target)
            p->mix = target > p->mix ? fminf(p->mix + 1.f / p->hop, target) : fmaxf(p->mix - 1.f / p->hop, target);
        out[i] = (1.f - p->mix) * p->wet[p->pos] + p->mix * p->dry[p->pos];
        p->in[p->pos] = isfinite(x) ? x : 0.f;  /* the kernel refuses a hop with a NaN in it */
        if (++p->pos == p->hop) {
            hop(p);
            p->pos = 0;
        }
    }
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
