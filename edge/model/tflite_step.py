"""The int8 .tflite step model run frame by frame with its state carried: the reference the
native engine is checked against, and `edge denoise --backend tflite`.

Uses LiteRT (ai_edge_litert), falling back to tflite_runtime where only that is installed;
the built-in kernels only (no XNNPACK delegate), so the reference is the TFLite kernels."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.errors import EdgeError
from edge.native import NB_FEATURES


def load_interpreter(model):
    """An allocated interpreter for a .tflite path or its bytes."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter, OpResolverType
        except ImportError:
            raise EdgeError("no TFLite interpreter: pip install ai-edge-litert "
                            "(or tflite-runtime)") from None
    kw = {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    try:
        if isinstance(model, (bytes, bytearray)):
            interp = Interpreter(model_content=bytes(model), **kw)
        else:
            if not Path(model).is_file():
                raise EdgeError(f"{model}: no such model file")
            interp = Interpreter(model_path=str(model), **kw)
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise EdgeError(f"{model if not isinstance(model, (bytes, bytearray)) else 'model'}: "
                        f"not a loadable .tflite ({str(e).splitlines()[0]})") from None
    return interp


class TFLiteStep:
    """step(features[70] float32) -> outputs[68] float32 (34 gains then 34 strengths)."""

    def __init__(self, path):
        self.interp = load_interpreter(path)
        sigs = self.interp.get_signature_list()
        if len(sigs) != 1:
            raise EdgeError(f"{path}: expected one signature, found {len(sigs)}: not a step model")
        key = next(iter(sigs))
        self.runner = self.interp.get_signature_runner(key)
        names = sigs[key]["inputs"]
        if "features" not in names:
            raise EdgeError(f"{path}: no 'features' input: not a PercepNet step model")
        from edge.export import config_from_tflite
        from edge.model.arch import state_sizes
        self.state_names = [n for n, _ in state_sizes(config_from_tflite(self.interp))]
        if sorted(self.state_names) != sorted(n for n in names if n != "features"):
            raise EdgeError(f"{path}: its state inputs are not those of its own layers: not a step model")
        details = self.runner.get_input_details()
        self.sizes = {n: int(details[n]["shape"][-1]) for n in names}
        if self.sizes["features"] != NB_FEATURES:
            raise EdgeError(f"{path}: takes {self.sizes['features']} features, the kernel gives {NB_FEATURES}")
        self.reset()

    def reset(self) -> None:
        self.states = {n: np.zeros((1, self.sizes[n]), np.float32) for n in self.state_names}

    def step(self, features) -> np.ndarray:
        f = np.asarray(features, np.float32)
        if f.size != NB_FEATURES:
            raise EdgeError(f"TFLite step takes {NB_FEATURES} features, got {f.size}")
        f = f.reshape(1, NB_FEATURES)
        res = self.runner(features=f, **self.states)
        for i, n in enumerate(self.state_names):
            self.states[n] = np.asarray(res[f"output_{i + 2}"], np.float32).reshape(1, -1)
        return np.concatenate([res["output_0"].reshape(-1), res["output_1"].reshape(-1)]).astype(np.float32)
