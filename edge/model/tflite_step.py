"""The int8 .tflite step model read and run: its FULLY_CONNECTED weights and the arch config
they make (what edge.model.pnw writes to the .pnw, edge.model.tflite_export re-pins and
edge.model.warm_start trains from), and the model run frame by frame with its state carried:
the reference the native engine is checked against, and `edge denoise --backend tflite`.

Uses LiteRT (ai_edge_litert), falling back to tflite_runtime where only that is installed;
the built-in kernels only (no XNNPACK delegate), so the reference is the TFLite kernels."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from edge.errors import EdgeError
from edge.model import arch
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


def fc_ops(interp) -> dict[str, tuple]:
    """FULLY_CONNECTED ops of a converted step model keyed by the Keras layer they come from:
    name -> (int8 weights [out, in], weight scales [out], float bias [out])."""
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    fcs = {}
    for op in interp._get_ops_details():
        if op["op_name"] != "FULLY_CONNECTED":
            continue
        x, w_i, b_i = (list(op["inputs"]) + [-1, -1])[:3]
        wt = tensors[w_i]
        if wt["dtype"] != np.int8:
            raise EdgeError(f"FULLY_CONNECTED weights are {wt['dtype'].__name__}, not int8: "
                            "export the model with edge.model.tflite_export")
        w = interp.get_tensor(w_i)
        scales = np.broadcast_to(wt["quantization_parameters"]["scales"], (w.shape[0],)).astype(np.float32)
        if b_i >= 0 and tensors[b_i]["dtype"] == np.float32:   # int8 weights, float activations
            bias = interp.get_tensor(b_i).astype(np.float32)
        elif b_i >= 0:                                          # full int8: int32 bias
            bt = tensors[b_i]
            bias = (interp.get_tensor(b_i).astype(np.float64)
                    * np.broadcast_to(bt["quantization_parameters"]["scales"], (w.shape[0],))).astype(np.float32)
        else:
            bias = np.zeros(w.shape[0], np.float32)
        fcs[wt["name"]] = (w, scales, bias)
    return fcs


def find_fc(fcs: dict, layer: str) -> tuple:
    """The op whose weight tensor is named after the Keras layer (percepnet_step_1/gru1_x_1/MatMul)."""
    pat = re.compile(rf"^{re.escape(layer)}(_\d+)?$")
    hits = [k for k in fcs if any(pat.match(part) for part in re.split("[/;]", k))]
    if len(hits) != 1:
        raise EdgeError(f"tflite model: expected one FULLY_CONNECTED for layer {layer!r}, found "
                        f"{len(hits)}; was it exported by edge.model.tflite_export?")
    return fcs[hits[0]]


def config_from_tflite(interp) -> dict:
    """The arch config of a converted step model: each stateful layer is named by its state
    input, each layer's width and kernel read from its FULLY_CONNECTED weights."""
    stateful = [d["name"].split(":")[0] for d in interp.get_input_details()]
    stateful = {re.sub(r"^serving_default_", "", n)[:-len("_state")] for n in stateful if n.endswith("_state")}
    fcs = fc_ops(interp)
    n_out, cols = {}, {}
    for name in stateful | {"dense_in", *arch.OUTPUTS}:
        part = f"{name}_x" if name.startswith("gru") else name
        rows, cols[name] = find_fc(fcs, part)[0].shape
        n_out[name] = rows // 3 if part.endswith("_x") else rows
    if "dense_in" not in n_out or "conv1" not in n_out:
        raise EdgeError("tflite model has no dense_in/conv1 layers: not a PercepNet step model")
    kernel = {"conv1": cols["conv1"] // n_out["dense_in"], "conv2": cols["conv2"] // n_out["conv1"]}
    try:
        return arch.config_from_layers(n_out, kernel)
    except ValueError as e:
        raise EdgeError(f"tflite model: {e}") from None


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
        self.state_names = [n for n, _ in arch.state_sizes(config_from_tflite(self.interp))]
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
