"""edge.native refuses, with one line, a library this Python cannot run or whose ABI differs:
decided by the running interpreter's ELF class and machine (not the kernel's name) and, for
32-bit ARM, by whether the CPU has the NEON the build uses."""
import ctypes as C
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge import native
from edge.native import NativeError
from native_build import build

ROOT = Path(__file__).resolve().parent.parent
HEADER = ROOT / "native" / "include" / "percepnet.h"


@pytest.fixture(scope="module")
def armv7_lib():
    if shutil.which("arm-linux-gnueabihf-gcc") is None:
        pytest.skip("arm-linux-gnueabihf-gcc not installed")
    return build("rpi3-armv7") / "libpercepnet.so"


def elf32_arm_program(tmp_path) -> Path:
    """Stands in for /usr/bin/python3 of an armhf userland: an ELF32 ARM executable header."""
    head = bytearray(52)
    head[:4] = b"\x7fELF"
    head[4], head[5], head[6] = 1, 1, 1          # ELFCLASS32, little endian, version 1
    head[16:20] = (2).to_bytes(2, "little") + (40).to_bytes(2, "little")   # ET_EXEC, EM_ARM
    p = tmp_path / "python3"
    p.write_bytes(bytes(head))
    return p


def test_32bit_userland_on_a_64bit_kernel_loads_the_armv7_build(armv7_lib, tmp_path):
    # Raspberry Pi OS 32-bit on a Pi 4: uname -m says aarch64, the interpreter is armhf.
    userland = native.userland_machine(str(elf32_arm_program(tmp_path)))
    assert userland == "armv7l"
    native.check_loadable(armv7_lib, userland=userland, kernel="aarch64", neon=True)


def test_64bit_or_foreign_library_is_refused_by_a_32bit_userland(tmp_path):
    host_lib = native.library_path()
    with pytest.raises(NativeError, match=r"built for x86_64, this Python is armv7l") as e:
        native.check_loadable(host_lib, userland="armv7l", kernel="aarch64", neon=True)
    assert "\n" not in str(e.value)


def test_the_running_python_decides_not_the_kernel_name():
    assert native.userland_machine() == native.elf_machine(Path(sys.executable).resolve())


def test_without_a_readable_interpreter_the_word_size_corrects_the_kernel_name(monkeypatch):
    monkeypatch.setattr(native.platform, "machine", lambda: "aarch64")
    monkeypatch.setattr(native.sys, "maxsize", 2**31 - 1)
    assert native.userland_machine("/nonexistent/python3") == "armv7l"
    monkeypatch.setattr(native.sys, "maxsize", 2**63 - 1)
    assert native.userland_machine("/nonexistent/python3") == "aarch64"


def test_armv7_build_declares_neon_in_its_build_attributes(armv7_lib):
    attrs = native.arm_attributes(armv7_lib)
    assert attrs[6] >= 10                       # Tag_CPU_arch: v7 or later
    assert attrs[12] > 0                        # Tag_Advanced_SIMD_arch: NEON
    assert native.arm_attributes(native.library_path()) == {}    # not a 32-bit ARM file


@pytest.mark.parametrize("kernel,neon", [("armv6l", None), ("armv6l", True), ("armv7l", False)])
def test_a_neon_build_never_loads_where_there_is_no_neon(armv7_lib, kernel, neon):
    with pytest.raises(NativeError, match="no NEON") as e:
        native.check_loadable(armv7_lib, userland="armv7l", kernel=kernel, neon=neon)
    assert "\n" not in str(e.value)


def _fake_lib(tmp_path, body: str) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    src = tmp_path / "fake.c"
    src.write_text(body)
    so = tmp_path / "libfake.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(so), str(src)], check=True)
    return so


def test_a_library_of_another_abi_is_refused_at_load(tmp_path, monkeypatch):
    so = _fake_lib(tmp_path, f"int pn_abi_version(void) {{ return {native.ABI_VERSION + 1}; }}\n")
    monkeypatch.setenv("PERCEPNET_LIB", str(so))
    native.lib.cache_clear()
    try:
        with pytest.raises(NativeError, match=rf"ABI version {native.ABI_VERSION + 1}, this edge "
                                              rf"package needs {native.ABI_VERSION}") as e:
            native.lib()
        assert "\n" not in str(e.value)
    finally:
        native.lib.cache_clear()


def test_a_library_without_pn_abi_version_is_refused(tmp_path):
    so = _fake_lib(tmp_path, "int something_else(void) { return 1; }\n")
    with pytest.raises(NativeError, match="no pn_abi_version"):
        native.check_abi(C.CDLL(str(so)), so)


def test_the_built_library_passes_the_abi_check():
    assert native.fn("pn_abi_version")() == native.ABI_VERSION


def test_binding_constants_mirror_the_header():
    defines = dict(re.findall(r"#define (PN_\w+) (\d+)", HEADER.read_text()))
    mirror = {"PN_ABI_VERSION": native.ABI_VERSION, "PN_SAMPLE_RATE": native.SAMPLE_RATE,
              "PN_HOP": native.HOP, "PN_NB_BANDS": native.NB_BANDS,
              "PN_NB_FEATURES": native.NB_FEATURES, "PN_NB_OUTPUTS": native.NB_OUTPUTS,
              "PN_FEATURE_VERSION": native.FEATURE_VERSION, "PN_HOP_KERNEL": native.HOP_KERNEL,
              "PN_HOP_FADE": native.HOP_FADE, "PN_HOP_BYPASS": native.HOP_BYPASS,
              "PN_HOP_PRIME": native.HOP_PRIME, "PN_LOOKAHEAD_FRAMES": native.LOOKAHEAD_FRAMES}
    assert {k: int(defines[k]) for k in mirror} == mirror
    floor = re.search(r"#define LOG_FLOOR ([0-9.e-]+)f", (HEADER.parents[1] / "src" / "denoise.c").read_text())
    assert float(floor.group(1)) == native.LOG_FLOOR
