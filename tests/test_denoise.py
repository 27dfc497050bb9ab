"""edge denoise and edge.denoise: outputs keep the input's length and alignment, the oracle
removes noise, and bad input is refused with one line and exit 2."""
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from edge import denoise, models
from edge.errors import EdgeError
from edge.wavio import read_wav, write_wav
from native_build import build
from shared_data import DEV

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module", autouse=True)
def host_library():
    build("host")


def edge(*args):
    return subprocess.run([sys.executable, "-m", "edge.cli", "denoise", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def _snr(ref, x):
    return 10 * np.log10(np.sum(ref ** 2) / np.sum((ref - x) ** 2))


def _pair():
    return read_wav(EXAMPLES / "noisy.wav"), read_wav(EXAMPLES / "clean.wav")


def test_oracle_of_clean_against_itself_returns_it_aligned():
    _, clean = _pair()
    y = denoise.denoise_oracle(clean, clean, "band+comb+postfilter")
    assert len(y) == len(clean)
    assert _snr(clean, y) > 40


@pytest.mark.parametrize("mode", list(denoise.ORACLE_MODES))
def test_oracle_raises_snr_over_noisy(mode):
    noisy, clean = _pair()
    n = min(len(noisy), len(clean))
    y = denoise.denoise_oracle(noisy[:n], clean[:n], mode)
    assert len(y) == n
    assert _snr(clean[:n], y) > _snr(clean[:n], noisy[:n]) + 3


def test_odd_length_input_keeps_its_length():
    x = np.random.default_rng(0).standard_normal(1234).astype(np.float32) * 0.1
    assert len(denoise.denoise_oracle(x, x, "band")) == 1234


def test_unknown_oracle_mode_is_refused():
    with pytest.raises(EdgeError, match="oracle mode"):
        denoise.denoise_oracle(np.zeros(960, np.float32), np.zeros(960, np.float32), "comb-only")


def test_cli_offers_exactly_the_library_oracle_modes():
    # The CLI keeps its own tuple so that parsing does not import numpy; eval reuses it.
    from edge.commands import denoise as cli, eval as cli_eval
    assert cli.ORACLE_MODES == tuple(denoise.ORACLE_MODES) == cli_eval.ORACLE_MODES


def test_without_a_shipped_model_denoise_says_pass_model(monkeypatch, tmp_path):
    monkeypatch.setattr(models, "MODELS_DIR", tmp_path)
    with pytest.raises(EdgeError, match="no shipped model yet: pass --model"):
        denoise.denoise(np.zeros(960, np.float32))


def test_cli_oracle_writes_an_enhanced_file_of_the_same_length(tmp_path):
    noisy, clean = _pair()
    n = min(len(noisy), len(clean), 48000 * 2)
    write_wav(tmp_path / "n.wav", noisy[:n])
    write_wav(tmp_path / "c.wav", clean[:n])
    r = edge(tmp_path / "n.wav", tmp_path / "out.wav", "--oracle", tmp_path / "c.wav", "--oracle-mode", "band+comb")
    assert r.returncode == 0, r.stderr
    y = read_wav(tmp_path / "out.wav")
    assert len(y) == n
    assert _snr(clean[:n], y) > _snr(clean[:n], noisy[:n])


def _wav(path, rate=48000, channels=1, frames=480):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0\0" * channels * frames)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda p: _wav(p, frames=0), "no audio"),
    (lambda p: (p.write_bytes(b"not a wav at all"), p)[1], "not an audio file libsndfile reads"),
    (lambda p: p, "no such file"),
    (lambda p: (p.mkdir(), p)[1], "is a directory"),
])
def test_cli_refuses_bad_input_in_one_line(tmp_path, make, message):
    src = make(tmp_path / "in.wav")
    r = edge(src, tmp_path / "out.wav", "--oracle", _wav(tmp_path / "clean.wav"))
    assert r.returncode == 2
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.wav").exists()


def test_cli_refuses_oracle_of_another_length(tmp_path):
    r = edge(_wav(tmp_path / "n.wav", frames=960), tmp_path / "out.wav", "--oracle", _wav(tmp_path / "c.wav"))
    assert r.returncode == 2 and "differ in length" in r.stderr


def test_cli_with_a_missing_model_file_says_so(tmp_path):
    r = edge(_wav(tmp_path / "n.wav"), tmp_path / "out.wav", "--model", tmp_path / "none.pnw")
    assert r.returncode == 2 and "none.pnw" in r.stderr


@pytest.mark.skipif(not DEV.is_dir(), reason="development set not on this machine")
def test_band_oracle_improves_a_dev_file():
    name = sorted(p.name for p in (DEV / "clean").glob("*.wav"))[0]
    clean, noisy = read_wav(DEV / "clean" / name), read_wav(DEV / "noisy" / name)
    y = denoise.denoise_oracle(noisy, clean, "band")
    assert _snr(clean, y) > _snr(clean, noisy)


FIXTURES = ROOT / "tests" / "fixtures" / "models"


def test_native_and_tflite_backends_give_the_same_audio():
    x = _pair()[0][: 48000 * 2]
    a = denoise.denoise(x, model=FIXTURES / "tiny.pnw", backend="native")
    b = denoise.denoise(x, model=FIXTURES / "tiny.tflite", backend="tflite")
    assert len(a) == len(b) == len(x)
    assert _snr(b, a) > 15  # int8 engine vs interpreter: small differences only
    assert np.std(a) < 0.9 * np.std(x)  # the network attenuates something


def test_cli_denoises_with_a_model_file(tmp_path):
    x = _pair()[0][:48000]
    write_wav(tmp_path / "n.wav", x)
    r = edge(tmp_path / "n.wav", tmp_path / "out.wav", "--model", FIXTURES / "tiny.pnw")
    assert r.returncode == 0, r.stderr
    assert len(read_wav(tmp_path / "out.wav")) == len(x)


def _truncated(path, cut_bytes):
    """A wav whose data chunk ends `cut_bytes` before the length its header gives."""
    _wav(path, frames=4800)
    path.write_bytes(path.read_bytes()[:-cut_bytes])
    return path


@pytest.mark.parametrize("cut", [1, 960])      # odd: half a sample; even: 480 whole frames
def test_cli_refuses_a_wav_truncated_inside_its_data_chunk(tmp_path, cut):
    src = _truncated(tmp_path / "in.wav", cut)
    r = edge(src, tmp_path / "out.wav", "--oracle", src)
    assert r.returncode == 2, r.stderr
    assert "truncated inside its data chunk" in r.stderr and "--allow-truncated" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "out.wav").exists()


@pytest.mark.parametrize("cut,frames", [(1, 4799), (960, 4320)])
def test_allow_truncated_enhances_the_whole_frames_with_a_warning(tmp_path, cut, frames):
    src = _truncated(tmp_path / "in.wav", cut)
    r = edge(src, tmp_path / "out.wav", "--oracle", src, "--allow-truncated")
    assert r.returncode == 0, r.stderr
    assert "warning" in r.stderr and f"holds {frames}" in r.stderr
    assert len(read_wav(tmp_path / "out.wav")) == frames


@pytest.mark.parametrize("out, message", [
    (lambda d: d / "missing" / "out.wav", "does not exist"),
    (lambda d: d, "is a directory"),
])
def test_cli_refuses_an_output_path_it_cannot_write_before_working(tmp_path, out, message):
    r = edge(_wav(tmp_path / "n.wav"), out(tmp_path), "--oracle", _wav(tmp_path / "c.wav"))
    assert r.returncode == 2 and message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
