"""Telemetry out: JSON lines, a Prometheus textfile (node_exporter's textfile collector
format), and a one-line live view for a terminal.

A record is the supervisor's stats() merged with a Sources.sample() snapshot.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path


JSONL_MAX_BYTES = 8 << 20       # one file's cap: about 3.5 hours of 1 s records
JSONL_KEEP = 3                  # rotated files kept beside it (FILE.1 newest ... FILE.3 oldest)


class JsonLines:
    """Appends one JSON object per record and flushes it, so a killed run keeps its lines.

    A service runs for months on an SD card: when the next line would take the file past
    `max_bytes`, it is renamed FILE.1 (FILE.1 becomes FILE.2 ..., FILE.<keep> is dropped) and a
    new FILE is started, so the telemetry never takes more than (keep + 1) x max_bytes.
    keep=0 truncates instead. max_bytes=None never rotates."""

    def __init__(self, path: str | Path, max_bytes: int | None = JSONL_MAX_BYTES,
                 keep: int = JSONL_KEEP):
        if max_bytes is not None and max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        if keep < 0:
            raise ValueError(f"keep must be 0 or more, got {keep}")
        self.path, self.max_bytes, self.keep = Path(path), max_bytes, keep
        self.rotations = 0
        self._f = open(self.path, "a", encoding="utf-8")
        self._size = self._f.tell()

    def _rotate(self) -> None:
        self._f.close()
        for i in range(self.keep - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{i + 1}"))
        if self.keep:
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self._f = open(self.path, "w", encoding="utf-8")
        self._size = 0
        self.rotations += 1

    def write(self, record: dict) -> None:
        line = json.dumps({"time": time.time(), **record}) + "\n"
        n = len(line.encode())
        if self.max_bytes is not None and self._size and self._size + n > self.max_bytes:
            self._rotate()
        self._f.write(line)
        self._f.flush()
        self._size += n

    def close(self) -> None:
        self._f.close()


def _num(v) -> str:
    return repr(float(v)) if v is not None else "NaN"


def prometheus_text(record: dict) -> str:
    """The record as Prometheus exposition text; absent values are left out."""
    out: list[str] = []

    def metric(name: str, kind: str, help_: str, samples: list[tuple[str, object]]):
        """samples: (labels or a _sum/_count suffix, value); None values are left out."""
        samples = [(suffix, v) for suffix, v in samples if v is not None]
        if not samples:
            return
        out.append(f"# HELP {name} {help_}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(f"{name}{suffix} {_num(v)}" for suffix, v in samples)

    fu = record.get("frame_us") or {}
    frames = record.get("frames")
    if fu.get("mean") is not None and frames:
        metric("edge_frame_seconds", "summary", "Per-hop processing time.",
               [('{quantile="0.5"}', fu["p50"] / 1e6), ('{quantile="0.99"}', fu["p99"] / 1e6),
                ("_sum", fu["mean"] * frames / 1e6), ("_count", frames)])
    metric("edge_frame_max_seconds", "gauge", "Longest hop so far.",
           [("", fu.get("max") and fu["max"] / 1e6)])
    for key, help_ in (("frames", "Hops processed."),
                       ("deadline_misses", "Hops that took longer than 10 ms."),
                       ("xruns", "ALSA over- and underruns recovered."),
                       ("kernel_errors", "Kernel calls that failed."),
                       ("kernel_hung", "Kernel calls still running a hop after their own."),
                       ("bypass_frames", "Hops played as delayed passthrough.")):
        metric(f"edge_{key}_total", "counter", help_, [("", record.get(key))])
    if "kernel_stuck" in record:
        metric("edge_kernel_stuck", "gauge", "1 while a kernel call is running past its hop.",
               [("", int(bool(record["kernel_stuck"])))])
    if "bypassing" in record:
        metric("edge_bypassing", "gauge", "1 while the kernel is bypassed.",
               [("", int(bool(record["bypassing"])))])
    echo = record.get("echo")
    if echo:
        for key, help_ in (("cancelled_frames", "Hops the echo canceller ran on."),
                           ("reference_late", "Hops without a reference period, not cancelled.")):
            metric(f"edge_echo_{key}_total", "counter", help_, [("", echo[key])])
        metric("edge_echo_reference_lost", "gauge", "1 once the reference device has failed.",
               [("", int(bool(echo["reference_lost"])))])
        metric("edge_echo_canceller_seconds", "gauge", "Mean echo canceller time per hop.",
               [("", (record.get("split_us") or {}).get("canceller", 0) / 1e6)])
    metric("edge_process_cpu_ratio", "gauge", "Process CPU time per wall second (one core = 1).",
           [("", record.get("process_cpu"))])
    metric("edge_cpu_busy_ratio", "gauge", "Busy share of each core.",
           [(f'{{cpu="{c}"}}', v) for c, v in sorted((record.get("cpu_cores") or {}).items())])
    metric("edge_temperature_celsius", "gauge", "SoC temperature.", [("", record.get("temp_c"))])
    metric("edge_cpu_frequency_hertz", "gauge", "Current CPU clock.",
           [("", record.get("clock_mhz") and record["clock_mhz"] * 1e6)])
    th = record.get("throttled") or {}
    metric("edge_throttled", "gauge", "Raspberry Pi firmware throttling flags (vcgencmd).",
           [(f'{{flag="{k}"}}', int(v)) for k, v in th.items() if k != "raw"])
    if record.get("power_w") is not None:
        metric("edge_power_watts", "gauge", "Board or package power.",
               [(f'{{source="{record.get("power_source")}"}}', record["power_w"])])
    return "\n".join(out) + "\n"


def write_prometheus(path: str | Path, record: dict) -> None:
    """Write atomically (temp file in the same directory, then rename), as the textfile
    collector requires: it must never read a half-written file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(prometheus_text(record))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def live_line(record: dict) -> str:
    """One terminal line: the figures an operator watches."""
    fu = record.get("frame_us") or {}

    def f(v, fmt):
        return format(v, fmt) if v is not None else "-"

    parts = [f"frames {record.get('frames', 0)}",
             f"p50 {f(fu.get('p50'), '.0f')} us", f"p99 {f(fu.get('p99'), '.0f')} us",
             f"max {f(fu.get('max'), '.0f')} us",
             f"miss {record.get('deadline_misses', 0)}", f"xrun {record.get('xruns', 0)}",
             f"err {record.get('kernel_errors', 0)}",
             f"cpu {f(record.get('process_cpu') and 100 * record['process_cpu'], '.1f')}%",
             f"{f(record.get('temp_c'), '.1f')} C", f"{f(record.get('clock_mhz'), '.0f')} MHz"]
    if record.get("power_w") is not None:
        parts.append(f"{record['power_w']:.2f} W")
    th = record.get("throttled") or {}
    active = [k for k, v in th.items() if k != "raw" and v and not k.endswith("_occurred")]
    if active:
        parts.append("THROTTLED: " + ",".join(active))
    echo = record.get("echo")
    if echo:
        parts.append(f"aec {f((record.get('split_us') or {}).get('canceller'), '.0f')} us "
                     f"late {echo['reference_late']}" + (" REFERENCE LOST" if echo["reference_lost"] else ""))
    if record.get("kernel_hung"):
        parts.append(f"hung {record['kernel_hung']}")
    if record.get("kernel_stuck"):
        parts.append("KERNEL STUCK")
    if record.get("bypassing"):
        parts.append("BYPASS")
    return "  ".join(parts)
