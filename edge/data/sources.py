"""Where training audio comes from: a user's corpus in one of the accepted layouts, and the
built-in material (shared development speech and noise, synthetic TTS speech)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edge.errors import EdgeError

LAYOUTS = """\
accepted corpus layouts (DIR is --data; wavs at any rate, searched recursively):
  DIR/clean/ + DIR/noise/ [+ DIR/rir/]        plain: clean speech, noise, room responses
  DIR/datasets/clean/ + DIR/datasets/noise/   DNS Challenge (+ datasets/impulse_responses/)
  DIR/clean_trainset*/ + DIR/noisy_trainset*/ VoiceBank+DEMAND pairs: the noise is the
                                              difference of same-named noisy and clean files
  DIR/<anything>/ch01.wav alongside the above  DEMAND noise recordings (first channel)"""


@dataclass
class Sources:
    """Paths of recorded clean speech, synthetic (TTS) speech, noise (a path, or a (noisy,
    clean) pair whose difference is the noise) and room responses."""
    speech: list = field(default_factory=list)
    noise: list = field(default_factory=list)
    rirs: list = field(default_factory=list)
    synthetic: list = field(default_factory=list)


def _wavs(d: Path) -> list[Path]:
    return sorted(p for p in d.rglob("*") if p.suffix.lower() == ".wav" and p.is_file())


def corpus(root: str | Path) -> Sources:
    """Sources of a user's corpus, in any layout of LAYOUTS; refuses a folder with none."""
    root = Path(root)
    if not root.is_dir():
        raise EdgeError(f"{root}: no such directory")
    s = Sources()
    for base in (root, root / "datasets"):
        if (base / "clean").is_dir():
            s.speech += _wavs(base / "clean")
        if (base / "noise").is_dir():
            s.noise += _wavs(base / "noise")
        for rir in ("rir", "impulse_responses"):
            if (base / rir).is_dir():
                s.rirs += _wavs(base / rir)
    for clean_dir in sorted(root.glob("clean_trainset*")):
        noisy_dir = root / clean_dir.name.replace("clean_", "noisy_", 1)
        for c in _wavs(clean_dir):
            s.speech.append(c)
            if (noisy_dir / c.name).is_file():
                s.noise.append((noisy_dir / c.name, c))
    s.noise += sorted(p for p in root.rglob("ch01.wav") if "clean" not in p.parts)
    if not s.speech:
        raise EdgeError(f"{root}: no clean speech found\n{LAYOUTS}")
    return s


def builtin(data_root: str | Path, tts_dir: str | Path | None, n_tts: int = 400) -> Sources:
    """The shared development material (never dev/, kept for evaluation) and TTS speech."""
    from edge.data import tts
    data_root = Path(data_root)
    s = Sources()
    s.speech += _wavs(data_root / "speech")
    real = data_root / "real48k"
    if real.is_dir():
        s.speech += sorted(real.glob("clean_*.wav"))
        s.noise += sorted(real.glob("noise_*.wav"))
        s.rirs += sorted(real.glob("rir_*.wav"))
    if tts_dir is not None:
        s.synthetic += tts.generate(tts_dir, n_tts)
    if not s.speech and not s.synthetic:
        raise EdgeError(f"{data_root}: no speech found under speech/ or real48k/")
    return s
