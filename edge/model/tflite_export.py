"""Full-int8 TFLite export of the streaming step model (the model of record).

Weights are int8 per output channel; activations int8 with scales calibrated by running the
step model over real feature sequences with its state carried, so the states seen during
calibration are the states the network really reaches. Inputs and outputs stay float32
(quantise/dequantise at the boundary), which is what TFLiteStep and edge denoise feed.
"""
from __future__ import annotations

import numpy as np


def calibration_inputs(step_model, features: np.ndarray, max_frames: int = 600) -> list[list[np.ndarray]]:
    """Step-model input lists (features, states...) for each frame of `features` [T, 70] (or a
    list of such sequences), states carried from zero at the start of each sequence."""
    seqs = features if isinstance(features, (list, tuple)) else [features]
    per_seq = max(1, max_frames // len(seqs))
    n_states = len(step_model.inputs) - 1
    samples = []
    for seq in seqs:
        seq = np.asarray(seq, np.float32)
        states = [np.zeros((1, int(t.shape[-1])), np.float32) for t in step_model.inputs[1:]]
        for t in range(min(len(seq), per_seq)):
            inputs = [seq[t][None, :]] + states
            samples.append(inputs)
            outs = step_model(inputs, training=False)
            states = [np.asarray(o) for o in outs[2:2 + n_states]]
    return samples


def to_tflite_int8(step_model, representative_features, max_frames: int = 600) -> bytes:
    """Convert a build_step_model() model to an int8 .tflite (bytes)."""
    import tensorflow as tf

    samples = calibration_inputs(step_model, representative_features, max_frames)
    if not samples:
        raise ValueError("no representative features to calibrate on")
    names = [t.name.split(":")[0] for t in step_model.inputs]
    conv = tf.lite.TFLiteConverter.from_keras_model(step_model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]

    def representative():
        for s in samples:  # by name: the converter may order the inputs differently
            yield dict(zip(names, s))

    conv.representative_dataset = representative
    return conv.convert()

