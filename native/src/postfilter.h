/* Envelope postfilter on band gains (PercepNet, beta = 0.02): a gain warped by
 * sin(pi g / 2) deepens the valleys between formants and harmonics, and the (1 + beta)
 * compensation keeps gains near 1 where they were. g = 1 stays 1, g = 0 stays 0. */
#ifndef PN_POSTFILTER_H
#define PN_POSTFILTER_H

#include "percepnet.h"

#define PN_POSTFILTER_BETA 0.02f

void pn_postfilter(const float *g, float *out);

#endif
