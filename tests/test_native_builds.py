"""scons builds the kernel for every board in boards/, each library is an ELF for the board's
machine, 32-bit ARM builds use the hard-float ABI, and each build compiles the SIMD DSP paths
its board lists."""
import struct
import subprocess

import pytest

from edge.boards import board_names, load_board
from edge.native import elf_machine
from native_build import ROOT, build, run_program

BOARDS = board_names()
EF_ARM_ABI_FLOAT_HARD = 0x400


def _lib(board):
    return build(board) / "libpercepnet.so"


@pytest.mark.parametrize("board", BOARDS)
def test_board_build_produces_a_library_for_its_machine(board):
    lib = _lib(board)
    assert lib.is_file()
    assert elf_machine(lib) == load_board(board).arch


@pytest.mark.parametrize("board", [b for b in BOARDS if load_board(b).arch == "armv7l"])
def test_armv7_builds_use_the_hard_float_abi(board):
    head = _lib(board).read_bytes()[:52]
    (flags,) = struct.unpack("<I", head[36:40])
    assert flags & EF_ARM_ABI_FLOAT_HARD


@pytest.mark.parametrize("board", BOARDS)
def test_build_has_the_dsp_paths_its_board_lists(board):
    syms = subprocess.run(["nm", "-D", "--defined-only", str(_lib(board))], capture_output=True, text=True)
    objs = {p.name for p in (build(board) / "obj").glob("dsp*.os")}
    assert "dsp.os" in objs
    for isa in ("avx2", "neon"):
        assert (f"dsp_{isa}.os" in objs) == (isa in load_board(board).simd), (board, isa, objs)
    assert "pn_analyze" in syms.stdout and "pn_oracle_step" in syms.stdout


@pytest.mark.parametrize("board", ["rpi4", "rpi3-armv7"])
def test_arm_build_runs_the_dsp_under_qemu_with_neon_active(board):
    r = run_program(board, build(board) / "tests" / "test_dsp_simd")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 SIMD path(s) match scalar" in r.stdout


def test_library_exports_only_the_public_api():
    out = subprocess.run(["nm", "-D", "--defined-only", str(_lib("host"))], capture_output=True, text=True).stdout
    names = {line.split()[-1] for line in out.splitlines() if " T " in line}
    assert names and all(n.startswith("pn_") for n in names), names
    header = (ROOT / "native" / "include" / "percepnet.h").read_text()
    assert all(n + "(" in header for n in names), names - {n for n in names if n + "(" in header}
