/* Analysis side of the STFT: the input history of one signal and the spectra and band
 * energies of its last PN_LOOKAHEAD_FRAMES + 1 frames. Frames are PN_WINDOW samples with the
 * power-complementary Vorbis window, one every PN_HOP, so windowing again at synthesis and
 * overlap-adding gives the input back. */
#ifndef PN_STFT_H
#define PN_STFT_H

#include "bands.h"
#include "comb.h"
#include "fft.h"
#include "pitch.h"

#define PN_NFRAMES (PN_LOOKAHEAD_FRAMES + 1)
/* comb taps reach PN_COMB_M periods before the oldest frame kept */
#define PN_HIST (PN_COMB_M * PN_PITCH_MAX + PN_NFRAMES * PN_HOP + PN_HOP)

typedef struct {
    float hist[PN_HIST];                 /* input, newest last */
    pn_cpx X[PN_NFRAMES][PN_BINS];       /* ring, see pn_track_slot */
    float E[PN_NFRAMES][PN_NB_BANDS];
    long frames;
} pn_track;

void pn_window_init(float *w);
/* Shift in one hop, analyse the newest frame. */
void pn_track_push(pn_track *t, const pn_fft *f, const pn_bands *b, const float *w, const float *hop);
/* Ring slot of the frame `back` hops before the newest. */
int pn_track_slot(const pn_track *t, int back);
/* First sample of that frame in hist. */
const float *pn_track_frame(const pn_track *t, int back);

#endif
