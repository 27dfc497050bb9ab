"""DSP-only speed: per-hop time of pn_analyze + pn_synthesize (comb and postfilter on, fixed
gains and strengths), measured inside the kernel with a monotonic clock (pn_get_stats dsp_us),
so the ctypes call overhead is not counted."""
from __future__ import annotations

import platform
from pathlib import Path

import numpy as np

from edge.native import HOP, NB_BANDS, SAMPLE_RATE, fn
from edge.wavio import read_wav

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "noisy.wav"


def _looped(seconds: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    x = read_wav(EXAMPLE)
    n = max(1, int(seconds * rate) // HOP) * HOP
    return np.resize(x, n).astype(np.float32)


def bench_dsp(seconds: float = 60.0) -> dict:
    from edge.kernel import Kernel

    x = _looped(seconds)
    gains = np.full(NB_BANDS, 0.5, np.float32)
    strengths = np.full(NB_BANDS, 0.5, np.float32)  # non-zero: the comb path runs every hop
    times = np.zeros(len(x) // HOP, np.float64)
    with Kernel(comb=True, postfilter=True) as k:
        for t, hop in enumerate(x.reshape(-1, HOP)):
            k.analyze(hop)
            k.synthesize(gains, strengths)
            times[t] = k.stats()["dsp_us"]
    # the first hops fill buffers and caches: they are not the steady state
    steady = times[min(50, len(times) - 1):]
    return {
        "dsp_us_per_frame": {
            "mean": float(steady.mean()),
            "p50": float(np.percentile(steady, 50)),
            "p99": float(np.percentile(steady, 99)),
            "max": float(steady.max()),
        },
        "timing": "in C, pn_get_stats dsp_us (analysis + synthesis, monotonic clock)",
        "frames": int(len(steady)),
        "audio_seconds": len(x) / SAMPLE_RATE,
        "simd": fn("pn_simd_active")().decode(),
        "machine": platform.machine(),
        "processor": _cpu_name(),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
