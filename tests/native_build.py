"""Build the kernel for a board (once per test session) and run its programs, under qemu-user
with the board's CPU model when the board is not this machine."""
from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from edge.boards import load_board, load_boards
from edge.build import BuildError, build_native

ROOT = Path(__file__).resolve().parent.parent
ARM_BOARDS = [b.name for b in load_boards() if b.qemu]   # the cross-built boards


@lru_cache(maxsize=None)
def build(board: str = "host", asan: bool = False) -> Path:
    """scons for the board; returns its variant dir. Cached for the session."""
    try:
        return build_native(load_board(board), jobs=2, asan=asan)
    except BuildError as e:
        raise AssertionError(f"{e}\n{e.output[-6000:]}") from None


def runner(board: str) -> list[str]:
    """Command prefix that runs a program built for the board on this machine."""
    b = load_board(board)
    if b.qemu and shutil.which(b.qemu) is None:
        raise AssertionError(f"{b.qemu} not found (apt-get install qemu-user)")
    return b.qemu_command()


def run_program(board: str, program: Path, *args: str, timeout: float = 300,
                env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(runner(board) + [str(program), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def c_tests() -> list[str]:
    return sorted(p.stem for p in (ROOT / "native" / "tests").glob("test_*.c"))
