"""`edge run` as a library call: the loop plus telemetry, real-time hygiene and signals.

Runs until `frames` hops are done or SIGTERM/SIGINT arrives (systemd stops the service with
SIGTERM), then writes a last telemetry record and returns the final figures. Telemetry is
sampled on its own thread so that reading sysfs or running vcgencmd never delays a hop; that
thread runs at real-time priority 1 where permitted and CPython switches threads every 0.5 ms
while the service runs, so that it cannot keep the interpreter lock from the audio thread
(measured in docs/design-notes.md, "The telemetry thread and the interpreter lock").
"""
from __future__ import annotations

import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from edge.errors import EdgeError
from edge.supervisor import realtime
from edge.supervisor.sdnotify import Notifier
from edge.supervisor.loop import AudioIO, Processor, Supervisor
from edge.telemetry import sinks
from edge.telemetry.sources import Sampler, Sources


@dataclass
class Outputs:
    jsonl: Path | None = None
    prometheus: Path | None = None
    live: bool = False
    interval: float = 1.0
    live_stream: object = field(default=None)     # default sys.stderr
    jsonl_max_bytes: int | None = sinks.JSONL_MAX_BYTES   # rotate the JSON lines at this size
    jsonl_keep: int = sinks.JSONL_KEEP                    # rotated files kept


def _open_jsonl(outputs: Outputs):
    if outputs.jsonl is None:
        return None
    try:
        return sinks.JsonLines(outputs.jsonl, outputs.jsonl_max_bytes, outputs.jsonl_keep)
    except OSError as e:
        raise EdgeError(f"telemetry file {outputs.jsonl}: {e.strerror}") from None
    except ValueError as e:
        raise EdgeError(f"telemetry file {outputs.jsonl}: {e}") from None


# How long CPython lets one thread run before another that waits for the interpreter lock may
# take it. The audio thread takes it back after every ALSA call and the kernel thread after
# every kernel call: with the default 5 ms, a telemetry sample running Python meanwhile can
# delay each of those hand-offs by up to 5 ms, three of them per 10 ms hop.
SWITCH_INTERVAL_S = 0.0005


def run_service(processor: Processor, io: AudioIO, *, frames: int | None = None,
                sources: Sources | None = None, outputs: Outputs | None = None,
                rt: bool = True, cpu: int | None = None, warn=print,
                switch_interval_s: float | None = SWITCH_INTERVAL_S, **supervisor_args) -> dict:
    """Run the loop with telemetry until `frames` hops or a signal; returns the last record.
    `cpu` pins the audio thread to that core (when rt). supervisor_args go to Supervisor
    (hang_ns runs the kernel on a guard thread; release is called once the processor is free;
    watchdog defaults to systemd's, from $NOTIFY_SOCKET and $WATCHDOG_USEC)."""
    outputs = outputs or Outputs()
    supervisor_args.setdefault("watchdog", Notifier())
    sup = Supervisor(processor, io, **supervisor_args)
    old_switch = sys.getswitchinterval()
    if switch_interval_s is not None:
        sys.setswitchinterval(switch_interval_s)
    try:
        return _serve(sup, frames, sources, outputs, rt, cpu, warn)
    finally:
        sys.setswitchinterval(old_switch)
        sup.close()
        if sup.watchdog:
            sup.watchdog.stopping()
            sup.watchdog.close()


def _serve(sup: Supervisor, frames, sources, outputs: Outputs, rt, cpu, warn) -> dict:
    jsonl = _open_jsonl(outputs)
    live = outputs.live_stream or sys.stderr
    lock = threading.Lock()
    last: dict = {}
    failed: list[str] = []

    sampler: Sampler | None = None

    def publish(snapshot: dict, final: bool = False) -> None:
        record = {**sup.stats(), **snapshot,
                  "telemetry_errors": sampler.errors if sampler else 0, "final": final}
        with lock:
            last.clear()
            last.update(record)
            try:
                if jsonl:
                    jsonl.write(record)
                if outputs.prometheus:
                    sinks.write_prometheus(outputs.prometheus, record)
            except OSError as e:
                if not failed:          # say it once; telemetry never stops the audio
                    failed.append(str(e))
                    warn(f"warning: telemetry not written ({e})")
            if outputs.live:
                live.write("\r\x1b[K" + sinks.live_line(record) + ("\n" if final else ""))
                live.flush()

    # The first record goes out before the loop starts: an unwritable Prometheus path is
    # reported now, and a collector sees the service as soon as it runs.
    if outputs.prometheus:
        try:
            sinks.write_prometheus(outputs.prometheus, {**sup.stats(), "final": False})
        except OSError as e:
            raise EdgeError(f"prometheus file {outputs.prometheus}: {e.strerror}") from None
    sample = sources.sample if sources is not None else (lambda: {})
    sample()                                  # baseline for the first CPU/energy deltas

    def on_signal(signum, _frame):
        sup.stop_requested = True

    old_handlers = {}
    if threading.current_thread() is threading.main_thread():
        for s in (signal.SIGTERM, signal.SIGINT):
            old_handlers[s] = signal.signal(s, on_signal)
    # Started before the real-time measures, so this thread is not pinned to the audio core.
    sampler = Sampler(sample, publish, outputs.interval, warn=warn)
    sampler.start()
    hygiene = realtime.apply(cpus={cpu} if cpu is not None else None,
                             helpers=getattr(sup.io, "helper_threads", ()),
                             interpreter_threads=[sampler.native_id]) if rt else None
    for w in hygiene.warnings if hygiene else ():
        warn(f"warning: {w}")
    if sup.watchdog:
        sup.watchdog.ready()
    try:
        sup.run(frames)
    finally:
        if hygiene:
            realtime.release()
        sampler.stop()
        try:
            snapshot = sample()
        except Exception as e:  # noqa: BLE001 - the final record goes out without it
            sampler.errors += 1
            warn(f"warning: last telemetry sample failed ({type(e).__name__}: {e})")
            snapshot = {}
        publish(snapshot, final=True)
        if jsonl:
            jsonl.close()
        for s, h in old_handlers.items():
            signal.signal(s, h)
    result = dict(last)
    if hygiene:
        result["realtime"] = hygiene.applied
    return result
