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

from edge.data.examples import make_example
from edge.data.mix import MixConfig
from edge.data.sources import Sources
from edge.errors import EdgeError
from edge.model.loss import MASKED
from edge.native import FEATURE_VERSION, LOG_FLOOR, LOOKAHEAD_FRAMES, NB_BANDS, SAMPLE_RATE as RATE

BAND_MARGIN = 0.97  # resampling filters roll off just below Nyquist
FLOOR_FEATURE = np.log10(2 * LOG_FLOOR)  # a band whose noisy energy is under the feature's floor


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
                                 ("examples.py", "mix.py", "noise.py", "rooms.py"))).hexdigest()


def shard_dir(out_dir: str | Path, sources: Sources, cfg: MixConfig, seed: int, per_shard: int) -> Path:
    """A folder named by a hash of everything that shapes the shards."""
    paths = {k: [str(p) for p in getattr(sources, k)] for k in ("speech", "noise", "synthetic", "rirs")}
    shares = {"speech_shares": sources.speech_shares, "noise_shares": sources.noise_shares}
    key = json.dumps({**paths, **shares, "mix": asdict(cfg), "seed": seed, "per_shard": per_shard,
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


def frozen(sources: Sources, val_dir: str | Path, n_examples: int, cfg: MixConfig = MixConfig(),
           seed: int = 1, workers: int | None = None, progress: bool = True, log=print) -> list[Path]:
    """The validation set: built once into val_dir, then the same shards for every run and
    every A/B, whatever the mixing code has become since (which the cache of build() follows).
    Its manifest holds each shard's hash; a changed shard, another feature version or fewer
    examples than asked are refused rather than silently re-drawn."""
    val_dir = Path(val_dir)
    manifest = val_dir / "manifest.json"
    if manifest.is_file():
        m = json.loads(manifest.read_text())
        if m["features"] != FEATURE_VERSION:
            raise EdgeError(f"{val_dir}: validation set of feature version {m['features']}, the kernel "
                            f"computes version {FEATURE_VERSION}; give another --val-dir")
        if m["examples"] < n_examples:
            raise EdgeError(f"{val_dir}: frozen with {m['examples']} examples, {n_examples} asked; "
                            "ask for at most that many or give another --val-dir")
        paths = [val_dir / name for name in m["shards"]]
        for path, digest in zip(paths, m["sha1"]):
            if not path.is_file() or _sha1(path) != digest:
                raise EdgeError(f"{path}: missing or changed since the validation set was frozen")
        log(f"validation: {m['examples']} frozen examples from {val_dir} (built {m['built']})")
        return paths
    per_shard = 32
    built = build(sources, val_dir / "cache", n_examples, cfg, seed, per_shard, workers, progress)
    paths = []
    for path in built:
        paths.append(val_dir / path.name)
        os.replace(path, paths[-1])
    import shutil
    import time
    shutil.rmtree(val_dir / "cache")
    m = {"examples": len(paths) * per_shard, "features": FEATURE_VERSION, "seed": seed,
         "built": time.strftime("%Y-%m-%d"), "code": _mixing_code(), "mix": asdict(cfg),
         "speech": [Path(p).name for p in sources.speech], "noise": [str(p) for p in sources.noise],
         "shards": [p.name for p in paths], "sha1": [_sha1(p) for p in paths]}
    tmp = manifest.with_suffix(".tmp")
    tmp.write_text(json.dumps(m, indent=1))
    os.replace(tmp, manifest)
    return paths


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def load_shards(paths) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features [N, T, 70], gains [N, T, 34], strengths [N, T, 34]) as float16, as stored:
    half the memory of float32, so a 2-core machine's RAM holds 40k mixtures (training casts
    each batch). Targets of
    bands above an example's band_hz are MASKED: its speech never had energy there, so the
    ideal gain of 0 would teach the model that speech above 8 kHz is noise. So are targets of
    bands whose noisy energy lies under the features' floor (and of the frames before the
    first): no input tells their gain of 0 from 1."""
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
    f, g, s = (np.concatenate([z[k] for z in parts]).astype(np.float16, copy=False)
               for k in ("features", "gains", "strengths"))
    band_hz = np.concatenate([z["band_hz"] for z in parts])
    upper = np.append(band_centres_hz()[1:], RATE / 2)  # where each band's triangle ends
    out = (upper[None, :] > band_hz[:, None] * BAND_MARGIN) & (band_hz[:, None] < RATE / 2)
    out = out[:, None, :].repeat(g.shape[1], 1)
    out[:, LOOKAHEAD_FRAMES:] |= f[:, :-LOOKAHEAD_FRAMES, :NB_BANDS] < FLOOR_FEATURE
    out[:, :LOOKAHEAD_FRAMES] = True
    g[out] = MASKED
    s[out] = MASKED
    return f, g, s
