"""The shipped default model: default.tflite (int8 weights, the model of record) and its native
export default.pnw. See README.md here for how it was trained and its figures."""
from __future__ import annotations

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent


def shipped(backend: str = "native") -> Path | None:
    """The default model file for a backend, or None where the package ships none."""
    path = MODELS_DIR / ("default.pnw" if backend == "native" else "default.tflite")
    return path if path.is_file() else None


def native_default(weights: str = "int8") -> bytes:
    """The default model's .pnw in a weight encoding (a board's [deploy].weights): default.pnw
    itself for int8, else default.pnw requantised in numpy (edge.model.pnw.from_pnw: the same
    bytes as `edge export --weights` from default.tflite, with no TFLite interpreter)."""
    from edge.model.pnw import from_pnw

    pnw = MODELS_DIR / "default.pnw"
    return pnw.read_bytes() if weights == "int8" else from_pnw(pnw, weights)


PNW_MAGIC = b"PNWF"       # a native weight file's first bytes (native/src/model.c)
TFLITE_ID = b"TFL3"       # a .tflite flatbuffer's file identifier, at bytes 4..8


def check_file(path, backend: str = "native") -> Path:
    """A model path the backend can load, or a one-line reason (a folder, a missing file, a
    .tflite given to the native engine or a .pnw to the interpreter)."""
    from edge.errors import EdgeError

    path = Path(path)
    if path.is_dir():
        raise EdgeError(f"{path}: is a directory; give a model file")
    if not path.is_file():
        raise EdgeError(f"{path}: no such model file")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise EdgeError(f"{path}: cannot be read ({e.strerror or e})") from None
    if backend == "native" and head[4:8] == TFLITE_ID:
        raise EdgeError(f"{path}: is a TFLite model, which the native engine does not read: "
                        f"use --backend tflite, or give its .pnw (edge export {path} --out "
                        f"MODEL.pnw)")
    if backend == "tflite" and head[:4] == PNW_MAGIC:
        raise EdgeError(f"{path}: is a native weight file (.pnw); use --backend native")
    return path
