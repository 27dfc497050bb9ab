"""One training example: speech and noise mixed at a random SNR, level, tilt, low-cut,
clipping and room, as real microphones deliver it."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from edge.data.rooms import reverberate
from edge.native import SAMPLE_RATE as RATE


@dataclass(frozen=True)
class MixConfig:
    seconds: float = 4.0
    snr_db: tuple[float, float] = (-8.0, 20.0)
    snr_skew: float = 1.25   # drawn as lo + (hi - lo) * u**skew: 54% under 5 dB, mean 4.4 dB
    p_clean_only: float = 0.05
    p_noise_only: float = 0.15  # teaches full suppression of each noise, above 8 kHz too
    p_reverb: float = 0.3
    p_recorded: float = 0.5  # share of examples spoken by recorded speech when TTS is also there
    p_fullband: float = 0.4  # share spoken by 44.1/48 kHz recordings, however few they are
                             # (where the sources have no shares of their own)
    p_narrowband: float = 0.15  # whole mixtures through a 16 kHz capture chain (8 kHz band)
    level_dbfs: tuple[float, float] = (-45.0, -5.0)
    tilt: bool = True
    p_lowcut: float = 0.3    # a microphone's or codec's high-pass, 40-250 Hz
    p_clip: float = 0.1      # mild clipping of the input: 0.1-1% of samples
    p_speed: float = 0.5     # the talker sped up or slowed down by 5-10%: pitch and formants
                             # move with it, as between speakers (38 min of speech is few voices)
    p_echo: float = 0.0      # speakerphone: the noise is a far-end talker's residual echo
    echo_db: tuple[float, float] = (10.0, 30.0)  # its level under the near-end speech


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-12))


def active_rms(x: np.ndarray) -> float:
    """RMS over the 10 ms frames within 40 dB of the loudest: speech level without pauses."""
    frames = x[:len(x) // 480 * 480].reshape(-1, 480)
    e = np.mean(frames.astype(np.float64) ** 2, axis=1)
    if not len(e) or e.max() <= 0:
        return 0.0
    return float(np.sqrt(np.mean(e[e > e.max() * 1e-4])))


SPEEDS = tuple(Fraction(k, 20) for k in (18, 19, 21, 22))


def speed_factor(rng: np.random.Generator, cfg: MixConfig) -> Fraction:
    """1, or a factor of SPEEDS for cfg.p_speed of the examples."""
    return SPEEDS[int(rng.integers(len(SPEEDS)))] if rng.random() < cfg.p_speed else Fraction(1)


def speed(x: np.ndarray, factor: Fraction) -> np.ndarray:
    """x played `factor` times faster: every frequency times factor, the length divided by it."""
    if factor == 1:
        return x
    from scipy.signal import resample_poly
    return resample_poly(x, factor.denominator, factor.numerator).astype(np.float32)


def fill(utterances: list[np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    """n samples of speech: utterances back to back with short random pauses, random start."""
    parts, total = [], 0
    while total < n + RATE:
        u = utterances[int(rng.integers(len(utterances)))]
        gap = np.zeros(int(rng.uniform(0, 0.4) * RATE), np.float32)
        parts += [u, gap]
        total += len(u) + len(gap)
    x = np.concatenate(parts)
    start = int(rng.integers(0, len(x) - n))
    return x[start:start + n]


def random_tilt(rng: np.random.Generator):
    """A random second-order filter (microphone and room colouring), stable by construction."""
    b = np.array([1.0, *rng.uniform(-0.375, 0.375, 2)])
    a = np.array([1.0, *rng.uniform(-0.375, 0.375, 2)])
    return b, a


def low_cut(rng: np.random.Generator):
    """A second-order Butterworth high-pass at a random corner of 40-250 Hz."""
    from scipy.signal import butter
    return butter(2, rng.uniform(40.0, 250.0), "highpass", fs=RATE)


def mix(speech: np.ndarray, noise: np.ndarray, rir: np.ndarray | None, rng: np.random.Generator,
        cfg: MixConfig = MixConfig()) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, target), both float32 of len(speech). The target is the dry speech, or its
    direct path and early reflections when a room response is given."""
    from scipy.signal import lfilter

    n = len(speech)
    u = rng.random()
    if u < cfg.p_noise_only:
        speech = np.zeros(n, np.float32)
    if rir is not None:
        wet, target = reverberate(speech, rir)
    else:
        wet = target = speech
    if cfg.p_noise_only <= u < cfg.p_noise_only + cfg.p_clean_only:
        noise = np.zeros(n, np.float32)
    else:
        level = active_rms(wet) or 1.0
        lo, hi = cfg.snr_db
        snr = lo + (hi - lo) * rng.random() ** cfg.snr_skew
        noise = noise[:n] * (level / _rms(noise[:n]) * 10 ** (-snr / 20))
    noisy = wet + noise
    # colouring by the microphone reaches the target too: the model cannot undo it
    filters = [random_tilt(rng)] if cfg.tilt else []
    if rng.random() < cfg.p_lowcut:
        filters.append(low_cut(rng))
    for b, a in filters:
        noisy, target = lfilter(b, a, noisy), lfilter(b, a, target)
    gain = 10 ** (rng.uniform(*cfg.level_dbfs) / 20) / _rms(noisy)
    gain = min(gain, 0.99 / (np.max(np.abs(noisy)) + 1e-9))
    noisy, target = noisy * gain, target * gain
    if rng.random() < cfg.p_clip:  # the target stays unclipped: clipping is damage to undo
        limit = np.quantile(np.abs(noisy), 1 - rng.uniform(0.001, 0.01))
        noisy = np.clip(noisy, -limit, limit)
    return noisy.astype(np.float32), target.astype(np.float32)
