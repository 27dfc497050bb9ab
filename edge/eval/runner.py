"""Evaluate a suppressor on a folder of clean/ and noisy/ wavs with the same names."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from edge.errors import EdgeError

METRICS = ("pesq_wb", "stoi", "si_sdr", "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "hf_db")


def find_pairs(root: str | Path, warn=None) -> list[tuple[str, Path, Path]]:
    """(name, clean path, noisy path) for every wav present in both root/clean and root/noisy;
    `warn` is told which noisy files are skipped for having no clean twin."""
    root = Path(root)
    clean_dir, noisy_dir = root / "clean", root / "noisy"
    for d in (clean_dir, noisy_dir):
        if not d.is_dir():
            raise EdgeError(f"{root}: needs clean/ and noisy/ subfolders of same-named 48 kHz wavs "
                            f"({d.name}/ is missing)")
    noisy = sorted(p.name for p in noisy_dir.glob("*.wav"))
    names = [n for n in noisy if (clean_dir / n).is_file()]
    alone = [n for n in noisy if n not in names]
    said = ""
    if alone:
        said = (f"skipped {len(alone)} noisy file{'s' if len(alone) != 1 else ''} with no clean "
                f"twin in {clean_dir}: " + ", ".join(alone[:5]) + (", ..." if len(alone) > 5 else ""))
    if not names:
        raise EdgeError(f"{root}: no wav file name appears in both clean/ and noisy/"
                        + (f" ({said})" if said else ""))
    if said and warn:
        warn(said)
    return [(n, clean_dir / n, noisy_dir / n) for n in names]


def mean_of(rows: Iterable[dict]) -> dict:
    rows = list(rows)
    return {k: float(np.nanmean([r[k] for r in rows])) for k in METRICS}


def model_enhancer(model: str | None, backend: str, oracle_mode: str | None) -> Callable:
    """enhance(noisy, clean) -> aligned output, for the model or the oracle. A .keras
    checkpoint runs the float network (to compare with its int8 export)."""
    from edge import denoise
    if oracle_mode:
        return lambda noisy, clean: denoise.denoise_oracle(noisy, clean, oracle_mode)
    if model and str(model).endswith(".keras"):
        from edge.eval.float_model import keras_enhancer
        return keras_enhancer(model)
    return lambda noisy, clean: denoise.denoise(noisy, model=model, backend=backend)


def evaluate_dir(root: str | Path, enhance: Callable, *, compare: Iterable[str] = (),
                 progress: bool = False) -> dict:
    """Score noisy input, the enhancer and each compared suppressor on every pair under root.

    enhance(noisy, clean) is the system under test (model_enhancer builds it). Compared
    suppressors are delay compensated by cross-correlation with the noisy input."""
    from edge.eval import metrics
    from edge.eval.align import compensate, estimate_delay
    from edge.eval.suppressors import SUPPRESSORS
    from edge.wavio import read_wav

    compare = list(compare)
    unknown = [c for c in compare if c not in SUPPRESSORS]
    if unknown:
        raise EdgeError(f"unknown suppressor {unknown[0]!r} for --compare "
                        f"(choose from {', '.join(SUPPRESSORS)})")
    pairs = find_pairs(root)
    files = []
    it = pairs
    if progress:
        try:
            from tqdm import tqdm       # the train extra's; without it, no bar
        except ImportError:
            pass
        else:
            it = tqdm(pairs, desc="eval", unit="file")
    for name, clean_path, noisy_path in it:
        clean, noisy = read_wav(clean_path), read_wav(noisy_path)
        n = min(len(clean), len(noisy))
        clean, noisy = clean[:n], noisy[:n]
        row = {"file": name, **metrics.score(enhance(noisy, clean), clean),
               "noisy": metrics.score(noisy, clean), "compare": {}}
        for c in compare:
            out = SUPPRESSORS[c](noisy)
            row["compare"][c] = {**metrics.score(compensate(out, noisy), clean),
                                 "delay_samples": estimate_delay(out, noisy)}
        files.append(row)
    result = _summary(files, compare)
    groups = manifest_groups(root, [f["file"] for f in files])
    if groups:
        result["groups"] = {g: _summary([f for f in files if f["file"] in names], compare)
                            for g, names in groups.items()}
    return {**result, "files": files}


def _summary(files: list[dict], compare: list[str]) -> dict:
    return {"mean": mean_of(files), "noisy": {"mean": mean_of(f["noisy"] for f in files)},
            "compare": {c: {"mean": mean_of(f["compare"][c] for f in files)} for c in compare},
            "n_files": len(files)}


def manifest_groups(root: str | Path, names: list[str]) -> dict[str, set]:
    """Files by condition from root/MANIFEST.tsv when it has them (the dev set's layout):
    "snr N dB" from its snr_db column, "dry"/"reverberant" from its reference column."""
    import csv
    path = Path(root) / "MANIFEST.tsv"
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r.get("file") in names]
    groups: dict[str, set] = {}
    for r in rows:
        if r.get("snr_db"):
            groups.setdefault(f"snr {float(r['snr_db']):g} dB", set()).add(r["file"])
        if r.get("reference"):
            groups.setdefault("dry" if r["reference"] == "dry" else "reverberant", set()).add(r["file"])
    by_snr = sorted((g for g in groups if g.startswith("snr")), key=lambda g: float(g.split()[1]))
    return {g: groups[g] for g in by_snr + [g for g in ("dry", "reverberant") if g in groups]}


def _systems(result: dict, label: str) -> list[tuple[str, dict]]:
    return ([("noisy", result["noisy"]["mean"]), (label, result["mean"])]
            + [(c, v["mean"]) for c, v in result["compare"].items()])


def format_table(result: dict, label: str = "enhanced") -> str:
    """Mean metrics, one row per system, as a fixed-width text table; then, where the folder
    has a manifest, PESQ-WB and DNSMOS OVRL per condition (one column per system)."""
    rows = _systems(result, label)
    width = max(len(r[0]) for r in rows) + 2
    head = "system".ljust(width) + "".join(f"{m:>12}" for m in METRICS)
    n = result["n_files"]
    lines = [f"{n} file{'s' if n != 1 else ''}", head]
    lines += [name.ljust(width) + "".join(f"{v[m]:12.3f}" for m in METRICS) for name, v in rows]
    for metric in ("pesq_wb", "dnsmos_ovrl") if result.get("groups") else ():
        names = [name for name, _ in rows]
        lines += ["", f"{metric} by condition", "condition".ljust(18) + "files"
                  + "".join(f"{n:>16}" for n in names)]
        for g, r in result["groups"].items():
            lines.append(g.ljust(18) + f"{r['n_files']:5d}"
                         + "".join(f"{v[metric]:16.3f}" for _, v in _systems(r, label)))
    return "\n".join(lines)
