#include <math.h>
#include <string.h>

#include "fft.h"

void pn_fft_init(pn_fft *f)
{
    static const int radices[] = {4, 4, 2, 3, 5};
    f->nstages = (int)(sizeof radices / sizeof radices[0]);
    for (int s = 0; s < f->nstages; s++)
        f->radix[s] = radices[s];
    for (int k = 0; k < PN_CFFT_N; k++) {
        double a = -2.0 * PN_PI * k / PN_CFFT_N;
        f->tw[k].r = (float)cos(a);
        f->tw[k].i = (float)sin(a);
    }
    for (int k = 0; k <= PN_CFFT_N; k++) {
        double a = -2.0 * PN_PI * k / PN_WINDOW;
        f->rtw[k].r = (float)cos(a);
        f->rtw[k].i = (float)sin(a);
    }
}

static inline pn_cpx cmul(pn_cpx a, pn_cpx b)
{
    pn_cpx c = {a.r * b.r - a.i * b.i, a.r * b.i + a.i * b.r};
    return c;
}

/* One Stockham stage of radix p over sub-transforms already of length ns:
 * out[(j/ns)*ns*p + j%ns + q*ns] = DFT_p(twiddled in[j + q*N/p]). */
static void stage(const pn_fft *f, int p, int ns, const pn_cpx *in, pn_cpx *out)
{
    const int n = PN_CFFT_N, m = n / p;
    const int tstep = n / (ns * p);
    for (int b = 0; b < m / ns; b++) {
        for (int k = 0; k < ns; k++) {
            const int j = b * ns + k;
            pn_cpx v[5];
            v[0] = in[j];
            for (int q = 1; q < p; q++)
                v[q] = cmul(in[j + q * m], f->tw[(k * q * tstep) % n]);
            pn_cpx *o = out + b * ns * p + k;
            switch (p) {
            case 2: {
                o[0].r = v[0].r + v[1].r; o[0].i = v[0].i + v[1].i;
                o[ns].r = v[0].r - v[1].r; o[ns].i = v[0].i - v[1].i;
                break;
            }
            case 3: {
                const float c = -0.5f, s = -0.86602540378f;  /* e^{-2 pi i/3} */
                pn_cpx t = {v[1].r + v[2].r, v[1].i + v[2].i};
                pn_cpx d = {v[1].r - v[2].r, v[1].i - v[2].i};
                pn_cpx m1 = {v[0].r + c * t.r, v[0].i + c * t.i};
                o[0].r = v[0].r + t.r; o[0].i = v[0].i + t.i;
                o[ns].r = m1.r - s * d.i; o[ns].i = m1.i + s * d.r;
                o[2 * ns].r = m1.r + s * d.i; o[2 * ns].i = m1.i - s * d.r;
                break;
            }
            case 4: {
                pn_cpx a = {v[0].r + v[2].r, v[0].i + v[2].i};
                pn_cpx b2 = {v[0].r - v[2].r, v[0].i - v[2].i};
                pn_cpx c = {v[1].r + v[3].r, v[1].i + v[3].i};
                pn_cpx d = {v[1].r - v[3].r, v[1].i - v[3].i};  /* times -i below */
                o[0].r = a.r + c.r; o[0].i = a.i + c.i;
                o[ns].r = b2.r + d.i; o[ns].i = b2.i - d.r;
                o[2 * ns].r = a.r - c.r; o[2 * ns].i = a.i - c.i;
                o[3 * ns].r = b2.r - d.i; o[3 * ns].i = b2.i + d.r;
                break;
            }
            default: {  /* 5 */
                const float c1 = 0.30901699437f, c2 = -0.80901699437f;
                const float s1 = -0.95105651630f, s2 = -0.58778525229f;  /* sin(-2pi/5), sin(-4pi/5) */
                pn_cpx t1 = {v[1].r + v[4].r, v[1].i + v[4].i}, d1 = {v[1].r - v[4].r, v[1].i - v[4].i};
                pn_cpx t2 = {v[2].r + v[3].r, v[2].i + v[3].i}, d2 = {v[2].r - v[3].r, v[2].i - v[3].i};
                pn_cpx a1 = {v[0].r + c1 * t1.r + c2 * t2.r, v[0].i + c1 * t1.i + c2 * t2.i};
                pn_cpx a2 = {v[0].r + c2 * t1.r + c1 * t2.r, v[0].i + c2 * t1.i + c1 * t2.i};
                /* i*(s1*d1 + s2*d2) and i*(s2*d1 - s1*d2) */
                pn_cpx b1 = {-(s1 * d1.i + s2 * d2.i), s1 * d1.r + s2 * d2.r};
                pn_cpx b2 = {-(s2 * d1.i - s1 * d2.i), s2 * d1.r - s1 * d2.r};
                o[0].r = v[0].r + t1.r + t2.r; o[0].i = v[0].i + t1.i + t2.i;
                o[ns].r = a1.r + b1.r; o[ns].i = a1.i + b1.i;
                o[4 * ns].r = a1.r - b1.r; o[4 * ns].i = a1.i - b1.i;
                o[2 * ns].r = a2.r + b2.r; o[2 * ns].i = a2.i + b2.i;
                o[3 * ns].r = a2.r - b2.r; o[3 * ns].i = a2.i - b2.i;
                break;
            }
            }
        }
    }
}

void pn_cfft(const pn_fft *f, const pn_cpx *in, pn_cpx *out, pn_cpx *scratch)
{
    /* Ping-pong so that the last stage lands in out. */
    const pn_cpx *src = in;
    int ns = 1;
    for (int s = 0; s < f->nstages; s++) {
        pn_cpx *dst = ((f->nstages - 1 - s) % 2 == 0) ? out : scratch;
        stage(f, f->radix[s], ns, src, dst);
        src = dst;
        ns *= f->radix[s];
    }
}

void pn_rfft(const pn_fft *f, const float *x, pn_cpx *X)
{
    pn_cpx z[PN_CFFT_N], Z[PN_CFFT_N], scratch[PN_CFFT_N];
    memcpy(z, x, sizeof z);  /* even samples real, odd imaginary */
    pn_cfft(f, z, Z, scratch);
    for (int k = 0; k <= PN_CFFT_N; k++) {
        pn_cpx a = Z[k % PN_CFFT_N], b = Z[(PN_CFFT_N - k) % PN_CFFT_N];
        pn_cpx e = {0.5f * (a.r + b.r), 0.5f * (a.i - b.i)};
        pn_cpx o = {0.5f * (a.i + b.i), -0.5f * (a.r - b.r)};  /* (a - conj b) / 2i */
        pn_cpx w = cmul(f->rtw[k], o);
        X[k].r = e.r + w.r;
        X[k].i = e.i + w.i;
    }
}

void pn_irfft(const pn_fft *f, const pn_cpx *X, float *x)
{
    pn_cpx Z[PN_CFFT_N], z[PN_CFFT_N], scratch[PN_CFFT_N];
    for (int k = 0; k < PN_CFFT_N; k++) {
        pn_cpx a = X[k], b = X[PN_CFFT_N - k];
        pn_cpx e = {a.r + b.r, a.i - b.i};
        pn_cpx d = {a.r - b.r, a.i + b.i};
        pn_cpx wc = {f->rtw[k].r, -f->rtw[k].i};
        pn_cpx o = cmul(d, wc);
        /* Z = E + iO, conjugated so the forward transform computes the inverse */
        Z[k].r = e.r - o.i;
        Z[k].i = -(e.i + o.r);
    }
    pn_cfft(f, Z, z, scratch);
    const float scale = 1.0f / PN_WINDOW;
    for (int n = 0; n < PN_CFFT_N; n++) {
        x[2 * n] = z[n].r * scale;
        x[2 * n + 1] = -z[n].i * scale;
    }
}
