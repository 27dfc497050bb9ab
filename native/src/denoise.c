/* The frame pipeline: analysis, pitch tracking, features, comb mixing, gains, synthesis. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "postfilter.h"
#include "state.h"

#define PITCH_REFINE_RADIUS 5
#define LOG_FLOOR 1e-5f
#define EPS 1e-9f

int pn_hop_samples(int rate)
{
    for (const int *r = pn_rates(); *r; r++)
        if (rate == *r)
            return rate / 100;
    return PN_ERR_RATE;
}

int pn_latency_samples(int rate)
{
    const int hop = pn_hop_samples(rate);
    if (hop < 0)
        return hop;
    /* window overlap and lookahead, then the conversion each way, PN_RESAMPLE_HALF each */
    return (PN_LOOKAHEAD_FRAMES + 1) * hop + (rate == PN_SAMPLE_RATE ? 0 : 2 * PN_RESAMPLE_HALF);
}

void pn_config_default(pn_config *cfg)
{
    if (!cfg)
        return;
    cfg->comb = 1;
    cfg->postfilter = 1;
    cfg->rate = PN_SAMPLE_RATE;
}

double pn_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec * 1e-3;
}

int pn_create(const pn_config *cfg, const pn_model *model, pn_state **out)
{
    if (!out)
        return PN_ERR_ARG;
    *out = NULL;
    pn_state *st = calloc(1, sizeof *st);
    if (!st)
        return PN_ERR_NOMEM;
    if (cfg)
        st->cfg = *cfg;
    else
        pn_config_default(&st->cfg);
    st->model = model;
    st->ops = pn_dsp_ops_active();
    st->hop = pn_hop_samples(st->cfg.rate);
    int rc = st->hop < 0 ? st->hop : PN_OK;
    if (rc == PN_OK && st->hop != PN_HOP) {
        rc = pn_resampler_init(&st->up, st->ops, st->cfg.rate, PN_SAMPLE_RATE, st->hop);
        if (rc == PN_OK)
            rc = pn_resampler_init(&st->up_clean, st->ops, st->cfg.rate, PN_SAMPLE_RATE, st->hop);
        if (rc == PN_OK)
            rc = pn_resampler_init(&st->down, st->ops, PN_SAMPLE_RATE, st->cfg.rate, PN_HOP);
    }
    if (rc == PN_OK && model)
        rc = pn_nnet_create(model, &st->nn);
    if (rc != PN_OK) {
        pn_destroy(st);
        return rc;
    }
    pn_fft_init(&st->fft, st->ops->fft_stage);
    pn_bands_init(&st->bands);
    pn_window_init(st->window);
    pn_reset(st);
    *out = st;
    return PN_OK;
}

void pn_destroy(pn_state *st)
{
    if (!st)
        return;
    pn_nnet_destroy(st->nn);
    pn_resampler_free(&st->up);
    pn_resampler_free(&st->up_clean);
    pn_resampler_free(&st->down);
    free(st);
}

void pn_reset(pn_state *st)
{
    if (!st)
        return;
    memset(&st->noisy, 0, sizeof *st - offsetof(pn_state, noisy));
    pn_pitch_reset(&st->pitch);
    pn_nnet_reset(st->nn);
    st->period = PN_PITCH_MIN;
    if (st->hop != PN_HOP) {
        pn_resampler_reset(&st->up);
        pn_resampler_reset(&st->up_clean);
        pn_resampler_reset(&st->down);
    }
}

void pn_state_coherence(const pn_state *st, const pn_track *t, int back, int period, int kmax, float *q)
{
    float p[PN_WINDOW], Ep[PN_NB_BANDS], C[PN_NB_BANDS];
    pn_cpx P[PN_BINS];
    int s = pn_track_slot(t, back);
    pn_comb(st->ops, pn_track_frame(t, back), PN_WINDOW, period, kmax, 0, p);
    pn_windowed_rfft(&st->fft, st->window, p, P);
    pn_band_energy(&st->bands, P, Ep);
    pn_band_corr(&st->bands, t->X[s], P, C);
    for (int b = 0; b < PN_NB_BANDS; b++)
        q[b] = C[b] / sqrtf(t->E[s][b] * Ep[b] + 1e-12f);
}

int pn_hop_is_finite(const float *x, int n)
{
    int bad = 0;
    for (int i = 0; i < n; i++)  /* x - x is NaN for NaN or infinity; or-ing flags vectorises */
        bad |= !(x[i] - x[i] == 0.f);
    return !bad;
}

const float *pn_state_to_kernel(pn_resampler *r, const pn_state *st, const float *x, float *buf)
{
    if (st->hop == PN_HOP)
        return x;
    pn_resample(r, x, st->hop, buf);
    return buf;
}

int pn_analyze(pn_state *st, const float *in, float *features)
{
    if (!st || !in || !features || !pn_hop_is_finite(in, st->hop))
        return PN_ERR_ARG;  /* a NaN would stay in the history and the pitch track */
    double t0 = pn_now_us();
    float buf[PN_HOP];
    in = pn_state_to_kernel(&st->up, st, in, buf);
    pn_track *t = &st->noisy;
    pn_track_push(t, &st->fft, &st->bands, st->window, in);
    pn_pitch_push(&st->pitch, st->ops, t->hist + PN_HIST - PN_HOP);

    /* newest frame: provisional period, coherence with the past periods only */
    int period;
    float corr = pn_pitch_refine(st->ops, pn_track_frame(t, 0), PN_WINDOW, pn_pitch_tracked(&st->pitch, 0),
                                 PITCH_REFINE_RADIUS, 0, &period);
    const float *E = t->E[pn_track_slot(t, 0)];
    for (int b = 0; b < PN_NB_BANDS; b++)
        features[b] = log10f(E[b] + LOG_FLOOR);
    pn_state_coherence(st, t, 0, period, 0, features + PN_NB_BANDS);
    features[2 * PN_NB_BANDS] = (float)period / PN_PITCH_MAX;
    features[2 * PN_NB_BANDS + 1] = corr;

    /* the frame synthesised next: its period is decided now, with the lookahead frames */
    st->period_corr = pn_pitch_refine(st->ops, pn_track_frame(t, PN_LOOKAHEAD_FRAMES), PN_WINDOW,
                                      pn_pitch_tracked(&st->pitch, PN_LOOKAHEAD_FRAMES),
                                      PITCH_REFINE_RADIUS, 1, &st->period);

    float e = st->ops->dot(in, in, PN_HOP);
    st->stats.energy_db = 10.f * log10f(e / PN_HOP + 1e-12f);
    st->stats.pitch_period = (float)st->period;
    st->stats.pitch_corr = st->period_corr;
    st->analyze_us = (float)(pn_now_us() - t0);
    st->stats.dsp_us = st->analyze_us;
    st->stats.frames++;
    return PN_OK;
}

/* Z = per band mix of X and the comb-filtered P (scaled to X's band energy) by strength r,
 * renormalised to X's band energy; norm[b] receives that renormalisation. */
static void comb_mix(pn_state *st, const float *r, pn_cpx *Z, float *norm)
{
    const pn_track *t = &st->noisy;
    const int s = pn_track_slot(t, PN_LOOKAHEAD_FRAMES);
    const float *Ey = t->E[s];
    float p[PN_WINDOW], Ep[PN_NB_BANDS], scale[PN_NB_BANDS], Ez[PN_NB_BANDS];
    float r_bin[PN_BINS], a_bin[PN_BINS];
    pn_cpx P[PN_BINS];
    int kmax = pn_comb_kmax(st->period, PN_LOOKAHEAD_FRAMES * PN_HOP);
    pn_comb(st->ops, pn_track_frame(t, PN_LOOKAHEAD_FRAMES), PN_WINDOW, st->period, kmax, 1, p);
    pn_windowed_rfft(&st->fft, st->window, p, P);
    pn_band_energy(&st->bands, P, Ep);
    for (int b = 0; b < PN_NB_BANDS; b++)
        scale[b] = sqrtf((Ey[b] + EPS) / (Ep[b] + EPS));
    pn_band_interp(&st->bands, r, r_bin);
    pn_band_interp(&st->bands, scale, a_bin);
    for (int k = 0; k < PN_BINS; k++) {
        float wx = 1.f - r_bin[k], wp = r_bin[k] * a_bin[k];
        Z[k].r = wx * Z[k].r + wp * P[k].r;
        Z[k].i = wx * Z[k].i + wp * P[k].i;
    }
    pn_band_energy(&st->bands, Z, Ez);
    for (int b = 0; b < PN_NB_BANDS; b++)
        norm[b] = sqrtf((Ey[b] + EPS) / (Ez[b] + EPS));
}

static int check_unit(const float *v, int n, float *out)
{
    for (int i = 0; i < n; i++) {
        if (!(v[i] == v[i]))
            return PN_ERR_ARG;  /* NaN */
        out[i] = v[i] < 0.f ? 0.f : (v[i] > 1.f ? 1.f : v[i]);
    }
    return PN_OK;
}

int pn_synthesize(pn_state *st, const float *gains, const float *strengths, float *out)
{
    if (!st || !gains || !strengths || !out)
        return PN_ERR_ARG;
    float g[PN_NB_BANDS], r[PN_NB_BANDS], norm[PN_NB_BANDS], g_bin[PN_BINS], x[PN_WINDOW];
    if (check_unit(gains, PN_NB_BANDS, g) != PN_OK || check_unit(strengths, PN_NB_BANDS, r) != PN_OK)
        return PN_ERR_ARG;
    double t0 = pn_now_us();
    pn_cpx Z[PN_BINS];
    memcpy(Z, st->noisy.X[pn_track_slot(&st->noisy, PN_LOOKAHEAD_FRAMES)], sizeof Z);

    int any = 0;
    for (int b = 0; b < PN_NB_BANDS; b++)
        any |= r[b] > 0.f;
    if (st->cfg.comb && any) {
        comb_mix(st, r, Z, norm);
    } else {
        for (int b = 0; b < PN_NB_BANDS; b++)
            norm[b] = 1.f;
    }
    if (st->cfg.postfilter)
        pn_postfilter(g, g);
    /* The floor goes on the final band gain: norm only restores the comb mix to the input's
     * band energy, so the output keeps at least gain_floor^2 of each band's energy. */
    for (int b = 0; b < PN_NB_BANDS; b++)
        g[b] = fmaxf(g[b], st->gain_floor) * norm[b];
    pn_band_interp(&st->bands, g, g_bin);
    for (int k = 0; k < PN_BINS; k++) {
        Z[k].r *= g_bin[k];
        Z[k].i *= g_bin[k];
    }
    pn_irfft(&st->fft, Z, x);
    float y48[PN_HOP], *y = st->hop == PN_HOP ? out : y48;
    for (int i = 0; i < PN_HOP; i++)
        y[i] = st->window[i] * x[i] + st->synth_mem[i];
    for (int i = 0; i < PN_HOP; i++)
        st->synth_mem[i] = st->window[PN_HOP + i] * x[PN_HOP + i];
    if (y != out)
        pn_resample(&st->down, y, PN_HOP, out);

    st->stats.dsp_us = st->analyze_us + (float)(pn_now_us() - t0);
    st->stats.total_us += st->stats.dsp_us + st->stats.nnet_us;
    return PN_OK;
}

int pn_process(pn_state *st, const float *in, float *out)
{
    if (!st || !in || !out)
        return PN_ERR_ARG;
    float features[PN_NB_FEATURES], outputs[PN_NB_OUTPUTS];
    int rc = pn_analyze(st, in, features);
    if (rc != PN_OK)
        return rc;
    if (!st->nn) {              /* the DSP alone: unit gains, no comb */
        for (int b = 0; b < PN_NB_BANDS; b++)
            outputs[b] = 1.f;
        memset(outputs + PN_NB_BANDS, 0, PN_NB_BANDS * sizeof *outputs);
        return pn_synthesize(st, outputs, outputs + PN_NB_BANDS, out);
    }
    double t0 = pn_now_us();
    rc = pn_nnet_step(st->nn, features, outputs);
    st->stats.nnet_us = (float)(pn_now_us() - t0);
    if (rc != PN_OK)
        return rc;
    return pn_synthesize(st, outputs, outputs + PN_NB_BANDS, out);
}

int pn_set_atten_lim(pn_state *st, float db)
{
    if (!st || !(db >= 0.f))
        return PN_ERR_ARG;  /* negative or NaN */
    st->gain_floor = db > 0.f ? powf(10.f, -db / 20.f) : 0.f;
    return PN_OK;
}

int pn_get_stats(const pn_state *st, pn_stats *stats)
{
    if (!st || !stats)
        return PN_ERR_ARG;
    *stats = st->stats;
    return PN_OK;
}
