"""The supervisor: capture -> processor -> playback, one hop per ALSA period, never silent.

Each hop's processing is timed on the monotonic clock against its 10 ms deadline. A kernel
that raises, or that misses the deadline `miss_limit` times in a row, is taken out of the
path: the output becomes the input delayed by the kernel's latency (so the switch does not
jump in time) for `cooldown` hops. The kernel is then fed again for enough hops to refill
its buffers (its output still discarded), and switched back in with a one-hop crossfade.
Anything the processor raises is contained here: the audio keeps flowing.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from edge.supervisor.deadline import HOP_NS, FrameTimes

HOP = 480


class Processor(Protocol):
    """What the loop needs from a kernel (edge.kernel.Kernel has it)."""
    latency: int                                     # samples of delay, input to output

    def process(self, hop: np.ndarray) -> np.ndarray: ...


class AudioIO(Protocol):
    """One hop in, one hop out (edge.audio.alsa.AlsaDuplex, or a test stand-in)."""
    xruns: int

    def read(self) -> np.ndarray: ...

    def write(self, hop: np.ndarray) -> None: ...


class DelayLine:
    """The bypass path: input delayed by exactly the kernel latency."""

    def __init__(self, latency: int):
        self._buf = np.zeros(latency, np.float32)

    def push(self, hop: np.ndarray) -> np.ndarray:
        joined = np.concatenate((self._buf, hop))
        self._buf = joined[hop.size:]
        return joined[:hop.size]


@dataclass
class Counters:
    frames: int = 0
    kernel_errors: int = 0
    bypass_frames: int = 0
    bypass_entries: int = 0
    last_error: str = ""
    times: FrameTimes = field(default_factory=FrameTimes)


class Supervisor:
    def __init__(self, processor: Processor, io: AudioIO, *, miss_limit: int = 3,
                 cooldown: int = 100, deadline_ns: int = HOP_NS, clock=time.monotonic_ns):
        self.proc = processor
        self.io = io
        self.miss_limit = miss_limit
        self.cooldown = cooldown
        self.clock = clock
        self.counters = Counters(times=FrameTimes(deadline_ns))
        self._delay = DelayLine(int(processor.latency))
        # Hops of fresh input the kernel needs before its output is trustworthy again.
        self._prime = -(-int(processor.latency) // HOP) + 1
        self._bypass_left = 0        # > 0: hops still to play from the delay line
        self._misses_in_row = 0
        self._fade = np.linspace(0.0, 1.0, HOP, endpoint=False, dtype=np.float32)
        self._fade_next = False
        self.stop_requested = False

    @property
    def bypassing(self) -> bool:
        return self._bypass_left > 0

    def _enter_bypass(self) -> None:
        self._bypass_left = self.cooldown + self._prime
        self._misses_in_row = 0
        self.counters.bypass_entries += 1

    def _kernel_failed(self, e: Exception) -> None:
        self.counters.kernel_errors += 1
        self.counters.last_error = str(e)
        self._enter_bypass()

    def step(self, x: np.ndarray) -> np.ndarray:
        """Process one captured hop and return what to play. Never raises for the kernel."""
        c = self.counters
        t0 = self.clock()
        dry = self._delay.push(x)
        if self._bypass_left:
            y = dry
            self._bypass_left -= 1
            c.bypass_frames += 1
            if self._bypass_left < self._prime:
                try:
                    self.proc.process(x)           # refill its buffers, output unused
                except Exception as e:  # noqa: BLE001 - a failing kernel never stops audio
                    self._kernel_failed(e)
                else:
                    self._fade_next = self._bypass_left == 0
        else:
            try:
                y = np.asarray(self.proc.process(x), np.float32)
                if y.shape != (HOP,):
                    raise ValueError(f"processor returned shape {y.shape}, expected ({HOP},)")
            except Exception as e:  # noqa: BLE001 - a failing kernel never stops audio
                self._kernel_failed(e)
                y = dry
            else:
                if self._fade_next:
                    y = dry + self._fade * (y - dry)
                    self._fade_next = False
        c.frames += 1
        if c.times.record(self.clock() - t0):
            self._misses_in_row += 1
            if self._misses_in_row >= self.miss_limit and not self._bypass_left:
                self._enter_bypass()
        else:
            self._misses_in_row = 0
        return y

    def run(self, frames: int | None = None) -> Counters:
        """Loop until `frames` hops (None: until stop_requested is set, e.g. by SIGTERM)."""
        while not self.stop_requested and (frames is None or self.counters.frames < frames):
            self.io.write(self.step(self.io.read()))
        return self.counters

    def stats(self) -> dict:
        c = self.counters
        return {"frames": c.frames, "frame_us": c.times.summary(),
                "deadline_misses": c.times.misses, "xruns": self.io.xruns,
                "kernel_errors": c.kernel_errors, "bypass_frames": c.bypass_frames,
                "bypass_entries": c.bypass_entries, "bypassing": self.bypassing,
                "last_error": c.last_error}
