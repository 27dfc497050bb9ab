/* Polyphase windowed-sinc resampler: see resample.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "percepnet.h"
#include "resample.h"

#define STOP_DB 70.0   /* Kaiser window design target: stopband attenuation */

static int gcd(int a, int b)
{
    while (b) {
        int t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* zeroth-order modified Bessel function of the first kind, by its power series */
static double bessel_i0(double x)
{
    double sum = 1.0, term = 1.0;
    for (int k = 1; term > 1e-12 * sum; k++) {
        term *= (x / (2.0 * k)) * (x / (2.0 * k));
        sum += term;
    }
    return sum;
}

int pn_resampler_init(pn_resampler *r, const pn_dsp_ops *ops, int in_rate, int out_rate, int max_in)
{
    memset(r, 0, sizeof *r);
    if (!ops || in_rate <= 0 || out_rate <= 0 || max_in <= 0)
        return PN_ERR_ARG;
    r->ops = ops;
    const int g = gcd(in_rate, out_rate);
    const int low = in_rate < out_rate ? in_rate : out_rate;
    r->up = out_rate / g;       /* F = in_rate * up = out_rate * down */
    r->down = in_rate / g;
    const int fine_per_low = (int)((long)in_rate * r->up / low);   /* F / low */
    const int half = PN_RESAMPLE_HALF * fine_per_low;
    const int n = 2 * half + 1;
    r->taps = (n + r->up - 1) / r->up;
    r->coef = calloc((size_t)r->up * r->taps, sizeof *r->coef);
    r->buf = calloc((size_t)(r->taps - 1 + max_in), sizeof *r->buf);
    if (!r->coef || !r->buf)
        return PN_ERR_NOMEM;

    /* cutoff at half the lower rate, as a fraction of F; the window's beta for STOP_DB */
    const double fc = 0.5 / fine_per_low, beta = 0.1102 * (STOP_DB - 8.7);
    double sum = 0.0;
    double *h = malloc((size_t)n * sizeof *h);
    if (!h)
        return PN_ERR_NOMEM;
    for (int i = 0; i < n; i++) {
        const double t = i - half, u = t / half;
        const double sinc = t == 0 ? 1.0 : sin(2.0 * PN_PI * fc * t) / (2.0 * PN_PI * fc * t);
        h[i] = 2.0 * fc * sinc * bessel_i0(beta * sqrt(1.0 - u * u)) / bessel_i0(beta);
        sum += h[i];
    }
    /* branch p holds h[p], h[p + up], ...: the weights of the input samples 0, 1, ... back from
     * an output whose time on F is p past an input sample. Each branch then sums to about 1. */
    for (int p = 0; p < r->up; p++)
        for (int m = 0; m < r->taps && p + m * r->up < n; m++)
            r->coef[p * r->taps + r->taps - 1 - m] = (float)(h[p + m * r->up] * r->up / sum);
    free(h);
    return PN_OK;
}

void pn_resampler_free(pn_resampler *r)
{
    free(r->coef);
    free(r->buf);
    memset(r, 0, sizeof *r);
}

void pn_resampler_reset(pn_resampler *r)
{
    memset(r->buf, 0, (size_t)(r->taps - 1) * sizeof *r->buf);
    r->pos = 0;
}

int pn_resample(pn_resampler *r, const float *in, int n, float *out)
{
    const int T = r->taps, end = n * r->up;
    int k = 0;
    memcpy(r->buf + T - 1, in, (size_t)n * sizeof *in);
    for (; r->pos < end; r->pos += r->down) {
        const int i = r->pos / r->up;   /* newest input the output depends on */
        out[k++] = r->ops->dot(r->buf + i, r->coef + (r->pos - i * r->up) * T, T);
    }
    r->pos -= end;
    memmove(r->buf, r->buf + n, (size_t)(T - 1) * sizeof *r->buf);
    return k;
}
