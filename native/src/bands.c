#include <math.h>

#include "bands.h"

#define MIN_SPACING 2  /* bins: 100 Hz, the narrowest band the paper allows */

static double hz_to_erb(double hz) { return 21.4 * log10(1.0 + 0.00437 * hz); }
static double erb_to_hz(double e) { return (pow(10.0, e / 21.4) - 1.0) / 0.00437; }

void pn_bands_init(pn_bands *b)
{
    const double bin_hz = (double)PN_SAMPLE_RATE / PN_WINDOW;
    const double top = hz_to_erb((PN_BINS - 1) * bin_hz);
    b->centre[0] = 0;
    /* Each next centre is an equal ERB step over what is left, but never closer than
     * MIN_SPACING: at low frequencies ERB steps are narrower than the bins. */
    for (int i = 1; i < PN_NB_BANDS; i++) {
        double prev = hz_to_erb(b->centre[i - 1] * bin_hz);
        double target = erb_to_hz(prev + (top - prev) / (PN_NB_BANDS - i)) / bin_hz;
        int c = (int)floor(target + 0.5);
        if (c < b->centre[i - 1] + MIN_SPACING)
            c = b->centre[i - 1] + MIN_SPACING;
        b->centre[i] = (short)c;
    }
    b->centre[PN_NB_BANDS - 1] = PN_BINS - 1;
    for (int i = 0; i + 1 < PN_NB_BANDS; i++) {
        int lo = b->centre[i], hi = b->centre[i + 1];
        for (int k = lo; k < hi; k++)
            b->frac[k] = (float)(k - lo) / (float)(hi - lo);
    }
    b->frac[PN_BINS - 1] = 1.0f;  /* the last bin, the top band's centre, ends the last segment */
}

void pn_band_centres_hz(float *hz)
{
    pn_bands b;
    pn_bands_init(&b);
    for (int i = 0; i < PN_NB_BANDS; i++)
        hz[i] = (float)b.centre[i] * PN_SAMPLE_RATE / PN_WINDOW;
}

/* Each segment between two centres feeds its lower band with weight 1 - frac and its upper
 * band with frac: two contiguous sums per segment, no scattered accumulation. */
static void band_sums(const pn_bands *b, const float *p, float *E)
{
    for (int i = 0; i < PN_NB_BANDS; i++)
        E[i] = 0.f;
    for (int i = 0; i + 1 < PN_NB_BANDS; i++) {
        float all = 0.f, up = 0.f;
        for (int k = b->centre[i]; k < b->centre[i + 1]; k++) {
            all += p[k];
            up += b->frac[k] * p[k];
        }
        E[i] += all - up;
        E[i + 1] += up;
    }
    E[PN_NB_BANDS - 1] += p[PN_BINS - 1];
}

void pn_band_energy(const pn_bands *b, const pn_cpx *X, float *E)
{
    float p[PN_BINS];
    for (int k = 0; k < PN_BINS; k++)
        p[k] = X[k].r * X[k].r + X[k].i * X[k].i;
    band_sums(b, p, E);
}

void pn_band_corr(const pn_bands *b, const pn_cpx *X, const pn_cpx *P, float *C)
{
    float p[PN_BINS];
    for (int k = 0; k < PN_BINS; k++)
        p[k] = X[k].r * P[k].r + X[k].i * P[k].i;
    band_sums(b, p, C);
}

/* Segment by segment, as band_sums: contiguous bins with one pair of band values vectorise,
 * a gather through a bin-to-band table does not. */
void pn_band_interp(const pn_bands *b, const float *v, float *g_bin)
{
    for (int i = 0; i + 1 < PN_NB_BANDS; i++) {
        const float lo = v[i], d = v[i + 1] - v[i];
        for (int k = b->centre[i]; k < b->centre[i + 1]; k++)
            g_bin[k] = lo + b->frac[k] * d;
    }
    g_bin[PN_BINS - 1] = v[PN_NB_BANDS - 2] + b->frac[PN_BINS - 1] * (v[PN_NB_BANDS - 1] - v[PN_NB_BANDS - 2]);
}
