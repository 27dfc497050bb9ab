"""On-device benchmark: the supervisor loop on the bundled audio, paced in real time (or flat
out), with an idle baseline first so that power and temperature are reported above idle.

The kernel runs inside the same Supervisor as `edge run`, fed examples/noisy.wav looped. Paced,
the audio goes through the clocked device (edge.audio.clocked: a real 48 kHz clock behind
ALSA, as a sound card paces the loop) where it can start, else each read sleeps until its
hop's slot; flat out, the hops come straight from memory. `pacing` in the result says which.
"""
from __future__ import annotations

import time
from contextlib import ExitStack

import numpy as np

from edge.audio import pcm
from edge.bench.dsp import EXAMPLE
from edge.errors import EdgeError
from edge.native import HOP, SAMPLE_RATE
from edge.supervisor.deadline import HOP_NS
from edge.supervisor.loop import Supervisor

SAMPLE_INTERVAL_S = 0.5


class LoopedAudio:
    """AudioIO over a signal repeated forever, as mono S16_LE periods (as from ALSA); a read
    waits for each hop's real-time slot unless flat out. Written periods are dropped."""
    layout = (1, 0, None)

    def __init__(self, x: np.ndarray, flat_out: bool, clock=time.monotonic_ns):
        n = max(1, x.size // HOP)
        hops = np.resize(x, n * HOP).astype(np.float32).reshape(n, HOP)
        self.periods = [pcm.to_bytes(h) for h in hops]
        self.flat_out, self.clock = flat_out, clock
        self.xruns = 0
        self.i = 0
        self.t0 = clock()

    def _next(self) -> int:
        if not self.flat_out:
            wait = self.t0 + self.i * HOP_NS - self.clock()
            if wait > 0:
                time.sleep(wait / 1e9)
        i = self.i % len(self.periods)
        self.i += 1
        return i

    def read_bytes(self) -> bytes:
        return self.periods[self._next()]

    def write_bytes(self, data: bytes) -> None:
        pass


def _mean(values) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None


def summarize(idle: list[dict], run: list[dict], *, audio_s: float, wall_s: float) -> dict:
    """Power and temperature figures from telemetry snapshots taken while idle and while
    running. Energy per audio second counts only the power above idle."""
    idle_w, run_w = _mean(s["power_w"] for s in idle), _mean(s["power_w"] for s in run)
    above = run_w - idle_w if idle_w is not None and run_w is not None else None
    idle_t = _mean(s["temp_c"] for s in idle)
    end_t = next((s["temp_c"] for s in reversed(run) if s["temp_c"] is not None), None)
    return {
        "idle_power_w": idle_w,
        "power_w": run_w,
        "power_w_above_idle": above,
        "energy_j_per_audio_s": above * wall_s / audio_s if above is not None else None,
        "temp_idle_c": idle_t,
        "temp_end_c": end_t,
        "temp_rise_c": end_t - idle_t if idle_t is not None and end_t is not None else None,
    }


def _sample_for(sources, seconds: float, into: list) -> None:
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(SAMPLE_INTERVAL_S, left))
        into.append(sources.sample())


def _audio(stack: ExitStack, x: np.ndarray, periods: int, seconds: float, flat_out: bool):
    """(the loop's AudioIO, how it is paced)."""
    if flat_out:
        return LoopedAudio(x, True), "flat out"
    from edge.audio import clocked
    try:
        io = stack.enter_context(clocked.fed_duplex(pcm.to_bytes(x), seconds, periods))
    except clocked.ClockedDeviceUnavailable as e:
        return LoopedAudio(x, False), f"sleep ({e})"
    return io, "clocked"


def bench_device(board: str = "host", seconds: float = 30.0, flat_out: bool = False,
                 model: str | None = None, *, idle_s: float = 3.0, sources=None) -> dict:
    from edge.boards import load_board
    from edge.kernel import Kernel
    from edge.models import shipped
    from edge.telemetry.sources import Sampler, for_board
    from edge.wavio import read_wav

    if seconds <= 0:
        raise EdgeError(f"--seconds must be positive, got {seconds}")
    b = load_board(board)
    sources = sources or for_board(b)
    model = model or shipped()
    x = read_wav(EXAMPLE)

    idle: list[dict] = []
    sources.sample()                                  # baseline for CPU/energy deltas
    _sample_for(sources, idle_s, idle)

    run: list[dict] = []
    frames = max(1, round(seconds * 100))
    with ExitStack() as stack, Kernel(model) as kernel:
        io, pacing = _audio(stack, x, b.audio.periods, seconds, flat_out)
        sup = Supervisor(kernel, io)
        sources.sample()                              # restart the averages at the run
        sampler = Sampler(sources.sample, run.append, SAMPLE_INTERVAL_S)
        sampler.start()
        cpu0, t0 = time.process_time(), time.monotonic()
        if isinstance(io, LoopedAudio):
            io.t0 = time.monotonic_ns()
        try:
            sup.run(frames)
        finally:
            wall = time.monotonic() - t0
            cpu = time.process_time() - cpu0
            sampler.stop()
            sup.close()
        run.append(sources.sample())
        stats = sup.stats()                           # the kernel's own time is read from it
    audio_s = frames * HOP / SAMPLE_RATE
    return {
        "board": b.name,
        "seconds": audio_s,
        "flat_out": flat_out,
        "pacing": pacing,
        "model": str(model) if model else None,
        "cpu_share": cpu / wall,
        "rtf": sum_frame_s(stats) / audio_s,
        "wall_s": wall,
        "frame_us": stats["frame_us"],
        "split_us": stats["split_us"],
        "deadline_misses": stats["deadline_misses"],
        "xruns": stats["xruns"],
        "kernel_errors": stats["kernel_errors"],
        "power_source": sources.power_source,
        **summarize(idle, run, audio_s=audio_s, wall_s=wall),
        "clock_mhz": _mean(s["clock_mhz"] for s in run),
        "throttled": run[-1]["throttled"],
        "telemetry_skipped": dict(sources.skipped),
    }


def sum_frame_s(stats: dict) -> float:
    """Total processing time of all hops, from the mean."""
    return stats["frame_us"]["mean"] * stats["frames"] / 1e6
