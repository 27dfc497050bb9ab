"""Per-frame time against the hop's deadline, kept as a bounded histogram.

A service runs for months: the durations go into 1 us bins (memory is fixed), the maximum
and mean are exact, and percentiles are read from the cumulative counts when reported.
"""
from __future__ import annotations

import numpy as np

HOP_NS = 10_000_000          # 480 samples at 48 kHz
_BIN_NS = 1_000
_BINS = 100_000              # 100 ms; anything longer lands in the last bin (max stays exact)


class FrameTimes:
    def __init__(self, deadline_ns: int = HOP_NS):
        self.deadline_ns = deadline_ns
        self.counts = np.zeros(_BINS, np.int64)
        self.frames = 0
        self.misses = 0
        self.max_ns = 0
        self.total_ns = 0

    def record(self, ns: int) -> bool:
        """Add one frame's duration; True when it missed the deadline."""
        self.counts[min(ns // _BIN_NS, _BINS - 1)] += 1
        self.frames += 1
        self.total_ns += ns
        if ns > self.max_ns:
            self.max_ns = ns
        if ns > self.deadline_ns:
            self.misses += 1
            return True
        return False

    def percentile_us(self, q: float) -> float | None:
        if not self.frames:
            return None
        rank = int(np.ceil(q / 100.0 * self.frames))
        b = int(np.searchsorted(np.cumsum(self.counts), max(rank, 1)))
        if b >= _BINS - 1:                # the overflow bin: only the maximum is known
            return self.max_ns / 1000.0
        # The bin's upper edge, but never above the exact maximum.
        return min((b + 1) * _BIN_NS, self.max_ns) / 1000.0

    def summary(self) -> dict:
        """frame_us {p50, p99, max, mean} (None before the first frame)."""
        if not self.frames:
            return {"p50": None, "p99": None, "max": None, "mean": None}
        return {"p50": self.percentile_us(50), "p99": self.percentile_us(99),
                "max": self.max_ns / 1000.0, "mean": self.total_ns / self.frames / 1000.0}
