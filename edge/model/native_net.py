"""The native int8 network alone (pn_model_* / pn_nnet_*), for agreement tests and benchmarks."""
from __future__ import annotations

import ctypes as C
from pathlib import Path

import numpy as np

from edge.native import NB_FEATURES, NB_OUTPUTS, NativeError, check, fn, fptr


class _Info(C.Structure):
    _fields_ = [("n_weights", C.c_long), ("n_layers", C.c_int), ("name", C.c_char * 32)]


def load_model(model: str | Path | bytes) -> C.c_void_p:
    """A pn_model* from a .pnw path or its bytes; NativeError with the loader's reason."""
    handle, err = C.c_void_p(), C.create_string_buffer(256)
    if isinstance(model, (bytes, bytearray)):
        data = bytes(model)
        rc = fn("pn_model_load")(data, len(data), C.byref(handle), err, len(err))
        where = "model"
    else:
        rc = fn("pn_model_load_file")(str(model).encode(), C.byref(handle), err, len(err))
        where = str(model)
    if rc != 0:
        raise NativeError(f"{where}: {err.value.decode(errors='replace') or fn('pn_strerror')(rc).decode()}")
    return handle


class NativeNet:
    """step(features[70]) -> outputs[68], state carried between calls; reset() clears it."""

    def __init__(self, model: str | Path | bytes):
        self.model = load_model(model)
        self.nn = C.c_void_p()
        rc = fn("pn_nnet_create")(self.model, C.byref(self.nn))
        if rc != 0:
            fn("pn_model_free")(self.model)
            self.model = None
            check(rc, "pn_nnet_create")
        self._out = np.zeros(NB_OUTPUTS, np.float32)

    def info(self) -> dict:
        i = _Info()
        check(fn("pn_model_get_info")(self.model, C.byref(i)), "pn_model_get_info")
        return {"name": i.name.decode(), "n_weights": i.n_weights, "n_layers": i.n_layers}

    def step(self, features) -> np.ndarray:
        f = np.ascontiguousarray(features, np.float32).reshape(NB_FEATURES)
        check(fn("pn_nnet_step")(self.nn, fptr(f), fptr(self._out)), "pn_nnet_step")
        return self._out.copy()

    def run(self, features: np.ndarray) -> np.ndarray:
        """Outputs [T, 68] for features [T, 70], continuing from the current state."""
        return np.stack([self.step(f) for f in features]) if len(features) else np.zeros((0, NB_OUTPUTS), np.float32)

    def reset(self) -> None:
        fn("pn_nnet_reset")(self.nn)

    def close(self) -> None:
        if getattr(self, "nn", None):
            fn("pn_nnet_destroy")(self.nn)
            self.nn = None
        if getattr(self, "model", None):
            fn("pn_model_free")(self.model)
            self.model = None

    def __del__(self):
        self.close()
