"""The live loop's hop gives the same bytes inline (pn_hop_run on the audio thread, one C call),
guarded (pn_hop_run on the kernel thread, the delayed input from a second pn_hop in bypass on
the audio thread) and as its numpy reference (tests/hop_reference.py: the delay line,
Kernel.process, the crossfade, edge.audio.pcm's S16 conversions), through overrun, bypass,
priming and the crossfade back, at 48 and 16 kHz, with and without the shipped model,
saturating; the loop's policy picks the same modes on every path."""
from pathlib import Path

import numpy as np
import pytest

from edge.audio import pcm
from edge.kernel import Kernel
from edge.models import shipped
from edge.native import HOP_BYPASS, HOP_FADE, HOP_KERNEL, HOP_PRIME, NativeError
from edge.supervisor.loop import Supervisor
from edge.wavio import read_wav
from hop_reference import Reference

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PATIENT = 2_000_000_000
HOPS = 60
SLOW = {20, 21}              # two overruns in a row: bypass with miss_limit=2
COOLDOWN = 8


class HopClock:
    """Monotonic ns read twice per hop (its start and end): hops in `slow` take 15 ms, the
    others 0.1 ms, whichever path runs them."""
    def __init__(self, slow=()):
        self.slow, self.reads = set(slow), 0

    def __call__(self):
        hop, end = divmod(self.reads, 2)
        self.reads += 1
        return hop * 20_000_000 + end * (15_000_000 if hop in self.slow else 100_000)


class Periods:
    """AudioIO over S16_LE periods (frames: int16[n, channels]), as AlsaDuplex."""
    def __init__(self, frames: np.ndarray, hop: int, layout=(1, 0, None)):
        frames = frames.reshape(len(frames), -1)
        self.layout = layout
        self.channels, self._cap, self._play = layout
        self.periods = [frames[i:i + hop].tobytes() for i in range(0, len(frames) - hop + 1, hop)]
        self.out, self.xruns = [], 0

    def read_bytes(self):
        return self.periods[len(self.out)]

    def write_bytes(self, data):
        self.out.append(bytes(data))

    def played(self):
        return np.frombuffer(b"".join(self.out), "<i2").reshape(-1, self.channels)


def speech(hops: int, hop: int, gain: float = 1.0) -> np.ndarray:
    x = read_wav(EXAMPLES / "noisy.wav")
    if hop != 480:
        x = x[::480 // hop]
    return pcm.to_s16(np.clip(gain * np.resize(x, hops * hop), -1, 1).astype(np.float32))


PATHS = {"inline": ({}, lambda k: k), "guarded": ({"hang_ns": PATIENT}, lambda k: k),
         "reference": ({}, Reference)}


def every_path(model, rate, frames, layout=(1, 0, None), hops=HOPS):
    """{path: (io, stats)} for the same periods, and the kernel's latency and hop."""
    runs = {}
    for path, (kw, wrap) in PATHS.items():
        with Kernel(model, rate=rate) as k:
            io = Periods(frames, k.hop, layout)
            sup = Supervisor(wrap(k), io, clock=HopClock(SLOW), miss_limit=2, cooldown=COOLDOWN, **kw)
            sup.run(hops)
            sup.close()
            runs[path] = io, sup.stats()
            latency, hop = k.latency, k.hop
    return runs, latency, hop


def same_bytes(runs) -> np.ndarray:
    played = [io.played() for io, _ in runs.values()]
    for y in played[1:]:
        np.testing.assert_array_equal(y, played[0])
    return played[0]


@pytest.mark.parametrize("model,rate", [(None, 48000), ("shipped", 48000), ("shipped", 16000)])
def test_every_path_plays_the_same_bytes_through_bypass_and_crossfade(model, rate):
    model = shipped() if model == "shipped" else None
    frames = speech(HOPS, rate // 100)
    runs, latency, hop = every_path(model, rate, frames)
    for _, s in runs.values():
        assert s["deadline_misses"] == 2 and s["bypass_entries"] == 1 and s["frames"] == HOPS
    # What was played: the kernel, then the input delayed by its latency from the second miss
    # through cooldown and priming, one crossfaded hop, then the kernel again.
    y = same_bytes(runs)[:, 0].reshape(-1, hop)
    dry = np.concatenate((np.zeros(latency, np.int16), frames))[:frames.size].reshape(-1, hop)
    prime = -(-latency // hop) + 1
    assert runs["inline"][1]["bypass_frames"] == COOLDOWN + prime
    back = 22 + COOLDOWN + prime                    # the crossfaded hop
    np.testing.assert_array_equal(y[22:back], dry[22:back])
    if model is not None:               # (without a model the kernel plays the delayed input)
        assert y[back, 0] == dry[back, 0] and not np.array_equal(y[back], dry[back])
        assert not np.array_equal(y[back + 1], dry[back + 1])


def test_saturation_and_multichannel_layouts_match():
    # Clipped speech through the DSP at unit gains comes back a hair above full scale: every
    # path saturates it the same way, on one played channel or on every channel.
    frames = speech(HOPS, 480, gain=8.0)
    assert np.sum(np.abs(frames) >= 32767) > 1000
    for layout in ((1, 0, None), (3, 1, 2), (2, 0, None)):
        wide = np.full((frames.size, layout[0]), 1234, np.int16)    # what is not heard
        wide[:, layout[1]] = frames
        y = same_bytes(every_path(None, 48000, wide, layout)[0])
        if layout[2] is None:
            assert (y == y[:, :1]).all()
        else:
            assert not np.delete(y, layout[2], axis=1).any()
        assert (y == 32767).sum() > 100 and (y == -32768).sum() > 100


class ScriptedRunner:
    """A hop runner stand-in: records each mode; calls in `fail` report a kernel error."""
    def __init__(self, fail):
        self.fail, self.modes = set(fail), []

    def run(self, data, mode):
        self.modes.append(mode)
        err = NativeError("pn_hop_run: injected") if len(self.modes) - 1 in self.fail else None
        return data, err


class NativeStandIn:
    latency, hop = 1440, 480

    def __init__(self, fail=()):
        self.runner = ScriptedRunner(fail)

    def hop_runner(self, channels, capture_channel, playback_channel):
        assert (channels, capture_channel, playback_channel) == (1, 0, None)
        return self.runner


def test_the_hop_runner_gets_the_policy_modes_and_its_errors_bypass():
    frames = speech(40, 480)
    proc = NativeStandIn(fail={5})
    sup = Supervisor(proc, Periods(frames, 480), clock=HopClock(), cooldown=10)
    sup.run(40)
    prime = sup._prime
    assert prime == 4
    K, F, B, P = HOP_KERNEL, HOP_FADE, HOP_BYPASS, HOP_PRIME
    assert proc.runner.modes == [K] * 6 + [B] * 10 + [P] * prime + [F] + [K] * (40 - 21)
    s = sup.stats()
    assert s["kernel_errors"] == 1 and "injected" in s["last_error"] and s["bypass_frames"] == 14
    # a failing priming call goes back to bypass for the whole cooldown
    proc = NativeStandIn(fail={5, 18})
    sup = Supervisor(proc, Periods(frames, 480), clock=HopClock(), cooldown=10)
    sup.run(40)
    assert proc.runner.modes[16:19] == [P, P, P] and proc.runner.modes[19:29] == [B] * 10
    assert sup.stats()["kernel_errors"] == 2
