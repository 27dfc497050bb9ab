"""--atten-lim DB: the shipped model on noise alone removes at most DB dB in any band, 0 is the
same as no limit, and a negative or NaN limit is refused with one line and exit 2 by
`edge denoise` and `edge run` (before any device is opened)."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge import denoise
from edge.errors import EdgeError
from edge.wavio import read_wav, write_wav
from native_build import build

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", autouse=True)
def host_library():
    build("host")


def edge(*args):
    return subprocess.run([sys.executable, "-m", "edge.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def _noise(seconds=2.0, seed=1):
    """Pink-ish noise (white, then a one-pole low-pass mixed in): energy in every band."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(int(48000 * seconds))
    lp = np.zeros_like(w)
    for i in range(1, len(w)):
        lp[i] = 0.98 * lp[i - 1] + 0.02 * w[i]
    return (0.03 * w + 0.5 * lp).astype(np.float32)


def _octave_gains_db(x, y):
    """Output over input energy in octave bands from 100 Hz to 19.2 kHz, dB (first 0.1 s dropped)."""
    X, Y = (np.abs(np.fft.rfft(s[4800:])) ** 2 for s in (x, y))
    hz = np.fft.rfftfreq(len(x) - 4800, 1 / 48000)
    edges = 100 * 2.0 ** np.arange(8)
    return np.array([10 * np.log10(Y[(hz >= lo) & (hz < 2 * lo)].sum() / X[(hz >= lo) & (hz < 2 * lo)].sum())
                     for lo in edges])


def test_a_6_db_limit_keeps_noise_within_6_db_in_every_band(tmp_path):
    x = _noise()
    write_wav(tmp_path / "noise.wav", x)
    free = denoise.denoise(read_wav(tmp_path / "noise.wav"))
    assert _octave_gains_db(x, free).max() < -12     # without a limit the model removes more
    r = edge("denoise", tmp_path / "noise.wav", tmp_path / "out.wav", "--atten-lim", 6)
    assert r.returncode == 0, r.stderr
    g = _octave_gains_db(read_wav(tmp_path / "noise.wav"), read_wav(tmp_path / "out.wav"))
    assert np.all(g > -6.5) and np.all(g < -5.0), g


def test_a_zero_limit_is_no_limit():
    x = _noise(1.0, seed=2)
    assert np.array_equal(denoise.denoise(x, atten_lim=0), denoise.denoise(x))


def test_the_oracle_respects_the_limit_too():
    x = _noise(1.0, seed=3)
    y = denoise.denoise_oracle(x, np.zeros_like(x), atten_lim=10)   # clean is silence: gains 0
    assert np.all(np.abs(_octave_gains_db(x, y) + 10) < 0.5)


@pytest.mark.parametrize("bad", [-3.0, float("nan")])
def test_library_refuses_a_bad_limit(bad):
    with pytest.raises(EdgeError, match="attenuation limit must be 0"):
        denoise.denoise(_noise(0.1), atten_lim=bad)


@pytest.mark.parametrize("bad", ["-3", "nan"])
def test_denoise_cli_refuses_a_bad_limit_in_one_line(tmp_path, bad):
    write_wav(tmp_path / "noise.wav", _noise(0.1))
    r = edge("denoise", tmp_path / "noise.wav", tmp_path / "out.wav", f"--atten-lim={bad}")
    assert r.returncode == 2
    assert "attenuation limit must be 0" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.wav").exists()


def test_run_cli_refuses_a_bad_limit_before_opening_devices():
    r = edge("run", "--capture", "no-such-pcm", "--playback", "no-such-pcm", "--duration", "1",
             "--no-realtime", "--atten-lim=-1")
    assert r.returncode == 2
    assert "attenuation limit must be 0" in r.stderr and len(r.stderr.strip().splitlines()) == 1
