"""The native kernel for one audio stream: analysis, synthesis, the whole frame, and the
oracle pairing of a noisy and clean signal for training."""
from __future__ import annotations

import ctypes as C
from pathlib import Path

import numpy as np

from edge.native import HOP, NB_BANDS, NB_FEATURES, SAMPLE_RATE, NativeError, check, fn, fptr, rates


class _Config(C.Structure):
    _fields_ = [("comb", C.c_int), ("postfilter", C.c_int), ("rate", C.c_int)]


class _Stats(C.Structure):
    _fields_ = [("frames", C.c_long), ("dsp_us", C.c_float), ("nnet_us", C.c_float),
                ("pitch_period", C.c_float), ("pitch_corr", C.c_float), ("energy_db", C.c_float),
                ("total_us", C.c_double)]


ATTEN_MAX_DB = 100.0    # the highest attenuation limit taken: the LADSPA plugin clamps its control port to this


def check_atten_lim(db: float | None) -> None:
    """Refuse an attenuation limit (dB) that is not 0 (off), None or a number up to ATTEN_MAX_DB:
    a negative one, NaN or infinity."""
    if db is not None and not 0 <= db <= ATTEN_MAX_DB:                 # NaN fails both
        raise NativeError(f"attenuation limit must be 0 (off) or a positive number of dB up "
                          f"to {ATTEN_MAX_DB:g}, got {db:g}")


def hop_samples(rate: int = SAMPLE_RATE) -> int:
    """Samples in one 10 ms hop at `rate`; a rate the kernel does not take is refused."""
    n = int(fn("pn_hop_samples")(int(rate)))
    if n <= 0:
        raise NativeError(f"{rate} Hz is not a supported sample rate; percepnet-edge takes "
                          + ", ".join(str(r) for r in rates()) + " Hz")
    return n


def latency_samples(rate: int = SAMPLE_RATE) -> int:
    """Algorithmic delay of the kernel at `rate`: output sample n is input sample n - latency."""
    hop_samples(rate)
    return int(fn("pn_latency_samples")(int(rate)))


def band_centres_hz() -> np.ndarray:
    """Centre frequency of each band, Hz."""
    hz = np.zeros(NB_BANDS, np.float32)
    fn("pn_band_centres_hz")(fptr(hz))
    return hz


class Kernel:
    """One pn_state. Without a model, process() runs the DSP with unit gains and no comb
    (audio passes through, delayed by `latency`); with a .pnw model it runs the network.
    atten_lim: no band's gain goes below -atten_lim dB (None or 0: no limit). rate: of the
    samples in and out (one of edge.native.rates(); others than 48 kHz are converted inside the kernel), a
    hop being `hop` = rate / 100 samples."""

    def __init__(self, model: str | Path | None = None, *, comb: bool = True, postfilter: bool = True,
                 atten_lim: float | None = None, rate: int = SAMPLE_RATE):
        self.hop = hop_samples(rate)
        self.rate = int(rate)
        self._runners: list[HopRunner] = []
        self._st = C.c_void_p()
        self._model = C.c_void_p()
        check_atten_lim(atten_lim)
        if model is not None:
            from edge.models import check_file
            check_file(model)           # a folder, a .tflite: said in words, not "bad magic"
            err = C.create_string_buffer(256)
            code = fn("pn_model_load_file")(str(model).encode(), C.byref(self._model), err, len(err))
            if code != 0:
                raise NativeError(f"{model}: {err.value.decode(errors='replace') or fn('pn_strerror')(code).decode()}")
        cfg = _Config(int(bool(comb)), int(bool(postfilter)), self.rate)
        code = fn("pn_create")(C.byref(cfg), self._model, C.byref(self._st))
        if code != 0:
            self._free_model()
            check(code, "pn_create")
        if atten_lim is not None and fn("pn_set_atten_lim")(self._st, atten_lim) != 0:
            self.close()
            raise NativeError(f"attenuation limit must be 0 (off) or a positive number of dB, "
                              f"got {atten_lim}")
        self.has_model = model is not None
        self.latency = latency_samples(rate)
        self._in = np.zeros(self.hop, np.float32)
        self._clean = np.zeros(self.hop, np.float32)
        self._out = np.zeros(self.hop, np.float32)
        self._feat = np.zeros(NB_FEATURES, np.float32)
        self._g = np.zeros(NB_BANDS, np.float32)
        self._r = np.zeros(NB_BANDS, np.float32)
        self._p = {name: fptr(a) for name, a in (("in", self._in), ("clean", self._clean), ("out", self._out),
                                                  ("feat", self._feat), ("g", self._g), ("r", self._r))}
        self._stats = _Stats()

    def _free_model(self):
        if self._model:
            fn("pn_model_free")(self._model)
            self._model = C.c_void_p()

    def _load(self, dst: np.ndarray, hop) -> None:
        a = np.asarray(hop, dtype=np.float32)
        if a.shape != (self.hop,):
            raise NativeError(f"a hop is {self.hop} samples at {self.rate} Hz, got shape {a.shape}")
        dst[:] = a

    def _live(self):
        if not self._st:
            raise NativeError("kernel is closed")
        return self._st

    def process(self, hop, out: np.ndarray | None = None) -> np.ndarray:
        """One hop in, one hop out: a new array, or written into `out` (float32[hop]) so that a
        real-time caller allocates nothing per hop."""
        st = self._live()
        self._load(self._in, hop)
        check(fn("pn_process")(st, self._p["in"], self._p["out"]), "pn_process")
        if out is None:
            return self._out.copy()
        out[:] = self._out
        return out

    def analyze(self, hop) -> np.ndarray:
        """Push one hop; the network features of the newest frame."""
        self._load(self._in, hop)
        check(fn("pn_analyze")(self._live(), self._p["in"], self._p["feat"]), "pn_analyze")
        return self._feat.copy()

    def synthesize(self, gains, strengths) -> np.ndarray:
        """Apply band gains and comb strengths to the frame PN_LOOKAHEAD_FRAMES back."""
        for dst, v, name in ((self._g, gains, "gains"), (self._r, strengths, "strengths")):
            a = np.asarray(v, np.float32)
            if a.shape != (NB_BANDS,):
                raise NativeError(f"{name}: expected {NB_BANDS} band values, got shape {a.shape}")
            dst[:] = a
        check(fn("pn_synthesize")(self._live(), self._p["g"], self._p["r"], self._p["out"]), "pn_synthesize")
        return self._out.copy()

    def oracle_step(self, noisy_hop, clean_hop):
        """(features, ideal gains, ideal strengths) for one hop of a noisy/clean pair."""
        self._load(self._in, noisy_hop)
        self._load(self._clean, clean_hop)
        check(fn("pn_oracle_step")(self._live(), self._p["in"], self._p["clean"], self._p["feat"],
                                   self._p["g"], self._p["r"]), "pn_oracle_step")
        return self._feat.copy(), self._g.copy(), self._r.copy()

    def reset(self) -> None:
        fn("pn_reset")(self._live())

    def stats(self) -> dict:
        check(fn("pn_get_stats")(self._live(), C.byref(self._stats)), "pn_get_stats")
        return {name: getattr(self._stats, name) for name, _ in _Stats._fields_}

    def total_us(self) -> float | None:
        """Time spent in the C kernel by every hop so far (DSP + network), µs; None once closed."""
        if not self._st:
            return None
        s = _Stats()    # its own struct: the telemetry thread reads this while hops run
        check(fn("pn_get_stats")(self._st, C.byref(s)), "pn_get_stats")
        return s.total_us

    def hop_runner(self, channels: int = 1, capture_channel: int = 0,
                   playback_channel: int | None = None) -> "HopRunner":
        """The live loop's hop on this state, in S16_LE periods of `channels` (pn_hop_run):
        freed with the kernel."""
        r = HopRunner(self, channels, capture_channel, playback_channel)
        self._runners.append(r)
        return r

    def close(self) -> None:
        for r in self._runners:            # they borrow the state
            r.close()
        self._runners.clear()
        if self._st:
            fn("pn_destroy")(self._st)
            self._st = C.c_void_p()
        self._free_model()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class HopRunner:
    """One pn_hop: a captured S16_LE period in, the period to play out, with the delay line,
    the kernel step and the crossfade in C (the live loop's hop; edge.supervisor.loop decides
    the mode of each). Nothing is allocated per hop but the returned bytes."""

    def __init__(self, kernel: Kernel, channels: int, capture_channel: int, playback_channel: int | None):
        self._h = C.c_void_p()
        check(fn("pn_hop_create")(kernel._live(), int(channels), int(capture_channel),
                                  -1 if playback_channel is None else int(playback_channel),
                                  C.byref(self._h)), "pn_hop_create")
        self.bytes = kernel.hop * int(channels) * 2          # one period, in and out
        self._out = C.create_string_buffer(self.bytes)
        self._run = fn("pn_hop_run")

    def run(self, data: bytes, mode: int) -> tuple[bytes, NativeError | None]:
        """(the period to play, None or the kernel's error): on an error the period is the
        delayed input."""
        if len(data) != self.bytes:
            raise NativeError(f"a period is {self.bytes} bytes here, got {len(data)}")
        code = self._run(self._h, data, self._out, mode)
        return self._out.raw, (None if code == 0 else NativeError(f"pn_hop_run: {fn('pn_strerror')(code).decode()}"))

    def close(self) -> None:
        if self._h:
            fn("pn_hop_destroy")(self._h)
            self._h = C.c_void_p()


def _hops(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 1:
        raise NativeError(f"{name}: expected a mono signal (1-D), got shape {x.shape}")
    t = len(x) // HOP
    return np.ascontiguousarray(x[: t * HOP]).reshape(t, HOP)


def analyze_pair(noisy: np.ndarray, clean: np.ndarray):
    """Training data for one noisy/clean pair: features[T, 70] of the noisy signal and the
    ideal gains[T, 34] and strengths[T, 34]; row t pairs the features of frame t with the
    targets of the frame output at that hop (t - lookahead). T = len // 480."""
    if len(noisy) != len(clean):
        raise NativeError(f"noisy and clean differ in length ({len(noisy)} vs {len(clean)} samples)")
    n, c = _hops(noisy, "noisy"), _hops(clean, "clean")
    T = len(n)
    feats = np.zeros((T, NB_FEATURES), np.float32)
    gains = np.zeros((T, NB_BANDS), np.float32)
    strengths = np.zeros((T, NB_BANDS), np.float32)
    step = fn("pn_oracle_step")
    with Kernel() as k:
        st = k._live()
        for t in range(T):
            check(step(st, fptr(n[t]), fptr(c[t]), fptr(feats[t]), fptr(gains[t]), fptr(strengths[t])),
                  "pn_oracle_step")
    return feats, gains, strengths


__all__ = ["HopRunner", "Kernel", "analyze_pair", "band_centres_hz", "hop_samples", "latency_samples"]
