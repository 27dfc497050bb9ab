/* percepnet-edge native kernel: PercepNet-style speech enhancement, 48 kHz, 10 ms hops.
 *
 * A state works at the rate its config names (one of pn_rates(), 8 to 48 kHz): a hop is then
 * pn_hop_samples(rate) = rate / 100 samples, converted to 48 kHz and back inside the calls
 * below (48 kHz itself is not converted). One opaque state per audio stream. Per hop:
 *   pn_analyze()    pushes the hop, returns the network features of the newest frame;
 *   pn_synthesize() applies band gains and comb strengths to the frame PN_LOOKAHEAD_FRAMES
 *                   hops back and returns one hop of output;
 *   pn_process()    does both with the built-in int8 network; without a model, with unit
 *                   gains and no comb (the DSP alone: the input delayed, as bypass plays it).
 * Output is the input delayed by pn_latency_samples(rate) (window overlap + lookahead, plus
 * the conversions' 2 * 16 samples at other rates than 48 kHz).
 * Samples are float in [-1, 1]. Nothing here allocates after create, prints or aborts. */
#ifndef PERCEPNET_H
#define PERCEPNET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define PN_EXPORT __attribute__((visibility("default")))
#else
#define PN_EXPORT
#endif

#define PN_ABI_VERSION 6
#define PN_SAMPLE_RATE 48000   /* the kernel's own rate */
#define PN_HOP 480             /* 10 ms at PN_SAMPLE_RATE */
#define PN_WINDOW 960          /* 20 ms, power-complementary */
#define PN_BINS 481            /* 50 Hz apart */
#define PN_NB_BANDS 34
#define PN_NB_FEATURES 70      /* 34 band log-energies, 34 band pitch correlations, period, corr */
#define PN_NB_OUTPUTS 68       /* 34 gains, then 34 comb strengths, all in [0, 1] */
#define PN_LOOKAHEAD_FRAMES 2  /* the network and comb filter see 20 ms ahead */
#define PN_FEATURE_VERSION 1   /* what pn_analyze computes; a model is trained for one version */

enum {
    PN_OK = 0,
    PN_ERR_ARG = -1,            /* NULL pointer or out-of-range argument */
    PN_ERR_NOMEM = -2,
    PN_ERR_IO = -3,             /* model file cannot be read */
    PN_ERR_MODEL_FORMAT = -4,   /* bad magic, truncated, or malformed layer table */
    PN_ERR_MODEL_VERSION = -5,  /* format version this build does not read */
    PN_ERR_MODEL_CHECKSUM = -6,
    PN_ERR_MODEL_SHAPE = -7,    /* layer sizes disagree with PN_NB_FEATURES/PN_NB_OUTPUTS */
    PN_ERR_SIMD = -9,           /* requested SIMD path not compiled in or not supported by CPU */
    PN_ERR_MODEL_FEATURES = -10,/* model trained on another feature version or sample rate */
    PN_ERR_RATE = -11           /* sample rate not among pn_rates() */
};

typedef struct pn_state pn_state;
typedef struct pn_model pn_model;
typedef struct pn_nnet pn_nnet;

typedef struct {
    int comb;        /* 1: mix the comb-filtered spectrum by the strengths (default 1) */
    int postfilter;  /* 1: envelope postfilter and energy normalisation (default 1) */
    int rate;        /* Hz of the caller's samples (default PN_SAMPLE_RATE) */
} pn_config;

typedef struct {
    long frames;          /* hops processed */
    float dsp_us;         /* last hop: DSP time (analysis + synthesis) */
    float nnet_us;        /* last hop: network time (0 without a model) */
    float pitch_period;   /* tracked period of the synthesised frame, samples at 48 kHz */
    float pitch_corr;     /* its normalised correlation, 0..1 */
    float energy_db;      /* newest frame energy, dBFS */
    double total_us;      /* all hops synthesised: DSP + network time, for a mean per hop */
} pn_stats;

typedef struct {
    long n_weights;
    int n_layers;
    char name[32];        /* e.g. "small", "paper" */
} pn_model_info;

PN_EXPORT int pn_abi_version(void);
PN_EXPORT const char *pn_version_string(void);
PN_EXPORT const char *pn_strerror(int err);
/* The sample rates a state takes (pn_config.rate), ascending, then a 0. */
PN_EXPORT const int *pn_rates(void);
/* At `rate`: samples per hop (rate / 100), and the delay from input to output of a state
 * (PN_ERR_RATE for a rate the kernel does not take). */
PN_EXPORT int pn_hop_samples(int rate);
PN_EXPORT int pn_latency_samples(int rate);
PN_EXPORT int pn_feature_version(void);
/* Centre frequency of each of the PN_NB_BANDS bands, Hz (band b spans centres b-1..b+1). */
PN_EXPORT void pn_band_centres_hz(float *hz);

PN_EXPORT void pn_config_default(pn_config *cfg);

/* Models. err/errlen (may be NULL/0) receive a one-line reason on failure. */
PN_EXPORT int pn_model_load(const void *data, size_t size, pn_model **out, char *err, size_t errlen);
PN_EXPORT int pn_model_load_file(const char *path, pn_model **out, char *err, size_t errlen);
PN_EXPORT void pn_model_free(pn_model *model);
PN_EXPORT int pn_model_get_info(const pn_model *model, pn_model_info *info);

/* Streams. model may be NULL (DSP only: oracle, explicit gains, benchmarks).
 * The model must outlive every state created from it. A config with a rate the kernel does not
 * take gives PN_ERR_RATE. in, out, noisy and clean hold one hop at the state's rate. */
PN_EXPORT int pn_create(const pn_config *cfg, const pn_model *model, pn_state **out);
PN_EXPORT void pn_destroy(pn_state *st);
PN_EXPORT void pn_reset(pn_state *st);
PN_EXPORT int pn_analyze(pn_state *st, const float *in, float *features);
PN_EXPORT int pn_synthesize(pn_state *st, const float *gains, const float *strengths, float *out);
PN_EXPORT int pn_process(pn_state *st, const float *in, float *out);
PN_EXPORT int pn_get_stats(const pn_state *st, pn_stats *stats);
/* Attenuation limit: no band's final gain (after the postfilter, in pn_synthesize and so in
 * pn_process) goes below -db dB; 0 turns it off (the default). A negative or NaN db is
 * refused (PN_ERR_ARG) and the previous limit kept. Survives pn_reset; allocates nothing, so
 * it may be called between hops of a real-time stream. */
PN_EXPORT int pn_set_atten_lim(pn_state *st, float db);

/* The live hop, shared by `edge run` and the LADSPA plugin. A pn_hop borrows a state (destroy
 * the hop first) and does the rest of a hop's sample work: a delay line of
 * pn_latency_samples(rate) (the bypass path), the state's step (pn_process), and a linear
 * crossfade over one hop between the two. The caller's mode says what plays: */
#define PN_HOP_KERNEL 0        /* the state's output */
#define PN_HOP_FADE 1          /* pn_hop_run: from the delayed input to the state's output over
                                  the hop; pn_hop_run_float: as PN_HOP_KERNEL */
#define PN_HOP_BYPASS 2        /* the delayed input; the state is not called */
#define PN_HOP_PRIME 3         /* the delayed input; the state is fed, its output unused */
typedef struct pn_hop pn_hop;
PN_EXPORT int pn_hop_create(pn_state *st, int channels, int capture_channel, int playback_channel,
                            pn_hop **out);
PN_EXPORT void pn_hop_destroy(pn_hop *h);
/* Starts the stream over: the state (pn_reset), the delay line, a hop being gathered; the next
 * pn_hop_run_float plays its mode without a crossfade. (pn_reset alone keeps the delay.) */
PN_EXPORT void pn_hop_reset(pn_hop *h);
/* `edge run`: one period of pn_hop_samples(rate) frames of `channels` interleaved S16_LE
 * samples in, one out: the captured channel to float, the hop, and float back to S16 (rounded
 * half to even, saturated) on the played channel, or on every channel when playback_channel < 0
 * (the others silent). */
PN_EXPORT int pn_hop_run(pn_hop *h, const int16_t *in, int16_t *out, int mode);
/* The LADSPA plugin: n mono float samples, any n (in and out may be one buffer), gathered into
 * hops inside, so output sample t is the hop's output for input sample t - pn_hop_samples(rate):
 * one hop more delay than pn_hop_run. A mode that changes what plays crossfades from the call's
 * first sample; the k-th sample of a crossfade weighs the state's output k / hop, as a
 * pn_hop_run PN_HOP_FADE hop does. A non-finite input sample is taken as 0. Channels and
 * capture/playback channels of the pn_hop are unused. */
PN_EXPORT int pn_hop_run_float(pn_hop *h, const float *in, float *out, size_t n, int mode);
/* Both return PN_OK, or the state's error (or PN_ERR_ARG for an unknown mode), and then play
 * the delayed input for that hop: never silence. Use one or the other on a pn_hop. Nothing
 * allocates after pn_hop_create. */
/* pn_hop_run's float -> S16 rule on n samples (x * 32768 rounded half to even, saturated, NaN as
 * 0), for what is written to files: the bytes `edge run` plays are those `edge denoise` writes. */
PN_EXPORT void pn_hop_s16(const float *x, int16_t *out, size_t n);

/* Training and oracle: push one hop of the noisy signal and the same hop of the clean
 * target. features: as pn_analyze on the noisy hop. gains/strengths: the ideal values for
 * the frame that pn_synthesize would output now (PN_LOOKAHEAD_FRAMES hops back), so row t
 * of features and row t of targets pair up for a causal network. */
PN_EXPORT int pn_oracle_step(pn_state *st, const float *noisy, const float *clean,
                             float *features, float *gains, float *strengths);

/* The network alone, for agreement tests and benchmarks. */
PN_EXPORT int pn_nnet_create(const pn_model *model, pn_nnet **out);
PN_EXPORT void pn_nnet_destroy(pn_nnet *nn);
PN_EXPORT void pn_nnet_reset(pn_nnet *nn);
PN_EXPORT int pn_nnet_step(pn_nnet *nn, const float *features, float *outputs);

/* The limits benchmarks set the network's int8 rate against, measured in this process, each
 * over about `seconds` (the best pass is kept): the active SIMD path's matrix-vector rate with
 * a 16 KB weight block resident in L1 (MAC/s), the same for its int4 kernel (64 x 256 weights
 * again, 8 KB), and the read bandwidth of a buffer of `bytes` read over and over (bytes/s). */
PN_EXPORT int pn_bench_matvec_peak(double seconds, double *macs_per_s);
PN_EXPORT int pn_bench_matvec4_peak(double seconds, double *macs_per_s);
PN_EXPORT int pn_bench_read_bandwidth(size_t bytes, double seconds, double *bytes_per_s);

/* SIMD path: "scalar", "avx2", "avxvnni", "neon", "dotprod". Default: the best the CPU has.
 * Process-wide; call before creating states. */
PN_EXPORT int pn_simd_select(const char *name);
PN_EXPORT const char *pn_simd_active(void);
PN_EXPORT const char *pn_simd_available(void);  /* comma-separated */

#ifdef __cplusplus
}
#endif
#endif
