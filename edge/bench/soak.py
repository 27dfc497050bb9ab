"""`edge bench --board host --soak MINUTES [--stress]`: the live loop of `edge run`, on a
clocked device (edge.audio.clocked: PulseAudio null sinks behind ALSA's pulse plugin), fed the
bundled speech looped, for that long; with --stress while stress-ng loads every core.

The loop is run_service itself (real-time measures, telemetry sampler, the kernel on the audio
thread through its native hop), so the figures are those of the deployed loop. Besides what
ALSA reports (xruns), the pacing is checked independently: a capture overrun loses audio, which
shows as the hops taking longer than their audio (`lost_ms`). Stalls of the machine itself are
recorded beside (edge.bench.stalls: how long each CPU ran nothing, and the host's steal on a
virtual machine), and each xrun is listed with what its CPUs went through around it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time

from edge.errors import EdgeError
from edge.native import HOP, SAMPLE_RATE


def rss_mb() -> float:
    """Resident set size of this process, MB (VmRSS)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise EdgeError("no VmRSS in /proc/self/status")


def cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _start_stress(seconds: float) -> subprocess.Popen:
    if shutil.which("stress-ng") is None:
        raise EdgeError("--stress needs stress-ng (Debian: apt-get install stress-ng)")
    # --cpu 0: one worker per online core, at normal priority (as a busy board's other work).
    return subprocess.Popen(["stress-ng", "--cpu", "0", "--timeout", f"{int(seconds) + 60}s",
                             "--quiet"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


RSS_AFTER_HOPS = 100     # RSS is first read 1 s into the loop (mlockall has faulted in
                         # every mapping by then) and last at the last hop, devices open:
                         # growth between the two is the loop's own


class _Timed:
    """The duplex with the wall time of the first and last capture noted, the RSS once the
    loop has run RSS_AFTER_HOPS hops, and the playback side timed independently of what ALSA
    reports: a write that comes longer than the playback buffer after the one before would
    have found a card's buffer empty (the stand-in's plugin does not report every such
    underrun: one whose stall also stopped the plugin's own thread can go unseen)."""

    def __init__(self, io, hops: int, buffer_s: float):
        self.io, self.first, self.last = io, None, None
        self.reads, self.hops = 0, hops
        self.rss_start = self.rss_end = None
        self.xrun_hops: list[list] = []     # [hop, "capture" | "playback", t] (first 100)
        self._sides = (0, 0)
        self.buffer_s, self.max_write_gap = buffer_s, 0.0
        self.late_writes = 0
        self.late_write_hops: list[list] = []   # [hop, gap s, t] (first 100)
        self._wrote: float | None = None

    @property
    def xruns(self):
        return self.io.xruns

    @property
    def prefill(self):
        return self.io.prefill

    @property
    def helper_threads(self):
        return self.io.helper_threads

    @property
    def layout(self):
        return self.io.layout

    def read_bytes(self):
        hop = self.io.read_bytes()
        self.last = time.monotonic()
        if self.first is None:
            self.first = self.last
        self.reads += 1
        if self.reads == RSS_AFTER_HOPS:
            self.rss_start = rss_mb()
        if self.reads == self.hops:              # the last hop, devices still open
            self.rss_end = rss_mb()
        self._note_xruns()
        return hop

    def _note_xruns(self) -> None:
        sides = (self.io.overruns, self.io.underruns)
        if sides != self._sides:
            for side, now, before in zip(("capture", "playback"), sides, self._sides):
                if now != before and len(self.xrun_hops) < 100:
                    self.xrun_hops.append([self.reads, side, time.monotonic()])
            self._sides = sides

    def _note_write(self) -> None:
        t = time.monotonic()
        if self._wrote is not None:
            gap = t - self._wrote
            self.max_write_gap = max(self.max_write_gap, gap)
            if gap > self.buffer_s:
                self.late_writes += 1
                if len(self.late_write_hops) < 100:
                    self.late_write_hops.append([self.reads, gap, t])
        self._wrote = t

    def write_bytes(self, data):
        self.io.write_bytes(data)
        self._note_write()
        self._note_xruns()


def _busy_sampler(sample, load_ms: float):
    """A sampler that also holds the interpreter for `load_ms` per call (pure Python), to
    measure what a slow telemetry sample does to the audio thread's hand-offs."""
    def run():
        end = time.perf_counter() + load_ms / 1000.0
        n = 0
        while time.perf_counter() < end:
            n += sum(range(200))
        return sample()
    return run


def bench_soak(minutes: float, stress: bool = False, board: str = "host", model=None, *,
               sampler_load_ms: float = 0.0, interval: float = 1.0, rt: bool = True,
               switch_interval_ms: float | None = None, warn=None) -> dict:
    from edge.audio import clocked, pcm
    from edge.bench import stalls
    from edge.bench.dsp import EXAMPLE
    from edge.boards import load_board
    from edge.kernel import Kernel
    from edge.models import shipped
    from edge.supervisor.realtime import default_audio_cpu
    from edge.supervisor.service import SWITCH_INTERVAL_S, Outputs, run_service
    from edge.telemetry.sources import for_board
    from edge.wavio import read_wav

    if minutes <= 0:
        raise EdgeError(f"--soak must be a positive number of minutes, got {minutes}")
    b = load_board(board)
    model = model or shipped()
    hops = max(1, round(minutes * 60 * SAMPLE_RATE / HOP))
    warnings: list[str] = []
    warn = warn or warnings.append
    sources = for_board(b)
    sample = sources.sample
    if sampler_load_ms > 0:
        sources.sample = _busy_sampler(sample, sampler_load_ms)

    switch_s = SWITCH_INTERVAL_S if switch_interval_ms is None else switch_interval_ms / 1000.0
    stressor = None
    probe_dir = tempfile.TemporaryDirectory(prefix="edge-stalls-", dir=clocked.memory_dir())
    probes = stalls.StallProbes(probe_dir.name).start()
    t_start = time.monotonic()
    try:
        with clocked.fed_duplex(pcm.to_bytes(read_wav(EXAMPLE)), minutes * 60,
                                b.audio.periods) as duplex:
            if stress:
                stressor = _start_stress(minutes * 60)
            kernel = Kernel(model)
            io = _Timed(duplex, hops, b.audio.periods * HOP / SAMPLE_RATE)
            cpu0, t0 = time.process_time(), time.monotonic()
            try:
                result = run_service(kernel, io, frames=hops, sources=sources,
                                     outputs=Outputs(interval=interval), rt=rt, warn=warn,
                                     cpu=default_audio_cpu(), release=kernel.close,
                                     switch_interval_s=switch_s)
            finally:
                wall = time.monotonic() - t0
                cpu = time.process_time() - cpu0
            rss1 = io.rss_end if io.rss_end is not None else rss_mb()
    finally:
        if stressor is not None:
            try:
                os.killpg(stressor.pid, 15)
            except ProcessLookupError:
                pass
            stressor.wait(10)
        events = probes.stop(warn)
        probe_dir.cleanup()
    paced_s = (io.last - io.first) if io.first is not None else 0.0
    return {
        "board": b.name,
        "minutes": minutes,
        "stress": stress,
        "device": "PulseAudio null sink via the ALSA pulse plugin (clocked, 48 kHz)",
        "model": str(model) if model else None,
        "cpu": cpu_model(),
        "hops": result["frames"],
        "deadline_misses": result["deadline_misses"],
        "xruns": result["xruns"],
        "overruns": io.io.overruns,      # capture: the loop read too late
        "underruns": io.io.underruns,    # playback: the loop wrote too late
        # [hop, side, {the longest gap of a CPU and the steal within stalls.NEAR_S of it}]
        "xrun_hops": [[hop, side, stalls.near(events, t)] for hop, side, t in io.xrun_hops],
        # writes later than the playback buffer lasts: what a card would have underrun on
        "late_writes": io.late_writes,
        "max_write_gap_ms": io.max_write_gap * 1000.0,
        "late_write_hops": [[hop, gap * 1000.0, stalls.near(events, t)]
                            for hop, gap, t in io.late_write_hops],
        "host": stalls.summary(events, io.first or t_start, io.last or time.monotonic()),
        "bypass_hops": result["bypass_frames"],
        "kernel_errors": result["kernel_errors"],
        "kernel_hung": result["kernel_hung"],
        "frame_us": result["frame_us"],
        "split_us": result["split_us"],
        "process_cpu": cpu / wall if wall > 0 else None,
        "rss_mb_start": io.rss_start if io.rss_start is not None else rss1,
        "rss_mb_end": rss1,
        "wall_s": wall,
        # Audio lost to capture overruns shows as the hops taking longer than their audio.
        "lost_ms": max(0.0, paced_s - (result["frames"] - 1) * HOP / SAMPLE_RATE) * 1000.0,
        "switch_interval_ms": switch_s * 1000.0,
        "sampler_load_ms": sampler_load_ms,
        "telemetry_errors": result.get("telemetry_errors", 0),
        "realtime": result.get("realtime", []),
        "warnings": warnings,
    }
