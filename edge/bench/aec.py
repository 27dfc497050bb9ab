"""Speed of the echo canceller `edge run --reference` puts ahead of the kernel (edge.aec,
speexdsp's): per 10 ms hop at 48 kHz, through the same ctypes call as the live hop, with the
example recording as the microphone and the same recording 50 ms ahead as the reference, as
an echo would be (its cost per hop does not depend on the signal)."""
from __future__ import annotations

import time

import numpy as np

from edge.native import HOP, SAMPLE_RATE

WARMUP_HOPS = 50


def time_canceller(audio: np.ndarray) -> np.ndarray:
    """Per-hop microseconds of the canceller over the audio, warm-up dropped; EdgeError where
    it is not built in."""
    from edge.aec import Canceller

    mic = np.ascontiguousarray(audio[: len(audio) // HOP * HOP], np.float32).reshape(-1, HOP)
    far = np.roll(mic.reshape(-1), -SAMPLE_RATE // 20).reshape(-1, HOP)
    out = np.empty(HOP, np.float32)
    t = np.zeros(len(mic))
    clock = time.perf_counter_ns
    with Canceller(SAMPLE_RATE, HOP) as c:
        for i in range(len(mic)):
            t0 = clock()
            c.run(mic[i], far[i], out)
            t[i] = clock() - t0
    return t[WARMUP_HOPS:] / 1000
