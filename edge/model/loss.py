"""The PercepNet training loss (Valin et al. 2020, arXiv 2008.04259, sec. 4).

Gains and comb strengths are compared after a perceptual compression (exponent gamma = 1/2,
loudness-like), and gain errors also get a 4th-power term that punishes the large errors
that would be heard as speech distortion or residual noise:
    L_g = mean_b (g^γ - ĝ^γ)² + C4 · mean_b (g^γ - ĝ^γ)⁴
    L_r = mean_b ((1-r)^γ - (1-r̂)^γ)²
Strengths are compressed as 1 - r so that the error near r = 0 (no comb filtering, the
common case) is the one weighted most.

A target of MASKED leaves its band out of the mean: the band lies above what the example's
speech recording could hold (a 16 kHz recording has nothing above 8 kHz), so its ideal gain
says nothing about speech there."""
from __future__ import annotations

GAMMA = 0.5
C4 = 10.0
EPS = 1e-6  # keeps the gradient of x**GAMMA finite at 0
MASKED = -1.0


def _compress(x):
    from keras import ops
    return ops.power(ops.clip(x, EPS, 1.0), GAMMA)


def _masked_mean(err, y_true):
    from keras import ops
    keep = ops.cast(y_true >= 0.0, err.dtype)
    return ops.sum(err * keep, axis=-1) / ops.maximum(ops.sum(keep, axis=-1), 1.0)


def gain_loss(y_true, y_pred):
    from keras import ops
    d = _compress(y_true) - _compress(y_pred)
    return _masked_mean(ops.square(d) + C4 * ops.square(ops.square(d)), y_true)


def strength_loss(y_true, y_pred):
    from keras import ops
    d = _compress(1.0 - y_true) - _compress(1.0 - y_pred)
    return _masked_mean(ops.square(d), y_true)
