/* The linear echo canceller ahead of the suppressor (speexdsp's MDF canceller), behind a narrow
 * interface so that the kernel itself keeps no dependency: libpercepnet_aec.so, built only
 * where speexdsp is found. Everything is allocated at create; a hop allocates nothing. */
#ifndef PN_AEC_H
#define PN_AEC_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pn_aec pn_aec;

/* rate in Hz, hop samples per call, tail: the longest echo path it models, in samples.
 * NULL when an argument is out of range or memory is short. */
pn_aec *pn_aec_create(int rate, int hop, int tail);
void pn_aec_destroy(pn_aec *st);

/* One hop: mic (what the microphone heard) less the echo of far (what the loudspeaker played
 * in the same hop), into out; floats in [-1, 1], hop samples each. out may be mic. */
void pn_aec_run(pn_aec *st, const float *mic, const float *far, float *out);

#ifdef __cplusplus
}
#endif

#endif
