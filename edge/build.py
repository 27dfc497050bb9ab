"""The native build (SConstruct) for a board: the one way `edge flash`, `edge bench --estimate`
and the tests build the kernel, its tools and the LADSPA plugin into build/<board>/."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from edge.boards import Board
from edge.errors import EdgeError

ROOT = Path(__file__).resolve().parent.parent


class BuildError(EdgeError):
    """scons failed for a board; `output` holds everything it printed."""

    def __init__(self, message: str, output: str):
        super().__init__(message)
        self.output = output


def scons_command(board: Board, jobs: int | None = None, asan: bool = False) -> list[str]:
    """The scons of this Python's environment, building the board's variant."""
    return ([str(Path(sys.executable).with_name("scons")), "-Q"] + ([f"-j{jobs}"] if jobs else [])
            + [f"board={board.name}"] + (["asan=1"] if asan else []))


def build_native(board: Board, jobs: int | None = None, asan: bool = False) -> Path:
    """Build the kernel and tools for the board (asan: its AddressSanitizer variant); returns
    its build directory."""
    cmd = scons_command(board, jobs, asan)
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        tail = (r.stdout + r.stderr).strip().splitlines()[-1:] or ["no output"]
        raise BuildError(f"build for {board.name} failed ({' '.join(cmd[1:])}): {tail[0]}",
                         r.stdout + r.stderr)
    return ROOT / "build" / (board.name + ("-asan" if asan else ""))
