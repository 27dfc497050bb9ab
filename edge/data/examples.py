"""One training example from the sources: talkers drawn by their sources' shares, noise,
room and microphone chain, and the band where its ideal gains say something. The shard cache
(edge.data.dataset) is keyed by a hash of this file and the mixing modules it uses."""
from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np

from edge.data.mix import MixConfig, fill, mix, speed, speed_factor
from edge.data.sources import Sources, grouped
from edge.native import SAMPLE_RATE as RATE

FULLBAND_RATE = 44100  # recordings at this rate or above hold the whole band the kernel sees


@lru_cache(maxsize=1024)
def _read(item) -> tuple[np.ndarray, int]:
    """(48 kHz audio, native rate); a (noisy, clean) pair gives their difference, the noise."""
    from edge.data.audio import read
    if isinstance(item, tuple):
        (noisy, rate), (clean, _) = read(item[0]), read(item[1])
        n = min(len(noisy), len(clean))
        return noisy[:n] - clean[:n], rate
    return read(item)


def _load(item) -> np.ndarray:
    return _read(item)[0]


@lru_cache(maxsize=None)
def _rate(item) -> int:
    from edge.data.audio import native_rate
    return native_rate(item[0] if isinstance(item, tuple) else item)


def _speech_pool(sources: Sources, cfg: MixConfig, rng: np.random.Generator) -> list:
    """The recordings one example's talker is drawn from: a source by its share where the
    sources have shares, else 44.1/48 kHz recordings for cfg.p_fullband of the examples
    (they alone teach the band above 8 kHz); TTS speech for 1 - cfg.p_recorded beside them."""
    if sources.speech and (not sources.synthetic or rng.random() < cfg.p_recorded):
        if sources.speech_shares:
            groups, weights = grouped(sources.speech, sources.speech_shares)
        else:
            full = [p for p in sources.speech if _rate(p) >= FULLBAND_RATE]
            limited = [p for p in sources.speech if _rate(p) < FULLBAND_RATE]
            groups, weights = [full, limited], [cfg.p_fullband if limited else 1.0, 1.0 - cfg.p_fullband if full else 1.0]
            groups, weights = [g for g in groups if g], [w for g, w in zip(groups, weights) if g]
            weights = [w / sum(weights) for w in weights]
        return groups[int(rng.choice(len(groups), p=weights))]
    return sources.synthetic


def _noise_item(sources: Sources, rng: np.random.Generator):
    """One recorded noise: a source by its share where the sources have shares, else any file."""
    if sources.noise_shares:
        groups, weights = grouped(sources.noise, sources.noise_shares)
        pool = groups[int(rng.choice(len(groups), p=weights))]
    else:
        pool = sources.noise
    return pool[int(rng.integers(len(pool)))]


def _room(sources: Sources, rng: np.random.Generator) -> np.ndarray:
    """A measured room response for 30% of the draws where there are some, else a simulated one."""
    from edge.data.rooms import simulated_rir
    if sources.rirs and rng.random() < 0.3:
        return _load(sources.rirs[int(rng.integers(len(sources.rirs)))])
    return simulated_rir(rng)


def _echo_scene(speech: np.ndarray, noise: np.ndarray, talkers: list, rir: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(near-end speech, what else the microphone hears) on a speakerphone: a far-end talker's
    residual echo over a quieter background, and the near end silent for a stretch (25-50% of
    the example) while the far end talks on, where the whole residual must go."""
    from edge.data import noise as gen
    n = len(speech)
    echo = gen.residual_echo(fill(talkers, n, rng), rir, rng)
    quiet = int(rng.uniform(0.25, 0.5) * n)
    start = int(rng.integers(0, n - quiet))
    speech = speech.copy()
    speech[start:start + quiet] = 0.0
    background = 10 ** (-rng.uniform(5.0, 20.0) / 20) * noise
    return speech, (echo + background).astype(np.float32)


def narrowband(x: np.ndarray) -> np.ndarray:
    """x through a 16 kHz capture chain: nothing left above 8 kHz. A 10th-order elliptic
    low-pass (passband to 7.7 kHz, 80 dB stopband), steeper than a resampler's filter, whose
    transition would leave the 8-10 kHz bands only 10-25 dB down."""
    from scipy.signal import sosfilt
    return sosfilt(_narrowband_sos(), x).astype(np.float32)


@lru_cache(maxsize=1)
def _narrowband_sos() -> np.ndarray:
    from scipy.signal import ellip
    return ellip(10, 0.1, 80, 7700, fs=RATE, output="sos")


def make_example(sources: Sources, cfg: MixConfig, rng: np.random.Generator):
    """(noisy, target, band_hz) audio of cfg.seconds from the sources, generators filling the
    gaps. band_hz is the band where the ideal gain says something: up to half the lowest native
    rate of the speech (times its speed factor) and of a recorded noise. Fullband speech over
    16 kHz noise would teach that whatever sounds above 8 kHz is speech, which no real
    microphone delivers."""
    from edge.data import noise as gen

    n = int(cfg.seconds * RATE)
    pool = _speech_pool(sources, cfg, rng)
    picks = [_read(pool[int(i)]) for i in rng.integers(0, len(pool), 6)]
    f = speed_factor(rng, cfg)      # a recording's band moves with its speed too
    picks = [(speed(u, f), float(r * f)) for u, r in picks if len(u)]
    speech = fill([u for u, _ in picks], n, rng)
    # a recorded noise in up to half the examples, a tenth per file: one clip must not
    # outweigh the generators
    recorded, noise_band = [], RATE / 2
    if sources.noise and rng.random() < min(0.5, 0.1 * len(sources.noise)):
        clip, rate = _read(_noise_item(sources, rng))
        recorded, noise_band = ([clip], rate / 2) if len(clip) else ([], noise_band)
    # babble talkers share the target's band, so the babble never masks the band above it
    talkers = [u for u in (_load(pool[int(i)]) for i in rng.integers(0, len(pool), 8)) if len(u)]
    noise = gen.random_noise(n, rng, talkers, recorded)
    rir = _room(sources, rng) if rng.random() < cfg.p_reverb else None
    if cfg.p_echo > 0 and talkers and rng.random() < cfg.p_echo:  # no draw when off
        speech, noise = _echo_scene(speech, noise, talkers, _room(sources, rng), rng)
        cfg = replace(cfg, snr_db=cfg.echo_db, snr_skew=1.0)
    noisy, target = mix(speech, noise, rir, rng, cfg)
    speech_band = RATE / 2 if not target.any() else min(RATE, min(r for _, r in picks)) / 2
    band = min(speech_band, noise_band)
    if rng.random() < cfg.p_narrowband:  # a 16 kHz microphone chain: the kernel still runs at 48 kHz
        noisy, target, band = narrowband(noisy), narrowband(target), min(band, RATE / 6)
    return noisy, target, band
