"""ALSA PCM capture and playback for the board, in pure Python over libasound (ctypes).

`edge flash` ships this file as RELEASE/pylib/alsaaudio.py, ahead of the board's own modules
on the service's PYTHONPATH. Why: Debian 12's python3-alsaaudio (0.8.4, also Raspberry Pi OS
bookworm's) plays but fails every capture read under Python 3.11 (`SystemError:
PY_SSIZE_T_CLEAN macro must be defined for '#' formats`), and a compiled replacement would
need a build per board architecture (arm64, armhf) against that architecture's Python headers.
This module needs only libasound.so.2 (alsa-utils brings it), runs on every architecture
and Python 3, and comes and goes with the release it belongs to.

It offers the part of pyalsaaudio's 0.10+ interface that edge/audio uses, with the same
meaning: PCM(type, mode, rate=, channels=, format=, periodsize=, periods=, device=) opening
an interleaved stream; read() -> (frames, bytes) of one period (an overrun returns
(-EPIPE, b"") with the stream re-prepared); write(bytes) -> frames taken (an underrun is
re-prepared and the write retried); info(), state(), drop(), drain(), pause(), close(),
getratebounds(), getformats(); pcms(); ALSAAudioError carrying snd_strerror's text. The blocking
calls release the GIL (ctypes does) like the C extension does.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno

__version__ = "0.11-compatible (percepnet-edge, ctypes)"

PCM_PLAYBACK, PCM_CAPTURE = 0, 1
PCM_NORMAL, PCM_NONBLOCK = 0, 1
# snd_pcm_format_t
PCM_FORMAT_S8, PCM_FORMAT_U8, PCM_FORMAT_S16_LE, PCM_FORMAT_S16_BE = 0, 1, 2, 3
PCM_FORMAT_S24_LE, PCM_FORMAT_S32_LE, PCM_FORMAT_FLOAT_LE = 6, 10, 14
PCM_FORMAT_S24_3LE = 32
_FORMAT_NAMES = {PCM_FORMAT_S8: "S8", PCM_FORMAT_U8: "U8", PCM_FORMAT_S16_LE: "S16_LE",
                 PCM_FORMAT_S16_BE: "S16_BE", PCM_FORMAT_S24_LE: "S24_LE",
                 PCM_FORMAT_S32_LE: "S32_LE", PCM_FORMAT_FLOAT_LE: "FLOAT_LE",
                 PCM_FORMAT_S24_3LE: "S24_3LE"}
_BYTES_PER_SAMPLE = {0: 1, 1: 1, 2: 2, 3: 2, 6: 4, 10: 4, 14: 4, 32: 3}
# snd_pcm_state_t
(PCM_STATE_OPEN, PCM_STATE_SETUP, PCM_STATE_PREPARED, PCM_STATE_RUNNING, PCM_STATE_XRUN,
 PCM_STATE_DRAINING, PCM_STATE_PAUSED, PCM_STATE_SUSPENDED, PCM_STATE_DISCONNECTED) = range(9)
_ACCESS_RW_INTERLEAVED = 3


class ALSAAudioError(Exception):
    pass


_lib = None


def _asound():
    global _lib
    if _lib is None:
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("asound") or "libasound.so.2")
        except OSError as e:
            raise ImportError(f"libasound.so.2 not found ({e}): apt install libasound2") from None
        vp, ul, sl, ci = ctypes.c_void_p, ctypes.c_ulong, ctypes.c_long, ctypes.c_int
        pvp, pui, pul, pi = (ctypes.POINTER(vp), ctypes.POINTER(ctypes.c_uint),
                             ctypes.POINTER(ul), ctypes.POINTER(ci))
        sig = {
            "snd_strerror": (ctypes.c_char_p, [ci]),
            "snd_pcm_open": (ci, [pvp, ctypes.c_char_p, ci, ci]),
            "snd_pcm_close": (ci, [vp]),
            "snd_pcm_hw_params_malloc": (ci, [pvp]),
            "snd_pcm_hw_params_free": (None, [vp]),
            "snd_pcm_hw_params_any": (ci, [vp, vp]),
            "snd_pcm_hw_params_set_access": (ci, [vp, vp, ci]),
            "snd_pcm_hw_params_set_format": (ci, [vp, vp, ci]),
            "snd_pcm_hw_params_set_channels_near": (ci, [vp, vp, pui]),
            "snd_pcm_hw_params_set_rate_near": (ci, [vp, vp, pui, pi]),
            "snd_pcm_hw_params_set_period_size_near": (ci, [vp, vp, pul, pi]),
            "snd_pcm_hw_params_set_periods_near": (ci, [vp, vp, pui, pi]),
            "snd_pcm_hw_params": (ci, [vp, vp]),
            "snd_pcm_hw_params_current": (ci, [vp, vp]),
            "snd_pcm_hw_params_get_rate": (ci, [vp, pui, pi]),
            "snd_pcm_hw_params_get_channels": (ci, [vp, pui]),
            "snd_pcm_hw_params_get_format": (ci, [vp, pi]),
            "snd_pcm_hw_params_get_period_size": (ci, [vp, pul, pi]),
            "snd_pcm_hw_params_get_periods": (ci, [vp, pui, pi]),
            "snd_pcm_hw_params_get_rate_min": (ci, [vp, pui, pi]),
            "snd_pcm_hw_params_get_rate_max": (ci, [vp, pui, pi]),
            "snd_pcm_hw_params_test_format": (ci, [vp, vp, ci]),
            "snd_pcm_format_name": (ctypes.c_char_p, [ci]),
            "snd_pcm_prepare": (ci, [vp]),
            "snd_pcm_drop": (ci, [vp]),
            "snd_pcm_drain": (ci, [vp]),
            "snd_pcm_pause": (ci, [vp, ci]),
            "snd_pcm_resume": (ci, [vp]),
            "snd_pcm_state": (ci, [vp]),
            "snd_pcm_readi": (sl, [vp, ctypes.c_char_p, ul]),
            "snd_pcm_writei": (sl, [vp, ctypes.c_char_p, ul]),
            "snd_device_name_hint": (ci, [ci, ctypes.c_char_p, ctypes.POINTER(pvp)]),
            "snd_device_name_get_hint": (vp, [vp, ctypes.c_char_p]),
            "snd_device_name_free_hint": (ci, [pvp]),
        }
        for name, (res, args) in sig.items():
            f = getattr(lib, name)
            f.restype, f.argtypes = res, args
        lib.free = ctypes.CDLL(None).free
        lib.free.argtypes, lib.free.restype = [vp], None
        _lib = lib
    return _lib


_EIO_AS_XRUN = 8       # consecutive EIO reads or writes taken for xruns before giving up
_LAST_FORMAT = 52      # SND_PCM_FORMAT_LAST in alsa-lib 1.2


def _format_name(code: int) -> str:
    name = _asound().snd_pcm_format_name(code)
    return name.decode() if name else _FORMAT_NAMES.get(code, f"format {code}")


def _check(rc: int, what: str) -> int:
    if rc < 0:
        raise ALSAAudioError(f"{_asound().snd_strerror(rc).decode()} [{what}]")
    return rc


class PCM:
    def __init__(self, type=PCM_PLAYBACK, mode=PCM_NORMAL, rate=44100, channels=2,
                 format=PCM_FORMAT_S16_LE, periodsize=32, periods=4, device="default",
                 cardindex=-1):
        if type not in (PCM_PLAYBACK, PCM_CAPTURE):
            raise ALSAAudioError("PCM type must be PCM_PLAYBACK or PCM_CAPTURE")
        if format not in _BYTES_PER_SAMPLE:
            raise ALSAAudioError(f"unsupported format {format}")
        if cardindex >= 0:
            device = f"hw:{cardindex}"
        lib = _asound()
        self._lib, self._type, self._device = lib, type, device
        self._h = ctypes.c_void_p()
        _check(lib.snd_pcm_open(ctypes.byref(self._h), device.encode(), type, mode),
               f"{device}")
        try:
            self._setup(rate, channels, format, periodsize, periods)
        except ALSAAudioError:
            lib.snd_pcm_close(self._h)
            self._h = None
            raise

    def _setup(self, rate, channels, format, periodsize, periods):
        lib, h = self._lib, self._h
        hw = ctypes.c_void_p()
        _check(lib.snd_pcm_hw_params_malloc(ctypes.byref(hw)), "hw_params")
        try:
            _check(lib.snd_pcm_hw_params_any(h, hw), "hw_params_any")
            _check(lib.snd_pcm_hw_params_set_access(h, hw, _ACCESS_RW_INTERLEAVED), "access")
            # Like pyalsaaudio: take what the device comes nearest to; info() says what it took.
            lib.snd_pcm_hw_params_set_format(h, hw, format)
            ch, r = ctypes.c_uint(channels), ctypes.c_uint(rate)
            ps, pn, d = ctypes.c_ulong(periodsize), ctypes.c_uint(periods), ctypes.c_int(0)
            lib.snd_pcm_hw_params_set_channels_near(h, hw, ctypes.byref(ch))
            lib.snd_pcm_hw_params_set_rate_near(h, hw, ctypes.byref(r), ctypes.byref(d))
            lib.snd_pcm_hw_params_set_period_size_near(h, hw, ctypes.byref(ps), ctypes.byref(d))
            lib.snd_pcm_hw_params_set_periods_near(h, hw, ctypes.byref(pn), ctypes.byref(d))
            _check(lib.snd_pcm_hw_params(h, hw), "hw_params")
            got_f = ctypes.c_int()
            lib.snd_pcm_hw_params_current(h, hw)
            lib.snd_pcm_hw_params_get_format(hw, ctypes.byref(got_f))
            lib.snd_pcm_hw_params_get_channels(hw, ctypes.byref(ch))
            lib.snd_pcm_hw_params_get_rate(hw, ctypes.byref(r), ctypes.byref(d))
            lib.snd_pcm_hw_params_get_period_size(hw, ctypes.byref(ps), ctypes.byref(d))
            lib.snd_pcm_hw_params_get_periods(hw, ctypes.byref(pn), ctypes.byref(d))
        finally:
            lib.snd_pcm_hw_params_free(hw)
        self._rate, self._channels, self._format = r.value, ch.value, got_f.value
        self._period, self._periods = ps.value, pn.value
        self._frame_bytes = self._channels * _BYTES_PER_SAMPLE.get(self._format, 2)
        self._buf = ctypes.create_string_buffer(self._period * self._frame_bytes)
        self._eio = 0

    def _handle(self):
        if not self._h:
            raise ALSAAudioError("PCM device is closed")
        return self._h

    # -- what the device took --------------------------------------------------------------
    def info(self) -> dict:
        self._handle()
        return {"name": self._device, "card_no": -1, "device_no": -1,
                "type": self._type, "type_name": ("PLAYBACK", "CAPTURE")[self._type],
                "state": self.state(), "rate": self._rate, "channels": self._channels,
                "format": self._format, "format_name": _format_name(self._format),
                "period_size": self._period, "periods": self._periods,
                "buffer_size": self._period * self._periods}

    def cardname(self) -> str:
        return self._device

    def state(self) -> int:
        return self._lib.snd_pcm_state(self._handle())

    def getratebounds(self):
        hw = ctypes.c_void_p()
        lo, hi, d = ctypes.c_uint(), ctypes.c_uint(), ctypes.c_int()
        _check(self._lib.snd_pcm_hw_params_malloc(ctypes.byref(hw)), "hw_params")
        try:
            self._lib.snd_pcm_hw_params_any(self._handle(), hw)
            self._lib.snd_pcm_hw_params_get_rate_min(hw, ctypes.byref(lo), ctypes.byref(d))
            self._lib.snd_pcm_hw_params_get_rate_max(hw, ctypes.byref(hi), ctypes.byref(d))
        finally:
            self._lib.snd_pcm_hw_params_free(hw)
        return lo.value, hi.value

    def getformats(self) -> dict:
        hw = ctypes.c_void_p()
        _check(self._lib.snd_pcm_hw_params_malloc(ctypes.byref(hw)), "hw_params")
        try:
            self._lib.snd_pcm_hw_params_any(self._handle(), hw)
            return {_format_name(f): f for f in range(_LAST_FORMAT + 1)
                    if self._lib.snd_pcm_hw_params_test_format(self._handle(), hw, f) == 0}
        finally:
            self._lib.snd_pcm_hw_params_free(hw)

    # -- data ---------------------------------------------------------------------------
    def read(self):
        """One period: (frames, bytes); (-EPIPE, b"") after an overrun (stream re-prepared)."""
        if self._type != PCM_CAPTURE:
            raise ALSAAudioError("read() on a playback PCM")
        h = self._handle()
        n = self._lib.snd_pcm_readi(h, self._buf, self._period)
        if n == -errno.EIO and self._eio < _EIO_AS_XRUN:
            # alsa-lib's wait saw POLLERR while the stream was no longer in XRUN: an overrun
            # that raced with its own recovery (seen on snd-aloop under load). Re-prepare and
            # report it as one; EIO again and again means the device is really gone.
            self._eio += 1
            n = -errno.EPIPE
        elif n >= 0:
            self._eio = 0
        if n == -errno.EPIPE:
            self._lib.snd_pcm_prepare(h)
            return -errno.EPIPE, b""
        if n == -errno.EAGAIN:
            return 0, b""
        if n == -errno.ESTRPIPE:
            self._recover_suspend(h)
            return 0, b""
        _check(n, "read")
        return n, self._buf.raw[:n * self._frame_bytes]

    def write(self, data: bytes) -> int:
        """Frames taken (0 when a non-blocking stream is full). An underrun is re-prepared and
        the write tried once more."""
        if self._type != PCM_PLAYBACK:
            raise ALSAAudioError("write() on a capture PCM")
        h = self._handle()
        frames = len(data) // self._frame_bytes
        n = self._lib.snd_pcm_writei(h, data, frames)
        if n == -errno.EIO and self._eio < _EIO_AS_XRUN:
            self._eio += 1      # see read(): an underrun that raced with its recovery
            n = -errno.EPIPE
        elif n >= 0:
            self._eio = 0
        if n == -errno.EPIPE:
            self._lib.snd_pcm_prepare(h)
            n = self._lib.snd_pcm_writei(h, data, frames)
        elif n == -errno.ESTRPIPE:
            self._recover_suspend(h)
            n = self._lib.snd_pcm_writei(h, data, frames)
        if n == -errno.EAGAIN:
            return 0
        return _check(n, "write")

    def _recover_suspend(self, h) -> None:
        while self._lib.snd_pcm_resume(h) == -errno.EAGAIN:
            pass
        self._lib.snd_pcm_prepare(h)

    def pause(self, enable: bool = True) -> int:
        return _check(self._lib.snd_pcm_pause(self._handle(), 1 if enable else 0), "pause")

    def drop(self) -> int:
        return _check(self._lib.snd_pcm_drop(self._handle()), "drop")

    def drain(self) -> int:
        return _check(self._lib.snd_pcm_drain(self._handle()), "drain")

    def close(self) -> None:
        if self._h:
            h, self._h = self._h, None
            if self._type == PCM_PLAYBACK and self._lib.snd_pcm_state(h) == PCM_STATE_RUNNING:
                self._lib.snd_pcm_drain(h)
            self._lib.snd_pcm_close(h)

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def pcms(pcmtype: int = PCM_PLAYBACK) -> list[str]:
    """The PCM names ALSA hints at for playback or capture (like `aplay -L`)."""
    lib = _asound()
    hints = ctypes.POINTER(ctypes.c_void_p)()
    _check(lib.snd_device_name_hint(-1, b"pcm", ctypes.byref(hints)), "name_hint")
    out, want = [], ("Output", "Input")[pcmtype == PCM_CAPTURE]
    try:
        i = 0
        while hints[i]:
            name_p = lib.snd_device_name_get_hint(hints[i], b"NAME")
            io_p = lib.snd_device_name_get_hint(hints[i], b"IOID")
            name = ctypes.string_at(name_p).decode() if name_p else None
            io = ctypes.string_at(io_p).decode() if io_p else None
            for p in (name_p, io_p):
                if p:
                    lib.free(p)
            if name and io in (None, want):
                out.append(name)
            i += 1
    finally:
        lib.snd_device_name_free_hint(hints)
    return out
