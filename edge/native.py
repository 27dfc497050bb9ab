"""ctypes binding to the native kernel (libpercepnet.so), the same on a board and a host.

The library is looked up in $PERCEPNET_LIB, then next to the package (a deployed bundle),
then in the source tree's build/host/. Before dlopen, a library built for another architecture
is refused with a message saying which one it is. "This machine" is the running Python's own
ELF class and machine, not the kernel's name for itself: a 32-bit Raspberry Pi OS on a Pi 4
runs an armhf userland on an aarch64 kernel (uname says aarch64, the armv7 build is the right
one). A 32-bit ARM library that uses NEON is refused on a CPU without NEON (an armv6l Pi Zero
or Pi 1), where it would die of SIGILL. After dlopen, the library's ABI version must be the
one this binding mirrors (PN_ABI_VERSION of native/include/percepnet.h).
"""
from __future__ import annotations

import ctypes as C
import os
import platform
import struct
import sys
from functools import lru_cache
from pathlib import Path

from edge.errors import EdgeError

# Mirrors of native/include/percepnet.h (a test checks they agree with it).
ABI_VERSION = 6
SAMPLE_RATE = 48000                                   # the kernel's own rate
HOP = 480                                             # 10 ms at SAMPLE_RATE
NB_BANDS = 34
NB_FEATURES = 70
NB_OUTPUTS = 68
FEATURE_VERSION = 1
LOOKAHEAD_FRAMES = 2                                  # targets of row t are frame t - 2's
LOG_FLOOR = 1e-5                                      # band features are log10(E + LOG_FLOOR)
# What plays in a pn_hop_run hop (the live loop's modes, PN_HOP_*).
HOP_KERNEL, HOP_FADE, HOP_BYPASS, HOP_PRIME = 0, 1, 2, 3

_PKG = Path(__file__).resolve().parent
_ELF_MACHINES = {3: "i386", 40: "armv7l", 62: "x86_64", 183: "aarch64"}
_MACHINE_ALIASES = {"arm64": "aarch64", "amd64": "x86_64", "armv8l": "armv7l", "armv7": "armv7l",
                    "i686": "i386", "i586": "i386"}
_AT_HWCAP = 16
_HWCAP_ARM_NEON = 1 << 12          # AT_HWCAP bit of a 32-bit ARM process (also under arm64)
_TAG_ADVANCED_SIMD_ARCH = 12       # EABI build attribute: 0 none, >0 some NEON

_P = C.c_void_p
_F = C.POINTER(C.c_float)
_PROTOTYPES = {
    "pn_abi_version": (C.c_int, []),
    "pn_version_string": (C.c_char_p, []),
    "pn_strerror": (C.c_char_p, [C.c_int]),
    "pn_rates": (C.POINTER(C.c_int), []),
    "pn_hop_samples": (C.c_int, [C.c_int]),
    "pn_latency_samples": (C.c_int, [C.c_int]),
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
    "pn_set_atten_lim": (C.c_int, [_P, C.c_float]),
    "pn_oracle_step": (C.c_int, [_P, _F, _F, _F, _F, _F]),
    "pn_hop_create": (C.c_int, [_P, C.c_int, C.c_int, C.c_int, C.POINTER(_P)]),
    "pn_hop_destroy": (None, [_P]),
    "pn_hop_run": (C.c_int, [_P, C.c_char_p, _P, C.c_int]),
    "pn_hop_s16": (None, [_F, _P, C.c_size_t]),
    "pn_nnet_create": (C.c_int, [_P, C.POINTER(_P)]),
    "pn_nnet_destroy": (None, [_P]),
    "pn_nnet_reset": (None, [_P]),
    "pn_nnet_step": (C.c_int, [_P, _F, _F]),
    "pn_simd_select": (C.c_int, [C.c_char_p]),
    "pn_simd_active": (C.c_char_p, []),
    "pn_simd_available": (C.c_char_p, []),
    "pn_bench_matvec_peak": (C.c_int, [C.c_double, C.POINTER(C.c_double)]),
    "pn_bench_matvec4_peak": (C.c_int, [C.c_double, C.POINTER(C.c_double)]),
    "pn_bench_read_bandwidth": (C.c_int, [C.c_size_t, C.c_double, C.POINTER(C.c_double)]),
}


class NativeError(EdgeError):
    """The native library is missing, foreign, or returned an error code."""


def _elf_header(path) -> tuple[int, str, int]:
    """(class: 32 or 64, struct byte order, e_machine) of an ELF file."""
    with open(path, "rb") as f:
        head = f.read(20)
    if len(head) < 20 or head[:4] != b"\x7fELF" or head[4] not in (1, 2):
        raise NativeError(f"{path}: not an ELF shared library")
    endian = "<" if head[5] == 1 else ">"
    (code,) = struct.unpack(endian + "H", head[18:20])
    return 32 * head[4], endian, code


def elf_machine(path) -> str:
    """Architecture an ELF file was built for, from its header."""
    code = _elf_header(path)[2]
    return _ELF_MACHINES.get(code, f"ELF machine {code}")


def userland_machine(python: str | None = None) -> str:
    """The architecture libraries must be built for to load into this Python: the ELF machine
    of the interpreter itself (a 32-bit userland on a 64-bit kernel reports its own), or, if
    the interpreter cannot be read, the kernel's name corrected by this Python's word size."""
    exe = python if python is not None else sys.executable
    try:
        if exe:
            return elf_machine(os.path.realpath(exe))
    except (OSError, NativeError):
        pass
    m = platform.machine()
    m = _MACHINE_ALIASES.get(m, m)
    if sys.maxsize <= 2**32:       # 32-bit Python on a 64-bit kernel
        m = {"aarch64": "armv7l", "x86_64": "i386"}.get(m, m)
    return "armv7l" if m.startswith("armv") else m


def arm_attributes(path) -> dict[int, int]:
    """The integer EABI build attributes ("aeabi" section of .ARM.attributes) of a 32-bit ARM
    ELF file: e.g. {6: CPU arch (10 = v7, 14 = v8), 12: Advanced SIMD (0 none, >0 NEON)}."""
    cls, e, _ = _elf_header(path)
    if cls != 32:
        return {}
    data = Path(path).read_bytes()
    shoff, = struct.unpack_from(e + "I", data, 32)
    shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", data, 46)
    sections = [struct.unpack_from(e + "IIIIII", data, shoff + i * shentsize) for i in range(shnum)]
    names_off = sections[shstrndx][4]
    for name, _type, _flags, _addr, off, size in sections:
        end = data.index(b"\0", names_off + name)
        if data[names_off + name:end] == b".ARM.attributes":
            return _parse_aeabi(data[off:off + size], e)
    return {}


def _uleb(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, i


def _parse_aeabi(sec: bytes, e: str) -> dict[int, int]:
    attrs: dict[int, int] = {}
    if not sec or sec[0] != ord("A"):
        return attrs
    i = 1
    while i + 4 <= len(sec):
        length, = struct.unpack_from(e + "I", sec, i)
        if length < 5:
            break
        end_sub = i + length
        vendor_end = sec.index(b"\0", i + 4)
        if sec[i + 4:vendor_end] == b"aeabi":
            j = vendor_end + 1
            while j + 5 <= end_sub:
                tag, size = sec[j], struct.unpack_from(e + "I", sec, j + 1)[0]
                if tag == 1:                             # Tag_File: attributes of the whole file
                    k, stop = j + 5, j + size
                    while k < stop:
                        t, k = _uleb(sec, k)
                        if t in (4, 5, 67) or (t > 32 and t % 2 == 1):     # NUL-terminated string
                            k = sec.index(b"\0", k) + 1
                        elif t == 32:                                     # Tag_compatibility
                            _, k = _uleb(sec, k)
                            k = sec.index(b"\0", k) + 1
                        else:
                            attrs[t], k = _uleb(sec, k)
                j += max(size, 5)
        i = end_sub
    return attrs


def cpu_has_neon(word_bits: int = 32) -> bool | None:
    """Whether this (32-bit ARM) process may run NEON code, from its AT_HWCAP; None if unknown."""
    try:
        aux = Path("/proc/self/auxv").read_bytes()
    except OSError:
        return None
    fmt = "II" if word_bits == 32 else "QQ"
    for key, value in struct.iter_unpack(fmt, aux[: len(aux) - len(aux) % struct.calcsize(fmt)]):
        if key == _AT_HWCAP:
            return bool(value & _HWCAP_ARM_NEON)
    return None


def check_loadable(path, *, userland: str | None = None, kernel: str | None = None,
                   neon: bool | None = None) -> None:
    """Refuse, before dlopen, a library this process cannot run. userland/kernel/neon default
    to this process's ELF machine, platform.machine() and its AT_HWCAP (tests pass others)."""
    built_for = elf_machine(path)
    here = userland if userland is not None else userland_machine()
    if built_for != here:
        raise NativeError(f"{path} is built for {built_for}, this Python is {here}; "
                          f"build for this machine with `scons` or the right `scons board=...`")
    if built_for != "armv7l":
        return
    needs_neon = arm_attributes(path).get(_TAG_ADVANCED_SIMD_ARCH, 0) > 0
    kernel = kernel if kernel is not None else platform.machine()
    if neon is None:
        neon = False if kernel.startswith("armv6") else cpu_has_neon(32)
    if needs_neon and (kernel.startswith("armv6") or neon is False):
        raise NativeError(f"{path} is an armv7 build with NEON, and this CPU ({kernel}) has no "
                          f"NEON; an armv6 board (Pi Zero, Pi 1) is not supported")


def library_candidates(name: str, env: str) -> list[Path]:
    """Where one of the package's native libraries is looked for: $env alone where it is set,
    else next to the package (a deployed bundle's _lib/), then the source tree's build/host/."""
    value = os.environ.get(env)
    return [Path(value)] if value else [_PKG / "_lib" / name, _PKG.parent / "build" / "host" / name]


def library_path() -> Path:
    candidates = library_candidates("libpercepnet.so", "PERCEPNET_LIB")
    for p in candidates:
        if p.is_file():
            return p
    raise NativeError("native library not found (looked in "
                      + ", ".join(str(p) for p in candidates)
                      + "); build it with `scons` in the source tree")


@lru_cache(maxsize=None)
def lib() -> C.CDLL:
    path = library_path()
    check_loadable(path)
    try:
        handle = C.CDLL(str(path))
    except OSError as e:
        raise NativeError(f"cannot load {path}: {e}") from None
    check_abi(handle, path)
    return handle


def check_abi(handle: C.CDLL, path) -> None:
    """The library must speak the ABI this binding mirrors (its sizes, structs and calls)."""
    try:
        abi = handle.pn_abi_version
    except AttributeError:
        raise NativeError(f"{path} has no pn_abi_version: not a percepnet-edge kernel") from None
    abi.restype, abi.argtypes = C.c_int, []
    got = abi()
    if got != ABI_VERSION:
        raise NativeError(f"{path} has native ABI version {got}, this edge package needs "
                          f"{ABI_VERSION}: rebuild it with `scons` (or install the matching release)")


@lru_cache(maxsize=None)
def fn(name: str):
    """A typed entry point of the library."""
    try:
        f = getattr(lib(), name)
    except AttributeError:
        raise NativeError(f"{library_path()} has no {name}: rebuild it with `scons`") from None
    f.restype, f.argtypes = _PROTOTYPES[name]
    return f


@lru_cache(maxsize=None)
def rates() -> tuple[int, ...]:
    """The sample rates a state takes, ascending, as the library lists them (pn_rates)."""
    p, out = fn("pn_rates")(), []
    while p[len(out)]:
        out.append(p[len(out)])
    return tuple(out)


def rates_text() -> str:
    """rates() for a help text, "8000, ... or 48000"; where the library cannot be loaded (a
    source tree before `scons`), a help that names the rates still prints, saying so."""
    try:
        r = rates()
    except NativeError:
        return "the rates the native library takes (build it with `scons` to list them)"
    return ", ".join(map(str, r[:-1])) + f" or {r[-1]}"


def check(code: int, what: str) -> None:
    if code != 0:
        raise NativeError(f"{what}: {fn('pn_strerror')(code).decode()}")


def fptr(a):
    """A float32 C-contiguous numpy array as float*."""
    return a.ctypes.data_as(_F)
