"""ctypes binding to the native kernel (libpercepnet.so), the same on a board and a host.

The library is looked up in $PERCEPNET_LIB, then next to the package (a deployed bundle),
then in the source tree's build/host/. A library built for another architecture is refused
before dlopen with a message saying which one it is.
"""
from __future__ import annotations

import ctypes as C
import os
import platform
import struct
from functools import lru_cache
from pathlib import Path

from edge.errors import EdgeError

SAMPLE_RATE = 48000
HOP = 480
NB_BANDS = 34
NB_FEATURES = 70
NB_OUTPUTS = 68
FEATURE_VERSION = 1

_PKG = Path(__file__).resolve().parent
_CANDIDATES = [_PKG / "_lib" / "libpercepnet.so", _PKG.parent / "build" / "host" / "libpercepnet.so"]
_ELF_MACHINES = {3: "i386", 40: "armv7l", 62: "x86_64", 183: "aarch64"}
_MACHINE_ALIASES = {"arm64": "aarch64", "amd64": "x86_64", "armv8l": "armv7l", "armv6l": "armv7l"}

_P = C.c_void_p
_F = C.POINTER(C.c_float)
_PROTOTYPES = {
    "pn_abi_version": (C.c_int, []),
    "pn_version_string": (C.c_char_p, []),
    "pn_strerror": (C.c_char_p, [C.c_int]),
    "pn_latency_samples": (C.c_int, []),
    "pn_feature_version": (C.c_int, []),
    "pn_band_centres_hz": (None, [_F]),
    "pn_config_default": (None, [_P]),
    "pn_model_load": (C.c_int, [C.c_char_p, C.c_size_t, C.POINTER(_P), C.c_char_p, C.c_size_t]),
    "pn_model_load_file": (C.c_int, [C.c_char_p, C.POINTER(_P), C.c_char_p, C.c_size_t]),
    "pn_model_free": (None, [_P]),
    "pn_model_get_info": (C.c_int, [_P, _P]),
    "pn_create": (C.c_int, [_P, _P, C.POINTER(_P)]),
    "pn_destroy": (None, [_P]),
    "pn_reset": (None, [_P]),
    "pn_analyze": (C.c_int, [_P, _F, _F]),
    "pn_synthesize": (C.c_int, [_P, _F, _F, _F]),
    "pn_process": (C.c_int, [_P, _F, _F]),
    "pn_get_stats": (C.c_int, [_P, _P]),
    "pn_oracle_step": (C.c_int, [_P, _F, _F, _F, _F, _F]),
    "pn_nnet_create": (C.c_int, [_P, C.POINTER(_P)]),
    "pn_nnet_destroy": (None, [_P]),
    "pn_nnet_reset": (None, [_P]),
    "pn_nnet_step": (C.c_int, [_P, _F, _F]),
    "pn_simd_select": (C.c_int, [C.c_char_p]),
    "pn_simd_active": (C.c_char_p, []),
    "pn_simd_available": (C.c_char_p, []),
}


class NativeError(EdgeError):
    """The native library is missing, foreign, or returned an error code."""


def _machine() -> str:
    m = platform.machine()
    return _MACHINE_ALIASES.get(m, m)


def elf_machine(path: Path) -> str:
    """Architecture an ELF file was built for, from its header."""
    with open(path, "rb") as f:
        head = f.read(20)
    if len(head) < 20 or head[:4] != b"\x7fELF":
        raise NativeError(f"{path}: not an ELF shared library")
    endian = "<" if head[5] == 1 else ">"
    (code,) = struct.unpack(endian + "H", head[18:20])
    return _ELF_MACHINES.get(code, f"ELF machine {code}")


def library_path() -> Path:
    env = os.environ.get("PERCEPNET_LIB")
    candidates = [Path(env)] if env else _CANDIDATES
    for p in candidates:
        if p.is_file():
            return p
    raise NativeError("native library not found (looked in "
                      + ", ".join(str(p) for p in candidates)
                      + "); build it with `scons` in the source tree")


@lru_cache(maxsize=None)
def lib() -> C.CDLL:
    path = library_path()
    built_for, here = elf_machine(path), _machine()
    if built_for != here:
        raise NativeError(f"{path} is built for {built_for}, this machine is {here}; "
                          f"build for this machine with `scons` or the right `scons board=...`")
    try:
        return C.CDLL(str(path))
    except OSError as e:
        raise NativeError(f"cannot load {path}: {e}") from None


@lru_cache(maxsize=None)
def fn(name: str):
    """A typed entry point of the library."""
    try:
        f = getattr(lib(), name)
    except AttributeError:
        raise NativeError(f"{library_path()} has no {name}: rebuild it with `scons`") from None
    f.restype, f.argtypes = _PROTOTYPES[name]
    return f


def check(code: int, what: str) -> None:
    if code != 0:
        raise NativeError(f"{what}: {fn('pn_strerror')(code).decode()}")


def fptr(a):
    """A float32 C-contiguous numpy array as float*."""
    return a.ctypes.data_as(_F)
