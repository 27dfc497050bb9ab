"""Speed of the echo canceller `edge run --reference` puts ahead of the kernel (edge.aec,
speexdsp's): per 10 ms hop at 48 kHz, through the same ctypes call as the live hop, on the
example recording as microphone and that recording 50 ms earlier as the reference (its cost
per hop does not depend on the signal)."""
from __future__ import annotations

import time

import numpy as np

from edge.errors import EdgeError
from edge.native import HOP, SAMPLE_RATE

WARMUP_HOPS = 50


def bench_canceller(audio: np.ndarray) -> dict:
    """{"hop_us": mean/p50/p99/max, "hops"}, or {"unavailable": why} without the canceller."""
    from edge.aec import Canceller
    from edge.bench.models import _stats

    mic = np.ascontiguousarray(audio[: len(audio) // HOP * HOP], np.float32).reshape(-1, HOP)
    far = np.roll(mic.reshape(-1), -SAMPLE_RATE // 20).reshape(-1, HOP)
    out = np.empty(HOP, np.float32)
    try:
        c = Canceller(SAMPLE_RATE, HOP)
    except EdgeError as e:
        return {"unavailable": str(e)}
    t = np.zeros(len(mic))
    clock = time.perf_counter_ns
    with c:
        for i in range(len(mic)):
            t0 = clock()
            c.run(mic[i], far[i], out)
            t[i] = clock() - t0
    return {"hop_us": _stats(t[WARMUP_HOPS:] / 1000), "hops": len(mic) - WARMUP_HOPS}
