#include <math.h>

#include "postfilter.h"

void pn_postfilter(const float *g, float *out)
{
    const float half_pi = 1.57079632679f;
    for (int b = 0; b < PN_NB_BANDS; b++) {
        float s = sinf(half_pi * g[b]);
        if (s <= 1e-6f) {
            out[b] = 0.f;
            continue;
        }
        /* (g / (g sin))^2 = 1 / sin^2 */
        float v = (1.f + PN_POSTFILTER_BETA) * g[b] / (1.f + PN_POSTFILTER_BETA / (s * s));
        out[b] = v > 1.f ? 1.f : v;
    }
}
