/* The Stockham stage of fft.c, written once and compiled per instruction set: dsp.c (scalar),
 * dsp_avx2.c and dsp_neon.c include it with FFT_STAGE set to their function name, and the
 * compiler vectorises the butterfly loops over contiguous k for each ISA's flags. */
#include "fft.h"

#ifndef FFT_STAGE
#error "define FFT_STAGE before including fft_stage.h"
#endif

/* The outputs q*ns apart never overlap for k < ns, but the compiler cannot know ns >= its
 * vector length: without this it tests every pair of streams at run time, and gives up on
 * radices 4 and 5. */
#define IVDEP _Pragma("GCC ivdep")

/* v_q = in[j + q*m] times the stage twiddle of (q, k) */
#define LOAD(q)                                                               \
    float v##q##r = ir[j + (q) * m], v##q##i = ii[j + (q) * m];               \
    if ((q) > 0) {                                                            \
        const float wr = tr[((q) - 1) * ns + k], wi = ti[((q) - 1) * ns + k]; \
        const float t = v##q##r * wr - v##q##i * wi;                          \
        v##q##i = v##q##r * wi + v##q##i * wr;                                \
        v##q##r = t;                                                          \
    }

/* One Stockham stage: out[b*ns*p + k + q*ns] = DFT_p over q of twiddled in[b*ns + k + q*N/p]. */
static void FFT_STAGE(const pn_fft *f, int s, const float *restrict ir, const float *restrict ii,
                  float *restrict or_, float *restrict oi)
{
    const int p = f->radix[s], ns = f->ns[s], m = PN_CFFT_N / p;
    const float *tr = f->twr + f->tw_off[s], *ti = f->twi + f->tw_off[s];
    if (ns == 1 && p == 4) {
        /* first stage: no twiddles, one butterfly per b; looping over b lets it vectorise */
        for (int j = 0; j < m; j++) {
            float ar = ir[j] + ir[j + 2 * m], ai = ii[j] + ii[j + 2 * m];
            float br = ir[j] - ir[j + 2 * m], bi = ii[j] - ii[j + 2 * m];
            float cr = ir[j + m] + ir[j + 3 * m], ci = ii[j + m] + ii[j + 3 * m];
            float dr = ir[j + m] - ir[j + 3 * m], di = ii[j + m] - ii[j + 3 * m];
            or_[4 * j] = ar + cr; oi[4 * j] = ai + ci;
            or_[4 * j + 1] = br + di; oi[4 * j + 1] = bi - dr;
            or_[4 * j + 2] = ar - cr; oi[4 * j + 2] = ai - ci;
            or_[4 * j + 3] = br - di; oi[4 * j + 3] = bi + dr;
        }
        return;
    }
    for (int b = 0; b < m / ns; b++) {
        float *orb = or_ + b * ns * p, *oib = oi + b * ns * p;
        switch (p) {
        case 2:
            IVDEP
            for (int k = 0; k < ns; k++) {
                const int j = b * ns + k;
                LOAD(0) LOAD(1)
                orb[k] = v0r + v1r; oib[k] = v0i + v1i;
                orb[k + ns] = v0r - v1r; oib[k + ns] = v0i - v1i;
            }
            break;
        case 3:
            IVDEP
            for (int k = 0; k < ns; k++) {
                const int j = b * ns + k;
                LOAD(0) LOAD(1) LOAD(2)
                const float c = -0.5f, sn = -0.86602540378f;  /* e^{-2 pi i/3} */
                float tr_ = v1r + v2r, ti_ = v1i + v2i, dr = v1r - v2r, di = v1i - v2i;
                float mr = v0r + c * tr_, mi = v0i + c * ti_;
                orb[k] = v0r + tr_; oib[k] = v0i + ti_;
                orb[k + ns] = mr - sn * di; oib[k + ns] = mi + sn * dr;
                orb[k + 2 * ns] = mr + sn * di; oib[k + 2 * ns] = mi - sn * dr;
            }
            break;
        case 4:
            IVDEP
            for (int k = 0; k < ns; k++) {
                const int j = b * ns + k;
                LOAD(0) LOAD(1) LOAD(2) LOAD(3)
                float ar = v0r + v2r, ai = v0i + v2i, br = v0r - v2r, bi = v0i - v2i;
                float cr = v1r + v3r, ci = v1i + v3i, dr = v1r - v3r, di = v1i - v3i;
                orb[k] = ar + cr; oib[k] = ai + ci;
                orb[k + ns] = br + di; oib[k + ns] = bi - dr;      /* b - i d */
                orb[k + 2 * ns] = ar - cr; oib[k + 2 * ns] = ai - ci;
                orb[k + 3 * ns] = br - di; oib[k + 3 * ns] = bi + dr;
            }
            break;
        default:  /* 5 */
            IVDEP
            for (int k = 0; k < ns; k++) {
                const int j = b * ns + k;
                LOAD(0) LOAD(1) LOAD(2) LOAD(3) LOAD(4)
                const float c1 = 0.30901699437f, c2 = -0.80901699437f;
                const float s1 = -0.95105651630f, s2 = -0.58778525229f;  /* sin(-2pi/5), sin(-4pi/5) */
                float t1r = v1r + v4r, t1i = v1i + v4i, d1r = v1r - v4r, d1i = v1i - v4i;
                float t2r = v2r + v3r, t2i = v2i + v3i, d2r = v2r - v3r, d2i = v2i - v3i;
                float a1r = v0r + c1 * t1r + c2 * t2r, a1i = v0i + c1 * t1i + c2 * t2i;
                float a2r = v0r + c2 * t1r + c1 * t2r, a2i = v0i + c2 * t1i + c1 * t2i;
                /* i (s1 d1 + s2 d2) and i (s2 d1 - s1 d2) */
                float b1r = -(s1 * d1i + s2 * d2i), b1i = s1 * d1r + s2 * d2r;
                float b2r = -(s2 * d1i - s1 * d2i), b2i = s2 * d1r - s1 * d2r;
                orb[k] = v0r + t1r + t2r; oib[k] = v0i + t1i + t2i;
                orb[k + ns] = a1r + b1r; oib[k + ns] = a1i + b1i;
                orb[k + 4 * ns] = a1r - b1r; oib[k + 4 * ns] = a1i - b1i;
                orb[k + 2 * ns] = a2r + b2r; oib[k + 2 * ns] = a2i + b2i;
                orb[k + 3 * ns] = a2r - b2r; oib[k + 3 * ns] = a2i - b2i;
            }
            break;
        }
    }
}
