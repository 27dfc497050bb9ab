"""S16_LE interleaved bytes <-> float32 mono hops, with channel selection for multi-channel codecs.

The float <-> int16 rule is the one edge.wavio uses for files, so a hop that goes through
ALSA comes out bit-identical to the same hop written by `edge denoise`.
"""
from __future__ import annotations

import numpy as np


# These run twice per live hop: few numpy calls, no float64 temporaries (scaling a float32 by
# a power of two is exact, so rounding in float32 gives what float64 would).
_SCALE, _UNSCALE = np.float32(32768.0), np.float32(1.0 / 32768.0)


def to_float(data: bytes, channels: int = 1, channel: int = 0) -> np.ndarray:
    """One channel of interleaved S16_LE frames as float32 in [-1, 1)."""
    pcm = np.frombuffer(data, "<i2")
    if channels > 1:
        pcm = pcm.reshape(-1, channels)[:, channel]
    return pcm.astype(np.float32) * _UNSCALE


def to_s16(x: np.ndarray) -> np.ndarray:
    """float -> int16 with rounding (half to even) and clipping to full scale."""
    x = np.asarray(x)
    y = x * _SCALE if x.dtype == np.float32 else np.asarray(x, np.float64) * 32768.0
    np.rint(y, out=y)
    np.maximum(y, -32768, out=y)
    np.minimum(y, 32767, out=y)
    return y.astype("<i2")


def to_bytes(x: np.ndarray, channels: int = 1, channel: int | None = None) -> bytes:
    """A mono hop as interleaved S16_LE frames: copied to every channel (channel=None) or
    to one channel with the others silent."""
    s = to_s16(x)
    if channels == 1:
        return s.tobytes()
    out = np.zeros((s.size, channels), "<i2")
    if channel is None:
        out[:] = s[:, None]
    else:
        out[:, channel] = s
    return out.tobytes()
