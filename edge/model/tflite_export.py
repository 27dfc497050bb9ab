"""Full-int8 TFLite export of the streaming step model (the model of record).

Weights are int8 per output channel; activations int8 with scales calibrated on frames of
long real feature sequences after a warm-up, each with the state the network really reaches
there (computed in one pass of the sequence model). Inputs and outputs stay float32
(quantise/dequantise at the boundary), which is what TFLiteStep and edge denoise feed.
"""
from __future__ import annotations

import numpy as np


def calibration_inputs(seq_model, config, features, max_frames: int = 600,
                       warmup: int = 100) -> list[list[np.ndarray]]:
    """Step-model input lists (features, states...) for calibration: frames after the first
    `warmup` of each sequence of `features` ([T, 70], or a list of them), evenly spaced,
    max_frames in all, each with the state a stream reaches there from a zero start. The
    states come from one pass of the sequence model (the same maths as the step model): a
    conv's state is its input over the kernel-1 frames before, a GRU's its output one frame
    before. The scales then cover a running stream, not only its first frames."""
    import keras
    from edge.model.arch import topology

    net = [x for x in topology(config) if x.kind in ("conv", "gru")]
    needed = sorted({s for x in net for s in (x.src if x.kind == "conv" else (x.name,))})
    probe = keras.Model(seq_model.inputs, [seq_model.get_layer(n).output for n in needed])
    seqs = [np.asarray(s, np.float32) for s in (features if isinstance(features, (list, tuple)) else [features])]
    per_seq = max(1, max_frames // len(seqs))
    samples = []
    for seq in seqs:
        outs = probe(seq[None], training=False)
        outs = dict(zip(needed, (np.asarray(o)[0] for o in (outs if len(needed) > 1 else [outs]))))
        # what each state holds over the whole sequence: a conv's joined inputs, a GRU's output
        held = {x.name: np.concatenate([outs[s] for s in x.src], axis=-1) if x.kind == "conv" else outs[x.name]
                for x in net}
        start = min(warmup, max(0, len(seq) - per_seq))
        for t in np.unique(np.linspace(start, len(seq) - 1, min(per_seq, len(seq) - start)).astype(int)):
            states = []
            for x in net:
                frames = x.kernel - 1 if x.kind == "conv" else 1
                past = np.zeros((frames, held[x.name].shape[1]), np.float32)
                got = held[x.name][max(0, t - frames):t]
                past[len(past) - len(got):] = got
                states.append(past.reshape(1, -1))
            samples.append([seq[t][None, :]] + states)
    return samples


def to_tflite_int8(seq_model, config, representative_features, max_frames: int = 600) -> bytes:
    """The int8 .tflite (bytes) of the step model of a build_model() sequence model."""
    import tensorflow as tf
    from edge.model.arch import build_step_model

    step_model = build_step_model(config, seq_model=seq_model)
    samples = calibration_inputs(seq_model, config, representative_features, max_frames)
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

