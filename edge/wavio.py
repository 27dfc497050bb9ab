"""Audio files in and out, as float32 [frames, channels] in [-1, 1).

Through libsndfile (python `soundfile`): WAV of any PCM depth or float, WAVE_FORMAT_EXTENSIBLE,
FLAC, OGG, AIFF and the rest it reads. Where soundfile is missing (a board's release runs on
the board's python3 with numpy alone), PCM WAV of 16, 24 or 32 bits through the `wave` module.
"-" is stdin or stdout, a whole stream (sox's convention); a stream's header cannot give its
length, so it is never called truncated.

read_wav / read_wav_rate / write_wav are the mono-signal shorthands the tools and tests use."""
from __future__ import annotations

import io
import os
import struct
import sys
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.audio.pcm import to_s16
from edge.errors import EdgeError
from edge import native
from edge.native import SAMPLE_RATE

STDIO = "-"
# What a folder given to `edge denoise` is searched for (libsndfile's usual extensions).
EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".w64", ".rf64", ".caf", ".au")
# An output name's extension -> libsndfile's major format; a WAV input written to a .wav name
# keeps its own WAV family member (WAVEX stays extensible, RF64 stays RF64).
_FORMAT_OF_EXT = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".oga": "OGG", ".aiff": "AIFF",
                  ".aif": "AIFF", ".w64": "W64", ".rf64": "RF64", ".caf": "CAF", ".au": "AU"}
_WAV_FAMILY = ("WAV", "WAVEX", "RF64")
_PCM_WIDTH = {2: "PCM_16", 3: "PCM_24", 4: "PCM_32"}     # the wave module's sample widths
SOUNDFILE = ("soundfile (libsndfile): pip install soundfile, or on Debian apt-get install "
             "python3-soundfile")


class TruncatedWav(EdgeError):
    """The data chunk ends before the length its header gives."""


@dataclass
class Info:
    """What a file's header says."""
    rate: int
    channels: int
    frames: int
    format: str = "WAV"          # libsndfile's major format: WAV, WAVEX, FLAC, OGG, ...
    subtype: str = "PCM_16"      # PCM_16, PCM_24, PCM_32, FLOAT, VORBIS, ...

    @property
    def seconds(self) -> float:
        return self.frames / self.rate

    def describe(self) -> str:
        return (f"{self.rate} Hz, {self.channels} ch, {self.format} {self.subtype}, "
                f"{self.seconds:.2f} s")


@dataclass
class Audio:
    samples: np.ndarray          # float32 [frames, channels]
    info: Info


def _soundfile():
    try:
        import soundfile
    except (ImportError, OSError):   # OSError: the module is there, libsndfile is not
        return None
    return soundfile


def _sf_reason(e: Exception) -> str:
    return str(getattr(e, "error_string", None) or e).strip().rstrip(".")


# -- reading --------------------------------------------------------------------------------

def _input(path) -> tuple[object, str]:
    """(what libsndfile or wave opens, the name messages use). stdin is read whole."""
    if str(path) == STDIO:
        if sys.stdin is None or sys.stdin.isatty():
            raise EdgeError("-: stdin is a terminal; pipe an audio stream in (sox ... -t wav - | edge ...)")
        data = sys.stdin.buffer.read()
        if not data:
            raise EdgeError("stdin: empty (no audio stream came in)")
        return io.BytesIO(data), "stdin"
    path = Path(path)
    if path.is_dir():
        raise EdgeError(f"{path}: is a directory; give an audio file")
    if not path.is_file():
        raise EdgeError(f"{path}: no such file")
    return path, str(path)


def riff_shortfall(path: Path) -> tuple[int, int, bool] | None:
    """For a RIFF WAV whose data chunk ends before its header's length: (frames the header
    gives, whole frames the file holds, whether a partial frame follows them); else None."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WAVE":
            return None
        pos, block = 12, 0
        while pos + 8 <= size:
            f.seek(pos)
            cid, n = struct.unpack("<4sI", f.read(8))
            if cid == b"fmt ":
                body = f.read(min(n, 16))
                block = struct.unpack_from("<H", body, 12)[0] if len(body) >= 14 else 0
            elif cid == b"data":
                have = size - pos - 8
                if n <= have or not block:
                    return None
                return n // block, have // block, bool(have % block)
            pos += 8 + n + (n & 1)
    return None


def _check_truncation(src, name: str, allow_truncated: bool, warn) -> None:
    if not isinstance(src, Path):
        return
    short = riff_shortfall(src)
    if short is None:
        return
    n, whole, partial = short
    msg = (f"{name}: truncated inside its data chunk (the header gives {n} frames, the file "
           f"holds {whole}{' and a partial one' if partial else ''})")
    if not allow_truncated:
        raise TruncatedWav(msg)
    if warn:
        warn(f"warning: {msg}; using the {whole} whole frames")


def info(path, *, allow_truncated: bool = False, warn=None) -> Info:
    """The header of an audio file (not of stdin: read() it), refusing before any work what
    read() would refuse: no file, a folder, not audio, no audio, truncated."""
    src, name = _input(path)
    _check_truncation(src, name, allow_truncated, warn)
    sf = _soundfile()
    if sf is None:
        with _open_wave(src, name) as w:
            i = Info(w.getframerate(), w.getnchannels(), w.getnframes(), "WAV",
                     _wave_subtype(w, name))
    else:
        try:
            with sf.SoundFile(src if not isinstance(src, Path) else str(src)) as f:
                i = Info(int(f.samplerate), int(f.channels), int(f.frames), f.format, f.subtype)
        except (RuntimeError, OSError) as e:   # soundfile's LibsndfileError is a RuntimeError
            raise EdgeError(f"{name}: not an audio file libsndfile reads ({_sf_reason(e)})") from None
    if i.frames <= 0:
        raise EdgeError(f"{name}: contains no audio")
    return i


def read(path, *, allow_truncated: bool = False, warn=None) -> Audio:
    """An audio file (or "-", stdin) as float32 [frames, channels] and its header."""
    src, name = _input(path)
    _check_truncation(src, name, allow_truncated, warn)
    sf = _soundfile()
    if sf is None:
        audio = _read_wave(src, name)
    else:
        try:
            with sf.SoundFile(src if not isinstance(src, Path) else str(src)) as f:
                x = f.read(dtype="float32", always_2d=True)
                i = Info(int(f.samplerate), int(f.channels), len(x), f.format, f.subtype)
        except (RuntimeError, OSError) as e:
            raise EdgeError(f"{name}: not an audio file libsndfile reads ({_sf_reason(e)})") from None
        audio = Audio(x, i)
    if audio.info.frames == 0:
        raise EdgeError(f"{name}: contains no audio")
    return audio


def _open_wave(src, name: str):
    try:
        return wave.open(src if not isinstance(src, Path) else str(src), "rb")
    except (wave.Error, EOFError) as e:
        raise EdgeError(f"{name}: not a PCM wav file ({e}); reading other formats needs {SOUNDFILE}") from None


def _wave_subtype(w, name: str) -> str:
    width = w.getsampwidth()
    if width not in _PCM_WIDTH:
        raise EdgeError(f"{name}: {8 * width}-bit samples are not supported (16, 24 or 32-bit PCM; "
                        f"others need {SOUNDFILE})")
    return _PCM_WIDTH[width]


def _read_wave(src, name: str) -> Audio:
    """PCM WAV without libsndfile."""
    with _open_wave(src, name) as w:
        channels, fs, n = w.getnchannels(), w.getframerate(), w.getnframes()
        subtype = _wave_subtype(w, name)
        width = w.getsampwidth()
        raw = w.readframes(n)
    raw = raw[: len(raw) // (width * channels) * width * channels]   # whole frames only
    if width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.float32) / np.float32(32768.0)
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = (b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8
        x = (v >> 8).astype(np.float32) / np.float32(8388608.0)
    else:
        x = np.frombuffer(raw, "<i4").astype(np.float32) / np.float32(2147483648.0)
    x = x.reshape(-1, channels)
    return Audio(x, Info(fs, channels, len(x), "WAV", subtype))


# -- writing --------------------------------------------------------------------------------

def output_format(path, like: Info | None = None, subtype: str | None = None) -> tuple[str, str]:
    """(format, subtype) to write `path` in: the format its extension names (a .wav name keeps
    a WAV-family input's own, e.g. WAVEX), else the input's (stdout, an unknown extension);
    the subtype given, else the input's where that format takes it, else the format's default.
    A subtype the format does not take is refused."""
    ext = Path(str(path)).suffix.lower() if str(path) != STDIO else ""
    named = _FORMAT_OF_EXT.get(ext)
    inherited = like.format if like else "WAV"
    if named is None:
        fmt = inherited
    elif named == "WAV" and inherited in _WAV_FAMILY:
        fmt = inherited
    else:
        fmt = named
    sf = _soundfile()
    if sf is None:
        wanted = subtype or (like.subtype if like else "PCM_16")
        if fmt not in ("WAV", "WAVEX") or wanted not in _PCM_WIDTH.values():
            raise EdgeError(f"{path}: writing {fmt} {wanted} needs {SOUNDFILE}")
        return "WAV", wanted
    if subtype is not None:
        subtype = subtype.upper()
        if not sf.check_format(fmt, subtype):
            takes = ", ".join(sorted(sf.available_subtypes(fmt)))
            raise EdgeError(f"--subtype {subtype}: {fmt} takes {takes}")
        return fmt, subtype
    if like is not None and sf.check_format(fmt, like.subtype):
        return fmt, like.subtype
    return fmt, sf.default_subtype(fmt)


def _encoded(x: np.ndarray, subtype: str) -> np.ndarray:
    """The samples as handed to libsndfile: integers for the PCM depths, rounded and clipped as
    ALSA playback is (edge.audio.pcm), so the file holds exactly those values; floats as they
    are for float files; clipped floats for the lossy and companded ones."""
    x = np.asarray(x, np.float32)
    if subtype == "PCM_16":
        return to_s16(x)
    if subtype in ("PCM_24", "PCM_32"):
        bits = 24 if subtype == "PCM_24" else 32
        full = float(2 ** (bits - 1))
        v = np.clip(np.rint(np.asarray(x, np.float64) * full), -full, full - 1).astype(np.int64)
        return (v << (32 - bits)).astype(np.int32)     # libsndfile takes a PCM_24 value's top bits
    if subtype in ("FLOAT", "DOUBLE"):
        return x
    return np.clip(x, -1.0, 1.0)


def check_writable(path) -> Path | str:
    """Refuse, before any work is done, an output path that cannot be written as a file (the
    write goes through a new file beside it, so that folder must take one)."""
    if str(path) == STDIO:
        if sys.stdout is None or sys.stdout.isatty():
            raise EdgeError("-: stdout is a terminal; pipe it on (| aplay, > out.wav) or give a "
                            "file name")
        return STDIO
    path = Path(path)
    if path.is_dir():
        raise EdgeError(f"{path}: is a directory; give an output file name")
    parent = path.parent
    if not parent.is_dir():
        raise EdgeError(f"{path}: directory {parent} does not exist")
    if path.exists() and not path.is_file():         # /dev/null, a fifo: written as it is
        if not os.access(path, os.W_OK):
            raise EdgeError(f"{path}: not writable")
        return path
    if path.exists() and not os.access(path, os.W_OK):
        raise EdgeError(f"{path}: not writable")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as e:
        raise EdgeError(f"{path}: cannot be written in {parent} ({e.strerror or e})") from None
    os.close(fd)
    os.unlink(probe)
    return path


def write(path, x: np.ndarray, rate: int, format: str = "WAV", subtype: str = "PCM_16") -> None:
    """Write float samples ([frames] or [frames, channels]) in a format and subtype (see
    output_format). A file is written beside its final name and moved there when complete,
    so an output that is also the input (--in-place) is only replaced by a whole result."""
    x = np.asarray(x, np.float32)
    if x.ndim == 1:
        x = x[:, None]
    data = _encoded(x, subtype)
    target = check_writable(path)
    if target == STDIO:
        buf = io.BytesIO()
        _write_to(buf, data, rate, format, subtype, "stdout")
        sys.stdout.buffer.write(buf.getvalue())
        sys.stdout.buffer.flush()
        return
    if target.exists() and not target.is_file():
        _write_to(target, data, rate, format, subtype, str(target))
        return
    final = target.resolve() if target.is_file() else target
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    try:
        _write_to(Path(tmp), data, rate, format, subtype, str(target))
        if final.exists():
            os.chmod(tmp, final.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, final)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_to(dst, data: np.ndarray, rate: int, format: str, subtype: str, name: str) -> None:
    sf = _soundfile()
    try:
        if sf is None:
            _write_wave(dst, data, rate, subtype)
        else:
            sf.write(dst if not isinstance(dst, Path) else str(dst), data, rate,
                     format=format, subtype=subtype)
    except (RuntimeError, OSError, wave.Error) as e:
        reason = getattr(e, "strerror", None) or _sf_reason(e)
        raise EdgeError(f"{name}: cannot be written ({reason})") from None


def _write_wave(dst, data: np.ndarray, rate: int, subtype: str) -> None:
    """PCM WAV without libsndfile (data as _encoded gives it)."""
    if subtype == "PCM_16":
        raw, width = data.astype("<i2").tobytes(), 2
    elif subtype == "PCM_32":
        raw, width = data.astype("<i4").tobytes(), 4
    else:
        b = (data.astype("<i4") >> 8).astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]
        raw, width = b.tobytes(), 3
    with wave.open(dst if not isinstance(dst, Path) else str(dst), "wb") as w:
        w.setnchannels(data.shape[1])
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(raw)


# -- mono shorthands ------------------------------------------------------------------------

def read_wav(path: str | Path, rate: int = SAMPLE_RATE, *, allow_truncated: bool = False,
             warn=None) -> np.ndarray:
    """A mono audio file at `rate`; anything else is refused with the reason. A WAV cut short
    inside its data chunk (a copy or a recording that stopped early) is refused too, unless
    allow_truncated: then its whole frames are read and `warn` is told."""
    return read_wav_rate(path, (rate,), allow_truncated=allow_truncated, warn=warn)[0]


def read_wav_rate(path: str | Path, rates=None, *, allow_truncated: bool = False,
                  warn=None) -> tuple[np.ndarray, int]:
    """(samples, rate) of a mono audio file at any of `rates` (default: every rate the kernel
    takes); otherwise as read_wav."""
    rates = native.rates() if rates is None else rates
    a = read(path, allow_truncated=allow_truncated, warn=warn)
    name = "stdin" if str(path) == STDIO else str(path)
    if a.info.rate not in rates:
        want = ("" if len(rates) == 1 else "one of ") + ", ".join(str(r) for r in rates)
        raise EdgeError(f"{name}: sample rate is {a.info.rate} Hz; percepnet-edge needs {want} Hz "
                        f"(resample first, e.g. sox in.wav -r {max(rates)} out.wav)")
    if a.info.channels != 1:
        raise EdgeError(f"{name}: has {a.info.channels} channels; give a mono file "
                        f"(e.g. sox in.wav out.wav remix 1)")
    return a.samples[:, 0], a.info.rate


def write_wav(path: str | Path, x: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """Write mono 16-bit PCM WAV, clipping to full scale (the same rule as ALSA playback)."""
    write(path, np.asarray(x, np.float32), rate, "WAV", "PCM_16")
