"""The ARM and x86 builds contain the instructions their boards promise, and no others:
checked by disassembling the real libraries (binutils objdump)."""
import re
import shutil
import subprocess

import pytest

from native_build import build

OBJDUMP = {"host": "objdump", "rpi4": "aarch64-linux-gnu-objdump", "rpi5": "aarch64-linux-gnu-objdump",
           "rpi3-armv7": "arm-linux-gnueabihf-objdump"}


def disassembly(board: str) -> str:
    tool = OBJDUMP[board]
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} not found (apt-get install binutils-aarch64-linux-gnu / binutils-arm-linux-gnueabihf)")
    lib = build(board) / "libpercepnet.so"
    return subprocess.run([tool, "-d", "--no-show-raw-insn", str(lib)], capture_output=True, text=True,
                          check=True).stdout


def functions(dis: str) -> dict[int, tuple[str, str]]:
    """address -> (symbol, body) for every function (symbols stay in the unstripped .so)."""
    return {int(m.group(1), 16): (m.group(2), m.group(3))
            for m in re.finditer(r"^([0-9a-f]+) <([^>]+)>:\n(.*?)(?=\n\n|\Z)", dis, re.S | re.M)}


def function(dis: str, name: str) -> str:
    bodies = [body for sym, body in functions(dis).values() if sym == name]
    assert len(bodies) == 1, f"{name} not in the library"
    return bodies[0]


def reachable(dis: str, name: str, depth: int = 3) -> str:
    """The bodies of a function and of what it calls (by address: static helpers such as
    affine exist once per ISA copy under the same name), `depth` calls deep."""
    fns = functions(dis)
    start = [a for a, (sym, _) in fns.items() if sym == name]
    seen, frontier = set(start), start
    for _ in range(depth):
        calls = {int(t, 16) for a in frontier for t in re.findall(r"\tbl?\s+([0-9a-f]+) <", fns[a][1])}
        frontier = [a for a in calls if a in fns and a not in seen]
        seen |= set(frontier)
    return "\n".join(fns[a][1] for a in seen)


def mnemonics(text: str) -> set[str]:
    ops = set()
    for line in text.splitlines():
        fields = line.split("\t")
        words = [w for w in (fields[1].split() if len(fields) > 1 else []) if not w.startswith("{")]
        if words:  # "{vex} vpdpbusd ..." -> vpdpbusd
            ops.add(words[0])
    return ops


def test_rpi4_build_has_no_dotprod():
    dis = disassembly("rpi4")
    found = mnemonics(dis) & {"sdot", "udot", "usdot", "sudot"}
    assert not found, f"Cortex-A72 would trap on {found}"
    assert "pn_matvec_dotprod" not in dis


def test_rpi4_matvec_uses_widening_multiply_and_pairwise_accumulate():
    ops = mnemonics(function(disassembly("rpi4"), "pn_matvec_neon"))
    assert {"smull", "sadalp"} <= ops or {"smull2", "sadalp"} <= ops, ops


def test_rpi4_int4_matvec_sign_extends_nibbles_and_multiplies_in_neon():
    dis = disassembly("rpi4")
    # the kernel itself or the row-block loop it branches to (GCC may outline the larger one)
    ops = mnemonics(reachable(dis, "pn_matvec4_neon", depth=1))
    assert "sshr" in ops and ({"smlal", "smlal2"} & ops), ops
    assert "pn_matvec4_dotprod" not in dis


def test_rpi5_int4_kernels_use_sdot():
    dis = disassembly("rpi5")
    assert "sdot" in mnemonics(reachable(dis, "pn_matvec4_dotprod", depth=1))


def test_rpi5_network_kernels_use_sdot():
    dis = disassembly("rpi5")
    # the kernel itself or the row-block loop it branches to (GCC may outline the larger one)
    assert "sdot" in mnemonics(reachable(dis, "pn_matvec_dotprod", depth=1))
    # the dense and GRU layers of the dotprod copy reach it (inlined or called)
    assert "sdot" in mnemonics(reachable(dis, "pn_nnet_run_dotprod"))


def test_armv7_build_uses_neon_in_matvec():
    ops = mnemonics(function(disassembly("rpi3-armv7"), "pn_matvec_neon"))
    assert any(o.startswith("vmull") for o in ops) and any(o.startswith("vpadal") for o in ops), ops


def test_host_build_has_avx2_and_avxvnni_kernels():
    dis = disassembly("host")
    assert "vpmaddubsw" in mnemonics(function(dis, "pn_matvec_avx2"))
    assert "vpmaddubsw" in mnemonics(reachable(dis, "pn_matvec4_avx2", depth=1))
    vnni = mnemonics(function(dis, "pn_matvec_avxvnni"))
    assert any(o.startswith("vpdpbusd") for o in vnni), vnni
