"""ALSA capture and playback through pyalsaaudio at the kernel's fixed format.

The kernel needs S16_LE and one 10 ms hop per period (480 frames at 48 kHz, rate / 100 at the
other rates it takes, 8 to 44.1 kHz, which it converts inside). pyalsaaudio silently picks the nearest
setting a device offers, so every opened PCM is checked against what was asked and refused
with the device's name and what it offers. Over- and underruns are recovered here (ALSA
re-prepares the stream) and counted; any other error means the device is gone.

pyalsaaudio 0.10 or newer (pip, the `board` extra), or the release's own binding on a board
(edge/flash/board_pylib/alsaaudio.py, the same interface). An older one (0.8.4, the
python3-alsaaudio of Debian 12 / Raspberry Pi OS bookworm, which cannot capture under Python
3.11) is refused with a line saying so.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from dataclasses import dataclass

import numpy as np

from edge.audio import pcm
from edge.errors import EdgeError
from edge.native import SAMPLE_RATE as RATE
from edge.native import rates

_EPIPE = errno.EPIPE


class AudioDeviceError(EdgeError):
    """A device that is missing, unsuitable, or that failed while running."""


@dataclass(frozen=True)
class AudioConfig:
    capture: str = "default"
    playback: str = "default"
    channels: int = 1              # channels opened on both devices
    capture_channel: int = 0       # the one channel the kernel hears
    playback_channel: int | None = None   # None: the result goes to every channel
    periods: int = 3               # ALSA buffer = periods x period frames
    rate: int = RATE               # Hz, one of the kernel's rates()

    @property
    def period(self) -> int:
        """Frames per ALSA period: one kernel hop, 10 ms."""
        return self.rate // 100

    def validate(self) -> None:
        if self.rate not in rates():
            raise AudioDeviceError(f"{self.rate} Hz is not a supported sample rate; percepnet-edge "
                                   f"takes " + ", ".join(str(r) for r in rates()) + " Hz")
        if self.channels < 1:
            raise AudioDeviceError(f"channels must be at least 1, got {self.channels}")
        if not 0 <= self.capture_channel < self.channels:
            raise AudioDeviceError(f"capture channel {self.capture_channel} does not exist "
                                   f"on a {self.channels}-channel stream")
        if self.playback_channel is not None and not 0 <= self.playback_channel < self.channels:
            raise AudioDeviceError(f"playback channel {self.playback_channel} does not exist "
                                   f"on a {self.channels}-channel stream")
        if self.periods < 2:
            raise AudioDeviceError(f"periods must be at least 2, got {self.periods}")


_quiet = []


def _silence_alsa_lib() -> None:
    """alsa-lib prints its own diagnostics to stderr ("ALSA lib pcm.c:...") before our
    one-line error; route them nowhere (the handler ignores its variadic arguments)."""
    if _quiet:
        return
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("asound") or "libasound.so.2")
    except OSError:
        return
    handler = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                               ctypes.c_int, ctypes.c_char_p)(lambda *a: None)
    lib.snd_lib_error_set_handler(handler)
    _quiet.append(handler)              # the callback must outlive every ALSA call


def _alsa():
    try:
        import alsaaudio
    except ImportError:
        raise AudioDeviceError("pyalsaaudio is not installed (pip install "
                               "'percepnet-edge[board]'; it needs libasound2-dev to build)") from None
    if not all(hasattr(alsaaudio.PCM, a) for a in ("state", "info", "drop", "drain")):
        raise AudioDeviceError(f"the pyalsaaudio at {getattr(alsaaudio, '__file__', '?')} is older "
                               "than 0.10, which edge needs (pip install 'percepnet-edge[board]')")
    _silence_alsa_lib()
    return alsaaudio


def _interrupted(err: Exception) -> bool:
    """pyalsaaudio reports EINTR only as text (snd_strerror)."""
    return os.strerror(errno.EINTR) in str(err)


def _broken_pipe(err: Exception) -> bool:
    """An xrun that pyalsaaudio could not recover itself surfaces as EPIPE's text."""
    return os.strerror(_EPIPE) in str(err)


class PcmApi:
    """The pyalsaaudio calls the loop makes: PCM(type, mode, rate=, channels=, format=,
    periodsize=, periods=, device=), info(), state(), avail(), drop(), drain()."""

    def __init__(self, alsaaudio):
        self.m = alsaaudio

    def open(self, kind: str, device: str, channels: int, periods: int, rate: int = RATE,
             nonblock: bool = False):
        """(pcm, what the device took: rate, format_name, channels, period_size)."""
        m = self.m
        stream = m.PCM_CAPTURE if kind == "capture" else m.PCM_PLAYBACK
        dev = m.PCM(stream, m.PCM_NONBLOCK if nonblock else m.PCM_NORMAL, rate=rate, channels=channels,
                    format=m.PCM_FORMAT_S16_LE, periodsize=rate // 100, periods=periods,
                    device=device)
        info = dev.info()
        return dev, {k: info[k] for k in ("rate", "format_name", "channels", "period_size")}

    def in_xrun(self, dev) -> bool:
        """True when the stream is stopped by an xrun. Plugin PCMs (pulse, pipewire) notice an
        underrun only when asked for the stream's position: avail() asks (it returns -EPIPE
        then), state() alone would miss it, and pyalsaaudio's write() would recover it
        silently."""
        try:
            if dev.avail() == -_EPIPE:
                return True
        except (self.m.ALSAAudioError, AttributeError):
            pass
        return dev.state() == self.m.PCM_STATE_XRUN

    def stop(self, dev, kind: str, drain: bool) -> None:
        """Stop and close one PCM; drain lets queued playback finish."""
        m = self.m
        try:
            if drain and kind == "playback":
                dev.drain()
            else:
                dev.drop()
        except m.ALSAAudioError:
            pass  # a vanished device has nothing left to flush
        try:
            dev.close()
        except m.ALSAAudioError:
            pass


def _api() -> PcmApi:
    return PcmApi(_alsa())


def _offers(dev) -> str:
    """What a device supports, for the error message (best effort: plugins vary)."""
    parts = []
    try:
        lo, hi = dev.getratebounds()
        parts.append(f"rates {lo}-{hi} Hz" if lo != hi else f"rate {lo} Hz")
    except Exception:  # noqa: BLE001 - the message is still useful without it
        pass
    try:
        parts.append("formats " + ", ".join(dev.getformats()))
    except Exception:  # noqa: BLE001
        pass
    return "; it offers " + "; ".join(parts) if parts else ""


def open_pcm(kind: str, device: str, channels: int, periods: int, rate: int = RATE,
             role: str | None = None, nonblock: bool = False):
    """Open one PCM (kind 'capture' or 'playback') and check it runs at our format and `rate`,
    with 10 ms periods. role names it in errors (default: kind)."""
    api = _api()
    period = rate // 100
    role = role or kind
    try:
        dev, info = api.open(kind, device, channels, periods, rate, nonblock)
    except api.m.ALSAAudioError as e:
        if os.strerror(errno.EINVAL) in str(e):
            # A plugin with fixed settings refuses the hardware parameters outright (a card
            # takes the nearest instead, which the checks below name).
            raise AudioDeviceError(f"{role} device '{device}' does not take {channels} channel(s), "
                                   f"S16_LE, {rate} Hz, {period}-frame periods ({e}); a plug device "
                                   "(e.g. plughw:CARD,DEV) converts") from None
        raise AudioDeviceError(f"{role} device '{device}' cannot be opened ({e}); "
                               f"list devices with `{'arecord' if kind == 'capture' else 'aplay'} -L`") from None
    problems = []
    if info["rate"] != rate:
        problems.append(f"{rate} Hz (got {info['rate']} Hz)")
    if info["format_name"] != "S16_LE":
        problems.append(f"S16_LE (got {info['format_name']})")
    if info["channels"] != channels:
        problems.append(f"{channels} channel(s) (got {info['channels']})")
    if info["period_size"] != period:
        problems.append(f"{period}-frame periods (got {info['period_size']})")
    if problems:
        offers = _offers(dev)
        dev.close()
        raise AudioDeviceError(f"{role} device '{device}' does not support " + ", ".join(problems)
                               + offers + "; a plug device (e.g. plughw:CARD,DEV) converts")
    return dev


def _thread_ids() -> set[int]:
    try:
        return {int(t) for t in os.listdir("/proc/self/task")}
    except OSError:
        return set()


class AlsaDuplex:
    """Capture -> hop -> playback at 10 ms periods; the audio side of the supervisor."""

    def __init__(self, config: AudioConfig, capture_pcm=None, playback_pcm=None):
        config.validate()
        self.config = config
        self.overruns = 0       # capture: the loop read too late, audio was lost
        self.underruns = 0      # playback: the loop wrote too late, silence was played
        self._api = _api()
        before = _thread_ids()
        self._cap = capture_pcm or open_pcm("capture", config.capture, config.channels, config.periods,
                                            config.rate)
        try:
            self._play = playback_pcm or open_pcm("playback", config.playback, config.channels,
                                                  config.periods, config.rate)
        except AudioDeviceError:
            self._cap.close()
            raise
        # Threads the devices' plugins started in this process (pulse and pipewire plugins
        # move the audio on a thread of their own): the supervisor gives them real-time
        # priority with the audio thread, which waits on them every hop.
        self.helper_threads = sorted(_thread_ids() - before)
        # Playback starts with all but one period of its buffer queued as silence, queued
        # when the first capture period is in (not at open: a device whose capture takes a
        # while to deliver its first period would underrun meanwhile, and on any device the
        # headroom would shrink by that wait). Each hop then has that much headroom. The same
        # silence refills the buffer after an underrun.
        self.prefill = (config.periods - 1) * config.period
        self._silence = pcm.to_bytes(np.zeros(self.prefill, np.float32), config.channels)
        self._frame_bytes = 2 * config.channels
        self._pending = b""
        self._started = False

    @property
    def xruns(self) -> int:
        return self.overruns + self.underruns

    def _lost(self, kind: str, device: str, err: Exception) -> AudioDeviceError:
        return AudioDeviceError(f"{kind} device '{device}' failed while running ({err}); "
                                f"was it unplugged?")

    @property
    def layout(self) -> tuple[int, int, int | None]:
        """(channels, the captured channel heard, the channel played or None for all): the
        S16_LE periods of read_bytes() and write_bytes()."""
        c = self.config
        return c.channels, c.capture_channel, c.playback_channel

    def read(self) -> np.ndarray:
        """The next full period as a float hop (the captured channel)."""
        return pcm.to_float(self.read_bytes(), self.config.channels, self.config.capture_channel)

    def read_bytes(self) -> bytes:
        """The next full period, S16_LE frames as captured. Short reads are joined; a read cut
        short by a signal (SIGTERM while waiting) is retried, the handler having run meanwhile."""
        api = self._api
        need = self.config.period * self._frame_bytes
        while len(self._pending) < need:
            try:
                if api.in_xrun(self._cap):
                    self.overruns += 1
                n, data = self._cap.read()
            except api.m.ALSAAudioError as e:
                if _interrupted(e):
                    continue
                if _broken_pipe(e):
                    self.overruns += 1
                    continue
                raise self._lost("capture", self.config.capture, e) from None
            if n == -_EPIPE:        # overrun, the stream re-prepared
                self.overruns += 1
            elif n < 0:
                raise self._lost("capture", self.config.capture, OSError(-n, os.strerror(-n)))
            else:
                self._pending += data
        if len(self._pending) == need:          # the usual case: one read, one period
            hop, self._pending = self._pending, b""
        else:
            hop, self._pending = self._pending[:need], self._pending[need:]
        if not self._started:
            self._started = True
            self._write_all(self._silence)
        return hop

    def _write_all(self, data: bytes) -> None:
        """Write every frame: a write cut short by a signal or a partial write goes on
        from where it stopped."""
        alsaaudio = self._api.m
        while data:
            try:
                n = self._play.write(data)          # frames taken
            except alsaaudio.ALSAAudioError as e:
                if _interrupted(e):
                    continue
                if _broken_pipe(e):     # an underrun pyalsaaudio did not recover: write again
                    self.underruns += 1
                    continue
                raise self._lost("playback", self.config.playback, e) from None
            data = data[n * self._frame_bytes:]

    def write(self, hop: np.ndarray) -> None:
        """Play a float hop (on the playback channel, or on every channel)."""
        self.write_bytes(pcm.to_bytes(hop, self.config.channels, self.config.playback_channel))

    def write_bytes(self, data: bytes) -> None:
        """Play one period of S16_LE frames."""
        # pyalsaaudio re-prepares an underrun stream inside write(): count it first, and
        # restore the headroom before the hop.
        if self._api.in_xrun(self._play):
            self.underruns += 1
            self._write_all(self._silence)
        self._write_all(data)

    def close(self, drain: bool = True) -> None:
        """Stop both streams; drain lets the queued playback finish (a clean stop)."""
        self._api.stop(self._cap, "capture", drain=False)
        self._api.stop(self._play, "playback", drain)


class AlsaReference:
    """What the loudspeaker plays (a loopback's capture side, a playback device's monitor),
    mono at the stream's rate, one period per hop for the echo canceller. Opened non-blocking:
    read() never waits, so a reference that falls behind or fails cannot hold up the hop; it
    returns None for a hop without a whole period (late) and raises AudioDeviceError when the
    device has failed. Overruns (the loop reading it too slowly) are recovered and counted.
    The first read keeps only the newest period it finds (at most a buffer's worth): what
    queued up before the loop started would put the reference behind the microphone, which
    no canceller can model (it needs the loudspeaker's signal before its echo)."""

    def __init__(self, device: str, rate: int = RATE, periods: int = 3, pcm_dev=None):
        self.device = device
        self.overruns = 0
        self._api = _api()
        self._dev = pcm_dev or open_pcm("capture", device, 1, periods, rate, role="reference",
                                        nonblock=True)
        self._need = 2 * (rate // 100)
        self._periods = periods
        self._pending = b""
        self._started = False

    def read(self) -> bytes | None:
        if not self._started:
            self._started = True
            newest = None
            for _ in range(self._periods):
                hop = self._read()
                if hop is None:
                    break
                newest = hop
            return newest
        return self._read()

    def _read(self) -> bytes | None:
        api = self._api
        while len(self._pending) < self._need:
            try:
                n, data = self._dev.read()
            except api.m.ALSAAudioError as e:
                if _interrupted(e):
                    continue
                if _broken_pipe(e):
                    self.overruns += 1
                    continue
                raise self._lost(e) from None
            if n == -_EPIPE:
                self.overruns += 1
            elif n == -errno.EAGAIN or n == 0:
                return None                     # late: nothing more there yet
            elif n < 0:
                raise self._lost(OSError(-n, os.strerror(-n)))
            else:
                self._pending += data
        hop, self._pending = self._pending[:self._need], self._pending[self._need:]
        return hop

    def _lost(self, err: Exception) -> AudioDeviceError:
        return AudioDeviceError(f"reference device '{self.device}' failed while running ({err})")

    def close(self) -> None:
        self._api.stop(self._dev, "capture", drain=False)
