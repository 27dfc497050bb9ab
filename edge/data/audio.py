"""Loading corpus audio (anything libsndfile reads: WAV of any depth, FLAC, OGG) of any rate
and channel count as 48 kHz mono float32."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from edge.errors import EdgeError
from edge.native import SAMPLE_RATE as RATE

EXTENSIONS = (".wav", ".flac", ".ogg", ".aiff", ".aif")  # what corpus folders are searched for


def resample(x: np.ndarray, rate: int, to: int = RATE) -> np.ndarray:
    """x resampled along its first axis by scipy's polyphase filter (linear phase, its delay
    compensated: the result stays aligned with x)."""
    if rate == to:
        return np.asarray(x, np.float32)
    try:
        from scipy.signal import resample_poly
    except ImportError:
        raise EdgeError(f"resampling {rate} Hz to {to} Hz needs scipy: pip install scipy (the "
                        "train and eval extras have it), or resample first, e.g. "
                        f"sox in.wav -r {to} out.wav") from None
    f = Fraction(to, rate)
    return resample_poly(np.asarray(x, np.float64), f.numerator, f.denominator,
                         axis=0).astype(np.float32)


def load(path: str | Path) -> np.ndarray:
    """An audio file as 48 kHz mono float32 (its first channel)."""
    return read(path)[0]


def native_rate(path: str | Path) -> int:
    """The file's sample rate, from its header."""
    import soundfile as sf
    try:
        return int(sf.info(str(path)).samplerate)
    except (RuntimeError, OSError) as e:  # soundfile's LibsndfileError is a RuntimeError
        raise EdgeError(f"{path}: cannot read as audio ({e})") from None


def read(path: str | Path) -> tuple[np.ndarray, int]:
    """(audio as load() gives it, the file's own sample rate): the rate bounds the bandwidth
    the recording can hold, whatever rate it is resampled to."""
    import soundfile as sf
    try:
        x, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError) as e:
        raise EdgeError(f"{path}: cannot read as audio ({e})") from None
    return resample(x[:, 0], rate), int(rate)
