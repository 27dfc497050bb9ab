"""The linear echo canceller ahead of the suppressor: speexdsp's, through the glue library
libpercepnet_aec.so (native/aec/), a library apart so that the kernel keeps no dependency.
It is looked up in $PERCEPNET_AEC_LIB, next to the package, then in the source tree's
build/host/. A Canceller allocates its state once; each hop is one ctypes call on buffers of
the caller's, with nothing allocated."""
from __future__ import annotations

import ctypes as C
from functools import lru_cache

import numpy as np

from edge.errors import EdgeError
from edge.native import library_candidates

TAIL_S = 0.2        # the echo path it models: 20-50 ms of delay and a room's first 150 ms (longer converges slower)

_FLOATS = np.ctypeslib.ndpointer(np.float32, flags="C_CONTIGUOUS")


@lru_cache(maxsize=None)
def lib() -> C.CDLL:
    path = next((p for p in library_candidates("libpercepnet_aec.so", "PERCEPNET_AEC_LIB")
                 if p.is_file()), None)
    if path is None:
        raise EdgeError("the echo canceller is not built in (no libpercepnet_aec.so): install "
                        "speexdsp's headers (Debian: apt-get install libspeexdsp-dev) and run `scons`")
    try:
        h = C.CDLL(str(path))
    except OSError as e:
        raise EdgeError(f"cannot load {path}: {e}") from None
    h.pn_aec_create.restype, h.pn_aec_create.argtypes = C.c_void_p, [C.c_int, C.c_int, C.c_int]
    h.pn_aec_destroy.restype, h.pn_aec_destroy.argtypes = None, [C.c_void_p]
    h.pn_aec_run.restype, h.pn_aec_run.argtypes = None, [C.c_void_p, _FLOATS, _FLOATS, _FLOATS]
    return h


class Canceller:
    """One canceller state at `rate`, `hop` samples a call."""

    def __init__(self, rate: int, hop: int, tail_s: float = TAIL_S):
        self.hop = hop
        self._st = None             # __del__ runs even when lib() refuses
        self._lib = lib()
        self._st = self._lib.pn_aec_create(rate, hop, round(tail_s * rate))
        if not self._st:
            raise EdgeError(f"the echo canceller refused rate {rate} Hz, hop {hop}, tail {tail_s:g} s")

    def run(self, mic: np.ndarray, far: np.ndarray, out: np.ndarray) -> np.ndarray:
        """mic less the echo of far into out (float32, hop samples each; out may be mic)."""
        self._lib.pn_aec_run(self._st, mic, far, out)
        return out

    def close(self) -> None:
        if self._st:
            self._lib.pn_aec_destroy(self._st)
            self._st = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


def cancel(mic, far, rate: int, hop: int | None = None) -> np.ndarray:
    """The canceller alone over whole signals of one length: mic less the echo of far."""
    mic, far = np.asarray(mic, np.float32), np.asarray(far, np.float32)
    hop = hop or rate // 100
    t = -(-len(mic) // hop)
    m, f = np.zeros(t * hop, np.float32), np.zeros(t * hop, np.float32)
    m[: len(mic)], f[: len(far)] = mic, far[: len(mic)]
    out = np.empty_like(m)
    with Canceller(rate, hop) as c:
        for i in range(0, len(m), hop):
            c.run(m[i: i + hop], f[i: i + hop], out[i: i + hop])
    return out[: len(mic)]
