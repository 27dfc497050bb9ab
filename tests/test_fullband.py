"""The shipped model is a fullband enhancer although most training speech is 16 kHz: clean
48 kHz speech keeps its band above 8 kHz, fullband noise loses it (shared/data/real48k)."""
import numpy as np
import pytest

from edge import denoise
from edge.eval.metrics import high_band_db
from edge.kernel import latency_samples
from edge.wavio import read_wav
from shared_data import SHARED_DATA

REAL48K = SHARED_DATA / "real48k"
pytestmark = pytest.mark.skipif(not REAL48K.is_dir(), reason="shared/data/real48k not on this machine")


def _high_band_change_db(name: str) -> float:
    x = read_wav(REAL48K / name)
    y = denoise.denoise(x)  # the shipped model, native engine
    lat = latency_samples()
    return high_band_db(y[lat:]) - high_band_db(x[:len(x) - lat])


def test_clean_fullband_speech_keeps_its_band_above_8khz_within_1db():
    assert abs(_high_band_change_db("clean_freesound_33711.wav")) <= 1.0


def test_fullband_noise_loses_its_band_above_8khz():
    assert _high_band_change_db("noise_freesound_573577.wav") <= -15.0


def test_high_band_energy_reads_only_above_8khz():
    t = np.arange(48000) / 48000
    assert high_band_db(np.sin(2 * np.pi * 10000 * t)) == pytest.approx(-3.01, abs=0.01)
    assert high_band_db(np.sin(2 * np.pi * 7000 * t)) < -100
