#include <math.h>

#include "comb.h"

#if 2 * PN_COMB_M + 1 > PN_TAPS_MAX
#error "the comb filter has more taps than ops->taps takes"
#endif

/* 0.5 + 0.5 cos(pi k / 4) for k = -3..3 */
static const float weight[2 * PN_COMB_M + 1] = {
    0.14644661f, 0.5f, 0.85355339f, 1.0f, 0.85355339f, 0.5f, 0.14644661f};

int pn_comb_kmax(int period, int future)
{
    int k = period > 0 ? future / period : PN_COMB_M;
    return k > PN_COMB_M ? PN_COMB_M : k;
}

static float weight_sum(int kmax, int with_centre, float *sq)
{
    float sum = 0.f;
    *sq = 0.f;
    for (int k = -PN_COMB_M; k <= kmax; k++) {
        if (k == 0 && !with_centre)
            continue;
        sum += weight[k + PN_COMB_M];
        *sq += weight[k + PN_COMB_M] * weight[k + PN_COMB_M];
    }
    return sum;
}

float pn_comb_noise_gain(int kmax, int with_centre)
{
    float sq, sum = weight_sum(kmax, with_centre, &sq);
    return sq / (sum * sum);
}

void pn_comb(const pn_dsp_ops *ops, const float *x, int n, int period, int kmax, int with_centre,
             float *p)
{
    float sq, sum = weight_sum(kmax, with_centre, &sq), w[2 * PN_COMB_M + 1];
    int off[2 * PN_COMB_M + 1], ntaps = 0;
    for (int k = -PN_COMB_M; k <= kmax; k++) {
        if (k == 0 && !with_centre)
            continue;
        off[ntaps] = k * period;
        w[ntaps++] = weight[k + PN_COMB_M] / sum;
    }
    ops->taps(x, off, w, ntaps, n, p);
}
