"""Synthetic speech from Debian's TTS voices: festival's us-slt-hts (32 kHz, the widest band
available here) and espeak-ng (22.05 kHz) with random voices, pitch and speed.

apt: festival festvox-us-slt-hts espeak-ng. Missing programs are skipped."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

_WORDS = ("the a small old bright quiet heavy cold warm blue green red morning evening window "
          "river garden kitchen station engine letter paper table market bridge forest signal "
          "voice music coffee winter summer house street number answer question story picture "
          "walked opened carried found heard painted moved watched covered followed measured "
          "slowly quickly gently never always often today tomorrow again under over behind "
          "near across between before after because while seven twelve forty hundred").split()
_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us+f2", "en-us+f4",
           "en-gb+f3", "en+m3", "en+klatt2", "de", "fr", "es", "it")


def sentence(rng: np.random.Generator) -> str:
    words = [_WORDS[int(i)] for i in rng.integers(0, len(_WORDS), int(rng.integers(5, 16)))]
    return " ".join(words).capitalize() + rng.choice([".", "?", "!"])


def available() -> list[str]:
    return [p for p in ("text2wave", "espeak-ng") if shutil.which(p)]


def generate(out_dir: str | Path, n: int, seed: int = 0) -> list[Path]:
    """Write n utterances (about 2-6 s each) to out_dir, reusing those already there."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    engines = available()
    paths = []
    for i in range(n if engines else 0):
        path = out_dir / f"tts_{i:05d}.wav"
        paths.append(path)
        if path.is_file():
            continue
        rng = np.random.default_rng([seed, i])
        text = " ".join(sentence(rng) for _ in range(int(rng.integers(1, 3))))
        tmp = path.with_suffix(".tmp.wav")
        if "text2wave" in engines and (len(engines) == 1 or rng.random() < 0.4):
            cmd = ["text2wave", "-eval", "(voice_cmu_us_slt_arctic_hts)", "-o", str(tmp)]
            subprocess.run(cmd, input=text, text=True, check=True, capture_output=True)
        else:
            cmd = ["espeak-ng", "-v", str(rng.choice(_VOICES)), "-p", str(int(rng.integers(20, 85))),
                   "-s", str(int(rng.integers(120, 200))), "-w", str(tmp), text]
            subprocess.run(cmd, check=True, capture_output=True)
        tmp.rename(path)
    return paths
