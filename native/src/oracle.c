/* Ideal gains and comb strengths from the clean target (PercepNet paper, section 3):
 * g_b = sqrt(E_clean / E_noisy) clipped to 1; r_b makes the pitch coherence of the mix of
 * noisy and comb-filtered noisy equal the clean signal's. Both use the noisy signal's pitch,
 * which is what inference has. */
#include <math.h>

#include "state.h"

#define NOISE_FLOOR_N0 0.03f  /* masking floor when even r = 1 cannot reach the clean coherence */
#define EPS 1e-9f

static float clip01(float v) { return v < 0.f ? 0.f : (v > 0.999f ? 0.999f : v); }

/* qx: clean coherence, qy: noisy, eps: comb noise power gain. *g is attenuated when the comb
 * cannot restore the clean coherence. */
static float strength(float qx, float qy, float eps, float *g)
{
    if (qx <= qy)
        return 0.f;
    /* coherence of the comb output: its harmonics kept, its noise reduced by eps */
    float qp = qy / sqrtf((1.f - eps) * qy * qy + eps);
    if (qp <= qx) {
        *g *= sqrtf((1.f + NOISE_FLOOR_N0 - qx * qx) / (1.f + NOISE_FLOOR_N0 - qp * qp));
        return 1.f;
    }
    /* coherence of Y + alpha P equal to qx: a alpha^2 + 2 b alpha - c = 0, its positive root
     * written c / (sqrt(b^2 + a c) + b): the textbook (sqrt(b^2 + a c) - b) / a is 0/0 in a
     * near-silent band, whose coherences are too small to square (a NaN target stopped a
     * training run) */
    float a = qp * qp - qx * qx;
    float b = qp * qy * (1.f - qx * qx);
    float c = qx * qx - qy * qy;
    float den = sqrtf(b * b + a * c) + b;
    if (!(den > 0.f))
        return 0.f;
    float alpha = c / den;
    return alpha / (1.f + alpha);
}

int pn_oracle_step(pn_state *st, const float *noisy, const float *clean, float *features, float *gains,
                   float *strengths)
{
    if (!st || !noisy || !clean || !features || !gains || !strengths || !pn_hop_is_finite(clean, st->hop))
        return PN_ERR_ARG;
    int rc = pn_analyze(st, noisy, features);
    if (rc != PN_OK)
        return rc;
    float buf[PN_HOP];
    pn_track_push(&st->clean, &st->fft, &st->bands, st->window, pn_state_to_kernel(&st->up_clean, st, clean, buf));

    const int back = PN_LOOKAHEAD_FRAMES;
    const float *Ey = st->noisy.E[pn_track_slot(&st->noisy, back)];
    const float *Ex = st->clean.E[pn_track_slot(&st->clean, back)];
    int kmax = pn_comb_kmax(st->period, PN_LOOKAHEAD_FRAMES * PN_HOP);
    float qy[PN_NB_BANDS], qx[PN_NB_BANDS];
    pn_state_coherence(st, &st->noisy, back, st->period, kmax, qy);
    pn_state_coherence(st, &st->clean, back, st->period, kmax, qx);
    float eps = pn_comb_noise_gain(kmax, 1);
    for (int b = 0; b < PN_NB_BANDS; b++) {
        float g = sqrtf((Ex[b] + EPS) / (Ey[b] + EPS));
        g = g > 1.f ? 1.f : g;
        strengths[b] = strength(clip01(qx[b]), clip01(qy[b]), eps, &g);
        gains[b] = g;
    }
    return PN_OK;
}
