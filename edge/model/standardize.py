"""Standardised network inputs: training sees (x - mean) / std per feature, with the training
set's statistics frozen in a layer of the model; export folds them into the first dense
layer (W / std, b - W·mean/std), so the step model, the .tflite and the native engine take the
kernel's raw features unchanged. The band energies (log10, mean -4..0.7, std 1.5-2.3) then
stop outweighing the pitch coherences (std 0.2-0.4)."""
from __future__ import annotations

import keras
import numpy as np

NAME = "standardize"
MIN_STD = 1e-3  # a feature constant over the training set is passed through, not blown up


@keras.saving.register_keras_serializable(package="percepnet")
class Standardize(keras.layers.Layer):
    def __init__(self, n_features: int, **kwargs):
        super().__init__(**kwargs)
        self.n_features = n_features
        self.mean = self.add_weight(shape=(n_features,), initializer="zeros", trainable=False, name="mean")
        self.std = self.add_weight(shape=(n_features,), initializer="ones", trainable=False, name="std")

    def call(self, x):
        return (x - self.mean) / self.std

    def get_config(self):
        return {**super().get_config(), "n_features": self.n_features}


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) per feature over every frame of features [..., F], summed in float64 a
    chunk at a time (a float64 copy of 40k float16 mixtures would not fit in memory)."""
    flat = features.reshape(-1, features.shape[-1])
    s, ss = np.zeros(flat.shape[1]), np.zeros(flat.shape[1])
    for i in range(0, len(flat), 1 << 20):
        c = flat[i:i + (1 << 20)].astype(np.float64)
        s += c.sum(0)
        ss += np.square(c).sum(0)
    mean = s / max(len(flat), 1)
    std = np.sqrt(np.maximum(ss / max(len(flat), 1) - mean ** 2, 0))
    return mean.astype(np.float32), np.maximum(std, MIN_STD).astype(np.float32)


def of(model) -> tuple[np.ndarray, np.ndarray] | None:
    """(mean, std) of a sequence model's Standardize layer, None when it has none."""
    try:
        mean, std = model.get_layer(NAME).get_weights()
    except ValueError:
        return None
    return mean, std


def fold(kernel: np.ndarray, bias: np.ndarray, mean: np.ndarray, std: np.ndarray):
    """(kernel, bias) of a dense layer [in, out] that takes raw x as the given one takes
    (x - mean) / std."""
    k = kernel / std[:, None]
    return k.astype(np.float32), (bias - mean @ k).astype(np.float32)


def unfold(kernel: np.ndarray, bias: np.ndarray, mean: np.ndarray, std: np.ndarray):
    """The inverse of fold: a layer on raw x rewritten to take standardised x."""
    return (kernel * std[:, None]).astype(np.float32), (bias + mean @ kernel).astype(np.float32)
