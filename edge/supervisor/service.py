"""`edge run` as a library call: the loop plus telemetry, real-time hygiene and signals.

Runs until `frames` hops are done or SIGTERM/SIGINT arrives (systemd stops the service with
SIGTERM), then writes a last telemetry record and returns the final figures. Telemetry is
sampled on its own thread so that reading sysfs or running vcgencmd never delays a hop.
"""
from __future__ import annotations

import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from edge.supervisor import realtime
from edge.supervisor.loop import AudioIO, Processor, Supervisor
from edge.telemetry import export
from edge.telemetry.sources import Sampler, Sources


SHIPPED_MODEL = Path(__file__).resolve().parent.parent / "models" / "default.pnw"


def shipped_model() -> Path | None:
    """The default model when the package ships one (it may not exist in a fresh tree)."""
    return SHIPPED_MODEL if SHIPPED_MODEL.is_file() else None


@dataclass
class Outputs:
    jsonl: Path | None = None
    prometheus: Path | None = None
    live: bool = False
    interval: float = 1.0
    live_stream: object = field(default=None)     # default sys.stderr


def run_service(processor: Processor, io: AudioIO, *, frames: int | None = None,
                sources: Sources | None = None, outputs: Outputs | None = None,
                rt: bool = True, warn=print, **supervisor_args) -> dict:
    outputs = outputs or Outputs()
    sup = Supervisor(processor, io, **supervisor_args)
    jsonl = export.JsonLines(outputs.jsonl) if outputs.jsonl else None
    live = outputs.live_stream or sys.stderr
    lock = threading.Lock()
    last: dict = {}

    def publish(snapshot: dict, final: bool = False) -> None:
        record = {**sup.stats(), **snapshot, "final": final}
        with lock:
            last.clear()
            last.update(record)
            if jsonl:
                jsonl.write(record)
            if outputs.prometheus:
                export.write_prometheus(outputs.prometheus, record)
            if outputs.live:
                live.write("\r\x1b[K" + export.live_line(record) + ("\n" if final else ""))
                live.flush()

    def on_signal(signum, _frame):
        sup.stop_requested = True

    in_main = threading.current_thread() is threading.main_thread()
    old_handlers = {}
    if in_main:
        for s in (signal.SIGTERM, signal.SIGINT):
            old_handlers[s] = signal.signal(s, on_signal)
    sampler = None
    if sources is not None:
        sources.sample()                      # baseline for the first CPU/energy deltas
        sampler = Sampler(sources, publish, outputs.interval)
        sampler.start()
    hygiene = realtime.apply() if rt else None
    if hygiene:
        for w in hygiene.warnings:
            warn(f"warning: {w}")
    try:
        sup.run(frames)
    finally:
        if hygiene:
            realtime.release()
        if sampler:
            sampler.stop()
        publish(sources.sample() if sources else {}, final=True)
        if jsonl:
            jsonl.close()
        for s, h in old_handlers.items():
            signal.signal(s, h)
    result = dict(last)
    if hygiene:
        result["realtime"] = hygiene.applied
    return result
