"""WAV files in and out: mono, at a rate the kernel takes (48 kHz unless asked), PCM
16/24/32-bit, as float32 in [-1, 1]."""
from __future__ import annotations

import os
import wave
from pathlib import Path

import numpy as np

from edge.audio.pcm import to_float, to_s16
from edge.errors import EdgeError
from edge.native import RATES, SAMPLE_RATE


class TruncatedWav(EdgeError):
    """The data chunk ends before the length its header gives."""


def read_wav(path: str | Path, rate: int = SAMPLE_RATE, *, allow_truncated: bool = False,
             warn=None) -> np.ndarray:
    """Read a mono PCM wav at `rate`; anything else is refused with the reason. A file cut
    short inside its data chunk (a copy or a recording that stopped early) is refused too,
    unless allow_truncated: then its whole frames are read and `warn` is told."""
    return read_wav_rate(path, (rate,), allow_truncated=allow_truncated, warn=warn)[0]


def read_wav_rate(path: str | Path, rates=RATES, *, allow_truncated: bool = False,
                  warn=None) -> tuple[np.ndarray, int]:
    """(samples, rate) of a mono PCM wav at any of `rates` (default: every rate the kernel
    takes); otherwise as read_wav."""
    path = Path(path)
    if not path.is_file():
        raise EdgeError(f"{path}: no such file")
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, fs, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            raw = w.readframes(n)
    except (wave.Error, EOFError) as e:
        raise EdgeError(f"{path}: not a PCM wav file ({e})") from None
    if fs not in rates:
        want = ("" if len(rates) == 1 else "one of ") + ", ".join(str(r) for r in rates)
        raise EdgeError(f"{path}: sample rate is {fs} Hz; percepnet-edge needs {want} Hz "
                        f"(resample first, e.g. sox in.wav -r {max(rates)} out.wav)")
    if channels != 1:
        raise EdgeError(f"{path}: has {channels} channels; give a mono file "
                        f"(e.g. sox in.wav out.wav remix 1)")
    frame = width * channels
    if len(raw) < n * frame:
        whole = len(raw) // frame if frame else 0
        msg = (f"{path}: truncated inside its data chunk (the header gives {n} frames, the file "
               f"holds {whole}{' and a partial one' if len(raw) % frame else ''})")
        if not allow_truncated:
            raise TruncatedWav(msg)
        if warn:
            warn(f"warning: {msg}; using the {whole} whole frames")
        raw = raw[: whole * frame]
    if n == 0 or not raw:
        raise EdgeError(f"{path}: contains no audio")
    if width == 2:
        x = to_float(raw)
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = (b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8
        x = (v >> 8).astype(np.float32) / 8388608.0
    elif width == 4:
        x = np.frombuffer(raw, "<i4").astype(np.float32) / 2147483648.0
    else:
        raise EdgeError(f"{path}: {8 * width}-bit samples are not supported (16, 24 or 32-bit PCM)")
    return x, fs


def check_writable(path: str | Path) -> Path:
    """Refuse, before any work is done, an output path that cannot be written as a file."""
    path = Path(path)
    if path.is_dir():
        raise EdgeError(f"{path}: is a directory; give an output file name")
    parent = path.parent
    if not parent.is_dir():
        raise EdgeError(f"{path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise EdgeError(f"{path}: directory {parent} is not writable")
    return path


def write_wav(path: str | Path, x: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """Write mono 16-bit PCM, clipping to full scale (the same rule as ALSA playback)."""
    path = check_writable(path)
    pcm = to_s16(x)
    try:
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(pcm.tobytes())
    except OSError as e:
        raise EdgeError(f"{path}: cannot be written ({e.strerror or e})") from None
