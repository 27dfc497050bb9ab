"""`edge run --reference`: the echo canceller (edge.aec) on the captured period, ahead of the
kernel's hop, inside the same hop and under its deadline (the supervisor times it with the hop).

Each hop takes one period of the reference (what the loudspeaker plays) without waiting, and
cancels its echo from the captured channel (the other channels pass as captured). The audio
never waits on the reference: a hop without a whole reference period (the device fell behind)
goes to the kernel uncancelled and is counted as reference_late; a reference device that fails
is closed, its error kept (reference_error), and every later hop goes uncancelled
(reference_lost). The canceller keeps its filter meanwhile, so a late hop costs no
reconvergence unless the lag it leaves changes the echo path's delay.
"""
from __future__ import annotations

import time
from typing import Protocol

import numpy as np

from edge.audio import pcm


class Reference(Protocol):
    """What LiveCanceller reads (edge.audio.alsa.AlsaReference): read() -> one mono S16_LE
    period, or None when none is there yet; raises EdgeError when the device has failed."""
    overruns: int

    def read(self) -> bytes | None: ...

    def close(self) -> None: ...


class LiveCanceller:
    """run(period) -> the captured S16_LE period (layout = (channels, capture_channel, ...)
    as edge.supervisor.loop.AudioIO's) with the echo of the reference taken out of the
    captured channel. Never raises for the reference."""

    def __init__(self, canceller, reference: Reference, layout, clock=time.monotonic_ns):
        self._c, self._ref, self._clock = canceller, reference, clock
        self._channels, self._channel = layout[0], layout[1]
        self._out = np.empty(canceller.hop, np.float32)
        self.cancelled = 0
        self.late = 0
        self.lost = False
        self.ns = 0                 # wall time in run(), all hops
        self.last_error = ""

    def run(self, period):
        t0 = self._clock()
        try:
            far = self._ref.read() if not self.lost else None
        except Exception as e:  # noqa: BLE001 - a failing reference never stops the audio
            self._drop(str(e))
            far = None
        if far is None:
            self.late += not self.lost
            self.ns += self._clock() - t0
            return period
        mic = pcm.to_float(period, self._channels, self._channel)
        self._c.run(mic, pcm.to_float(far), self._out)
        s16 = pcm.to_s16(self._out)
        if self._channels == 1:
            period = s16.tobytes()
        else:
            frames = np.frombuffer(period, "<i2").reshape(-1, self._channels).copy()
            frames[:, self._channel] = s16
            period = frames.tobytes()
        self.cancelled += 1
        self.ns += self._clock() - t0
        return period

    def _drop(self, why: str) -> None:
        self.lost, self.last_error = True, why
        try:
            self._ref.close()
        except Exception:  # noqa: BLE001 - it has failed already
            pass

    def stats(self) -> dict:
        """Counts; its time per hop is in the supervisor's split_us["canceller"]."""
        return {"cancelled_frames": self.cancelled, "reference_late": self.late,
                "reference_overruns": self._ref.overruns, "reference_lost": self.lost,
                "reference_error": self.last_error}

    def close(self) -> None:
        if not self.lost:
            self._ref.close()
        self._c.close()
