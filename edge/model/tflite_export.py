"""Full-int8 TFLite export of the streaming step model (the model of record).

Weights are int8 per output channel; activations int8 with scales calibrated by running the
step model over long real feature sequences with its state carried, sampling frames after a
warm-up, so the states seen during calibration are the states the network really reaches. Inputs and outputs stay float32
(quantise/dequantise at the boundary), which is what TFLiteStep and edge denoise feed.
"""
from __future__ import annotations

import numpy as np


def calibration_inputs(step_model, features, max_frames: int = 600,
                       warmup: int = 100) -> list[list[np.ndarray]]:
    """Step-model input lists (features, states...) for calibration: each sequence of
    `features` ([T, 70], or a list of them) is run whole with its state carried from zero,
    and frames after the first `warmup` are taken, evenly spaced, max_frames in all. The
    scales then cover the states a running stream reaches, not only the first frames."""
    seqs = [np.asarray(s, np.float32) for s in (features if isinstance(features, (list, tuple)) else [features])]
    per_seq = max(1, max_frames // len(seqs))
    n_states = len(step_model.inputs) - 1
    samples = []
    for seq in seqs:
        start = min(warmup, max(0, len(seq) - per_seq))
        take = set(np.linspace(start, len(seq) - 1, min(per_seq, len(seq) - start)).astype(int).tolist())
        states = [np.zeros((1, int(t.shape[-1])), np.float32) for t in step_model.inputs[1:]]
        for t in range(max(take, default=-1) + 1):
            inputs = [seq[t][None, :]] + states
            if t in take:
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

