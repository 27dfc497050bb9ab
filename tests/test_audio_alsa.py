"""The whole loop through REAL ALSA PCMs with no sound card (file plugin over the null PCM,
real pyalsaaudio): the output equals what the kernel produces offline; bad devices give a
clear error; a device that vanishes ends the run cleanly; `edge run` end to end."""
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest

alsaaudio = pytest.importorskip("alsaaudio")

from edge.audio import pcm  # noqa: E402
from edge.audio.alsa import AlsaDuplex, AudioConfig, AudioDeviceError, open_pcm  # noqa: E402
from edge.kernel import Kernel  # noqa: E402
from edge.models import shipped  # noqa: E402
from edge.supervisor.service import run_service  # noqa: E402
from edge.wavio import read_wav  # noqa: E402
from hop_reference import Reference, S16Hop  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
HOP = 480
PATIENT = 2_000_000_000     # kernel wait where a test pins exact output, not timing
# The loop's hop paths: pn_hop_run on the audio thread (the default), on a guard thread, and the
# numpy reference of it (tests/hop_reference.py) on the audio thread.
PATHS = {"inline": ({}, lambda k: k), "guarded": ({"hang_ns": PATIENT}, lambda k: k),
         "reference": ({}, Reference)}


def run_path(path, kernel, io, **kw):
    args, wrap = PATHS[path]
    return run_service(wrap(kernel), io, **args, **kw)


def noisy(hops: int) -> np.ndarray:
    x = read_wav(ROOT / "examples/noisy.wav")
    return np.resize(x, hops * HOP).astype(np.float32)


def write_capture(d: Path, x: np.ndarray, channels=1, channel=0) -> None:
    (d / "playback.raw").unlink(missing_ok=True)
    (d / "capture.raw").write_bytes(pcm.to_bytes(x, channels, channel))


def offline(x: np.ndarray, model=None) -> np.ndarray:
    """The kernel on the same hops, no ALSA: what the device must have played."""
    with Kernel(model) as k:
        return np.concatenate([k.process(h) for h in x.reshape(-1, HOP)])


def played(d: Path, channels=1) -> np.ndarray:
    return np.frombuffer((d / "playback.raw").read_bytes(), "<i2").reshape(-1, channels)


@pytest.mark.parametrize("path", PATHS)
def test_file_pcms_round_trip_the_kernel_output_bit_exactly(alsa_dir, path):
    hops = 200
    x = noisy(hops)
    write_capture(alsa_dir, x)
    io = AlsaDuplex(AudioConfig("edge_cap", "edge_play"))
    with Kernel() as k:
        result = run_path(path, k, io, frames=hops, rt=False)
    io.close()
    out = played(alsa_dir)[:, 0]
    assert out.size == io.prefill + hops * HOP
    assert not out[:io.prefill].any()                      # the silence queued ahead
    np.testing.assert_array_equal(out[io.prefill:], pcm.to_s16(offline(x)))
    assert result["frames"] == hops and result["kernel_errors"] == 0
    assert result["frame_us"]["p50"] > 0


class Faulty:
    """The real kernel with injected faults, through the reference hop: calls in `fail` raise,
    calls in `slow` overrun the 10 ms deadline."""
    def __init__(self, kernel, fail=(), slow=()):
        self.k, self.fail, self.slow, self.calls = kernel, set(fail), set(slow), 0
        self.latency, self.hop = kernel.latency, kernel.hop

    def hop_runner(self, *layout):
        return S16Hop(self.process, self.latency, self.hop, layout)

    def process(self, hop):
        i = self.calls
        self.calls += 1
        if i in self.fail:
            raise RuntimeError("injected kernel failure")
        if i in self.slow:
            time.sleep(0.012)
        return self.k.process(hop)


def test_bypass_keeps_audio_flowing_through_alsa_when_kernel_fails_or_overruns(alsa_dir):
    hops = 120
    x = noisy(hops)
    write_capture(alsa_dir, x)
    io = AlsaDuplex(AudioConfig("edge_cap", "edge_play"))
    with Kernel() as k:
        result = run_service(Faulty(k, fail={20}, slow={60, 61, 62}), io, frames=hops, rt=False,
                             cooldown=10, hang_ns=PATIENT)
    io.close()
    assert result["kernel_errors"] == 1 and result["deadline_misses"] >= 3
    assert result["bypass_entries"] == 2 and result["frames"] == hops
    out = played(alsa_dir)[io.prefill:, 0].reshape(-1, HOP)
    assert out.shape[0] == hops
    np.testing.assert_array_equal(out[:20].ravel(), pcm.to_s16(offline(x[:20 * HOP])))
    # The failing hop, the cooldown and the priming hops play the input delayed by the
    # kernel latency.
    dry = pcm.to_s16(np.concatenate((np.zeros(k.latency, np.float32), x))[:x.size]).reshape(-1, HOP)
    np.testing.assert_array_equal(out[20:35], dry[20:35])
    speech = np.abs(x.reshape(-1, HOP)).max(axis=1) > 0.01
    delayed_speech = np.concatenate(([False] * 3, speech[:-3]))
    assert np.all(np.abs(out[delayed_speech]).max(axis=1) > 0)      # never silence


def test_every_path_plays_the_same_through_alsa_across_bypass(alsa_dir):
    """Two overruns (on the loop's clock) bypass the shipped model; it is primed and faded
    back in. Every hop path plays the same bytes through real PCMs."""
    from test_hop_paths import HopClock
    hops = 80
    x = noisy(hops)
    played_by = {}
    for path in PATHS:
        write_capture(alsa_dir, x)
        io = AlsaDuplex(AudioConfig("edge_cap", "edge_play"))
        with Kernel(shipped()) as k:
            result = run_path(path, k, io, frames=hops, rt=False, clock=HopClock({20, 21}),
                              miss_limit=2, cooldown=10)
        io.close()
        assert result["bypass_entries"] == 1 and result["bypass_frames"] == 14
        played_by[path] = played(alsa_dir)[:, 0]
    np.testing.assert_array_equal(played_by["inline"], played_by["guarded"])
    np.testing.assert_array_equal(played_by["inline"], played_by["reference"])
    out = played_by["inline"][io.prefill:].reshape(-1, HOP)
    dry = pcm.to_s16(np.concatenate((np.zeros(k.latency, np.float32), x))[:x.size]).reshape(-1, HOP)
    np.testing.assert_array_equal(out[:20].ravel(), pcm.to_s16(offline(x[:20 * HOP], shipped())))
    np.testing.assert_array_equal(out[22:36], dry[22:36])


@pytest.mark.parametrize("path", PATHS)
def test_multichannel_capture_picks_one_channel_and_plays_to_one(alsa_dir, path):
    hops = 40
    x = noisy(hops)
    rng = np.random.default_rng(1)
    frames = np.zeros((x.size, 4), "<i2")
    frames[:, 2] = pcm.to_s16(x)                           # the voice on channel 2
    frames[:, [0, 1, 3]] = rng.integers(-2000, 2000, (x.size, 3))
    (alsa_dir / "capture.raw").write_bytes(frames.tobytes())
    (alsa_dir / "playback.raw").unlink(missing_ok=True)
    io = AlsaDuplex(AudioConfig("edge_cap", "edge_play", channels=4, capture_channel=2,
                                playback_channel=1))
    with Kernel() as k:
        run_path(path, k, io, frames=hops, rt=False)
    io.close()
    out = played(alsa_dir, 4)[io.prefill:]
    np.testing.assert_array_equal(out[:, 1], pcm.to_s16(offline(x)))
    assert not out[:, [0, 2, 3]].any()


def test_playback_to_all_channels_copies_the_result():
    x = np.array([0.5, -0.25, 1.5], np.float32)
    b = np.frombuffer(pcm.to_bytes(x, 2), "<i2").reshape(-1, 2)
    np.testing.assert_array_equal(b[:, 0], b[:, 1])
    assert list(b[:, 0]) == [16384, -8192, 32767]          # clipped at full scale


def test_missing_device_is_a_clear_error(alsa_dir):
    with pytest.raises(AudioDeviceError, match=r"capture device 'no_such_pcm' cannot be opened"):
        open_pcm("capture", "no_such_pcm", 1, 3)


def test_device_without_s16le_is_refused_naming_what_it_offers(alsa_dir):
    with pytest.raises(AudioDeviceError) as e:
        open_pcm("playback", "edge_alaw_only", 1, 3)
    msg = str(e.value)
    assert "'edge_alaw_only' does not support S16_LE (got A_LAW)" in msg and "formats A_LAW" in msg


def test_capture_channel_outside_the_stream_is_refused():
    with pytest.raises(AudioDeviceError, match="capture channel 2 does not exist"):
        AudioConfig(channels=2, capture_channel=2).validate()


class Vanishing:
    """A real capture PCM that starts failing as an unplugged USB device does."""
    def __init__(self, dev, after):
        self.dev, self.after, self.reads = dev, after, 0

    def read(self):
        self.reads += 1
        if self.reads > self.after:
            raise alsaaudio.ALSAAudioError("No such device [edge_cap]")
        return self.dev.read()

    def __getattr__(self, name):
        return getattr(self.dev, name)


def test_device_that_disappears_gives_a_clear_error_and_final_telemetry(alsa_dir, tmp_path):
    from edge.supervisor.service import Outputs
    write_capture(alsa_dir, noisy(50))
    cap = Vanishing(open_pcm("capture", "edge_cap", 1, 3), after=20)
    io = AlsaDuplex(AudioConfig("edge_cap", "edge_play"), capture_pcm=cap)
    with Kernel() as k, pytest.raises(AudioDeviceError, match="'edge_cap' failed while running .*unplugged"):
        run_service(k, io, frames=None, rt=False, outputs=Outputs(jsonl=tmp_path / "t.jsonl"))
    io.close()
    last = json.loads((tmp_path / "t.jsonl").read_text().splitlines()[-1])
    assert last["final"] and last["frames"] == 20


class XrunOnce:
    """A real PCM that reports one xrun, as a late hop on a real card does: the at-th
    capture read returns -EPIPE, or the at-th playback state() says XRUN."""
    def __init__(self, dev, method, at):
        self.dev, self.method, self.at, self.calls = dev, method, at, 0

    def _xrun_now(self, method):
        if method != self.method:
            return False
        self.calls += 1
        return self.calls == self.at

    def read(self):
        return (-32, b"") if self._xrun_now("read") else self.dev.read()

    def state(self):
        return alsaaudio.PCM_STATE_XRUN if self._xrun_now("state") else self.dev.state()

    def __getattr__(self, name):
        return getattr(self.dev, name)


@pytest.mark.parametrize("path", ["inline", "guarded"])
def test_xruns_are_recovered_and_counted_without_losing_hops(alsa_dir, path):
    hops = 30
    x = noisy(hops)
    write_capture(alsa_dir, x)
    cap = XrunOnce(open_pcm("capture", "edge_cap", 1, 3), "read", at=5)
    play = XrunOnce(open_pcm("playback", "edge_play", 1, 3), "state", at=12)
    io = AlsaDuplex(AudioConfig("edge_cap", "edge_play"), capture_pcm=cap, playback_pcm=play)
    with Kernel() as k:
        result = run_path(path, k, io, frames=hops, rt=False)
    io.close()
    assert result["xruns"] == 2 and result["frames"] == hops
    assert (io.overruns, io.underruns) == (1, 1)   # each told apart: lost input, played silence
    out = played(alsa_dir)[:, 0]
    # The underrun re-queued the headroom silence once more; every hop still came out.
    assert out.size == 2 * io.prefill + hops * HOP


class Interrupted:
    """A real PCM whose calls are cut short as they are when SIGTERM lands while waiting:
    the first read raises EINTR, the next returns half a period; the first write raises
    EINTR, the next takes half the frames."""
    def __init__(self, dev):
        self.dev, self.stash, self.reads, self.writes = dev, b"", 0, 0

    def read(self):
        self.reads += 1
        if self.reads == 1:
            raise alsaaudio.ALSAAudioError("Interrupted system call [edge_cap]")
        if self.stash:
            data, self.stash = self.stash, b""
            return len(data) // 2, data
        n, data = self.dev.read()
        if self.reads == 2:
            data, self.stash = data[:480], data[480:]
        return len(data) // 2, data

    def write(self, data):
        self.writes += 1
        if self.writes == 2:
            raise alsaaudio.ALSAAudioError("Interrupted system call [edge_play]")
        if self.writes == 3:
            data = data[:len(data) // 2]
        return self.dev.write(data)

    def __getattr__(self, name):
        return getattr(self.dev, name)


@pytest.mark.parametrize("path", ["inline", "guarded"])
def test_reads_and_writes_cut_short_by_a_signal_lose_no_samples(alsa_dir, path):
    hops = 20
    x = noisy(hops)
    write_capture(alsa_dir, x)
    cap = Interrupted(open_pcm("capture", "edge_cap", 1, 3))
    play = Interrupted(open_pcm("playback", "edge_play", 1, 3))
    io = AlsaDuplex(AudioConfig("edge_cap", "edge_play"), capture_pcm=cap, playback_pcm=play)
    with Kernel() as k:
        result = run_path(path, k, io, frames=hops, rt=False)
    io.close()
    assert result["frames"] == hops and result["xruns"] == 0
    np.testing.assert_array_equal(played(alsa_dir)[io.prefill:, 0], pcm.to_s16(offline(x)))


def edge_cli(*args, **kw):
    """`edge run` in a child, which inherits the alsa_dir fixture's ALSA_CONFIG_PATH."""
    return subprocess.Popen([sys.executable, "-m", "edge.cli", "run", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


@pytest.mark.parametrize("wait", [(), ("--kernel-wait", "2000")], ids=["inline", "guarded"])
def test_edge_run_cli_through_file_pcms_matches_offline(alsa_dir, tmp_path, wait):
    x = noisy(150)
    write_capture(alsa_dir, x)
    p = edge_cli("--capture", "edge_cap", "--playback", "edge_play", "--duration", "1.5",
                 "--telemetry", str(tmp_path / "t.jsonl"), "--prometheus", str(tmp_path / "t.prom"),
                 "--no-realtime", *wait)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    result = json.loads(out)
    assert result["frames"] == 150 and result["final"]
    split = result["split_us"]     # per hop: the kernel timed in C, the threads' CPU time
    parts = [split[f"audio_thread_{k}"] for k in ("read", "step", "write")]
    assert split["kernel_c"] > 0 and min(parts) > 0
    if wait:                       # the guard thread's CPU is the process's, not the audio thread's
        assert split["process"] >= sum(parts)
    out = played(alsa_dir)[:, 0]
    assert out.size == 2 * HOP + x.size and not out[:2 * HOP].any()   # host board: 3 periods
    # `edge run` uses the shipped model when there is one: so does the reference.
    np.testing.assert_array_equal(out[2 * HOP:], pcm.to_s16(offline(x, shipped())))
    assert "edge_frames_total 150.0" in (tmp_path / "t.prom").read_text()


def test_edge_run_at_16_khz_opens_the_devices_at_16_khz_and_matches_offline(alsa_dir):
    hop = 160
    x = np.resize(read_wav(ROOT / "examples/noisy.wav")[::3], 150 * hop).astype(np.float32)
    write_capture(alsa_dir, x)
    p = edge_cli("--capture", "edge_cap", "--playback", "edge_play", "--duration", "1.5",
                 "--rate", "16000", "--no-realtime", "--kernel-wait", "2000")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert json.loads(out)["frames"] == 150
    out = played(alsa_dir)[:, 0]
    assert out.size == 2 * hop + x.size and not out[:2 * hop].any()    # 3 periods of 10 ms
    with Kernel(shipped(), rate=16000) as k:
        ref = np.concatenate([k.process(h) for h in x.reshape(-1, hop)])
    np.testing.assert_array_equal(out[2 * hop:], pcm.to_s16(ref))


@pytest.mark.parametrize("rate", ["22050", "96000"])
def test_edge_run_refuses_a_rate_the_kernel_does_not_take_in_one_line(alsa_dir, rate):
    p = edge_cli("--capture", "edge_cap", "--playback", "edge_play", "--duration", "1",
                 "--rate", rate, "--no-realtime")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2
    assert err.strip().splitlines() == [f"edge run: {rate} Hz is not a supported sample rate; "
                                        f"percepnet-edge takes 8000, 16000, 24000, 32000, 44100, 48000 Hz"]


def test_edge_run_without_duration_stops_cleanly_on_sigterm(alsa_dir, tmp_path):
    write_capture(alsa_dir, noisy(100))
    jsonl = tmp_path / "t.jsonl"
    p = edge_cli("--capture", "edge_cap", "--playback", "edge_play", "--telemetry",
                 str(jsonl), "--interval", "0.2", "--no-realtime")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (jsonl.exists() and jsonl.read_text()):
        time.sleep(0.1)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert rows[-1]["final"] and rows[-1]["frames"] >= rows[0]["frames"] > 0


def test_edge_run_missing_device_exits_2_with_one_line(alsa_dir):
    p = edge_cli("--capture", "no_such_pcm", "--playback", "edge_play", "--duration", "1",
                 "--no-realtime")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("edge run: capture device 'no_such_pcm' cannot be opened")


def test_a_pyalsaaudio_older_than_0_10_is_refused_in_one_line(monkeypatch):
    """Debian 12's python3-alsaaudio 0.8.4 (PCM(type, mode, device=) and the set* calls; no
    info(), state(), drop() or drain()) plays but cannot capture: it is refused, not used."""
    old = types.ModuleType("alsaaudio")
    old.__file__ = "/usr/lib/python3/dist-packages/alsaaudio.so"
    old.PCM = type("PCM", (), {"read": None, "write": None, "setrate": None, "close": None})
    monkeypatch.setitem(sys.modules, "alsaaudio", old)
    with pytest.raises(AudioDeviceError, match=r"pyalsaaudio at /usr/lib/python3/dist-packages/"
                                               r"alsaaudio.so is older than 0.10") as e:
        open_pcm("capture", "edge_cap", 1, 3)
    assert "\n" not in str(e.value)


class Hanging:
    """The real kernel, through the reference hop, whose call `at` blocks in a C call that does
    not return (read(2) on an empty pipe through ctypes, the GIL released as in the kernel's
    own calls) until let_go()."""
    def __init__(self, kernel, at):
        self.k, self.at, self.calls = kernel, at, 0
        self.latency, self.hop = kernel.latency, kernel.hop
        self._r, self._w = os.pipe()
        self._read = ctypes.CDLL(None, use_errno=True).read

    def hop_runner(self, *layout):
        return S16Hop(self.process, self.latency, self.hop, layout)

    def process(self, hop):
        i = self.calls
        self.calls += 1
        if i == self.at:
            self._read(self._r, ctypes.create_string_buffer(1), 1)
        return self.k.process(hop)

    def let_go(self):
        os.write(self._w, b"x")


def test_audio_keeps_flowing_through_alsa_when_a_kernel_call_never_returns(alsa_dir, tmp_path):
    from edge.supervisor.service import Outputs
    hops = 150
    x = noisy(hops)
    write_capture(alsa_dir, x)
    io = AlsaDuplex(AudioConfig("edge_cap", "edge_play"))
    k = Kernel()
    hanging = Hanging(k, at=20)
    released = threading.Event()

    def release():
        k.close()
        released.set()
    result = run_service(hanging, io, frames=hops, rt=False, hang_ns=100_000_000, release=release,
                         outputs=Outputs(jsonl=tmp_path / "t.jsonl", prometheus=tmp_path / "t.prom"))
    io.close()
    assert result["frames"] == hops and result["final"]
    assert result["kernel_hung"] == 1 and result["kernel_stuck"] and result["bypassing"]
    assert result["bypass_frames"] == hops - 21 and hanging.calls == 21
    assert not released.is_set()                  # not freed under the stuck call
    out = played(alsa_dir)[io.prefill:, 0].reshape(-1, HOP)
    assert out.shape[0] == hops                   # every hop came out
    np.testing.assert_array_equal(out[:20].ravel(), pcm.to_s16(offline(x[:20 * HOP])))
    # From the hop whose call hung: the input delayed by the kernel latency.
    dry = pcm.to_s16(np.concatenate((np.zeros(k.latency, np.float32), x))[:x.size]).reshape(-1, HOP)
    np.testing.assert_array_equal(out[20:], dry[20:])
    assert "edge_kernel_stuck 1" in (tmp_path / "t.prom").read_text()
    assert json.loads((tmp_path / "t.jsonl").read_text().splitlines()[-1])["kernel_hung"] == 1
    hanging.let_go()                              # if the call ever returns, the kernel is freed
    assert released.wait(5)
