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
    itself for int8, else default.pnw requantised in numpy (edge.export.from_pnw: the same
    bytes as `edge export --weights` from default.tflite, with no TFLite interpreter)."""
    from edge.export import from_pnw

    pnw = MODELS_DIR / "default.pnw"
    return pnw.read_bytes() if weights == "int8" else from_pnw(pnw, weights)
