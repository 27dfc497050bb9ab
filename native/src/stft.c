#include <math.h>
#include <string.h>

#include "stft.h"

void pn_window_init(float *w)
{
    for (int i = 0; i < PN_WINDOW; i++) {
        double s = sin(0.5 * PN_PI * (i + 0.5) / PN_HOP);
        w[i] = (float)sin(0.5 * PN_PI * s * s);
    }
}

int pn_track_slot(const pn_track *t, int back)
{
    return (int)((t->frames - back + PN_NFRAMES) % PN_NFRAMES);
}

const float *pn_track_frame(const pn_track *t, int back)
{
    return t->hist + PN_HIST - PN_WINDOW - back * PN_HOP;
}

void pn_track_push(pn_track *t, const pn_fft *f, const pn_bands *b, const float *w, const float *hop)
{
    memmove(t->hist, t->hist + PN_HOP, sizeof(float) * (PN_HIST - PN_HOP));
    memcpy(t->hist + PN_HIST - PN_HOP, hop, sizeof(float) * PN_HOP);
    t->frames++;
    int s = pn_track_slot(t, 0);
    pn_windowed_rfft(f, w, pn_track_frame(t, 0), t->X[s]);
    pn_band_energy(b, t->X[s], t->E[s]);
}
