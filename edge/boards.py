"""Board descriptors: boards/<name>.toml read into a validated Board.

Board knowledge is data: the SConstruct, the flash tool and the supervisor all read it here.
"""
from __future__ import annotations

import platform
import tomllib
from dataclasses import dataclass
from pathlib import Path

BOARDS_DIR = Path(__file__).resolve().parent.parent / "boards"

# What `simd = "auto"` means on the machine doing the build.
_AUTO_SIMD = {"x86_64": ["avx2", "avxvnni"], "aarch64": ["neon"]}


class BoardError(ValueError):
    """A board that does not exist or whose descriptor is invalid."""


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    arch: str             # uname -m on the board, or the build machine's for "native"
    toolchain: str        # cross triple, "" for the host compiler
    cflags: tuple[str, ...]
    simd: tuple[str, ...]
    qemu: str             # "" when the build runs natively
    qemu_cpu: str
    path: Path
    raw: dict


def _field(data: dict, path: Path, section: str, key: str, kind: type):
    try:
        value = data[section][key]
    except KeyError:
        raise BoardError(f"{path}: missing field [{section}].{key}") from None
    if not isinstance(value, kind):
        raise BoardError(f"{path}: field [{section}].{key} must be {kind.__name__}, got {value!r}")
    return value


def board_names(boards_dir: Path = BOARDS_DIR) -> list[str]:
    return sorted(p.stem for p in boards_dir.glob("*.toml"))


def load_board(name: str, boards_dir: Path = BOARDS_DIR) -> Board:
    path = boards_dir / f"{name}.toml"
    if not path.is_file():
        raise BoardError(f"unknown board '{name}' (known: {', '.join(board_names(boards_dir))})")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise BoardError(f"{path}: not valid TOML: {e}") from None
    arch = _field(data, path, "cpu", "arch", str)
    simd = data.get("cpu", {}).get("simd", [])
    if arch == "native":
        arch = platform.machine()
    if simd == "auto":
        simd = _AUTO_SIMD.get(arch, [])
    if not isinstance(simd, list) or not all(isinstance(s, str) for s in simd):
        raise BoardError(f"{path}: field [cpu].simd must be a list of strings or \"auto\"")
    cpu = data["cpu"]
    return Board(
        name=name,
        description=data.get("description", ""),
        arch=arch,
        toolchain=_field(data, path, "cpu", "toolchain", str),
        cflags=tuple(_field(data, path, "cpu", "cflags", list)),
        simd=tuple(simd),
        qemu=cpu.get("qemu", ""),
        qemu_cpu=cpu.get("qemu_cpu", ""),
        path=path,
        raw=data,
    )
