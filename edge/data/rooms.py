"""Room responses: simulated ones, and the split of any response into the early part the
target keeps (direct path and early reflections) and the late reverb the model removes."""
from __future__ import annotations

import numpy as np

from edge.native import SAMPLE_RATE as RATE

EARLY_S = 0.050


def simulated_rir(rng: np.random.Generator) -> np.ndarray:
    """Exponentially decaying noise after a direct-path impulse: RT60 0.2-1.0 s,
    direct-to-reverberant ratio -3 to 12 dB."""
    rt60 = rng.uniform(0.2, 1.0)
    n = int(rt60 * 1.2 * RATE)
    t = np.arange(n) / RATE
    pre = int(rng.uniform(0.002, 0.01) * RATE)  # gap before the first reflections
    tail = rng.standard_normal(n) * np.exp(-6.908 * t / rt60)  # -60 dB at rt60
    tail[:pre] = 0
    drr_db = rng.uniform(-3, 12)
    h = tail * 10 ** (-drr_db / 20) / (np.sqrt(np.sum(tail ** 2)) + 1e-9)
    h[0] = 1.0
    return h.astype(np.float32)


def early_part(rir: np.ndarray) -> np.ndarray:
    """The response up to EARLY_S after its direct-path peak, with a short fade out."""
    peak = int(np.argmax(np.abs(rir)))
    end = min(len(rir), peak + int(EARLY_S * RATE))
    h = rir[:end].copy()
    fade = min(len(h) - peak, int(0.005 * RATE))
    if fade > 0:
        h[end - fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
    return h


def reverberate(x: np.ndarray, rir: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(reverberant x, target x) with the direct-path peak kept at the same time index
    as in x, so the target stays aligned with the dry speech."""
    from scipy.signal import fftconvolve
    peak = int(np.argmax(np.abs(rir)))
    wet = fftconvolve(x, rir)[peak:peak + len(x)]
    target = fftconvolve(x, early_part(rir))[peak:peak + len(x)]
    return wet.astype(np.float32), target.astype(np.float32)
