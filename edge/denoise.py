"""Whole-signal enhancement on top of the streaming kernel: with a network (native int8 engine
or the TFLite reference) or with oracle gains from a clean reference. Outputs have the input's
length, rate and alignment: the kernel's delay is dropped and the tail flushed with zeros.
atten_lim (dB, None or 0: none) keeps every band's gain at or above -atten_lim dB. rate: of the
signals, one of edge.native.rates() (the kernel converts other rates than 48 kHz inside)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edge import models
from edge.errors import EdgeError
from edge.native import NB_BANDS, SAMPLE_RATE

ORACLE_MODES = {  # mode -> (comb, postfilter)
    "band": (False, False),
    "band+comb": (True, False),
    "band+comb+postfilter": (True, True),
}


def _signal(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 1:
        raise EdgeError(f"{name}: expected a mono signal, got shape {x.shape}")
    if len(x) == 0:
        raise EdgeError(f"{name}: contains no audio")
    if not np.all(np.isfinite(x)):
        raise EdgeError(f"{name}: contains NaN or infinite samples")
    return x


def _padded_hops(x: np.ndarray, k) -> np.ndarray:
    """x followed by the latency of Kernel k in zeros (to flush it), cut into k's hops."""
    n = len(x) + k.latency
    t = -(-n // k.hop)
    buf = np.zeros(t * k.hop, np.float32)
    buf[: len(x)] = x
    return buf.reshape(t, k.hop)


def _aligned(out_hops: list, n: int, latency: int) -> np.ndarray:
    y = np.concatenate(out_hops) if out_hops else np.zeros(0, np.float32)
    return y[latency: latency + n]


def denoise_oracle(noisy, clean, mode: str = "band+comb+postfilter",
                   atten_lim: float | None = None, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Enhance with the ideal gains (and strengths) computed from the clean signal."""
    from edge.kernel import Kernel

    if mode not in ORACLE_MODES:
        raise EdgeError(f"unknown oracle mode {mode!r}; choose from {', '.join(ORACLE_MODES)}")
    noisy, clean = _signal(noisy, "noisy"), _signal(clean, "clean")
    if len(noisy) != len(clean):
        raise EdgeError(f"noisy and clean differ in length ({len(noisy)} vs {len(clean)} samples)")
    comb, postfilter = ORACLE_MODES[mode]
    zeros = np.zeros(NB_BANDS, np.float32)
    with Kernel(comb=comb, postfilter=postfilter, atten_lim=atten_lim, rate=rate) as k:
        hn, hc = _padded_hops(noisy, k), _padded_hops(clean, k)
        out = []
        for a, b in zip(hn, hc):
            _, g, r = k.oracle_step(a, b)
            out.append(k.synthesize(g, r if comb else zeros))
        return _aligned(out, len(noisy), k.latency)


def default_model(backend: str) -> Path:
    path = models.shipped(backend)
    if path is None:
        raise EdgeError("no shipped model yet: pass --model")
    return path


def denoise(noisy, model: str | Path | None = None, backend: str = "native",
            atten_lim: float | None = None, rate: int = SAMPLE_RATE, reference=None) -> np.ndarray:
    """Enhance with a network: the native int8 engine, or the TFLite interpreter between the
    kernel's analysis and synthesis. reference: what the loudspeaker played, as long as noisy
    (native only): each hop goes through the echo canceller (edge.aec) and then the kernel."""
    from edge.kernel import Kernel

    if backend not in ("native", "tflite"):
        raise EdgeError(f"unknown backend {backend!r}; choose native or tflite")
    noisy = _signal(noisy, "noisy")
    if reference is not None:
        if backend != "native":
            raise EdgeError("an echo reference goes with the native backend only")
        reference = _signal(reference, "reference")
        if len(reference) != len(noisy):
            raise EdgeError(f"microphone and reference differ in length ({len(noisy)} vs "
                            f"{len(reference)} samples)")
    path = models.check_file(model if model is not None else default_model(backend), backend)
    if backend == "native":
        with Kernel(path, atten_lim=atten_lim, rate=rate) as k:
            hops = _padded_hops(noisy, k)
            if reference is None:
                return _aligned([k.process(h) for h in hops], len(noisy), k.latency)
            from edge.aec import Canceller

            with Canceller(rate, k.hop) as c:
                out = [k.process(c.run(h, f, h)) for h, f in zip(hops, _padded_hops(reference, k))]
            return _aligned(out, len(noisy), k.latency)
    from edge.model.tflite_step import TFLiteStep

    net = TFLiteStep(path)

    def network(features):
        o = np.stack([np.asarray(net.step(f), np.float32) for f in features])
        return o[:, :NB_BANDS], o[:, NB_BANDS: 2 * NB_BANDS]

    return denoise_with(noisy, network, atten_lim=atten_lim, rate=rate)


def denoise_with(noisy, network, atten_lim: float | None = None, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Enhance with any network, offline: network(features [T, 70]) -> (gains, strengths), each
    [T, 34], for the whole signal's frames at once (a TFLite step, a float Keras model...)."""
    from edge.kernel import Kernel

    noisy = _signal(noisy, "noisy")
    # synthesis needs the analysis state of each hop: k runs the analysis again
    with Kernel(rate=rate) as a, Kernel(atten_lim=atten_lim, rate=rate) as k:
        hops = _padded_hops(noisy, k)
        gains, strengths = network(np.stack([a.analyze(h) for h in hops]))
        out = []
        for h, g, r in zip(hops, gains, strengths):
            k.analyze(h)
            out.append(k.synthesize(np.asarray(g, np.float32), np.asarray(r, np.float32)))
        return _aligned(out, len(noisy), k.latency)


def kernel_rate(rate: int) -> int:
    """The rate the kernel runs a signal of `rate` at: that rate where the kernel takes it,
    else the lowest one it takes above (so no band of the signal is lost: 22050 -> 24000), else
    its highest (96000 -> 48000)."""
    from edge.native import rates

    if rate in rates():
        return rate
    above = [r for r in rates() if r > rate]
    return min(above) if above else max(rates())


def denoise_channels(x, rate: int, enhance, clean=None) -> np.ndarray:
    """Enhance every channel of x [frames, channels] on its own: enhance(channel, rate, clean
    channel or None) -> enhanced channel, each call with its own kernel state. A rate the
    kernel does not take is resampled to kernel_rate(rate) and back; the result has x's shape
    and alignment. clean: None, [frames, 1] (one reference for every channel) or x's shape."""
    from edge.data.audio import resample

    x = np.asarray(x, np.float32)
    if x.ndim != 2 or x.shape[1] < 1:
        raise EdgeError(f"expected [frames, channels] samples, got shape {x.shape}")
    k = kernel_rate(rate)
    out = np.empty_like(x)
    for c in range(x.shape[1]):
        ref = None if clean is None else clean[:, min(c, clean.shape[1] - 1)]
        if k != rate:
            ref = None if ref is None else resample(ref, rate, k)
            y = resample(enhance(resample(x[:, c], rate, k), k, ref), k, rate)
        else:
            y = enhance(x[:, c], k, ref)
        n = min(len(y), len(x))
        out[:n, c] = y[:n]
        out[n:, c] = 0.0
    return out
