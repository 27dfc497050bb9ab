"""libpercepnet_ladspa.so through real LADSPA hosts: applyplugin (ladspa-sdk) and sox's `ladspa`
effect give `edge denoise`'s output, delayed by the latency the plugin reports (applyplugin) or
compensated by the host (sox -l), within one LSB; bypass gives the input back; other rates are
refused; the model comes from $PERCEPNET_MODEL or beside the library. ladspa_check drives the
plugin of every board (under qemu for ARM) and under ASan: any block size, bypass, no
allocation in run()."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly

from edge.kernel import latency_samples
from edge.native import HOP
from edge.wavio import read_wav, write_wav
from native_build import ARM_BOARDS, ROOT, build, run_program

LADSPA_H = Path("/usr/include/ladspa.h")
FIXTURES = ROOT / "tests" / "fixtures" / "models"
LSB = 1 / 32768

pytestmark = pytest.mark.skipif(not LADSPA_H.is_file(), reason="ladspa.h missing (apt-get install ladspa-sdk)")


def _plugin(board="host") -> Path:
    return build(board) / "libpercepnet_ladspa.so"


def _host(*cmd, **env):
    """Runs a LADSPA host (applyplugin, sox) with the plugin's model from `env` only."""
    if shutil.which(cmd[0]) is None:
        pytest.skip(f"{cmd[0]} not installed")
    clean = {k: v for k, v in os.environ.items() if k != "PERCEPNET_MODEL"}
    return subprocess.run(list(map(str, cmd)), capture_output=True, text=True, timeout=120,
                          env={**clean, **env})


def _edge_denoise(src, dst, *args, rate=48000):
    r = subprocess.run([sys.executable, "-m", "edge.cli", "denoise", str(src), str(dst), *args],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    return read_wav(dst, rate)


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    path = tmp_path_factory.mktemp("ladspa") / "noisy.wav"
    write_wav(path, read_wav(ROOT / "examples" / "noisy.wav")[: 48000 * 3])
    return path


@pytest.mark.parametrize("atten", ["0", "6"])
def test_applyplugin_gives_edge_denoise_delayed_by_the_latency(noisy, tmp_path, atten):
    r = _host("applyplugin", "-s1", noisy, tmp_path / "p.wav", _plugin(), "percepnet_mono", atten, "0")
    assert r.returncode == 0, r.stderr
    ref = _edge_denoise(noisy, tmp_path / "e.wav", "--atten-lim", atten)
    delay = HOP + latency_samples()
    y = read_wav(tmp_path / "p.wav")[delay: delay + len(ref)]
    assert len(y) == len(ref)
    assert np.abs(y - ref).max() <= LSB * 1.001
    assert np.abs(ref).max() > 1000 * LSB     # it is not comparing silences


def test_sox_compensates_the_latency_port_and_any_block_size_gives_the_same(noisy, tmp_path):
    # a 2000-byte buffer gives sox blocks of 500 samples, not a multiple of the 480-sample hop
    r = _host("sox", "--buffer", "2000", noisy, tmp_path / "s.wav",
              "ladspa", "-l", _plugin(), "percepnet_mono", "6", "0")
    assert r.returncode == 0, r.stderr
    ref = _edge_denoise(noisy, tmp_path / "e.wav", "--atten-lim", "6")
    y = read_wav(tmp_path / "s.wav")
    assert len(y) == len(ref)
    assert np.abs(y - ref).max() <= LSB * 1.001


def test_sox_at_16_khz_gives_edge_denoise_at_16_khz(noisy, tmp_path):
    write_wav(tmp_path / "n16.wav", resample_poly(read_wav(noisy), 1, 3), 16000)
    r = _host("sox", "--buffer", "2000", tmp_path / "n16.wav", tmp_path / "s.wav",
              "ladspa", "-l", _plugin(), "percepnet_mono", "0", "0")
    assert r.returncode == 0, r.stderr
    ref = _edge_denoise(tmp_path / "n16.wav", tmp_path / "e.wav", rate=16000)
    y = read_wav(tmp_path / "s.wav", 16000)
    assert len(y) == len(ref)
    assert np.abs(y - ref).max() <= LSB * 1.001
    assert np.abs(ref).max() > 1000 * LSB


def test_bypass_gives_the_input_delayed_by_the_same_latency(noisy, tmp_path):
    r = _host("applyplugin", "-s1", noisy, tmp_path / "b.wav", _plugin(), "percepnet_mono", "0", "1")
    assert r.returncode == 0, r.stderr
    x = read_wav(noisy)
    delay = HOP + latency_samples()
    y = read_wav(tmp_path / "b.wav")
    assert np.array_equal(y[delay: delay + len(x)], x)
    assert not np.any(y[:delay])


def test_a_rate_the_kernel_does_not_take_is_refused_with_a_reason(tmp_path):
    write_wav(tmp_path / "n22.wav", np.zeros(22050, np.float32), rate=22050)
    r = _host("sox", tmp_path / "n22.wav", tmp_path / "o.wav", "ladspa", "-l", _plugin(), "percepnet_mono", "0", "0")
    assert r.returncode != 0
    assert "22050 Hz: sample rate not supported" in r.stderr


def test_model_from_the_environment_or_beside_the_library(noisy, tmp_path):
    alone = tmp_path / "libpercepnet_ladspa.so"      # no percepnet.pnw beside this copy
    shutil.copy(_plugin(), alone)
    cmd = ["applyplugin", noisy, tmp_path / "p.wav", alone, "percepnet_mono", "0", "0"]
    r = _host(*cmd)
    assert r.returncode != 0
    assert f"{tmp_path}/percepnet.pnw" in r.stderr
    tiny = FIXTURES / "tiny.pnw"
    r = _host(*cmd, PERCEPNET_MODEL=str(tiny))
    assert r.returncode == 0, r.stderr
    ref = _edge_denoise(noisy, tmp_path / "e.wav", "--model", str(tiny))
    delay = HOP + latency_samples()
    y = read_wav(tmp_path / "p.wav")
    assert np.abs(y[delay:] - ref[: len(y) - delay]).max() <= LSB * 1.001


def test_plugin_exports_its_descriptor_only_and_calls_no_lock():
    syms = subprocess.run(["nm", "-D", str(_plugin())], capture_output=True, text=True, check=True).stdout
    defined = {line.split()[-1] for line in syms.splitlines() if " T " in line}
    assert defined == {"ladspa_descriptor"}
    assert not [s for s in syms.split() if s.startswith(("pthread_", "sem_", "mtx_", "futex"))]


@pytest.mark.parametrize("board", ["host"] + ARM_BOARDS)
def test_each_boards_plugin_passes_the_c_drive(board):
    variant = build(board)
    r = run_program(board, variant / "tests" / "ladspa_check", str(variant / "libpercepnet_ladspa.so"),
                    str(variant / "percepnet.pnw"))
    assert r.returncode == 0, f"{board}: {r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    assert f"latency {HOP + latency_samples()} samples" in r.stdout and "run() allocated nothing" in r.stdout
    assert f"16000 Hz: latency {160 + latency_samples(16000)} samples" in r.stdout


def test_plugin_is_clean_under_asan():
    variant = build("host", asan=True)
    r = run_program("host", variant / "tests" / "ladspa_check", str(variant / "libpercepnet_ladspa.so"),
                    str(variant / "percepnet.pnw"))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
