#include <math.h>
#include <string.h>

#include "pitch.h"

#define LPC_ORDER 4
#define JUMP_COST 0.01f     /* Viterbi penalty per 12 kHz sample of period change */
#define JUMP_CAP 0.2f       /* ...but no more than this: a new voice or syllable may start anywhere */
#define LONG_LAG_BIAS 0.1f  /* slight preference for short periods against period doubling */
#define SUBMULTIPLE_RATIO 0.85f
#define SUBMULTIPLE_PENALTY 0.7f

void pn_pitch_reset(pn_pitch *p)
{
    memset(p, 0, sizeof *p);
}

/* Order-4 LPC of the frame (lag-windowed autocorrelation, Levinson) so the search sees a
 * flat spectrum and the formants do not pull the correlation peak. */
static void lpc(const pn_dsp_ops *ops, const float *x, int n, float *a)
{
    float r[LPC_ORDER + 1];
    for (int k = 0; k <= LPC_ORDER; k++)
        r[k] = ops->dot(x + k, x, n - k);
    r[0] = r[0] * 1.0001f + 1e-9f;
    for (int k = 1; k <= LPC_ORDER; k++)
        r[k] *= 1.f - 0.0005f * (float)(k * k);  /* lag window: ~60 Hz smoothing */
    float err = r[0];
    memset(a, 0, sizeof(float) * LPC_ORDER);
    for (int i = 0; i < LPC_ORDER; i++) {
        float acc = r[i + 1];
        for (int j = 0; j < i; j++)
            acc -= a[j] * r[i - j];
        float k = acc / err;
        float tmp[LPC_ORDER];
        for (int j = 0; j < i; j++)
            tmp[j] = a[j] - k * a[i - 1 - j];
        for (int j = 0; j < i; j++)
            a[j] = tmp[j];
        a[i] = k;
        err *= 1.f - k * k;
        if (err <= 1e-12f)
            break;
    }
}

static void score_frame(const pn_dsp_ops *ops, const float *ds, float *score)
{
    float a[LPC_ORDER], w[PN_PITCH_DS_BUF], xc[PN_PITCH_NCAND], corr[PN_PITCH_NCAND];
    lpc(ops, ds + PN_PITCH_DS_MAX, PN_PITCH_DS_FRAME, a);
    /* whitening, then a [1 2 1]/4 low-pass: a correlation peak at a fractional lag stays
     * high when the top of the 0..6 kHz band does not dominate (two plain loops: they vectorise) */
    float e[PN_PITCH_DS_BUF];
    for (int i = 0; i < LPC_ORDER; i++) {
        e[i] = ds[i];
        for (int j = 0; j < i; j++)
            e[i] -= a[j] * ds[i - 1 - j];
    }
    for (int i = LPC_ORDER; i < PN_PITCH_DS_BUF; i++)
        e[i] = ds[i] - a[0] * ds[i - 1] - a[1] * ds[i - 2] - a[2] * ds[i - 3] - a[3] * ds[i - 4];
    w[0] = 0.25f * e[0];
    w[1] = 0.25f * (e[1] + 2.f * e[0]);
    for (int i = 2; i < PN_PITCH_DS_BUF; i++)
        w[i] = 0.25f * (e[i] + 2.f * e[i - 1] + e[i - 2]);
    const float *x = w + PN_PITCH_DS_MAX;
    const int n = PN_PITCH_DS_FRAME;
    /* xc[l] pairs x with the frame PN_PITCH_DS_MAX - l samples earlier */
    ops->xcorr(x, w, n, PN_PITCH_NCAND, xc);
    float ex = ops->dot(x, x, n);
    float ey = ops->dot(w, w, n), den[PN_PITCH_NCAND];
    /* only the energy's slide is serial: the square roots and divisions go in a vector loop */
    for (int l = 0; l < PN_PITCH_NCAND; l++) {
        den[l] = ex * ey + 1e-12f;
        ey += w[l + n] * w[l + n] - w[l] * w[l];
        if (ey < 0.f)
            ey = 0.f;
    }
    for (int l = 0; l < PN_PITCH_NCAND; l++) {
        int lag = PN_PITCH_DS_MAX - l;
        float c = xc[l] / sqrtf(den[l]);
        float bias = 1.f - LONG_LAG_BIAS * (float)(lag - PN_PITCH_DS_MIN) / (PN_PITCH_NCAND - 1);
        corr[lag - PN_PITCH_DS_MIN] = c > 0.f ? c : 0.f;
        score[lag - PN_PITCH_DS_MIN] = corr[lag - PN_PITCH_DS_MIN] * bias;
    }
    /* A period correlates at its multiples too: where a half or a third of the lag does
     * nearly as well, the lag is likely a multiple and loses against its sub-multiple. */
    for (int lag = 2 * PN_PITCH_DS_MIN; lag <= PN_PITCH_DS_MAX; lag++) {
        float c = corr[lag - PN_PITCH_DS_MIN];
        for (int k = 2; k <= 3 && lag / k >= PN_PITCH_DS_MIN + 1; k++) {
            int sub = (lag + k / 2) / k - PN_PITCH_DS_MIN;
            float h = corr[sub - 1] > corr[sub] ? corr[sub - 1] : corr[sub];
            if (sub + 1 < PN_PITCH_NCAND && corr[sub + 1] > h)
                h = corr[sub + 1];
            if (h > SUBMULTIPLE_RATIO * c) {
                score[lag - PN_PITCH_DS_MIN] *= SUBMULTIPLE_PENALTY;
                break;
            }
        }
    }
}

void pn_pitch_push(pn_pitch *p, const pn_dsp_ops *ops, const float *hop)
{
    const int m = PN_HOP / PN_PITCH_DS;
    memmove(p->ds, p->ds + m, sizeof(float) * (PN_PITCH_DS_BUF - m));
    float *d = p->ds + PN_PITCH_DS_BUF - m;
    /* [1 2 3 4 3 2 1]/16 low-pass, then keep one sample in four */
    for (int i = 0; i < m; i++) {
        const float *x = hop + PN_PITCH_DS * i;
        d[i] = (x[-3] + x[3] + 2.f * (x[-2] + x[2]) + 3.f * (x[-1] + x[1]) + 4.f * x[0]) * (1.f / 16.f);
    }
    float score[PN_PITCH_NCAND], m_val[PN_PITCH_NCAND];
    short arg[PN_PITCH_NCAND];
    score_frame(ops, p->ds, score);

    /* delta'(L) = score(L) + max_L' delta(L') - min(JUMP_COST |L - L'|, JUMP_CAP), by a
     * two-pass distance transform (linear, not quadratic, in the number of candidates) and
     * the best previous path less the cap. */
    for (int i = 0; i < PN_PITCH_NCAND; i++) {
        m_val[i] = p->delta[i];
        arg[i] = (short)i;
        if (i > 0 && m_val[i - 1] - JUMP_COST > m_val[i]) {
            m_val[i] = m_val[i - 1] - JUMP_COST;
            arg[i] = arg[i - 1];
        }
    }
    for (int i = PN_PITCH_NCAND - 2; i >= 0; i--) {
        if (m_val[i + 1] - JUMP_COST > m_val[i]) {
            m_val[i] = m_val[i + 1] - JUMP_COST;
            arg[i] = arg[i + 1];
        }
    }
    int top = 0;
    for (int i = 1; i < PN_PITCH_NCAND; i++)
        if (p->delta[i] > p->delta[top])
            top = i;
    for (int i = 0; i < PN_PITCH_NCAND; i++) {
        if (p->delta[top] - JUMP_CAP > m_val[i]) {
            m_val[i] = p->delta[top] - JUMP_CAP;
            arg[i] = (short)top;
        }
    }
    memmove(p->back[1], p->back[0], sizeof(p->back[0]) * (PN_LOOKAHEAD_FRAMES - 1));
    float best = -1e30f;
    for (int i = 0; i < PN_PITCH_NCAND; i++) {
        p->delta[i] = score[i] + m_val[i];
        p->back[0][i] = arg[i];
        if (p->delta[i] > best)
            best = p->delta[i];
    }
    for (int i = 0; i < PN_PITCH_NCAND; i++)
        p->delta[i] -= best;  /* keep the scores bounded */
    p->frames++;
}

int pn_pitch_tracked(const pn_pitch *p, int back)
{
    int i = 0;
    for (int j = 1; j < PN_PITCH_NCAND; j++)
        if (p->delta[j] > p->delta[i])
            i = j;
    for (int b = 0; b < back && b < PN_LOOKAHEAD_FRAMES; b++)
        i = p->back[b][i];
    return (i + PN_PITCH_DS_MIN) * PN_PITCH_DS;
}

float pn_pitch_refine(const pn_dsp_ops *ops, const float *x, int n, int t0, int radius, int ahead, int *period)
{
    enum { MAX_LAGS = 2 * PN_PITCH_MAX_RADIUS + 1 };
    int lo = t0 - radius, hi = t0 + radius;
    if (lo < PN_PITCH_MIN)
        lo = PN_PITCH_MIN;
    if (hi > PN_PITCH_MAX)
        hi = PN_PITCH_MAX;
    int lags = hi - lo + 1;
    if (lags > MAX_LAGS)
        lags = MAX_LAGS;
    /* num[l], den[l]: period lo + l */
    float num[MAX_LAGS], den[MAX_LAGS], xc[MAX_LAGS];
    ops->xcorr(x, x - hi, n, lags, xc);  /* xc[l]: period hi - l */
    const float *y = x - hi;
    float e = ops->dot(y, y, n);
    for (int l = 0; l < lags; l++) {
        num[lags - 1 - l] = xc[l];
        den[lags - 1 - l] = e;
        e += y[l + n] * y[l + n] - y[l] * y[l];  /* slide to period hi - l - 1 */
        if (e < 0.f)
            e = 0.f;
    }
    if (ahead) {
        ops->xcorr(x, x + lo, n, lags, xc);  /* xc[l]: period lo + l, later samples */
        const float *z = x + lo;
        e = ops->dot(z, z, n);
        for (int l = 0; l < lags; l++) {
            num[l] += xc[l];
            den[l] += e;
            e += z[l + n] * z[l + n] - z[l] * z[l];
            if (e < 0.f)
                e = 0.f;
        }
    }
    const float ex = ops->dot(x, x, n) * (ahead ? 2.f : 1.f);
    float best = -1.f;
    int best_t = t0 < lo ? lo : (t0 > hi ? hi : t0);
    for (int l = 0; l < lags; l++) {
        float c = num[l] / sqrtf(ex * den[l] + 1e-12f);
        if (c > best) {
            best = c;
            best_t = lo + l;
        }
    }
    *period = best_t;
    return best < 0.f ? 0.f : (best > 1.f ? 1.f : best);
}
