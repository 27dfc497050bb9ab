/* The rate converter (resample.c), both ways between each rate the kernel takes and 48 kHz:
 * passband ripple of sines up to 0.42 of the lower rate, their delay (exactly PN_RESAMPLE_HALF
 * samples of the lower rate: the residual against the ideally delayed sine, images included),
 * stopband attenuation of 48 kHz sines from 0.58 of the lower rate, the up-and-down round trip,
 * and any split of a stream into calls giving the same samples as one call. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "percepnet.h"
#include "resample.h"  /* and dsp.h, fft.h: pn_dsp_ops_active, PN_PI */

#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); return 1; } } while (0)
#define RIPPLE_DB 0.005
#define RESIDUAL_DB -70.0
#define STOP_DB -70.0
#define SECONDS 2           /* signal length; measured over 1 s from 0.5 s (whole cycles of any Hz) */
#define MAXN (SECONDS * PN_SAMPLE_RATE)

static const int rates[] = {8000, 16000, 24000, 32000, 44100};
static float x[MAXN], y[MAXN + 1], z[MAXN + 1];
static const pn_dsp_ops *ops;  /* the active SIMD level's, as the kernel uses */

static double db(double ratio) { return 10.0 * log10(ratio); }

/* the whole signal through a fresh converter, in one call */
static int convert(int in_rate, int out_rate, const float *in, int n, float *out)
{
    pn_resampler r;
    if (pn_resampler_init(&r, ops, in_rate, out_rate, n) != PN_OK)
        return -1;
    int k = pn_resample(&r, in, n, out);
    pn_resampler_free(&r);
    return k;
}

static void sine(float *s, int n, double f, int rate, double delay_s)
{
    for (int i = 0; i < n; i++)
        s[i] = (float)sin(2.0 * PN_PI * f * ((double)i / rate - delay_s));
}

/* gain (dB) at f, and the residual against the sine delayed by delay_s (dB), over 1 s from 0.5 s */
static void measure(const float *s, int rate, double f, double delay_s, double *gain_db, double *resid_db)
{
    double c = 0.0, q = 0.0, err = 0.0, ref = 0.0;
    for (int i = rate / 2; i < rate / 2 + rate; i++) {
        double a = 2.0 * PN_PI * f * i / rate, want = sin(2.0 * PN_PI * f * ((double)i / rate - delay_s));
        c += s[i] * cos(a);
        q += s[i] * sin(a);
        err += (s[i] - want) * (s[i] - want);
        ref += want * want;
    }
    *gain_db = db((c * c + q * q) * 4.0 / ((double)rate * rate));
    *resid_db = db(err / ref);
}

static int check_rate(int rate)
{
    const int n = SECONDS * rate, low = rate < PN_SAMPLE_RATE ? rate : PN_SAMPLE_RATE;
    const double delay_s = (double)PN_RESAMPLE_HALF / low;
    /* worst_stop stays -inf at 44.1 kHz: its stopband starts above 24 kHz */
    double worst_ripple = 0.0, worst_resid = -INFINITY, worst_stop = -INFINITY;
    for (int k = 1; k <= 8; k++) {
        const double f = floor(0.42 * low * k / 8);
        double g, e;
        sine(x, n, f, rate, 0.0);
        CHECK(convert(rate, PN_SAMPLE_RATE, x, n, y) == MAXN);
        measure(y, PN_SAMPLE_RATE, f, delay_s, &g, &e);
        worst_ripple = fmax(worst_ripple, fabs(g));
        worst_resid = fmax(worst_resid, e);
        sine(x, MAXN, f, PN_SAMPLE_RATE, 0.0);
        CHECK(convert(PN_SAMPLE_RATE, rate, x, MAXN, y) == n);
        measure(y, rate, f, delay_s, &g, &e);
        worst_ripple = fmax(worst_ripple, fabs(g));
        worst_resid = fmax(worst_resid, e);
    }
    for (double f = ceil(0.58 * low); f < PN_SAMPLE_RATE / 2; f += 1000.0) {
        double ein = 0.0, eout = 0.0;
        sine(x, MAXN, f, PN_SAMPLE_RATE, 0.0);
        CHECK(convert(PN_SAMPLE_RATE, rate, x, MAXN, y) == n);
        for (int i = rate / 2; i < rate / 2 + rate; i++)
            eout += (double)y[i] * y[i];
        for (int i = PN_SAMPLE_RATE / 2; i < PN_SAMPLE_RATE / 2 + PN_SAMPLE_RATE; i++)
            ein += (double)x[i] * x[i];
        worst_stop = fmax(worst_stop, db(eout / ein * PN_SAMPLE_RATE / rate));
    }
    /* round trip: a sum of passband sines comes back delayed by 2 * PN_RESAMPLE_HALF samples */
    for (int i = 0; i < n; i++)
        x[i] = (float)(0.3 * sin(0.05 * i) + 0.3 * sin(0.9 * i) + 0.3 * sin(2.5 * i));
    CHECK(convert(rate, PN_SAMPLE_RATE, x, n, y) == MAXN);
    CHECK(convert(PN_SAMPLE_RATE, rate, y, MAXN, z) == n);
    double err = 0.0, ref = 0.0;
    for (int i = rate / 2; i < n; i++) {
        err += pow(z[i] - x[i - 2 * PN_RESAMPLE_HALF], 2);
        ref += pow(x[i - 2 * PN_RESAMPLE_HALF], 2);
    }
    printf("%5d Hz: ripple %.4f dB, residual %.1f dB, stopband %.1f dB, round trip %.1f dB\n", rate,
           worst_ripple, worst_resid, worst_stop, db(err / ref));
    CHECK(worst_ripple <= RIPPLE_DB);
    CHECK(worst_resid <= RESIDUAL_DB);
    CHECK(worst_stop <= STOP_DB);
    CHECK(db(err / ref) <= RESIDUAL_DB);
    return 0;
}

/* calls of random sizes give the very samples of one call, both ways */
static int check_split(int in_rate, int out_rate)
{
    const int n = in_rate / 2;
    pn_resampler r;
    srand(in_rate + out_rate);
    for (int i = 0; i < n; i++)
        x[i] = (float)rand() / RAND_MAX - 0.5f;
    CHECK(convert(in_rate, out_rate, x, n, y) == (int)((long)n * out_rate / in_rate));
    CHECK(pn_resampler_init(&r, ops, in_rate, out_rate, 700) == PN_OK);
    for (int pass = 0; pass < 2; pass++) {  /* the second after a reset */
        int done = 0, k = 0;
        while (done < n) {
            int c = rand() % 701;
            c = c > n - done ? n - done : c;
            k += pn_resample(&r, x + done, c, z + k);
            done += c;
        }
        CHECK(k == (int)((long)n * out_rate / in_rate));
        CHECK(memcmp(y, z, (size_t)k * sizeof *y) == 0);
        pn_resampler_reset(&r);
    }
    pn_resampler_free(&r);
    return 0;
}

int main(void)
{
    pn_resampler r;
    ops = pn_dsp_ops_active();
    printf("SIMD: %s\n", pn_simd_active());
    CHECK(pn_resampler_init(&r, ops, 0, PN_SAMPLE_RATE, PN_HOP) == PN_ERR_ARG);
    pn_resampler_free(&r);
    CHECK(pn_resampler_init(&r, ops, 16000, PN_SAMPLE_RATE, 0) == PN_ERR_ARG);
    pn_resampler_free(&r);
    CHECK(pn_resampler_init(&r, NULL, 16000, PN_SAMPLE_RATE, PN_HOP) == PN_ERR_ARG);
    pn_resampler_free(&r);
    for (size_t i = 0; i < sizeof rates / sizeof *rates; i++) {
        if (check_rate(rates[i]) || check_split(rates[i], PN_SAMPLE_RATE) || check_split(PN_SAMPLE_RATE, rates[i]))
            return 1;
    }
    printf("ok\n");
    return 0;
}
