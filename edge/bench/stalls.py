"""Host stalls during a soak: when the hypervisor kept a vCPU of this machine from running.

On a virtual machine a vCPU can stop for tens or hundreds of milliseconds while the host runs
something else. Nothing in the guest runs on it meanwhile, whatever its priority, and a stream
whose 30 ms buffer needed a write in that time underruns. Two signs of it are recorded, one
probe process per CPU (so that the probes cost the audio process nothing, not even the GIL):

- gap: the probe, pinned to its CPU at SCHED_FIFO priority 1 (above every ordinary task, such as
  stress-ng, below the audio threads), sleeps GAP_PERIOD_S and notes each wake-up that came at
  least GAP_MS late: that CPU ran nothing of ours or the probe's for that long;
- steal: the time the guest kernel counts as stolen by the host on that CPU (/proc/stat; always
  0 on a board), read every STEAL_EVERY sleeps and after each gap.

A gap with steal beside it is the host; a gap without is the guest (a long kernel section, or
our own audio thread running that long). Lines are `t cpu gap|steal ms`, t on CLOCK_MONOTONIC
(one clock for every process), so the soak lists beside each xrun what its CPUs went through.

    python -m edge.bench.stalls OUT CPU      (until SIGTERM)
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from edge.telemetry.parsers import steal_ticks

GAP_PERIOD_S = 0.005
GAP_MS = 10.0       # a wake-up this late is a gap (the timer's own slack is well under 1 ms)
STEAL_EVERY = 10    # sleeps between steal reads: the kernel counts it in 10 ms ticks
NEAR_S = 0.5        # what happened this close to an xrun is listed beside it
STALL_MS = 20.0     # a gap this long outlasts the loop's headroom (30 ms of playback buffer,
                    # refilled every 10 ms)
PROBE_PRIORITY = 1
MAX_PROBES = 16     # a process each: on a bigger machine, the last CPUs (the audio thread's is
                    # the last one, edge.supervisor.realtime.default_audio_cpu)


def _steal(cpu: str) -> int:
    with open("/proc/stat") as f:
        return steal_ticks(f.read()).get(cpu, 0)


def main(out: str, cpu: int) -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    os.sched_setaffinity(0, {cpu})
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(PROBE_PRIORITY))
        realtime = 1
    except OSError:
        realtime = 0     # an ordinary task's wake-ups also wait for other tasks: noted
    name, ms_per_tick = f"cpu{cpu}", 1000.0 / os.sysconf("SC_CLK_TCK")
    with open(out, "a", buffering=1) as f:          # a line at a time: a kill loses nothing
        f.write(f"{time.monotonic():.4f} {name} realtime {realtime}\n")
        stolen, n, t = _steal(name), 0, time.monotonic()
        while True:
            time.sleep(GAP_PERIOD_S)
            now = time.monotonic()
            late_ms = (now - t - GAP_PERIOD_S) * 1000.0
            if late_ms >= GAP_MS:
                f.write(f"{t:.4f} {name} gap {late_ms:.1f}\n")
            n += 1
            if n % STEAL_EVERY == 0 or late_ms >= GAP_MS:
                s = _steal(name)
                if s > stolen:
                    f.write(f"{now:.4f} {name} steal {(s - stolen) * ms_per_tick:g}\n")
                stolen = s
            t = now


def parse(text: str) -> list[tuple[float, str, str, float]]:
    """The probes' lines -> [(t, cpu, kind, value)]; a line cut by the kill is dropped."""
    events = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4:
            try:
                events.append((float(parts[0]), parts[1], parts[2], float(parts[3])))
            except ValueError:
                pass
    return events


def near(events, t: float, within: float = NEAR_S) -> dict:
    """Within `within` s of t: the longest gap of any CPU and all CPUs' steal, ms."""
    close = [(kind, v) for te, _, kind, v in events if abs(te - t) <= within]
    return {"gap_ms": max((v for kind, v in close if kind == "gap"), default=0.0),
            "steal_ms": sum(v for kind, v in close if kind == "steal")}


def summary(events, t0: float, t1: float, listed: int = 100) -> dict:
    """The soak's `host` figures, from t0 to t1 (the loop's first and last hop): how many CPUs
    were probed and whether every probe ran at real-time priority, their stolen time, the
    longest gap, and the gaps of at least STALL_MS (how many; the first `listed` as [seconds
    after t0, cpu, ms, steal within NEAR_S on that cpu])."""
    flags = [v for _, _, kind, v in events if kind == "realtime"]
    events = [e for e in events if t0 <= e[0] <= t1]
    gaps = [(te, cpu, v) for te, cpu, kind, v in events if kind == "gap"]
    stalls = [(te, cpu, v) for te, cpu, v in gaps if v >= STALL_MS]
    return {"cpus": len(flags), "probe_realtime": bool(flags) and all(flags),
            "steal_ms": sum(v for _, _, kind, v in events if kind == "steal"),
            "max_gap_ms": max((v for _, _, v in gaps), default=0.0),
            "stalls": len(stalls),
            "stall_list": [[round(te - t0, 2), cpu, v,
                            sum(s for ts, c, kind, s in events
                                if kind == "steal" and c == cpu and abs(ts - te) <= NEAR_S)]
                           for te, cpu, v in stalls[:listed]]}


class StallProbes:
    """One probe per CPU this process may run on (up to MAX_PROBES), as child processes:
    start(), then stop() -> their events."""

    def __init__(self, workdir: str | Path):
        self.path = Path(workdir) / "stalls.txt"
        self._procs: list[subprocess.Popen] = []

    def start(self) -> "StallProbes":
        self.path.write_text("")
        for cpu in sorted(os.sched_getaffinity(0))[-MAX_PROBES:]:
            self._procs.append(subprocess.Popen(
                [sys.executable, "-m", "edge.bench.stalls", str(self.path), str(cpu)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True))
        return self

    def stop(self, warn=None) -> list[tuple[float, str, str, float]]:
        """Their events; `warn` hears of a probe that had ended early (its figures stop there)."""
        for p in self._procs:
            if p.poll() is not None and warn:
                warn(f"warning: a stall probe ended early (status {p.returncode}): the host "
                     "figures cover only its lifetime")
            p.terminate()
        for p in self._procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self._procs.clear()
        return parse(self.path.read_text())


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
