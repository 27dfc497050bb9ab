"""The native weight file (.pnw) in one module: its layout (native/src/model.h, mirrored here
and checked against it by tests/test_pnw_format.py), written from the .tflite of record, from a
float Keras model or from another .pnw, read back, and described.

from_tflite(path) takes every FULLY_CONNECTED op of the streaming step model as converted by
edge.model.tflite_export (read by edge.model.tflite_step): int8 weights and their per-channel
scales are copied unchanged, the float biases too (a full-int8 .tflite, the earlier kind, has
int32 biases: they are turned back into floats with their own scales). The layer graph comes
from edge.model.arch (layer_graph), so the file describes exactly the network the TFLite runs.
from_keras(model) quantises a float Keras model the same way (symmetric, per output channel)
without TFLite: used for benchmarks with random weights and for tests. from_pnw(path) reads
an int8 .pnw back (read) and writes it in another encoding, in numpy alone: how `edge flash`
makes the int4 default for a board without a TFLite interpreter.

weights="int4" (post-training quantisation, `edge export --weights int4`): the matrices of the
hidden layers are stored in 4 bits, -8..7, with a scale per row and block of 32 columns (a
float per row times an 8-bit multiplier per block, chosen per block for the least squared
error); the layer that reads the features and the output layers stay int8 (small: 1.4% of the
small model's weights). From a .tflite the int8 weights are requantised; from a .keras
checkpoint the float weights are quantised once. One writer serves both encodings:
write picks each matrix's, and writes format version 2 when every matrix is int8 (what
older kernels read) and version 3 otherwise.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.errors import EdgeError
from edge.model import arch, tflite_step
from edge.native import FEATURE_VERSION, NB_OUTPUTS, SAMPLE_RATE

# The layout of native/src/model.h, all little-endian.
MAGIC = b"PNWF"
FORMAT_VERSION = 2        # every matrix int8
FORMAT_VERSION_MIXED = 3  # an encoding per matrix in the layer table
# The header (PN_MODEL_HEADER_SIZE bytes), field by field: name, struct code.
HEADER_FIELDS = (("magic", "4s"), ("version", "I"), ("n_features", "I"), ("n_outputs", "I"),
                 ("n_layers", "I"), ("payload_bytes", "I"), ("crc", "I"), ("n_out_src", "I"),
                 ("out_src", "4h"), ("name", "32s"), ("feature_version", "I"), ("rate", "I"))
HEADER = struct.Struct("<" + "".join(code for _, code in HEADER_FIELDS))
OFFSETS = {name: struct.calcsize("<" + "".join(code for _, code in HEADER_FIELDS[:i]))
           for i, (name, _) in enumerate(HEADER_FIELDS)}
CRC_FROM = OFFSETS["n_out_src"]     # the checksum covers the file from here to its end
# A layer table entry: type, activation, n_in, n_out, kernel, n_src, src[MAX_SRC]; version 3
# adds the encoding of each of its (up to) two matrices.
LAYER = struct.Struct("<6I4h")
LAYER_ENCODINGS = struct.Struct("<2I")
MAX_SRC = 4
TYPES = {"dense": 1, "conv": 2, "gru": 3}
ACTS = {None: 0, "tanh": 1, "sigmoid": 2, "relu": 3}
WEIGHT_BITS = {"int8": 8, "int4": 4}  # the encodings; a code in the file is its bits per weight
INT4_BLOCK = 32                     # PN_Q4_BLOCK: columns per multiplier
# PN_Q4_MUL_SUM_MAX: the largest sum of one row's block multipliers the loader admits
INT4_MUL_SUM_MAX = (2**31 - 1) // (INT4_BLOCK * 8 * 127)
# Block scales tried per block, as the block's largest |w| over this many steps; the one with
# the least squared error is kept (7 alone would be the plain symmetric |w|max / 7).
INT4_STEPS = (6.0, 6.5, 7.0, 7.5, 8.0)


def layer_size(version: int) -> int:
    """Bytes of one layer table entry in a file of this format version."""
    return LAYER.size + (LAYER_ENCODINGS.size if version >= FORMAT_VERSION_MIXED else 0)


def header(data: bytes) -> dict:
    """The header fields of .pnw bytes (at least HEADER.size of them) by name."""
    fields = {name: struct.unpack_from("<" + code, data, OFFSETS[name]) for name, code in HEADER_FIELDS}
    return {name: v if len(v) > 1 else v[0] for name, v in fields.items()}


class PnwError(EdgeError):
    """A model that cannot be written as a .pnw, or bytes that are not a .pnw this module reads."""


@dataclass
class Layer:
    name: str
    kind: str            # dense, conv, gru
    act: str | None
    n_in: int            # per frame
    n_out: int
    kernel: int = 1
    src: list[int] = field(default_factory=list)  # -1: features
    # [(weights [rows, cols], scale [rows], bias [rows])]: int8 weights with their per-row
    # scales (from TFLite), or float weights with scale None (from Keras), quantised by
    # write to the encoding it picks for the matrix
    mats: list = field(default_factory=list)


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


def quantize_int4(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """4-bit weights with a scale per row and 32-column block: (int8 q [rows, cols padded to
    32] in -8..7, uint8 multipliers [rows, blocks], float32 row scale [rows]); the real weight
    is q * multiplier * row scale. Each block's scale is the one of INT4_STEPS (on the
    multiplier grid) with the least squared error; rows' multipliers stay within the sum the
    loader admits."""
    w = np.asarray(w, np.float64)
    rows, cols = w.shape
    blocks = -(-cols // INT4_BLOCK)
    b = np.zeros((rows, blocks * INT4_BLOCK))
    b[:, :cols] = w
    b = b.reshape(rows, blocks, INT4_BLOCK)
    amax = np.abs(b).max(axis=2)
    top = min(255, INT4_MUL_SUM_MAX // blocks)  # the largest multiplier: 255 unless very wide
    row = (amax / min(INT4_STEPS)).max(axis=1) / top
    row[row == 0] = 1.0
    row = row.astype(np.float32).astype(np.float64)  # the scale the file keeps
    best_q = best_m = best_err = None
    for steps in INT4_STEPS:
        m = np.where(amax > 0, np.clip(np.round(amax / steps / row[:, None]), 1, top), 0)
        s = (m * row[:, None])[:, :, None]
        q = np.clip(np.round(np.divide(b, s, out=np.zeros_like(b), where=s > 0)), -8, 7)
        err = ((q * s - b) ** 2).sum(axis=2)
        if best_err is None:
            best_q, best_m, best_err = q, m, err
        else:
            better = err < best_err
            best_q = np.where(better[:, :, None], q, best_q)
            best_m = np.where(better, m, best_m)
            best_err = np.minimum(err, best_err)
    return (best_q.reshape(rows, -1).astype(np.int8), best_m.astype(np.uint8), row.astype(np.float32))


def _padded(w: np.ndarray, rp: int, cp: int) -> np.ndarray:
    out = np.zeros((rp, cp), w.dtype)
    out[:w.shape[0], :w.shape[1]] = w
    return out


def pack_matrix(w: np.ndarray, scale: np.ndarray, bias: np.ndarray) -> bytes:
    """int8 weights in 8x4 blocks (rows padded to 8, columns to 4), then scales and biases."""
    rows, cols = w.shape
    rp, cp = -(-rows // 8) * 8, -(-cols // 4) * 4
    blocks = _padded(np.asarray(w, np.int8), rp, cp).reshape(rp // 8, 8, cp // 4, 4).transpose(0, 2, 1, 3)
    return (np.ascontiguousarray(blocks).tobytes() + np.asarray(scale, "<f4").tobytes()
            + np.asarray(bias, "<f4").tobytes())


def pack_matrix_int4(q: np.ndarray, mul: np.ndarray, scale: np.ndarray, bias: np.ndarray) -> bytes:
    """int4 weights (quantize_int4) as the int8 layout's 8x4 blocks packed in pairs along each
    row block (the first in the low nibbles), then the block multipliers per 8 rows and
    32-column block, then scales and biases."""
    rows, cp = q.shape
    rp = -(-rows // 8) * 8
    blocks = _padded(q, rp, cp).reshape(rp // 8, 8, cp // 4, 4).transpose(0, 2, 1, 3)
    pairs = (blocks.reshape(rp // 8, cp // 8, 2, 32).astype(np.uint8) & 15)
    packed = pairs[:, :, 0] | (pairs[:, :, 1] << 4)
    muls = _padded(mul, rp, mul.shape[1]).reshape(rp // 8, 8, -1).transpose(0, 2, 1)
    return (np.ascontiguousarray(packed).tobytes() + np.ascontiguousarray(muls).tobytes()
            + np.asarray(scale, "<f4").tobytes() + np.asarray(bias, "<f4").tobytes())


def encoding(layer: Layer, index: int, out_src: list[int], weights: str) -> str:
    """The encoding write gives a layer's matrices: int4 asks it of the hidden layers only
    (not of one that reads the features, nor of an output layer)."""
    if weights not in WEIGHT_BITS:
        raise PnwError(f"weights {weights!r}: one of {', '.join(WEIGHT_BITS)}")
    hidden = -1 not in layer.src and index not in out_src
    return "int4" if weights == "int4" and hidden else "int8"


def encode_matrix(w: np.ndarray, scale, bias: np.ndarray, enc: str) -> bytes:
    """One matrix's payload in an encoding, from int8 + scales or from floats (scale None)."""
    if enc == "int4":
        real = np.asarray(w, np.float64) * (1.0 if scale is None else np.asarray(scale, np.float64)[:, None])
        return pack_matrix_int4(*quantize_int4(real), bias)
    if scale is None:
        w, scale = quantize_rows(w)
    return pack_matrix(w, scale, bias)


def write(layers: list[Layer], out_src: list[int], name: str, weights: str = "int8") -> bytes:
    """The .pnw bytes; weights: "int8", or "int4" for the matrices encoding() picks."""
    table, payload, version = [], b"", FORMAT_VERSION
    for i, layer in enumerate(layers):
        src = list(layer.src) + [0] * (MAX_SRC - len(layer.src))
        entry = LAYER.pack(TYPES[layer.kind], ACTS[layer.act], layer.n_in, layer.n_out,
                           layer.kernel, len(layer.src), *src)
        encs = [encoding(layer, i, out_src, weights)] * len(layer.mats)
        for (w, scale, bias), enc in zip(layer.mats, encs):
            payload += encode_matrix(w, scale, bias, enc)
        if "int4" in encs:
            version = FORMAT_VERSION_MIXED
        table.append((entry, encs))
    if version == FORMAT_VERSION_MIXED:
        table = b"".join(e + LAYER_ENCODINGS.pack(*([WEIGHT_BITS[x] for x in encs] + [0, 0])[:2])
                         for e, encs in table)
    else:
        table = b"".join(e for e, _ in table)
    outs = list(out_src) + [0] * (MAX_SRC - len(out_src))
    data = bytearray(HEADER.pack(MAGIC, version, arch.NB_FEATURES, NB_OUTPUTS, len(layers),
                                 len(payload), 0, len(out_src), *outs, name.encode()[:31],
                                 FEATURE_VERSION, SAMPLE_RATE) + table + payload)
    struct.pack_into("<I", data, OFFSETS["crc"], zlib.crc32(data[CRC_FROM:]))
    return bytes(data)


def from_keras(model, config, name: str, weights: str = "int8") -> bytes:
    """A float Keras sequence model (arch.build_model) quantised to a .pnw."""
    layers, out_src = layer_graph(config)
    for layer in layers:
        w = model.get_layer(layer.name).get_weights()
        if layer.kind == "gru":
            kernel, recurrent, bias = w
            layer.mats = [(kernel.T, None, bias[0]), (recurrent.T, None, bias[1])]
        else:
            kernel, bias = w
            layer.mats = [(kernel.reshape(-1, kernel.shape[-1]).T, None, bias)]
    return write(layers, out_src, name, weights)


def config_from_keras(model) -> dict:
    """The arch config of a Keras sequence model (arch.build_model), read from its layers."""
    n_out, kernel = {}, {}
    for layer in model.layers:
        w = layer.get_weights()
        if not w:
            continue
        n_out[layer.name] = w[1].shape[0] if len(w) == 3 else w[0].shape[-1]  # GRU: its recurrent kernel
        if w[0].ndim == 3:
            kernel[layer.name] = w[0].shape[0]
    try:
        return arch.config_from_layers(n_out, kernel)
    except ValueError as e:
        raise PnwError(f"keras model: {e}") from None


def _size_name(cfg: dict) -> str:
    return "paper" if cfg == arch.CONFIGS["paper"] else ("small" if cfg == arch.CONFIGS["small"] else "custom")


def from_tflite(path: str | Path, name: str | None = None, weights: str = "int8") -> bytes:
    """The .pnw of a step-model .tflite (int8 weights; float or int8 activations)."""
    interp = tflite_step.load_interpreter(path)
    cfg = tflite_step.config_from_tflite(interp)
    fcs = tflite_step.fc_ops(interp)
    layers, out_src = layer_graph(cfg)
    for layer, spec in zip(layers, arch.topology(cfg)):
        parts = [f"{layer.name}_x", f"{layer.name}_h"] if layer.kind == "gru" else [layer.name]
        layer.mats = [tflite_step.find_fc(fcs, part) for part in parts]
        for (w, _, _), want in zip(layer.mats, arch.matrix_shapes(spec, layer.n_in)):
            if w.shape != want:
                raise PnwError(f"tflite layer {layer.name}: weights {w.shape}, expected {want}")
    return write(layers, out_src, name or _size_name(cfg), weights)


def read(data: bytes) -> tuple[list[Layer], list[int], str]:
    """An all-int8 .pnw back as write's input: (layers with their int8 matrices, scales and
    biases, output sources, name). Checks the header and the checksum, not what the native
    loader checks beyond them."""
    data = bytes(data)
    if len(data) < HEADER.size or data[:len(MAGIC)] != MAGIC:
        raise PnwError("not a .pnw weight file (bad magic)")
    h = header(data)
    version, n_feat, n_layers = h["version"], h["n_features"], h["n_layers"]
    if version not in (FORMAT_VERSION, FORMAT_VERSION_MIXED) or zlib.crc32(data[CRC_FROM:]) != h["crc"]:
        raise PnwError(f".pnw format version {version} or its checksum is not one this export reads")
    feature_version, rate = h["feature_version"], h["rate"]
    if (n_feat, feature_version, rate) != (arch.NB_FEATURES, FEATURE_VERSION, SAMPLE_RATE):
        raise PnwError(f".pnw of {n_feat} features (version {feature_version}, {rate} Hz); this "
                       f"kernel computes {arch.NB_FEATURES} (version {FEATURE_VERSION}, {SAMPLE_RATE} Hz)")
    name = h["name"].split(b"\0")[0].decode()
    kinds, acts = {v: k for k, v in TYPES.items()}, {v: k for k, v in ACTS.items()}
    entry = layer_size(version)
    at = HEADER.size + entry * n_layers
    if len(data) != at + h["payload_bytes"]:
        raise PnwError(f".pnw of {len(data)} bytes, its header says {at + h['payload_bytes']}")
    layers = []
    for i in range(n_layers):
        kind, act, n_in, n_out, kernel, n_src, *src = LAYER.unpack_from(data, HEADER.size + entry * i)
        bits = (LAYER_ENCODINGS.unpack_from(data, HEADER.size + entry * i + LAYER.size)
                if version == FORMAT_VERSION_MIXED else (WEIGHT_BITS["int8"],) * 2)
        layer = Layer(f"layer{i}", kinds[kind], acts[act], n_in, n_out, kernel, list(src[:n_src]))
        shapes = [(3 * n_out, n_in), (3 * n_out, n_out)] if layer.kind == "gru" else [(n_out, kernel * n_in)]
        for (rows, cols), b in zip(shapes, bits):
            if b != WEIGHT_BITS["int8"]:
                raise PnwError(f".pnw layer {i} is already {b}-bit: give the int8 export")
            rp, cp = -(-rows // 8) * 8, -(-cols // 4) * 4
            w = np.frombuffer(data, np.int8, rp * cp, at).reshape(rp // 8, cp // 4, 8, 4)
            w = w.transpose(0, 2, 1, 3).reshape(rp, cp)[:rows, :cols]
            at += rp * cp
            scale = np.frombuffer(data, "<f4", rows, at).astype(np.float32)
            bias = np.frombuffer(data, "<f4", rows, at + 4 * rows).astype(np.float32)
            at += 8 * rows
            layer.mats.append((w, scale, bias))
        layers.append(layer)
    return layers, list(h["out_src"][:h["n_out_src"]]), name


def from_pnw(path: str | Path, weights: str = "int8") -> bytes:
    """An int8 .pnw in another weight encoding, in numpy alone (no TFLite, no Keras): its int8
    weights and scales requantised as from_tflite requantises the .tflite's, so the int4 file of
    default.pnw is the one `edge export --weights int4` writes from default.tflite."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise PnwError(f"{path}: {e.strerror}") from None
    try:
        layers, out_src, name = read(data)
    except PnwError as e:
        raise PnwError(f"{path}: {e}") from None
    return write(layers, out_src, name, weights)


def from_checkpoint(path: str | Path, weights: str = "int8") -> bytes:
    """The .pnw of a float .keras training checkpoint (edge train's best.keras)."""
    import keras

    from edge.model.loss import custom_objects

    try:
        model = keras.models.load_model(path, custom_objects=custom_objects())
    except (OSError, ValueError) as e:
        raise PnwError(f"{path}: not a Keras model ({e})") from None
    cfg = config_from_keras(model)
    return from_keras(model, cfg, _size_name(cfg), weights)


def export(model_path: str | Path, out_path: str | Path, weights: str = "int8") -> dict:
    """edge export: write the .pnw of a .tflite (or a .keras checkpoint), check that the native
    loader accepts it, and return a summary."""
    from edge.model.native_net import NativeNet

    if weights not in WEIGHT_BITS:
        raise PnwError(f"--weights {weights}: one of {', '.join(WEIGHT_BITS)}")
    if not Path(model_path).is_file():
        raise PnwError(f"{model_path}: no such model file")
    if str(model_path).endswith(".keras"):
        data = from_checkpoint(model_path, weights)
    else:
        data = from_tflite(model_path, weights=weights)
    net = NativeNet(data)
    info = net.info()
    net.close()
    try:
        Path(out_path).write_bytes(data)
    except OSError as e:
        raise PnwError(f"cannot write {out_path}: {e.strerror}") from None
    return {"out": str(out_path), "bytes": len(data), "name": info["name"],
            "layers": info["n_layers"], "weights": info["n_weights"], "encoding": weights,
            "int4_matrices": describe(data)["int4_matrices"]}


def describe(data: bytes) -> dict:
    """Format version and per-matrix encodings of .pnw bytes (header and layer table only;
    the native loader is what validates a file)."""
    h = header(data)
    mixed = h["version"] >= FORMAT_VERSION_MIXED
    names = {v: k for k, v in WEIGHT_BITS.items()}
    encs = []
    for i in range(h["n_layers"]):
        at = HEADER.size + layer_size(h["version"]) * i
        n = 2 if LAYER.unpack_from(data, at)[0] == TYPES["gru"] else 1
        codes = LAYER_ENCODINGS.unpack_from(data, at + LAYER.size)[:n] if mixed else (WEIGHT_BITS["int8"],) * n
        encs += [names.get(c, str(c)) for c in codes]
    return {"version": h["version"], "encodings": encs, "int4_matrices": encs.count("int4")}
