/* Band layout: 34 ERB-spaced centres from 0 to 24 kHz at least 100 Hz apart, triangles that
 * sum to one on every bin, so energies add up and equal gains interpolate exactly. */
#include <math.h>
#include <stdio.h>

#include "bands.h"

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); return 1; } } while (0)

int main(void)
{
    static pn_bands b;
    pn_bands_init(&b);
    CHECK(b.centre[0] == 0);
    CHECK(b.centre[PN_NB_BANDS - 1] == PN_BINS - 1);
    for (int i = 1; i < PN_NB_BANDS; i++) {
        CHECK(b.centre[i] - b.centre[i - 1] >= 2);
        if (i > 1)  /* ERB spacing widens with frequency */
            CHECK(b.centre[i] - b.centre[i - 1] >= b.centre[i - 1] - b.centre[i - 2]);
    }
    pn_cpx X[PN_BINS];
    double total = 0.0;
    for (int k = 0; k < PN_BINS; k++) {
        X[k].r = (float)(k % 7) - 3.f;
        X[k].i = (float)(k % 5) * 0.5f;
        total += X[k].r * X[k].r + X[k].i * X[k].i;
    }
    float E[PN_NB_BANDS], C[PN_NB_BANDS], v[PN_NB_BANDS], g[PN_BINS];
    pn_band_energy(&b, X, E);
    pn_band_corr(&b, X, X, C);
    double sum = 0.0;
    for (int i = 0; i < PN_NB_BANDS; i++) {
        sum += E[i];
        CHECK(fabsf(C[i] - E[i]) <= 1e-4f * (1.f + E[i]));
        v[i] = 0.37f;
    }
    CHECK(fabs(sum - total) < 1e-4 * total);
    pn_band_interp(&b, v, g);
    for (int k = 0; k < PN_BINS; k++)
        CHECK(g[k] == 0.37f);
    /* a band's value is exact at its centre */
    for (int i = 0; i < PN_NB_BANDS; i++)
        v[i] = (float)i;
    pn_band_interp(&b, v, g);
    for (int i = 0; i < PN_NB_BANDS; i++)
        CHECK(fabsf(g[b.centre[i]] - (float)i) < 1e-6f);
    printf("ok: centres 0..%d, narrowest %d bins, widest %d bins\n", b.centre[PN_NB_BANDS - 1],
           b.centre[1] - b.centre[0], b.centre[PN_NB_BANDS - 1] - b.centre[PN_NB_BANDS - 2]);
    return 0;
}
