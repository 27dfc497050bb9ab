"""The kernel at the other rates it takes (8 to 44.1 kHz, converted to 48 kHz and back inside
it): hop and latency at the caller's rate, the latency exact (a band-limited signal comes back
delayed by it), `edge denoise` keeps a 16 kHz file's rate and length and removes its noise, and
the kernel refuses rates it does not take (edge denoise resamples those: test_denoise_files)."""
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly

from edge import denoise
from edge.kernel import Kernel, hop_samples, latency_samples
from edge.cli import main
from edge.native import NativeError, fn, rates, rates_text
from edge.wavio import read_wav, read_wav_rate, write_wav
from native_build import build
from test_denoise import _wav, edge

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FIXTURES = ROOT / "tests" / "fixtures" / "models"
ADDED = 32          # the conversions' delay, samples at the caller's rate (2 ms at 16 kHz)


@pytest.fixture(scope="module", autouse=True)
def host_library():
    build("host")


def test_hop_and_latency_are_given_at_the_callers_rate():
    assert [hop_samples(r) for r in rates()] == [r // 100 for r in rates()]
    assert latency_samples(48000) == 1440                       # not converted: no added delay
    assert latency_samples(16000) == 480 + ADDED and ADDED / 16000 <= 0.002
    assert latency_samples(44100) == 1323 + ADDED


@pytest.mark.parametrize("rate", [22050, 96000, 0, -16000])
def test_a_rate_the_kernel_does_not_take_is_refused(rate):
    assert fn("pn_hop_samples")(rate) == fn("pn_latency_samples")(rate) == -11    # PN_ERR_RATE
    with pytest.raises(NativeError, match=f"{rate} Hz is not a supported sample rate; .*16000"):
        Kernel(rate=rate)


def test_the_reported_latency_is_exact_at_each_rate():
    for rate in rates():
        if rate != 48000:
            _check_latency(rate)


def _check_latency(rate):
    hop = hop_samples(rate)
    t = np.arange(rate) / rate
    x = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 0.3 * rate * t)).astype(np.float32)
    with Kernel(rate=rate) as k:     # no model: unit gains, the input delayed
        y = np.concatenate([k.process(h) for h in x.reshape(-1, hop)])
        d = k.latency
    assert d == latency_samples(rate)
    ref, got = x[rate // 4: rate - d], y[rate // 4 + d:]
    assert 10 * np.log10(np.sum((got - ref) ** 2) / np.sum(ref ** 2)) < -60, rate
    with Kernel(rate=rate) as k, pytest.raises(NativeError, match=f"a hop is {hop} samples at {rate} Hz"):
        k.process(np.zeros(480, np.float32))


def test_python_reads_exactly_the_rates_the_kernel_takes(capsys):
    """rates() is the library's pn_rates(): every rate pn_hop_samples takes up to 200 kHz and no
    other, the ones PN_ERR_RATE's message lists, and the ones the help texts name."""
    taken = tuple(r for r in range(-1, 200_001) if fn("pn_hop_samples")(r) > 0)
    assert rates() == taken and 16000 in taken and 48000 in taken
    assert f"({', '.join(map(str, taken))} Hz)" in fn("pn_strerror")(-11).decode()
    for cmd in ("denoise", "run", "install-pipewire"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        assert rates_text() in " ".join(capsys.readouterr().out.split()), cmd


def _pair16():
    x, c = read_wav(EXAMPLES / "noisy.wav"), read_wav(EXAMPLES / "clean.wav")
    n = min(len(x), len(c))
    return (resample_poly(s[:n], 1, 3).astype(np.float32) for s in (x, c))


def _frame_db(s, mask):
    m = len(mask) * 160
    e = (s[:m].reshape(-1, 160) ** 2).mean(1)
    return 10 * np.log10(e[mask].mean())


def test_edge_denoise_keeps_a_16_khz_files_rate_and_length_and_removes_noise(tmp_path):
    noisy, clean = _pair16()
    write_wav(tmp_path / "n16.wav", noisy, 16000)
    r = edge(tmp_path / "n16.wav", tmp_path / "out.wav")
    assert r.returncode == 0, r.stderr
    y, rate = read_wav_rate(tmp_path / "out.wav")
    x = read_wav(tmp_path / "n16.wav", 16000)
    assert rate == 16000 and len(y) == len(x)
    e = (clean[: len(clean) // 160 * 160].reshape(-1, 160) ** 2).mean(1)
    pauses, speech = e < e.max() * 1e-4, e > e.max() * 1e-2
    assert pauses.sum() > 10 and speech.sum() > 100
    assert _frame_db(y, pauses) < _frame_db(x, pauses) - 10      # the noise between words
    assert _frame_db(y, speech) > _frame_db(x, speech) - 6       # the speech stays


def _snr(ref, x):
    return 10 * np.log10(np.sum(ref ** 2) / np.sum((ref - x) ** 2))


def test_the_oracle_and_tflite_paths_run_at_16_khz_too():
    noisy, clean = _pair16()
    y = denoise.denoise_oracle(noisy, clean, rate=16000)
    assert len(y) == len(noisy) and _snr(clean, y) > _snr(clean, noisy) + 3
    x = noisy[:32000]
    a = denoise.denoise(x, model=FIXTURES / "tiny.pnw", backend="native", rate=16000)
    b = denoise.denoise(x, model=FIXTURES / "tiny.tflite", backend="tflite", rate=16000)
    assert len(a) == len(b) == len(x) and _snr(b, a) > 15


def test_edge_denoise_refuses_an_oracle_at_another_rate(tmp_path):
    r = edge(_wav(tmp_path / "n.wav", rate=16000), tmp_path / "out.wav", "--oracle", _wav(tmp_path / "c.wav"))
    assert r.returncode == 2
    assert "the clean reference is at 48000 Hz, " in r.stderr and "n.wav at 16000 Hz" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "out.wav").exists()
