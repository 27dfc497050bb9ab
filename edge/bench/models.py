"""Speed of the int8 network for each model size: the network alone (pn_nnet_step inside
pn_process, pn_get_stats nnet_us) and the whole frame (DSP + network, dsp_us + nnet_us), both
timed in C with a monotonic clock so ctypes overhead is not counted. Weights are random (the
cost of a step does not depend on their values); the input is the example recording, looped.

Beside each achieved MAC rate go the two limits on it, measured in this process: the
kernel's peak with a weight block resident in L1 (pn_bench_matvec_peak; pn_bench_matvec4_peak
for int4 weights), and the weight-streaming bound, the MACs per frame over the time to read the
model's bytes at the measured read bandwidth of a buffer that size (pn_bench_read_bandwidth).
`of_limit` is achieved / the lower of the two: the figure that means the same on any machine.
weights=("int8", "int4") times each size in both encodings in the same process: the int4
entries are named "small-int4", "paper-int4"."""
from __future__ import annotations

import ctypes as C
import resource
import tempfile
from pathlib import Path

import numpy as np

from edge.bench.dsp import _cpu_name, _looped
from edge.model import arch, pnw
from edge.native import HOP, SAMPLE_RATE, check, fn

WARMUP_FRAMES = 50
# Each limit's timed run, whose best pass is kept: long enough to outlast a neighbour's burst on
# a shared machine (seen here: the read bandwidth halved for a whole 0.5 s run, 1 run in 6).
LIMIT_SECONDS = 2.0


def random_pnw(config, seed: int = 0, weights: str = "int8") -> bytes:
    """A .pnw of the config's shape with random int8 weights, scaled like a Glorot init
    (weights="int4": those requantised as `edge export --weights int4` does)."""
    rng = np.random.default_rng(seed)
    layers, out_src = pnw.layer_graph(config)
    for layer, spec in zip(layers, arch.topology(config)):
        shapes = arch.matrix_shapes(spec, layer.n_in)
        layer.mats = [(rng.integers(-127, 128, s, dtype=np.int8),
                       np.full(s[0], 1.7 / (127 * np.sqrt(s[1])), np.float32),
                       rng.uniform(-0.1, 0.1, s[0]).astype(np.float32)) for s in shapes]
    return pnw.write(layers, out_src, config if isinstance(config, str) else "custom", weights)


def _stats(x: np.ndarray) -> dict:
    return {"mean": float(x.mean()), "p50": float(np.percentile(x, 50)),
            "p99": float(np.percentile(x, 99)), "max": float(x.max())}


def time_model(model_path: Path, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-hop (network us, whole frame us) of pn_process over the audio, warm-up dropped."""
    from edge.kernel import Kernel

    hops = audio.reshape(-1, HOP)
    net, frame = np.zeros(len(hops)), np.zeros(len(hops))
    with Kernel(model_path) as k:
        for t, hop in enumerate(hops):
            k.process(hop)
            s = k.stats()
            net[t], frame[t] = s["nnet_us"], s["dsp_us"] + s["nnet_us"]
    w = min(WARMUP_FRAMES, len(hops) - 1)
    return net[w:], frame[w:]


def l1_peak_gmac_per_s(seconds: float = LIMIT_SECONDS, weights: str = "int8") -> float:
    """The active SIMD path's int8 (or int4) matrix-vector rate with its weights resident in L1."""
    out = C.c_double()
    name = "pn_bench_matvec4_peak" if weights == "int4" else "pn_bench_matvec_peak"
    check(fn(name)(seconds, C.byref(out)), name)
    return out.value / 1e9


def read_gbps(nbytes: int, seconds: float = LIMIT_SECONDS) -> float:
    """Read bandwidth of a buffer of nbytes, read over and over."""
    out = C.c_double()
    check(fn("pn_bench_read_bandwidth")(nbytes, seconds, C.byref(out)), "pn_bench_read_bandwidth")
    return out.value / 1e9


def limits(weights: int, weight_bytes: int, peak_gmac_per_s: float) -> dict:
    """The two limits on a network's int8 MAC rate: L1-resident peak and weight streaming."""
    gbps = read_gbps(weight_bytes)
    stream = weights / weight_bytes * gbps  # MACs per frame / (bytes per frame / bytes per s)
    return {"l1_peak_gmac_per_s": peak_gmac_per_s, "weight_bytes": weight_bytes, "read_gbps": gbps,
            "stream_gmac_per_s": stream, "bound": "memory" if stream < peak_gmac_per_s else "compute"}


def bench_models(seconds: float = 20.0, configs=("small", "paper"), weights=("int8",)) -> dict:
    """{"models": {name: {"network_us", "frame_us", "weights", "encoding", "gmac_per_s", "limits",
    "of_limit", "network_us_scalar"}}, "echo_canceller", ...}; gmac_per_s is the network's
    multiply-accumulate rate at its median step, of_limit its ratio to the lower of the two
    limits; echo_canceller, what `edge run --reference` adds per hop (edge.bench.aec), or why
    there is no figure."""
    from edge.bench.aec import time_canceller
    from edge.errors import EdgeError

    active = fn("pn_simd_active")().decode()
    audio = _looped(seconds)
    peaks = {enc: l1_peak_gmac_per_s(weights=enc) for enc in weights}
    models = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, enc in ((name, enc) for name in configs for enc in weights):  # a size's encodings back to back
            key = name if enc == "int8" else f"{name}-{enc}"
            path = Path(tmp) / f"{key}.pnw"
            path.write_bytes(random_pnw(name, weights=enc))
            net, frame = time_model(path, audio)
            n_weights = arch.count_weights(name)
            gmac = n_weights / np.percentile(net, 50) / 1e3
            lim = limits(n_weights, path.stat().st_size, peaks[enc])
            entry = {"network_us": _stats(net), "frame_us": _stats(frame), "weights": n_weights,
                     "encoding": enc, "gmac_per_s": gmac, "limits": lim,
                     "of_limit": gmac / min(lim["l1_peak_gmac_per_s"], lim["stream_gmac_per_s"]),
                     "frames": int(len(net))}
            if active != "scalar":  # the same network on the scalar reference path, shorter run
                check(fn("pn_simd_select")(b"scalar"), "pn_simd_select scalar")
                try:
                    net_s, _ = time_model(path, audio[: max(len(audio) // 8 // HOP, WARMUP_FRAMES + 10) * HOP])
                finally:
                    check(fn("pn_simd_select")(active.encode()), f"pn_simd_select {active}")
                entry["network_us_scalar"] = _stats(net_s)
            models[key] = entry
    try:
        t = time_canceller(audio)
        canceller = {"hop_us": _stats(t), "hops": len(t)}
    except EdgeError as e:
        canceller = {"unavailable": str(e)}
    return {
        "models": models,
        "echo_canceller": canceller,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "simd": active,
        "simd_available": fn("pn_simd_available")().decode(),
        "timing": "in C: pn_get_stats nnet_us (pn_nnet_step) and dsp_us + nnet_us (pn_process)",
        "audio_seconds": len(audio) / SAMPLE_RATE,
        "processor": _cpu_name(),
    }
