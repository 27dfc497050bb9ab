"""Where training audio comes from: a user's corpus in one of the accepted layouts, and the
built-in material (the real recordings of shared/data/train, optional synthetic TTS speech)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from edge.errors import EdgeError

LAYOUTS = """\
accepted corpus layouts (DIR is --data; WAV, FLAC or OGG at any rate, searched recursively):
  DIR/clean/ + DIR/noise/ [+ DIR/rir/]        plain: clean speech, noise, room responses
  DIR/datasets/clean/ + DIR/datasets/noise/   DNS Challenge (+ datasets/impulse_responses/)
  DIR/clean_trainset*/ + DIR/noisy_trainset*/ VoiceBank+DEMAND pairs: the noise is the
                                              difference of same-named noisy and clean files
  DIR/<anything>/ch01.wav alongside the above  DEMAND noise recordings (first channel)"""

VAL_FRACTION = 0.1

# Share of the examples each built-in source speaks (by file-name prefix, see
# shared/data/README.md), whatever its number of files; a prefix not listed takes "*".
# LibriSpeech is the English backbone (180 voices of read speech); RAVDESS and VCTK are the
# fullband voices (RAVDESS only two sentences: timbre, not phonetic variety), together with
# the other 44.1/48 kHz clips a third of the examples, which alone teach the band above 8 kHz;
# speechocean762 (accented English, children) and the Upper Sorbian Common Voice clips add
# voices and microphones.
SPEECH_SHARES = {"libri16k": 0.27, "ravdess48k": 0.18, "vctk48k": 0.06, "vctk44k": 0.06,
                 "so762": 0.12, "cvhsb16k": 0.12, "adphsb16k": 0.03, "ears16k": 0.04, "*": 0.12}
# ESC-50 (46 classes of environmental sound) beside the street, engine and babble recordings
# that a headset meets most.
NOISE_SHARES = {"esc50": 0.35, "hu": 0.25, "emgse": 0.3, "soundbible": 0.1, "*": 0.1}


@dataclass
class Sources:
    """Paths of recorded clean speech, synthetic (TTS) speech, noise (a path, or a (noisy,
    clean) pair whose difference is the noise) and room responses."""
    speech: list = field(default_factory=list)
    noise: list = field(default_factory=list)
    rirs: list = field(default_factory=list)
    synthetic: list = field(default_factory=list)
    speech_shares: dict | None = None  # source prefix -> share of examples (None: by file)
    noise_shares: dict | None = None


def source_of(item) -> str:
    """The source a file belongs to: its name up to the first underscore (cvhsb16k_..., so762...)."""
    name = Path(item[0] if isinstance(item, tuple) else item).name
    return name.split("_")[0].split(".")[0]


def grouped(items: list, shares: dict) -> tuple[list[list], list[float]]:
    """(groups of items, the share of each) for drawing a group by share, then an item; a
    source without a share of its own joins the "*" group."""
    groups: dict[str, list] = {}
    for x in items:
        key = source_of(x)
        groups.setdefault(key if key in shares else "*", []).append(x)
    keys = [k for k in groups if shares.get(k, 0) > 0]
    weights = [shares[k] for k in keys]
    return [groups[k] for k in keys], [w / sum(weights) for w in weights]


def _wavs(d: Path) -> list[Path]:
    from edge.data.audio import EXTENSIONS
    return sorted(p for p in d.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())


def _plain(s: Sources, base: Path) -> None:
    """Add DIR/clean, DIR/noise and DIR/rir (or impulse_responses) of a plain layout."""
    if (base / "clean").is_dir():
        s.speech += _wavs(base / "clean")
    if (base / "noise").is_dir():
        s.noise += _wavs(base / "noise")
    for rir in ("rir", "impulse_responses"):
        if (base / rir).is_dir():
            s.rirs += _wavs(base / rir)


def corpus(root: str | Path) -> Sources:
    """Sources of a user's corpus, in any layout of LAYOUTS; refuses a folder with none."""
    root = Path(root)
    if not root.is_dir():
        raise EdgeError(f"{root}: no such directory")
    s = Sources()
    for base in (root, root / "datasets"):
        _plain(s, base)
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


def builtin(data_root: str | Path, tts_dir: str | Path | None = None, n_tts: int = 0) -> Sources:
    """The real recordings of DATA_ROOT/train (plain layout), the clean speech and simulated
    room of real48k/, and n_tts synthetic utterances. Never dev/ (kept for evaluation), nor
    real48k's noise (dev/ mixes it)."""
    from edge.data import tts
    data_root = Path(data_root)
    s = Sources(speech_shares=SPEECH_SHARES, noise_shares=NOISE_SHARES)
    _plain(s, data_root / "train")
    real = data_root / "real48k"
    if real.is_dir():
        s.speech += sorted(real.glob("clean_*.wav"))
        s.rirs += sorted(real.glob("rir_*.wav"))
    if tts_dir is not None and n_tts:
        s.synthetic += tts.generate(tts_dir, n_tts)
    if not s.speech and not s.synthetic:
        raise EdgeError(f"{data_root}: no speech found under train/clean/ or real48k/")
    return s


def _held_out(item) -> bool:
    """A fixed tenth of the recordings, chosen by a hash of the file name (a pair by its
    noisy file): the same split on every machine and every run."""
    name = Path(item[0] if isinstance(item, tuple) else item).name
    return hashlib.sha1(name.encode()).digest()[0] < 256 * VAL_FRACTION


def split(s: Sources) -> tuple[Sources, Sources]:
    """(training, validation) sources that share no speech recording and no noise recording.
    Room responses are too few to split (and are not what validation measures): both keep
    them. A list too short to give the validation side an item gives it one anyway."""
    parts = ({}, {})
    for name in ("speech", "noise", "synthetic"):
        items = getattr(s, name)
        val = [x for x in items if _held_out(x)] or items[-1:]
        trn = [x for x in items if x not in val] or items
        parts[0][name], parts[1][name] = trn, val
    shares = {"rirs": s.rirs, "speech_shares": s.speech_shares, "noise_shares": s.noise_shares}
    return Sources(**shares, **parts[0]), Sources(**shares, **parts[1])
