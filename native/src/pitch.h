/* Pitch: whitened 12 kHz normalised cross-correlation per frame (coarse), Viterbi tracking with
 * a fixed lag of PN_LOOKAHEAD_FRAMES (the period of the frame being synthesised is decided
 * with the frames after it), then refinement at 48 kHz. Periods cover 60..800 Hz. */
#ifndef PN_PITCH_H
#define PN_PITCH_H

#include "dsp.h"
#include "percepnet.h"

#define PN_PITCH_MIN 60    /* samples at 48 kHz: 800 Hz */
#define PN_PITCH_MAX 800   /* 60 Hz */
#define PN_PITCH_DS 4
#define PN_PITCH_DS_FRAME (PN_WINDOW / PN_PITCH_DS)
#define PN_PITCH_DS_MIN (PN_PITCH_MIN / PN_PITCH_DS)
#define PN_PITCH_DS_MAX (PN_PITCH_MAX / PN_PITCH_DS)
#define PN_PITCH_NCAND (PN_PITCH_DS_MAX - PN_PITCH_DS_MIN + 1)
#define PN_PITCH_DS_BUF (PN_PITCH_DS_FRAME + PN_PITCH_DS_MAX)

typedef struct {
    float ds[PN_PITCH_DS_BUF];                          /* 12 kHz history, newest last */
    float delta[PN_PITCH_NCAND];                        /* best path score ending at each lag */
    short back[PN_LOOKAHEAD_FRAMES][PN_PITCH_NCAND];    /* back pointers, newest first */
    long frames;
} pn_pitch;

void pn_pitch_reset(pn_pitch *p);
/* Push one hop. hop points at PN_HOP new samples with at least 3 older ones before them. */
void pn_pitch_push(pn_pitch *p, const pn_dsp_ops *ops, const float *hop);
/* Coarse period (48 kHz samples) of the frame `back` hops before the newest, on the best
 * path ending at the newest frame; back <= PN_LOOKAHEAD_FRAMES. */
int pn_pitch_tracked(const pn_pitch *p, int back);
#define PN_PITCH_MAX_RADIUS 16
/* Best period within +-radius of t0 (radius <= PN_PITCH_MAX_RADIUS) for x[0..n) against
 * x[-T..n-T), and with ahead = 1 also against x[T..n+T), which averages out more noise where
 * the lookahead has those samples (x needs PN_PITCH_MAX + radius samples before it, and as
 * many after n with ahead); returns the normalised correlation clipped to [0, 1]. */
float pn_pitch_refine(const pn_dsp_ops *ops, const float *x, int n, int t0, int radius, int ahead, int *period);

#endif
