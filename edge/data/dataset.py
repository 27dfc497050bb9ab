"""Feature/target shards on disk, computed by the C kernel in parallel processes.

Shard i holds `per_shard` examples drawn with the random seed (seed, i): re-running with the
same sources and settings reuses every shard already written (the cache), and asking for
more examples only computes the new shards."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

import numpy as np

from edge.data.mix import MixConfig, fill, mix, speed, speed_factor
from edge.data.sources import Sources
from edge.errors import EdgeError
from edge.model.loss import MASKED
from edge.native import FEATURE_VERSION, SAMPLE_RATE as RATE

BAND_MARGIN = 0.97  # resampling filters roll off just below Nyquist
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
    """The recordings one example's talker is drawn from: 44.1/48 kHz ones for cfg.p_fullband
    of the examples (they alone teach the band above 8 kHz), else recorded or TTS speech."""
    if sources.speech and (not sources.synthetic or rng.random() < cfg.p_recorded):
        full, limited = [], []
        for p in sources.speech:
            (full if _rate(p) >= FULLBAND_RATE else limited).append(p)
        if full and rng.random() < cfg.p_fullband:
            return full
        return limited or full
    return sources.synthetic


def make_example(sources: Sources, cfg: MixConfig, rng: np.random.Generator):
    """(noisy, target, band_hz) audio of cfg.seconds from the sources, generators filling the
    gaps. band_hz is the band where the ideal gain says something: up to half the lowest native
    rate of the speech (times its speed factor) and of a recorded noise. Fullband speech over
    16 kHz noise would teach that whatever sounds above 8 kHz is speech, which no real
    microphone delivers."""
    from edge.data import noise as gen
    from edge.data.rooms import simulated_rir

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
        item = sources.noise[int(rng.integers(len(sources.noise)))]
        clip, rate = _read(item)
        recorded, noise_band = ([clip], rate / 2) if len(clip) else ([], noise_band)
    # babble talkers share the target's band, so the babble never masks the band above it
    talkers = [u for u in (_load(pool[int(i)]) for i in rng.integers(0, len(pool), 8)) if len(u)]
    noise = gen.random_noise(n, rng, talkers, recorded)
    rir = None
    if rng.random() < cfg.p_reverb:
        use_real = sources.rirs and rng.random() < 0.3
        rir = _load(sources.rirs[int(rng.integers(len(sources.rirs)))]) if use_real else simulated_rir(rng)
    noisy, target = mix(speech, noise, rir, rng, cfg)
    speech_band = RATE / 2 if not target.any() else min(RATE, min(r for _, r in picks)) / 2
    return noisy, target, min(speech_band, noise_band)


def _make_shard(job) -> str:
    from edge.kernel import analyze_pair
    sources, cfg, seed, index, per_shard, path = job
    rng = np.random.default_rng([seed, index])
    feats, gains, strengths, bands = [], [], [], []
    for _ in range(per_shard):
        noisy, target, band_hz = make_example(sources, cfg, rng)
        f, g, s = analyze_pair(noisy, target)
        feats.append(f)
        gains.append(g)
        strengths.append(s)
        bands.append(band_hz)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, features=np.stack(feats).astype(np.float16), gains=np.stack(gains).astype(np.float16),
             strengths=np.stack(strengths).astype(np.float16), band_hz=np.array(bands, np.float32))
    os.replace(tmp, path)
    return str(path)


@lru_cache(maxsize=1)
def _mixing_code() -> str:
    """Hash of the code that turns recordings into examples: a changed generator or mixer
    must not reuse shards made by the old one."""
    here = Path(__file__).parent
    return hashlib.sha1(b"".join((here / f).read_bytes() for f in
                                 ("dataset.py", "mix.py", "noise.py", "rooms.py"))).hexdigest()


def shard_dir(out_dir: str | Path, sources: Sources, cfg: MixConfig, seed: int, per_shard: int) -> Path:
    """A folder named by a hash of everything that shapes the shards."""
    paths = {k: [str(p) for p in getattr(sources, k)] for k in ("speech", "noise", "synthetic", "rirs")}
    key = json.dumps({**paths, "mix": asdict(cfg), "seed": seed, "per_shard": per_shard,
                      "features": FEATURE_VERSION, "code": _mixing_code()}, sort_keys=True)
    return Path(out_dir) / hashlib.sha1(key.encode()).hexdigest()[:12]


def build(sources: Sources, out_dir: str | Path, n_examples: int, cfg: MixConfig = MixConfig(),
          seed: int = 0, per_shard: int = 32, workers: int | None = None,
          progress: bool = True) -> list[Path]:
    """Shard paths holding at least n_examples examples, computing the missing ones."""
    d = shard_dir(out_dir, sources, cfg, seed, per_shard)
    d.mkdir(parents=True, exist_ok=True)
    paths = [d / f"shard_{i:05d}.npz" for i in range(-(-n_examples // per_shard))]
    jobs = [(sources, cfg, seed, i, per_shard, p) for i, p in enumerate(paths) if not p.is_file()]
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    if jobs:
        from tqdm import tqdm
        bar = tqdm(total=len(jobs), desc="features", unit="shard", disable=not progress)
        if workers <= 1:
            for job in jobs:
                _make_shard(job)
                bar.update()
        else:
            import multiprocessing as mp
            with mp.get_context("spawn").Pool(workers) as pool:
                for _ in pool.imap_unordered(_make_shard, jobs):
                    bar.update()
        bar.close()
    return paths


def load_shards(paths) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features [N, T, 70], gains [N, T, 34], strengths [N, T, 34]) as float32. Targets of
    bands above an example's band_hz are MASKED: its speech never had energy there, so the
    ideal gain of 0 would teach the model that speech above 8 kHz is noise."""
    from edge.kernel import band_centres_hz
    if not paths:
        raise EdgeError("no training shards")
    parts = []
    for path in paths:  # each array read once: an npz member is decompressed on every access
        with np.load(path) as z:
            parts.append({k: z[k] for k in ("features", "gains", "strengths", "band_hz")})
        for k in ("features", "gains", "strengths"):
            if not np.isfinite(parts[-1][k]).all():
                raise EdgeError(f"{path}: non-finite {k} (a shard from a kernel before the fix of "
                                "near-silent comb targets?): delete it and it is computed again")
    f, g, s = (np.concatenate([z[k] for z in parts]).astype(np.float32)
               for k in ("features", "gains", "strengths"))
    band_hz = np.concatenate([z["band_hz"] for z in parts])
    upper = np.append(band_centres_hz()[1:], RATE / 2)  # where each band's triangle ends
    out = (upper[None, :] > band_hz[:, None] * BAND_MARGIN) & (band_hz[:, None] < RATE / 2)
    g[out[:, None, :].repeat(g.shape[1], 1)] = MASKED
    s[out[:, None, :].repeat(s.shape[1], 1)] = MASKED
    return f, g, s
