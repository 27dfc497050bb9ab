"""`edge denoise` over files, folders and pipes: which output each input goes to, with every
refusal made before any work (an output folder that is missing or takes no file, an output that
is an input, two inputs onto one output, an input that is not audio, a --subtype or --channel
the file cannot have), then one file's enhancement and its summary."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge import denoise, wavio
from edge.errors import EdgeError
from edge.wavio import STDIO


@dataclass
class Job:
    src: str | Path             # "-": stdin
    dst: str | Path             # "-": stdout
    info: wavio.Info | None     # the input's header (None for stdin: known once read)


def audio_files(folder: Path, skip: Path | None = None) -> list[Path]:
    """The audio files under a folder, by extension, sorted; none under `skip` (an output
    folder inside it, not the folder itself) and no hidden ones (a write in progress is a
    hidden file)."""
    found = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or p.suffix.lower() not in wavio.EXTENSIONS:
            continue
        if skip is not None and _key(skip) != _key(folder) and _inside(p, skip):
            continue
        if p.is_file():
            found.append(p)
    return found


def _inside(p: Path, folder: Path) -> bool:
    try:
        Path(os.path.realpath(p)).relative_to(os.path.realpath(folder))
        return True
    except ValueError:
        return False


def _key(p) -> str:
    return os.path.realpath(p)


def pairs(paths: list[str], output_dir: str | None = None) -> list[tuple[str | Path, str | Path]]:
    """(input, output) for `IN OUT` or for `IN... -o DIR` (a folder's files keep their place
    under it: DIR/<path inside the folder>; a file goes to DIR/<its name>)."""
    if output_dir is None:
        if len(paths) != 2:
            raise EdgeError(f"give IN OUT, or IN... -o DIR for several files or folders "
                            f"(got {len(paths)} path{'s' if len(paths) != 1 else ''})")
        src, dst = paths
        if src != STDIO and Path(src).is_dir():
            raise EdgeError(f"{src}: is a directory; to enhance a folder's files give -o DIR")
        return [(src if src == STDIO else Path(src), dst if dst == STDIO else Path(dst))]
    if STDIO in paths:
        raise EdgeError("-: stdin goes with one output (IN OUT, e.g. - -), not with -o DIR")
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise EdgeError(f"-o {out}: is not a directory")
    if not out.exists() and not out.parent.is_dir():
        raise EdgeError(f"-o {out}: directory {out.parent} does not exist")
    result = []
    for p in map(Path, paths):
        if p.is_dir():
            files = audio_files(p, skip=out)
            if not files:
                raise EdgeError(f"{p}: no audio files in it ({', '.join(wavio.EXTENSIONS)})")
            result += [(f, out / f.relative_to(p)) for f in files]
        else:
            result.append((p, out / p.name))
    return result


def plan(paths: list[str], output_dir: str | None = None, *, in_place: bool = False,
         allow_truncated: bool = False, subtype: str | None = None, channel: int | None = None,
         warn=None) -> list[Job]:
    """The jobs of one `edge denoise`, everything that can be refused refused now."""
    todo = pairs(paths, output_dir)
    inputs = {_key(s): s for s, _ in todo if s != STDIO}
    written: dict[str, object] = {}
    for src, dst in todo:
        if dst == STDIO:
            continue
        k = _key(dst)
        if k in written:
            raise EdgeError(f"{written[k]} and {src} would both be written to {dst}")
        written[k] = src
        if k in inputs:
            if _key(src) != k:
                raise EdgeError(f"{dst}: is another input; writing {src} there would overwrite it")
            if not in_place:
                raise EdgeError(f"{dst}: is the input; it would be overwritten (--in-place "
                                f"replaces it with the result)")
    jobs = []
    for src, dst in todo:
        i = None if src == STDIO else wavio.info(src, allow_truncated=allow_truncated, warn=warn)
        if i is not None:
            _check_channel(i, channel, src)
            wavio.output_format(dst, i if channel is None else _mono(i), subtype)
        jobs.append(Job(src, dst, i))
    if output_dir is not None:
        _make_dirs(Path(output_dir), {Path(j.dst).parent for j in jobs})
    for j in jobs:
        wavio.check_writable(j.dst)
    return jobs


def _make_dirs(top: Path, dirs: set[Path]) -> None:
    for d in sorted(dirs | {top}):
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise EdgeError(f"{d}: cannot be created ({e.strerror or e})") from None


def _check_channel(i: wavio.Info, channel: int | None, name) -> None:
    if channel is not None and not 0 <= channel < i.channels:
        have = "0" if i.channels == 1 else f"0-{i.channels - 1}"
        raise EdgeError(f"--channel {channel}: {name} has {i.channels} channel"
                        f"{'s' if i.channels != 1 else ''} ({have})")


def _mono(i: wavio.Info) -> wavio.Info:
    return wavio.Info(i.rate, 1, i.frames, i.format, i.subtype)


def enhance_file(job: Job, enhance, *, clean: wavio.Audio | None = None,
                 channel: int | None = None, subtype: str | None = None,
                 allow_truncated: bool = False, warn=None, say=None) -> dict:
    """Read job.src, enhance each channel (or only `channel`, written alone) with its own
    kernel state (enhance(x, rate, clean or None) -> y, see denoise.denoise_channels), write
    job.dst in the input's format and subtype (or `subtype`); the summary of what was done.
    say: told when the rate is resampled for the kernel."""
    t0 = time.perf_counter()
    name = "stdin" if job.src == STDIO else str(job.src)
    a = wavio.read(job.src, allow_truncated=allow_truncated,
                   warn=warn if job.info is None else None)   # a file's warning came at plan
    _check_channel(a.info, channel, name)
    x = a.samples if channel is None else a.samples[:, [channel]]
    ref = None
    if clean is not None:
        if clean.info.rate != a.info.rate:
            raise EdgeError(f"the clean reference is at {clean.info.rate} Hz, {name} at "
                            f"{a.info.rate} Hz")
        ref = clean.samples
        if channel is not None and ref.shape[1] > 1:
            ref = ref[:, [channel]]
        if ref.shape[1] not in (1, x.shape[1]):
            raise EdgeError(f"the clean reference has {ref.shape[1]} channels, {name} "
                            f"{x.shape[1]}: give a mono reference or one per channel")
        if len(ref) != len(x):
            raise EdgeError(f"noisy and clean differ in length ({len(x)} vs {len(ref)} samples)")
    k = denoise.kernel_rate(a.info.rate)
    if k != a.info.rate and say:
        say(f"{name}: {a.info.rate} Hz is resampled to {k} Hz for the kernel and back")
    y = denoise.denoise_channels(x, a.info.rate, enhance, ref)
    out_info = a.info if channel is None else _mono(a.info)
    fmt, sub = wavio.output_format(job.dst, out_info, subtype)
    wavio.write(job.dst, y, a.info.rate, fmt, sub)
    return {"in": name, "out": "stdout" if job.dst == STDIO else str(job.dst),
            "rate": a.info.rate, "kernel_rate": k, "channels": int(y.shape[1]),
            "format": fmt, "subtype": sub, "seconds": a.info.frames / a.info.rate,
            "took_s": time.perf_counter() - t0,
            "removed_db": _removed_db(x, y)}


def _removed_db(x: np.ndarray, y: np.ndarray) -> float:
    """How much quieter the output is than the input, dB (the noise taken out, roughly)."""
    ex, ey = float(np.mean(np.square(x, dtype=np.float64))), float(np.mean(np.square(y, dtype=np.float64)))
    return float(10 * np.log10(max(ex, 1e-20) / max(ey, 1e-20)))


def summary_lines(rows: list[dict]) -> list[str]:
    """One line per file, then the totals."""
    lines = [f"{r['in']} -> {r['out']}: {r['seconds']:.2f} s, {r['rate']} Hz"
             + (f" (kernel at {r['kernel_rate']})" if r['kernel_rate'] != r['rate'] else "")
             + f", {r['channels']} ch, {r['format']} {r['subtype']}, {r['removed_db']:.1f} dB "
             f"quieter, in {r['took_s']:.2f} s" for r in rows]
    audio = sum(r["seconds"] for r in rows)
    took = sum(r["took_s"] for r in rows)
    n = len(rows)
    lines.append(f"{n} file{'s' if n != 1 else ''}, {audio:.2f} s of audio in {took:.2f} s")
    return lines
