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

from edge.data.mix import MixConfig, fill, mix
from edge.data.sources import Sources
from edge.errors import EdgeError
from edge.native import SAMPLE_RATE as RATE


@lru_cache(maxsize=512)
def _load(item) -> np.ndarray:
    from edge.data.audio import load
    if isinstance(item, tuple):  # (noisy, clean) pair: the noise is their difference
        noisy, clean = load(item[0]), load(item[1])
        n = min(len(noisy), len(clean))
        return noisy[:n] - clean[:n]
    return load(item)


def make_example(sources: Sources, cfg: MixConfig, rng: np.random.Generator):
    """(noisy, target) audio of cfg.seconds from the sources, generators filling the gaps."""
    from edge.data import noise as gen
    from edge.data.rooms import simulated_rir

    n = int(cfg.seconds * RATE)
    # recorded speech is scarcer than TTS but closer to what the model will hear
    use_recorded = sources.speech and (not sources.synthetic or rng.random() < cfg.p_recorded)
    pool = sources.speech if use_recorded else sources.synthetic
    picks = rng.integers(0, len(pool), 6)
    utterances = [u for u in (_load(pool[int(i)]) for i in picks) if len(u)]
    speech = fill(utterances, n, rng)
    # a recorded noise in up to half the examples, a tenth per file: one clip must not
    # outweigh the generators
    recorded = []
    if sources.noise and rng.random() < min(0.5, 0.1 * len(sources.noise)):
        clip = _load(sources.noise[int(rng.integers(len(sources.noise)))])
        recorded = [clip] if len(clip) else []
    voices = sources.speech + sources.synthetic  # babble talkers, drawn apart from the target's
    talkers = [u for u in (_load(voices[int(i)]) for i in rng.integers(0, len(voices), 8)) if len(u)]
    noise = gen.random_noise(n, rng, talkers, recorded)
    rir = None
    if rng.random() < cfg.p_reverb:
        use_real = sources.rirs and rng.random() < 0.3
        rir = _load(sources.rirs[int(rng.integers(len(sources.rirs)))]) if use_real else simulated_rir(rng)
    return mix(speech, noise, rir, rng, cfg)


def _make_shard(job) -> str:
    from edge.kernel import analyze_pair
    sources, cfg, seed, index, per_shard, path = job
    rng = np.random.default_rng([seed, index])
    feats, gains, strengths = [], [], []
    for _ in range(per_shard):
        noisy, target = make_example(sources, cfg, rng)
        f, g, s = analyze_pair(noisy, target)
        feats.append(f)
        gains.append(g)
        strengths.append(s)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, features=np.stack(feats).astype(np.float16), gains=np.stack(gains).astype(np.float16),
             strengths=np.stack(strengths).astype(np.float16))
    os.replace(tmp, path)
    return str(path)


def shard_dir(out_dir: str | Path, sources: Sources, cfg: MixConfig, seed: int, per_shard: int) -> Path:
    """A folder named by a hash of everything that shapes the shards."""
    paths = {k: [str(p) for p in getattr(sources, k)] for k in ("speech", "noise", "synthetic", "rirs")}
    key = json.dumps({**paths, "mix": asdict(cfg), "seed": seed, "per_shard": per_shard}, sort_keys=True)
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
    """(features [N, T, 70], gains [N, T, 34], strengths [N, T, 34]) as float32."""
    if not paths:
        raise EdgeError("no training shards")
    parts = [np.load(p) for p in paths]
    return tuple(np.concatenate([z[k] for z in parts]).astype(np.float32)
                 for k in ("features", "gains", "strengths"))
