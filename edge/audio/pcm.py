"""S16_LE interleaved bytes <-> float32 mono hops, with channel selection for multi-channel codecs.

float -> int16 is the live hop's own conversion (pn_hop_s16, native/src/hop.c), which edge.wavio
uses for files too, so a hop that goes through `edge run` comes out bit-identical to the same hop
written by `edge denoise`.
"""
from __future__ import annotations

import ctypes as C

import numpy as np

from edge.native import fn, fptr

# scaling a float32 by a power of two is exact: no float64 temporaries
_UNSCALE = np.float32(1.0 / 32768.0)


def to_float(data: bytes, channels: int = 1, channel: int = 0) -> np.ndarray:
    """One channel of interleaved S16_LE frames as float32 in [-1, 1)."""
    pcm = np.frombuffer(data, "<i2")
    if channels > 1:
        pcm = pcm.reshape(-1, channels)[:, channel]
    return pcm.astype(np.float32) * _UNSCALE


def to_s16(x: np.ndarray) -> np.ndarray:
    """float32 -> int16, x * 32768 rounded half to even, clipped to full scale, NaN as 0."""
    x = np.ascontiguousarray(x, np.float32)
    y = np.empty(x.shape, "<i2")
    fn("pn_hop_s16")(fptr(x), y.ctypes.data_as(C.c_void_p), x.size)
    return y


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
