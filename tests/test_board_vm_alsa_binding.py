"""The board's ALSA binding (edge/flash/board_pylib/alsaaudio.py, shipped in every release as
pylib/alsaaudio.py) on the host: the supervisor's whole ALSA test module runs with it in place of
the pip pyalsaaudio, through ALSA's file and null PCMs. On the virtual board,
tests/test_board_vm.py plays and records through snd-aloop with it."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge.flash.bundle import BOARD_PYLIB

ROOT = Path(__file__).resolve().parents[1]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(BOARD_PYLIB), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def test_the_board_binding_shadows_pyalsaaudio_on_pythonpath():
    r = subprocess.run([sys.executable, "-c", "import alsaaudio; print(alsaaudio.__file__)"],
                       env=_env(), capture_output=True, text=True, check=True)
    assert r.stdout.strip() == str(BOARD_PYLIB / "alsaaudio.py")


@pytest.mark.slow
def test_the_supervisors_alsa_tests_pass_with_the_board_binding():
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        str(ROOT / "tests" / "test_audio_alsa.py")],
                       env=_env(), capture_output=True, text=True, cwd=ROOT, timeout=900)
    tail = (r.stdout + r.stderr)[-3000:]
    assert r.returncode == 0, tail
    assert " passed" in tail and " failed" not in tail, tail
