"""Native weight files (.pnw, format in native/src/model.h) from the int8 .tflite of record.

from_tflite(path) takes every FULLY_CONNECTED op of the streaming step model as converted by
edge.model.tflite_export: int8 weights and their per-channel scales are copied unchanged, the
int32 biases are turned back into floats with their own scales. The layer graph comes from
edge.model.arch (layer_graph), so the file describes exactly the network the TFLite runs.
from_keras(model) quantises a float Keras model the same way (symmetric, per output channel)
without TFLite: used for benchmarks with random weights and for tests.
"""
from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.errors import EdgeError
from edge.model import arch
from edge.native import FEATURE_VERSION, SAMPLE_RATE

MAGIC = b"PNWF"
FORMAT_VERSION = 2
TYPES = {"dense": 1, "conv": 2, "gru": 3}
ACTS = {None: 0, "tanh": 1, "sigmoid": 2, "relu": 3}


class ExportError(EdgeError):
    """The model cannot be turned into a native weight file."""


@dataclass
class Layer:
    name: str
    kind: str            # dense, conv, gru
    act: str | None
    n_in: int            # per frame
    n_out: int
    kernel: int = 1
    src: list[int] = field(default_factory=list)  # -1: features
    mats: list = field(default_factory=list)      # [(int8 [rows, cols], scale [rows], bias [rows])]


def layer_graph(config) -> tuple[list[Layer], list[int]]:
    """arch.topology(config) as the .pnw layer table: sources and outputs by index."""
    net = arch.topology(config)
    index = {x.name: i for i, x in enumerate(net)} | {"features": -1}
    layers = [Layer(x.name, x.kind, x.act, arch.n_in(x, net), x.n_out, x.kernel, [index[s] for s in x.src])
              for x in net]
    return layers, [index[o] for o in arch.OUTPUTS]


def quantize_rows(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-row int8 ([-127, 127]) as TFLite quantises weights: (int8 w, scale)."""
    w = np.asarray(w, np.float32)
    scale = np.abs(w).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.round(w / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


def pack_matrix(w: np.ndarray, scale: np.ndarray, bias: np.ndarray) -> bytes:
    """int8 weights in 8x4 blocks (rows padded to 8, columns to 4), then scales and biases."""
    rows, cols = w.shape
    rp, cp = -(-rows // 8) * 8, -(-cols // 4) * 4
    padded = np.zeros((rp, cp), np.int8)
    padded[:rows, :cols] = w
    blocks = padded.reshape(rp // 8, 8, cp // 4, 4).transpose(0, 2, 1, 3)
    return (np.ascontiguousarray(blocks).tobytes() + np.asarray(scale, "<f4").tobytes()
            + np.asarray(bias, "<f4").tobytes())


def write_pnw(layers: list[Layer], out_src: list[int], name: str) -> bytes:
    table, payload = b"", b""
    for layer in layers:
        src = list(layer.src) + [0] * (4 - len(layer.src))
        table += struct.pack("<6I4h", TYPES[layer.kind], ACTS[layer.act], layer.n_in, layer.n_out,
                             layer.kernel, len(layer.src), *src)
        for w, scale, bias in layer.mats:
            payload += pack_matrix(w, scale, bias)
    outs = list(out_src) + [0] * (4 - len(out_src))
    tail = (struct.pack("<I4h", len(out_src), *outs) + name.encode()[:31].ljust(32, b"\0")
            + struct.pack("<2I", FEATURE_VERSION, SAMPLE_RATE) + table + payload)
    head = MAGIC + struct.pack("<5I", FORMAT_VERSION, arch.NB_FEATURES, 2 * arch.NB_BANDS,
                               len(layers), len(payload))
    return head + struct.pack("<I", zlib.crc32(tail)) + tail


def from_keras(model, config, name: str) -> bytes:
    """A float Keras sequence model (arch.build_model) quantised to a .pnw."""
    layers, out_src = layer_graph(config)
    for layer in layers:
        w = model.get_layer(layer.name).get_weights()
        if layer.kind == "gru":
            kernel, recurrent, bias = w
            layer.mats = [(*quantize_rows(kernel.T), bias[0]), (*quantize_rows(recurrent.T), bias[1])]
        else:
            kernel, bias = w
            layer.mats = [(*quantize_rows(kernel.reshape(-1, kernel.shape[-1]).T), bias)]
    return write_pnw(layers, out_src, name)


def _tflite_fc_ops(interp) -> dict[str, tuple]:
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
            raise ExportError(f"FULLY_CONNECTED weights are {wt['dtype'].__name__}, not int8: "
                              "export the model with edge.model.tflite_export (full int8)")
        w = interp.get_tensor(w_i)
        scales = np.broadcast_to(wt["quantization_parameters"]["scales"], (w.shape[0],)).astype(np.float32)
        if b_i >= 0:
            bt = tensors[b_i]
            bias = (interp.get_tensor(b_i).astype(np.float64)
                    * np.broadcast_to(bt["quantization_parameters"]["scales"], (w.shape[0],))).astype(np.float32)
        else:
            bias = np.zeros(w.shape[0], np.float32)
        fcs[wt["name"]] = (w, scales, bias)
    return fcs


def _find(fcs: dict, layer: str) -> tuple:
    """The op whose weight tensor is named after the Keras layer (percepnet_step_1/gru1_x_1/MatMul)."""
    pat = re.compile(rf"^{re.escape(layer)}(_\d+)?$")
    hits = [k for k in fcs if any(pat.match(part) for part in re.split("[/;]", k))]
    if len(hits) != 1:
        raise ExportError(f"tflite model: expected one FULLY_CONNECTED for layer {layer!r}, found "
                          f"{len(hits)}; was it exported by edge.model.tflite_export?")
    return fcs[hits[0]]


def config_from_tflite(interp) -> dict:
    """The arch config of a converted step model: each stateful layer is named by its state
    input, each layer's width and kernel read from its FULLY_CONNECTED weights."""
    stateful = [d["name"].split(":")[0] for d in interp.get_input_details()]
    stateful = {re.sub(r"^serving_default_", "", n)[:-len("_state")] for n in stateful if n.endswith("_state")}
    fcs = _tflite_fc_ops(interp)
    n_out, cols = {}, {}
    for name in stateful | {"dense_in", *arch.OUTPUTS}:
        part = f"{name}_x" if name.startswith("gru") else name
        rows, cols[name] = _find(fcs, part)[0].shape
        n_out[name] = rows // 3 if part.endswith("_x") else rows
    if "dense_in" not in n_out or "conv1" not in n_out:
        raise ExportError("tflite model has no dense_in/conv1 layers: not a PercepNet step model")
    kernel = {"conv1": cols["conv1"] // n_out["dense_in"], "conv2": cols["conv2"] // n_out["conv1"]}
    try:
        return arch.config_from_layers(n_out, kernel)
    except ValueError as e:
        raise ExportError(f"tflite model: {e}") from None


def from_tflite(path: str | Path, name: str | None = None) -> bytes:
    """The .pnw of an int8 step-model .tflite."""
    from edge.model.tflite_step import load_interpreter

    interp = load_interpreter(path)
    cfg = config_from_tflite(interp)
    fcs = _tflite_fc_ops(interp)
    layers, out_src = layer_graph(cfg)
    for layer, spec in zip(layers, arch.topology(cfg)):
        parts = [f"{layer.name}_x", f"{layer.name}_h"] if layer.kind == "gru" else [layer.name]
        layer.mats = [_find(fcs, part) for part in parts]
        for (w, _, _), want in zip(layer.mats, arch.matrix_shapes(spec, layer.n_in)):
            if w.shape != want:
                raise ExportError(f"tflite layer {layer.name}: weights {w.shape}, expected {want}")
    if name is None:
        name = "paper" if cfg == arch.CONFIGS["paper"] else ("small" if cfg == arch.CONFIGS["small"] else "custom")
    return write_pnw(layers, out_src, name)


def export(tflite_path: str | Path, out_path: str | Path) -> dict:
    """edge export: write the .pnw of a .tflite, check that the native loader accepts it, and
    return a summary."""
    from edge.model.native_net import NativeNet

    data = from_tflite(tflite_path)
    net = NativeNet(data)
    info = net.info()
    net.close()
    try:
        Path(out_path).write_bytes(data)
    except OSError as e:
        raise ExportError(f"cannot write {out_path}: {e.strerror}") from None
    return {"out": str(out_path), "bytes": len(data), "name": info["name"],
            "layers": info["n_layers"], "weights": info["n_weights"]}
