"""Audio in and out: ALSA capture/playback (alsa) and the sample conversions they share (pcm)."""
