"""The TFLite step model of record: int8 weights, float activations, as the native engine computes.

Every FULLY_CONNECTED holds int8 weights with a float scale per output row (symmetric, -127..127:
edge.model.pnw.quantize_rows, the .pnw's) and a float bias. The TFLite kernel for that (hybrid,
with asymmetric_quantize_inputs off) quantises its input per frame to int8 with one symmetric
scale, max |x| -> 127 and rounding half away from zero, accumulates in int32 and scales back by
(weight scale x input scale): native/src/nnet_arch.h's arithmetic. Activations, GRU gates and
states are float in both; they differ only in the engine's approximations of tanh and sigmoid
and in float rounding. No calibration data is needed. from_tflite_weights converts a full-int8
.tflite (activations int8 with calibrated scales, the earlier model of record) into this kind
with the same int8 weights, scales and biases, so its .pnw export is byte for byte the same:
    python -m edge.model.tflite_export OLD.tflite NEW.tflite
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.errors import EdgeError
from edge.model import arch, tflite_step
from edge.model.pnw import quantize_rows


def _matrices(step_model) -> list[str]:
    """Names of the step model's Dense layers: one FULLY_CONNECTED each."""
    return [layer.name for layer in step_model.layers
            if len(layer.get_weights()) == 2 and layer.get_weights()[0].ndim == 2]


def to_tflite(seq_model, config) -> bytes:
    """The .tflite (bytes) of the step model of a build_model() sequence model: each matrix
    quantised as edge.model.pnw.from_keras quantises it for the .pnw."""
    step = arch.build_step_model(config, seq_model=seq_model)
    mats = {}
    for name in _matrices(step):
        kernel, bias = step.get_layer(name).get_weights()
        mats[name] = (*quantize_rows(kernel.T), np.asarray(bias, np.float32))
    return _convert(step, mats)


def from_tflite_weights(path: str | Path) -> bytes:
    """A step-model .tflite of either kind (full int8, or int8 weights with float activations)
    as this kind, with its int8 weights, per-row scales and (dequantised) biases unchanged."""
    interp = tflite_step.load_interpreter(path)
    cfg, fcs = tflite_step.config_from_tflite(interp), tflite_step.fc_ops(interp)
    step = arch.build_step_model(cfg)
    return _convert(step, {name: tflite_step.find_fc(fcs, name) for name in _matrices(step)})


def _convert(step_model, mats: dict) -> bytes:
    """Convert with dynamic-range quantisation, then pin each FULLY_CONNECTED to exactly the
    given (int8 weights [out, in], scales [out], float bias [out]) and to symmetric inputs."""
    import tensorflow as tf

    for name, (q, scale, bias) in mats.items():  # the floats the int8 weights stand for
        real = (np.asarray(q, np.float32) * np.asarray(scale, np.float32)[:, None]).T
        step_model.get_layer(name).set_weights([real, np.asarray(bias, np.float32)])
    conv = tf.lite.TFLiteConverter.from_keras_model(step_model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]   # no representative data: weights only
    return _pin(conv.convert(), mats)


def _pin(data: bytes, mats: dict) -> bytes:
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    graph = model.subgraphs[0]
    fc = schema.BuiltinOperator.FULLY_CONNECTED
    ops = {}
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        if max(code.builtinCode, code.deprecatedBuiltinCode) == fc:
            ops[graph.tensors[op.inputs[1]].name.decode()] = op
    written = {}

    def put(buffer: int, raw: bytes, what: str) -> None:
        if written.setdefault(buffer, raw) != raw:   # the converter shares equal constants
            raise EdgeError(f"tflite conversion: {what} shares its buffer with a different one")
        model.buffers[buffer].data = np.frombuffer(raw, np.uint8).copy()

    for name, (q, scale, bias) in mats.items():
        op = tflite_step.find_fc(ops, name)
        q, scale = np.ascontiguousarray(q, np.int8), np.asarray(scale, np.float32)
        w = graph.tensors[op.inputs[1]]
        if tuple(w.shape) != q.shape:
            raise EdgeError(f"tflite conversion: {name} weights {tuple(w.shape)}, expected {q.shape}")
        w.type = schema.TensorType.INT8
        put(w.buffer, q.tobytes(), f"{name}'s weights")
        w.quantization = schema.QuantizationParametersT()
        w.quantization.scale = [float(x) for x in scale]
        w.quantization.zeroPoint = [0] * len(scale)
        w.quantization.quantizedDimension = 0
        if len(op.inputs) > 2 and op.inputs[2] >= 0:
            put(graph.tensors[op.inputs[2]].buffer, np.asarray(bias, "<f4").tobytes(), f"{name}'s bias")
        elif np.any(bias):
            raise EdgeError(f"tflite conversion: {name} lost its bias")
        op.builtinOptions.asymmetricQuantizeInputs = False
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m edge.model.tflite_export",
                                description="Rewrite a step-model .tflite (full int8, or already "
                                            "int8 weights with float activations) as int8 "
                                            "weights with float activations, weights unchanged.")
    p.add_argument("model", type=Path, metavar="IN.tflite")
    p.add_argument("out", type=Path, metavar="OUT.tflite")
    args = p.parse_args(argv)
    args.out.write_bytes(from_tflite_weights(args.model))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
