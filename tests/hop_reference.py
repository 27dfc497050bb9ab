"""The live hop written out in numpy, for tests only: what pn_hop_run (native/src/hop.c) does
per mode, over any process(hop) -- the delay line, the crossfade and, for S16_LE periods,
edge.audio.pcm's conversions. Tests hold the C hop to it, and drive the supervisor with it
around stand-in kernels (which have no C hop of their own)."""
from __future__ import annotations

import numpy as np

from edge.audio import pcm
from edge.native import HOP, HOP_BYPASS, HOP_FADE, HOP_PRIME


class DelayLine:
    """Hops of `hop` samples delayed by exactly `latency`."""

    def __init__(self, latency: int, hop: int = HOP):
        self._buf = np.zeros(latency + hop, np.float32)
        self._hop = hop

    def push(self, x: np.ndarray) -> np.ndarray:
        buf, n = self._buf, self._hop
        buf[-n:] = x
        out = buf[:n].copy()
        buf[:-n] = buf[n:]
        return out


def crossfade_ramp(hop: int) -> np.ndarray:
    """The weight of the kernel's output at each sample of the crossfade hop: i / hop."""
    return (np.arange(hop) / hop).astype(np.float32)


class FloatHop:
    """One float hop: run(x, mode) -> (the hop to play, None or what process raised); on an
    error the hop is the delayed input."""

    def __init__(self, process, latency: int, hop: int = HOP):
        self._process = process
        self._delay = DelayLine(latency, hop)
        self._fade = crossfade_ramp(hop)

    def run(self, x: np.ndarray, mode: int):
        dry = self._delay.push(x)
        if mode == HOP_BYPASS:
            return dry, None
        try:
            y = self._process(x)
        except Exception as e:  # noqa: BLE001 - as the C hop, a failing kernel plays the delayed input
            return dry, e
        if mode == HOP_PRIME:
            return dry, None
        y = np.asarray(y, np.float32)
        if mode == HOP_FADE:
            y = dry + self._fade * (y - dry)
        return y, None


class S16Hop:
    """FloatHop over S16_LE periods of layout (channels, capture_channel, playback_channel or
    None for every channel), as pn_hop_run takes them."""

    def __init__(self, process, latency: int, hop: int, layout):
        self._float = FloatHop(process, latency, hop)
        self._channels, self._capture, self._playback = layout

    def run(self, data: bytes, mode: int):
        y, err = self._float.run(pcm.to_float(data, self._channels, self._capture), mode)
        return pcm.to_bytes(y, self._channels, self._playback), err


class Reference:
    """A kernel (edge.kernel.Kernel) with this hop instead of its C one."""

    def __init__(self, kernel):
        self.k, self.latency, self.hop = kernel, kernel.latency, kernel.hop

    def hop_runner(self, *layout):
        return S16Hop(self.k.process, self.latency, self.hop, layout)
