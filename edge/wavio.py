"""WAV files in and out: mono, 48 kHz, PCM 16/24/32-bit, as float32 in [-1, 1]."""
from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from edge.audio.pcm import to_float, to_s16
from edge.errors import EdgeError
from edge.native import SAMPLE_RATE


def read_wav(path: str | Path, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read a mono PCM wav at `rate`; anything else is refused with the reason."""
    path = Path(path)
    if not path.is_file():
        raise EdgeError(f"{path}: no such file")
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, fs, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            raw = w.readframes(n)
    except (wave.Error, EOFError) as e:
        raise EdgeError(f"{path}: not a PCM wav file ({e})") from None
    if fs != rate:
        raise EdgeError(f"{path}: sample rate is {fs} Hz; percepnet-edge needs {rate} Hz "
                        f"(resample first, e.g. sox in.wav -r {rate} out.wav)")
    if channels != 1:
        raise EdgeError(f"{path}: has {channels} channels; give a mono file "
                        f"(e.g. sox in.wav out.wav remix 1)")
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
    return x


def write_wav(path: str | Path, x: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """Write mono 16-bit PCM, clipping to full scale (the same rule as ALSA playback)."""
    pcm = to_s16(x)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
