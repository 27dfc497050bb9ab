"""The PercepNet training loss (Valin et al. 2020, arXiv 2008.04259, sec. 4).

Gains and comb strengths are compared after a perceptual compression (exponent gamma = 1/2,
loudness-like), and gain errors also get a 4th-power term that punishes the large errors
that would be heard as speech distortion or residual noise:
    L_g = mean_b (g^γ - ĝ^γ)² + C4 · mean_b (g^γ - ĝ^γ)⁴
    L_r = mean_b ((1-r)^γ - (1-r̂)^γ)²
Strengths are compressed as 1 - r so that the error near r = 0 (no comb filtering, the
common case) is the one weighted most."""
from __future__ import annotations

GAMMA = 0.5
C4 = 10.0
EPS = 1e-6  # keeps the gradient of x**GAMMA finite at 0


def _compress(x):
    from keras import ops
    return ops.power(ops.clip(x, EPS, 1.0), GAMMA)


def gain_loss(y_true, y_pred):
    from keras import ops
    d = _compress(y_true) - _compress(y_pred)
    return ops.mean(ops.square(d) + C4 * ops.square(ops.square(d)), axis=-1)


def strength_loss(y_true, y_pred):
    from keras import ops
    d = _compress(1.0 - y_true) - _compress(1.0 - y_pred)
    return ops.mean(ops.square(d), axis=-1)
