#include <math.h>
#include <string.h>

#include "fft.h"

void pn_fft_init(pn_fft *f, pn_fft_stage_fn stage)
{
    f->stage = stage;
    static const int radices[PN_FFT_STAGES] = {4, 4, 2, 3, 5};
    int ns = 1, off = 0;
    for (int s = 0; s < PN_FFT_STAGES; s++) {
        const int p = radices[s];
        f->radix[s] = p;
        f->ns[s] = ns;
        f->tw_off[s] = off;
        for (int q = 1; q < p; q++) {
            for (int k = 0; k < ns; k++) {
                double a = -2.0 * PN_PI * k * q / (ns * p);
                f->twr[off + (q - 1) * ns + k] = (float)cos(a);
                f->twi[off + (q - 1) * ns + k] = (float)sin(a);
            }
        }
        off += (p - 1) * ns;
        ns *= p;
    }
    for (int k = 0; k <= PN_CFFT_N; k++) {
        double a = -2.0 * PN_PI * k / PN_WINDOW;
        f->rtwr[k] = (float)cos(a);
        f->rtwi[k] = (float)sin(a);
    }
}

void pn_cfft(const pn_fft *f, float *re, float *im, float *out_re, float *out_im)
{
    /* ping-pong so that the last stage lands in out */
    float *sr = re, *si = im;
    for (int s = 0; s < PN_FFT_STAGES; s++) {
        int to_out = (PN_FFT_STAGES - 1 - s) % 2 == 0;
        float *dr = to_out ? out_re : re, *di = to_out ? out_im : im;
        f->stage(f, s, sr, si, dr, di);
        sr = dr;
        si = di;
    }
}

/* The real transform from its even samples zr and odd ones zi (destroyed), the real and
 * imaginary parts of the half-size complex transform. */
static void rfft_halves(const pn_fft *f, float *zr, float *zi, pn_cpx *X)
{
    float Zr[PN_CFFT_N + 1], Zi[PN_CFFT_N + 1];
    pn_cfft(f, zr, zi, Zr, Zi);
    Zr[PN_CFFT_N] = Zr[0];
    Zi[PN_CFFT_N] = Zi[0];
    for (int k = 0; k <= PN_CFFT_N; k++) {
        const float ar = Zr[k], ai = Zi[k], br = Zr[PN_CFFT_N - k], bi = Zi[PN_CFFT_N - k];
        const float er = 0.5f * (ar + br), ei = 0.5f * (ai - bi);
        const float orr = 0.5f * (ai + bi), oi = -0.5f * (ar - br);  /* (a - conj b) / 2i */
        X[k].r = er + f->rtwr[k] * orr - f->rtwi[k] * oi;
        X[k].i = ei + f->rtwr[k] * oi + f->rtwi[k] * orr;
    }
}

void pn_rfft(const pn_fft *f, const float *x, pn_cpx *X)
{
    float zr[PN_CFFT_N], zi[PN_CFFT_N];
    for (int n = 0; n < PN_CFFT_N; n++) {
        zr[n] = x[2 * n];
        zi[n] = x[2 * n + 1];
    }
    rfft_halves(f, zr, zi, X);
}

/* windowed in the same pass that splits the samples, not in a pass of its own */
void pn_windowed_rfft(const pn_fft *f, const float *w, const float *x, pn_cpx *X)
{
    float zr[PN_CFFT_N], zi[PN_CFFT_N];
    for (int n = 0; n < PN_CFFT_N; n++) {
        zr[n] = w[2 * n] * x[2 * n];
        zi[n] = w[2 * n + 1] * x[2 * n + 1];
    }
    rfft_halves(f, zr, zi, X);
}

void pn_irfft(const pn_fft *f, const pn_cpx *X, float *x)
{
    float Zr[PN_CFFT_N], Zi[PN_CFFT_N], zr[PN_CFFT_N], zi[PN_CFFT_N];
    for (int k = 0; k < PN_CFFT_N; k++) {
        const pn_cpx a = X[k], b = X[PN_CFFT_N - k];
        const float er = a.r + b.r, ei = a.i - b.i, dr = a.r - b.r, di = a.i + b.i;
        /* o = d * conj(w) */
        const float orr = dr * f->rtwr[k] + di * f->rtwi[k], oi = di * f->rtwr[k] - dr * f->rtwi[k];
        /* conj(E + iO): the forward transform then computes the inverse */
        Zr[k] = er - oi;
        Zi[k] = -(ei + orr);
    }
    pn_cfft(f, Zr, Zi, zr, zi);
    const float scale = 1.0f / PN_WINDOW;
    for (int n = 0; n < PN_CFFT_N; n++) {
        x[2 * n] = zr[n] * scale;
        x[2 * n + 1] = -zi[n] * scale;
    }
}
