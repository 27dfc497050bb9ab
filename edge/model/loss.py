"""The PercepNet training loss (Valin et al. 2020, arXiv 2008.04259, sec. 4).

Gains and comb strengths are compared after a perceptual compression (exponent gamma,
loudness-like), and gain errors also get a 4th-power term that punishes the large errors
that would be heard as speech distortion or residual noise:
    L_g = mean_b (g^γ - ĝ^γ)² + C4 · mean_b (g^γ - ĝ^γ)⁴
    L_r = mean_b ((1-r)^γ - (1-r̂)^γ)²
Strengths are compressed as 1 - r so that the error near r = 0 (no comb filtering, the
common case) is the one weighted most. The paper's gamma is 1/2; a smaller one pays more for
removing noise: a 1 dB error at g = 0.01 costs 0.01^(2γ) of the same error at g = 1, 100x
less at γ = 1/2, 16x less at γ = 0.3.

A target of MASKED leaves its band out of the mean: the band lies above what the example's
speech recording could hold (a 16 kHz recording has nothing above 8 kHz), or under the
features' floor, where no input tells a gain of 0 from 1."""
from __future__ import annotations

from dataclasses import asdict, dataclass

GAMMA = 0.5
C4 = 10.0
EPS = 1e-6  # keeps the gradient of x**GAMMA finite at 0
MASKED = -1.0


@dataclass(frozen=True)
class LossConfig:
    gamma: float = GAMMA
    c4: float = C4
    strength_weight: float = 1.0  # of L_r beside L_g


def _compress(x, gamma):
    from keras import ops
    return ops.power(ops.clip(x, EPS, 1.0), gamma)


def _masked_mean(err, y_true):
    from keras import ops
    keep = ops.cast(y_true >= 0.0, err.dtype)
    return ops.sum(err * keep, axis=-1) / ops.maximum(ops.sum(keep, axis=-1), 1.0)


def losses(cfg: LossConfig = LossConfig()):
    """(gain_loss, strength_loss) for Keras, with cfg's compression; the names are what a
    saved model refers them by."""
    def gain_loss(y_true, y_pred):
        from keras import ops
        d = _compress(y_true, cfg.gamma) - _compress(y_pred, cfg.gamma)
        return _masked_mean(ops.square(d) + cfg.c4 * ops.square(ops.square(d)), y_true)

    def strength_loss(y_true, y_pred):
        from keras import ops
        d = _compress(1.0 - y_true, cfg.gamma) - _compress(1.0 - y_pred, cfg.gamma)
        return _masked_mean(ops.square(d), y_true)

    return gain_loss, strength_loss


gain_loss, strength_loss = losses()  # the paper's, the reference every run is also measured by


def custom_objects(cfg: LossConfig = LossConfig()) -> dict:
    """What keras.models.load_model needs for a model compiled with cfg's losses."""
    from edge.model import standardize
    g, s = losses(cfg)
    return {"gain_loss": g, "strength_loss": s, "Standardize": standardize.Standardize}


def as_dict(cfg: LossConfig) -> dict:
    return asdict(cfg)
