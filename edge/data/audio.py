"""Loading corpus audio of any rate and channel count as 48 kHz mono float32."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from edge.errors import EdgeError
from edge.native import SAMPLE_RATE as RATE


def resample(x: np.ndarray, rate: int, to: int = RATE) -> np.ndarray:
    if rate == to:
        return np.asarray(x, np.float32)
    from scipy.signal import resample_poly
    f = Fraction(to, rate)
    return resample_poly(np.asarray(x, np.float64), f.numerator, f.denominator).astype(np.float32)


def load(path: str | Path) -> np.ndarray:
    """A wav file (PCM 8/16/24/32-bit or float, any rate) as 48 kHz mono float32 (first channel)."""
    return read(path)[0]


def native_rate(path: str | Path) -> int:
    """The file's sample rate from its header alone (PCM), else by reading it."""
    import wave
    try:
        with wave.open(str(path)) as w:
            return w.getframerate()
    except (wave.Error, EOFError):
        return read(path)[1]


def read(path: str | Path) -> tuple[np.ndarray, int]:
    """(audio as load() gives it, the file's own sample rate): the rate bounds the bandwidth
    the recording can hold, whatever rate it is resampled to."""
    from scipy.io import wavfile
    try:
        rate, x = wavfile.read(str(path))
    except (ValueError, OSError) as e:
        raise EdgeError(f"{path}: cannot read as wav ({e})") from None
    if x.ndim > 1:
        x = x[:, 0]
    if x.dtype == np.uint8:
        x = (x.astype(np.float32) - 128) / 128
    elif np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / float(-np.iinfo(x.dtype).min)
    return resample(x.astype(np.float32), rate), int(rate)
