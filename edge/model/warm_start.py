"""Starting a training run from an exported model (the shipped default.tflite): its int8
weights, dequantised, in the Keras sequence model, so a new recipe fine-tunes what earlier
runs learned instead of starting from random weights."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.errors import EdgeError
from edge.model import arch, tflite_step


def tflite_weights(path: str | Path) -> tuple[dict, dict[str, list]]:
    """(arch config, Keras-form float weights by layer name) of a step-model .tflite."""
    interp = tflite_step.load_interpreter(path)
    cfg, fcs = tflite_step.config_from_tflite(interp), tflite_step.fc_ops(interp)

    def dense(part):  # [out, in] int8 with a scale per row -> Keras [in, out] float
        w, scale, bias = tflite_step.find_fc(fcs, part)
        return (w.astype(np.float32) * scale[:, None]).T, bias

    weights = {}
    for layer in arch.topology(cfg):
        if layer.kind == "gru":
            (wx, bx), (wh, bh) = dense(f"{layer.name}_x"), dense(f"{layer.name}_h")
            weights[layer.name] = [wx, wh, np.stack([bx, bh])]
        else:
            w, b = dense(layer.name)
            weights[layer.name] = [w.reshape(layer.kernel, -1, layer.n_out) if layer.kind == "conv" else w, b]
    return cfg, weights


def load_into(model, path: str | Path, config) -> None:
    """Set a build_model() model's weights from the .tflite at path (same config); a
    Standardize layer keeps its statistics and dense_in is rewritten to take its output."""
    from edge.model import standardize

    cfg, weights = tflite_weights(path)
    if cfg != arch.get_config(config):
        raise EdgeError(f"{path}: a network of config {cfg}, the run trains {arch.get_config(config)}")
    norm = standardize.of(model)
    if norm is not None:
        weights["dense_in"] = list(standardize.unfold(*weights["dense_in"], *norm))
    for name, w in weights.items():
        model.get_layer(name).set_weights(w)
