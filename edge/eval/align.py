"""Delay estimation for suppressors whose output is not delay compensated."""
from __future__ import annotations

import numpy as np


def estimate_delay(out: np.ndarray, ref: np.ndarray, max_lag: int = 24000) -> int:
    """Lag (samples, >= 0) by which `out` trails `ref`, from the cross-correlation peak."""
    n = min(len(out), len(ref))
    size = 1 << int(np.ceil(np.log2(2 * n)))
    xc = np.fft.irfft(np.fft.rfft(out[:n], size) * np.conj(np.fft.rfft(ref[:n], size)), size)
    return int(np.argmax(xc[:min(max_lag, n)]))


def compensate(out: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """`out` advanced by its estimated delay and zero padded to the length of `ref`."""
    d = estimate_delay(out, ref)
    y = np.zeros(len(ref), np.float32)
    tail = out[d:d + len(ref)]
    y[:len(tail)] = tail
    return y
