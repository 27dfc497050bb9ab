"""`edge run --reference`: the echo canceller in the live hop, through REAL ALSA file PCMs
(the reference is a third, non-blocking capture PCM): a room's echo of far-end speech comes
out measurably lower than without it; a reference that falls behind or fails never stops the
audio; bad references are refused in one line."""
import json
import os

import numpy as np
import pytest

alsaaudio = pytest.importorskip("alsaaudio")

from edge.audio import pcm  # noqa: E402
from edge.data.audio import load  # noqa: E402
from edge.errors import EdgeError  # noqa: E402
from edge.eval import echo  # noqa: E402
from edge.supervisor.echo import LiveCanceller  # noqa: E402
from test_aec import FAR, NEAR, ROOM  # noqa: E402
from test_audio_alsa import edge_cli, played, write_capture  # noqa: E402

R = echo.RATE
HOP = R // 100
pytestmark = pytest.mark.usefixtures("canceller_built")


@pytest.fixture(scope="module")
def scene():
    s = echo.build_scene(load(FAR), load(NEAR), load(ROOM), delay_ms=30, far_only_s=4,
                         near_only_s=0.5, double_talk_s=0.5)
    n = len(s.mic) // HOP * HOP
    return s.mic[:n], s.far[:n]


def _run(alsa_dir, mic, *args):
    p = edge_cli("--capture", "edge_cap", "--playback", "edge_play", "--duration",
                 str(len(mic) / R), "--no-realtime", *args)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    return json.loads(out), played(alsa_dir)[2 * HOP:, 0].astype(np.float64) / 32768


def _far_only_db(x):
    s = slice(2 * R, 4 * R)          # far end alone, 2 s after it starts: the canceller has converged
    return 10 * np.log10(np.mean(x[s] ** 2))


@pytest.mark.parametrize("wait", [(), ("--kernel-wait", "2000")], ids=["inline", "guarded"])
def test_edge_run_with_a_reference_plays_measurably_less_echo(alsa_dir, scene, wait):
    mic, far = scene
    write_capture(alsa_dir, mic)
    _, plain = _run(alsa_dir, mic, *wait)
    write_capture(alsa_dir, mic)
    (alsa_dir / "reference.raw").write_bytes(pcm.to_bytes(far))
    result, out = _run(alsa_dir, mic, "--reference", "edge_ref", *wait)
    hops = len(mic) // HOP
    assert result["frames"] == hops and len(out) == len(mic)
    e = result["echo"]
    # Every hop had its reference (a file PCM never runs late) and nothing failed.
    assert e["cancelled_frames"] == hops and e["reference_late"] == 0 and not e["reference_lost"]
    assert result["split_us"]["canceller"] > 0
    # Measured with the shipped model: 16.6 dB less far-end-only output than the kernel alone
    # (which takes out 0.7 dB: the echo is speech).
    assert _far_only_db(plain) - _far_only_db(out) > 8


class Flaky:
    """A reference that has no period at the hops in `late` and fails at hop `fails`."""

    def __init__(self, far, late=(), fails=None):
        self.far, self.late, self.fails, self.hop, self.overruns = far, set(late), fails, -1, 0
        self.closed = False

    def read(self):
        self.hop += 1
        if self.hop == self.fails:
            raise EdgeError("reference device 'x' failed while running (gone)")
        if self.hop in self.late:
            return None
        return pcm.to_bytes(self.far[self.hop * HOP:(self.hop + 1) * HOP])

    def close(self):
        self.closed = True


def test_a_reference_that_is_late_or_fails_leaves_the_audio_flowing_uncancelled(scene):
    from edge.aec import Canceller

    mic, far = scene
    ref = Flaky(far, late={3, 4}, fails=10)
    live = LiveCanceller(Canceller(R, HOP), ref, (1, 0, None))
    periods = [pcm.to_bytes(mic[i * HOP:(i + 1) * HOP]) for i in range(20)]
    out = [live.run(p) for p in periods]
    assert all(len(o) == len(p) for o, p in zip(out, periods))
    # Late and lost hops go to the kernel as captured; the rest went through the canceller.
    assert [i for i in range(20) if out[i] is periods[i]] == [3, 4, *range(10, 20)]
    assert live.stats() == {"cancelled_frames": 8, "reference_late": 2, "reference_overruns": 0,
                            "reference_lost": True,
                            "reference_error": "reference device 'x' failed while running (gone)"}
    assert ref.closed and ref.hop == 10          # not read again once it failed
    live.close()


def test_the_canceller_changes_only_the_captured_channel(scene):
    from edge.aec import Canceller

    mic, far = scene
    hop = slice(R, R + HOP)
    period = pcm.to_bytes(mic[hop], 2, 1)
    other = np.frombuffer(period, "<i2").reshape(-1, 2).copy()
    other[:, 0] = 1234
    live = LiveCanceller(Canceller(R, HOP), Flaky(far[hop]), (2, 1, None))
    out = np.frombuffer(live.run(other.tobytes()), "<i2").reshape(-1, 2)
    assert (out[:, 0] == 1234).all() and out[:, 1].any()
    live.close()


@pytest.mark.parametrize("args, says", [
    (["--reference", "no_such_pcm"], "edge run: reference device 'no_such_pcm' cannot be opened"),
    (["--reference", "edge_stereo_only"],
     "edge run: reference device 'edge_stereo_only' does not support 1 channel(s) (got 2)"),
    (["--reference", "edge_44k_only"],
     "edge run: reference device 'edge_44k_only' does not take 1 channel(s), S16_LE, 48000 Hz, "
     "480-frame periods (Invalid argument"),
])
def test_a_bad_reference_device_exits_2_with_one_line(alsa_dir, args, says):
    write_capture(alsa_dir, np.zeros(10 * HOP, np.float32))
    p = edge_cli("--capture", "edge_cap", "--playback", "edge_play", "--duration", "0.1",
                 "--no-realtime", *args)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(says), err


def test_reference_without_the_canceller_built_in_is_one_line(alsa_dir, tmp_path):
    p = edge_cli("--capture", "edge_cap", "--playback", "edge_play", "--duration", "0.1",
                 "--no-realtime", "--reference", "edge_ref",
                 env={**os.environ, "PERCEPNET_AEC_LIB": str(tmp_path / "none.so")})
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2
    assert err.count("\n") == 1 and err.startswith("edge run: the echo canceller is not built in"), err


def test_edge_bench_times_the_canceller_beside_the_kernel():
    from edge.bench.models import bench_models

    r = bench_models(seconds=1.0, configs=("small",))
    c = r["echo_canceller"]
    assert c["hops"] == 50 and 0 < c["hop_us"]["p50"] <= c["hop_us"]["p99"]


def test_edge_bench_says_why_there_is_no_canceller_figure(monkeypatch, tmp_path):
    from edge import aec
    from edge.bench.models import bench_models

    monkeypatch.setenv("PERCEPNET_AEC_LIB", str(tmp_path / "none.so"))
    aec.lib.cache_clear()
    try:
        r = bench_models(seconds=1.0, configs=("small",))
    finally:
        aec.lib.cache_clear()
    assert r["echo_canceller"]["unavailable"].startswith("the echo canceller is not built in")


def test_the_cancellers_figures_reach_prometheus_and_the_live_line():
    from edge.telemetry import sinks

    record = {"frames": 100, "split_us": {"canceller": 150.0},
              "echo": {"cancelled_frames": 97, "reference_late": 3, "reference_overruns": 0,
                       "reference_lost": True, "reference_error": "gone"}}
    text = sinks.prometheus_text(record)
    assert "edge_echo_cancelled_frames_total 97.0" in text and "edge_echo_reference_late_total 3.0" in text
    assert "edge_echo_reference_lost 1.0" in text and "edge_echo_canceller_seconds 0.00015" in text
    assert "aec 150 us late 3 REFERENCE LOST" in sinks.live_line(record)
