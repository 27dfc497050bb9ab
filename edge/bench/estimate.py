"""`edge bench --estimate BOARD`: what a frame costs on a board that is not here.

1. Instructions. The board's build of `pn_framecost` runs under qemu-user with the tbcount plugin
   (native/qemu/tbcount.c), which counts how often each translation block runs. Each mode runs
   over N and 3N hops of the bundled example: set-up is the same in both, so the difference
   over 2N hops is the steady per-frame cost. `dsp` is analysis + synthesis alone; `frame` is
   pn_process with the model; the network is frame minus dsp, block by block. Exact and
   deterministic: tests/test_estimate.py pins these counts against native/budget.json.
2. Compute time. Each block that ran is disassembled (llvm-mc) and given to llvm-mca with the
   board's scheduling model: cycles per frame are the sum of executions x cycles per
   execution, at the board's clock.
3. Memory time. The network reads all its weights every frame: the weight file's bytes over
   the board's one-core read bandwidth (from cache where they fit, else DRAM). The network
   costs the larger of its compute and memory times; the frame is the DSP plus that.
4. Error bar. The same method on this machine (its own build under qemu, llvm-mca
   -mcpu=native, the clock from /proc/cpuinfo) against the times `edge bench` measures here:
   the ratio measured / estimated.
"""
from __future__ import annotations

import bisect
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edge.boards import Board, load_board
from edge.build import build_native
from edge.errors import EdgeError
from edge.native import HOP, SAMPLE_RATE

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "build" / "qemu" / "libtbcount.so"
FRAMES = 100              # N: the runs are N and 3N hops
MODEL_SIZES = ("small", "paper")
HOT_BLOCKS = 8            # blocks listed per part in the report
MCA_ITERATIONS = 100
HOP_US = 1e6 * HOP / SAMPLE_RATE  # one hop of audio: the real-time budget of a frame
CALIBRATION_SECONDS = 10.0  # audio `edge bench` times on this machine for the error bar
LLVM = "19"               # Debian 12: apt-get install llvm-19 (llvm-mc-19, llvm-mca-19)
RUN_TIMEOUT_S = 600
# x86 only. Under qemu each iteration of a rep-prefixed string instruction is one execution of
# a one-instruction block, which llvm-mca cannot model (it answers 100 cycles): an iteration
# is counted as one cycle. glibc is kept off `rep movsb`/`rep stosb` for large copies (its
# vector loops are modelled; on the host both run at about the same speed).
REP_ITERATION_CYCLES = 1.0
_X86_GLIBC = {"GLIBC_TUNABLES": "glibc.cpu.x86_rep_movsb_threshold=1073741824:"
                                "glibc.cpu.x86_rep_stosb_threshold=1073741824"}

# llvm-mc/llvm-mca targets per arch, tried in order for each block. Debian's armhf gcc emits
# Thumb-2 by default; parts of glibc (memcpy) are in ARM mode.
_TRIPLES = {"aarch64": ("aarch64-linux-gnu",),
            "armv7l": ("thumbv8a-linux-gnueabihf", "armv8a-linux-gnueabihf"),
            "x86_64": ("x86_64-linux-gnu",)}
_ENCODING = re.compile(r"^\s*(.*?)\s*(?://|@|#) encoding: \[")  # an instruction line


class EstimateError(EdgeError):
    """The estimate cannot be made: a missing tool, build or board figure."""


@dataclass(frozen=True)
class Block:
    vaddr: int
    insns: tuple[bytes, ...]   # each instruction's bytes, in memory order

    @property
    def key(self) -> tuple[int, int]:
        return self.vaddr, len(self.insns)


@dataclass
class Counts:
    """Per-frame executions of each block, for the DSP alone and for the network."""
    program: Path
    blocks: dict          # key -> Block
    dsp: dict             # key -> executions per frame
    network: dict
    main: int             # where pn_framecost's main was loaded, for naming blocks
    simd: str             # the kernel's SIMD path in the runs


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if not path:
        raise EstimateError(f"{name} not found (Debian: apt-get install {package})")
    return path


def parse_counts(text: str) -> tuple[dict, dict]:
    """tbcount's output: ({key: Block}, {key: executions})."""
    blocks, execs = {}, {}
    for line in text.splitlines():
        vaddr, n_exec, n, *insns = line.split()
        if len(insns) != int(n):
            raise EstimateError(f"tbcount output is malformed: {line[:80]!r}")
        b = Block(int(vaddr, 16), tuple(bytes.fromhex(i) for i in insns))
        blocks[b.key] = b
        execs[b.key] = execs.get(b.key, 0) + int(n_exec)
    return blocks, execs


def runner(board: Board) -> list[str]:
    """qemu-user for the board's build; for this machine's own build, qemu of its arch."""
    if board.qemu:
        _tool(board.qemu, "qemu-user")
        return board.qemu_command()
    return [_tool(f"qemu-{platform.machine()}", "qemu-user"), "-cpu", "max"]


def build(board: Board) -> Path:
    """The board's pn_framecost; the same scons run builds the plugin."""
    return build_native(board) / "bin" / "pn_framecost"


def run_counted(board: Board, program: Path, mode: str, audio: Path, frames: int,
                model: Path | None, simd: str | None = None) -> tuple[dict, dict, dict]:
    """Blocks, their executions and pn_framecost's JSON line for one run under the plugin."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "tb.txt"
        args = [mode, str(audio), str(frames), str(model) if model else "-"] + ([simd] if simd else [])
        cmd = runner(board) + ["-plugin", f"{PLUGIN},out={out}", str(program)] + args
        env = {**os.environ, **(_X86_GLIBC if board.arch == "x86_64" else {})}
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=env)
        if r.returncode != 0 or not out.is_file():
            why = (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
            raise EstimateError(f"{board.name}: pn_framecost {mode} under {Path(cmd[0]).name} "
                                f"failed: {why}")
        return (*parse_counts(out.read_text()), json.loads(r.stdout))


def per_frame(board: Board, program: Path, mode: str, audio: Path, model: Path | None,
              frames: int, simd: str | None) -> tuple[dict, dict, dict]:
    """Blocks, executions per frame (runs over N and 3N hops) and the run's JSON line."""
    blocks, short, _ = run_counted(board, program, mode, audio, frames, model, simd)
    more, long, info = run_counted(board, program, mode, audio, 3 * frames, model, simd)
    blocks.update(more)
    rate = {k: (long.get(k, 0) - short.get(k, 0)) / (2 * frames) for k in blocks}
    return blocks, {k: v for k, v in rate.items() if v}, info


def _quiet(msg: str) -> None:
    pass


def count(board: Board, model_path: Path, audio: Path, frames: int = FRAMES,
          simd: str | None = None, say=_quiet) -> Counts:
    """Per-frame block executions of the DSP alone and of the network (frame minus DSP).
    say: told each stage as it starts."""
    say(f"{board.name}: building pn_framecost (scons)")
    program = build(board)
    if not PLUGIN.is_file():
        raise EstimateError(f"{PLUGIN} missing: scons builds it with this machine's C compiler "
                            f"(Debian: apt-get install gcc)")
    q = Path(runner(board)[0]).name
    say(f"{board.name}: counting the DSP's instructions under {q} ({frames} and {3 * frames} hops)")
    blocks, dsp, _ = per_frame(board, program, "dsp", audio, None, frames, simd)
    say(f"{board.name}: counting the whole frame's instructions under {q} ({frames} and "
        f"{3 * frames} hops)")
    more, frame, info = per_frame(board, program, "frame", audio, model_path, frames, simd)
    blocks.update(more)
    net = {k: frame.get(k, 0) - dsp.get(k, 0) for k in frame.keys() | dsp.keys()}
    return Counts(program, blocks, dsp, {k: v for k, v in net.items() if v},
                  int(info["main"], 16), info["simd"])


def instructions(blocks: dict, rate: dict) -> float:
    return sum(len(blocks[k].insns) * r for k, r in rate.items())


def example_audio(path: Path) -> Path:
    """The bundled example as raw float32, the input pn_framecost reads."""
    from edge.bench.dsp import EXAMPLE
    from edge.wavio import read_wav
    read_wav(EXAMPLE).astype("<f4").tofile(path)
    return path


def model_file(model: str, tmp: Path, weights: str = "int8") -> Path:
    """small/paper: that size with random weights (as `edge bench` times it) in the weight
    encoding asked (`edge export --weights`); else a .pnw, whose encodings are its own."""
    if model in MODEL_SIZES:
        from edge.bench.models import random_pnw
        path = tmp / f"{model}-{weights}.pnw"
        path.write_bytes(random_pnw(model, weights=weights))
        return path
    path = Path(model)
    if not path.is_file():
        raise EstimateError(f"--model {model}: neither small, paper nor an existing .pnw file")
    if weights != "int8":
        raise EstimateError(f"--weights {weights} goes with --model small or paper: a .pnw file "
                            f"has its own encodings (edge export --weights)")
    return path


def instruction_counts(board_name: str, model: str = "small", frames: int = FRAMES,
                       weights: str = "int8") -> dict:
    """{"dsp": N, "network": N}: instructions per frame, what the budget test pins."""
    board = load_board(board_name)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        c = count(board, model_file(model, tmp, weights), example_audio(tmp / "audio.f32"), frames)
    return {"dsp": round(instructions(c.blocks, c.dsp)),
            "network": round(instructions(c.blocks, c.network))}


# --- cycles ------------------------------------------------------------------------------

def _decode(mc: str, blocks: list[Block], triple: str, mcpu: str) -> list[str] | None:
    """The blocks' instructions as assembly, one line each, or None when llvm-mc does not
    decode every one exactly as given (it warns, or the count differs)."""
    text = "\n".join(" ".join(f"0x{b:02x}" for b in insn) for blk in blocks for insn in blk.insns)
    r = subprocess.run([mc, "--disassemble", "--show-encoding", f"-triple={triple}", f"-mcpu={mcpu}"],
                       input=text, capture_output=True, text=True)
    lines = [m.group(1) for m in map(_ENCODING.match, r.stdout.splitlines()) if m]
    ok = r.returncode == 0 and not r.stderr.strip() and len(lines) == sum(len(b.insns) for b in blocks)
    return lines if ok else None


def disassemble(blocks: list[Block], triple: str, mcpu: str) -> dict:
    """{key: assembly lines} for the blocks llvm-mc decodes; the blocks it cannot (an
    instruction it does not know) are found by halving and left out."""
    mc = _tool(f"llvm-mc-{LLVM}", f"llvm-{LLVM}")
    out = {}

    def split(group: list[Block]) -> None:
        lines = _decode(mc, group, triple, mcpu)
        if lines is None:
            if len(group) > 1:
                split(group[: len(group) // 2])
                split(group[len(group) // 2:])
            return
        for blk in group:
            out[blk.key], lines = lines[: len(blk.insns)], lines[len(blk.insns):]
    split(blocks)
    return out


def resolve_cpu(mcpu: str) -> str:
    """llvm-mca takes -mcpu=native, llvm-mc does not: the host CPU's name from LLVM itself."""
    if mcpu != "native":
        return mcpu
    r = subprocess.run([_tool(f"llvm-mca-{LLVM}", f"llvm-{LLVM}"), "--version"],
                       capture_output=True, text=True)
    m = re.search(r"Host CPU:\s*(\S+)", r.stdout)
    if not m:
        raise EstimateError(f"llvm-mca-{LLVM} --version names no host CPU: set [estimate].mca_cpu")
    return m.group(1)


def _mca(asm: dict, triple: str, mcpu: str) -> dict:
    """{key: cycles per execution} of disassembled blocks: llvm-mca's steady state of each
    block run in a loop."""
    mca = _tool(f"llvm-mca-{LLVM}", f"llvm-{LLVM}")
    keys = list(asm)
    src = []
    for n, key in enumerate(keys):  # a line-start '#' is a comment to every target's parser
        src += [f"# LLVM-MCA-BEGIN b{n}", *asm[key], f"# LLVM-MCA-END b{n}"]
    r = subprocess.run([mca, f"-mtriple={triple}", f"-mcpu={mcpu}", "-json",
                        f"-iterations={MCA_ITERATIONS}", "-skip-unsupported-instructions=any"],
                       input="\n".join(src) + "\n", capture_output=True, text=True)
    if r.returncode != 0:
        raise EstimateError(f"llvm-mca-{LLVM} -mcpu={mcpu} failed: "
                            + (r.stderr.strip().splitlines() or ["no output"])[0])
    cycles = {}
    for region in json.loads(r.stdout)["CodeRegions"]:
        s = region["SummaryView"]
        if s["Iterations"] and s["Instructions"]:
            cycles[keys[int(region["Name"][1:])]] = s["TotalCycles"] / s["Iterations"]
    for key, lines in asm.items():
        if len(lines) == 1 and lines[0].startswith("rep"):
            cycles[key] = REP_ITERATION_CYCLES
    return cycles


def mca_cycles(blocks: list[Block], arch: str, mcpu: str) -> dict:
    """{key: cycles per execution} of every block some instruction set of the arch decodes."""
    _tool(f"llvm-mca-{LLVM}", f"llvm-{LLVM}")
    if arch not in _TRIPLES:
        raise EstimateError(f"no llvm-mca target for arch {arch}")
    cycles = {}
    for triple in _TRIPLES[arch]:
        asm = disassemble([b for b in blocks if b.key not in cycles], triple, mcpu)
        if asm:
            cycles.update(_mca(asm, triple, mcpu))
    return cycles


def symbolizer(board: Board, program: Path, main: int):
    """vaddr -> "function+0xoffset" inside pn_framecost (None elsewhere: libc, libm)."""
    nm = f"{board.toolchain}-nm" if board.toolchain else "nm"
    r = subprocess.run([_tool(nm, f"binutils-{board.toolchain}" if board.toolchain else "binutils"),
                        "-S", "--defined-only", str(program)], capture_output=True, text=True)
    syms = sorted((int(a, 16), int(size, 16), name) for a, size, kind, name in
                  (line.split() for line in r.stdout.splitlines() if len(line.split()) == 4)
                  if kind in "tTwW")
    if board.arch == "armv7l":  # a Thumb function's address (main's too) has bit 0 set
        syms = [(a & ~1, size, name) for a, size, name in syms]
        main &= ~1
    main_at = next((a for a, _, name in syms if name == "main"), None)
    if main_at is None:  # a stripped program: blocks go unnamed
        return lambda vaddr: None
    starts = [a + main - main_at for a, _, _ in syms]

    def name(vaddr: int) -> str | None:
        i = bisect.bisect_right(starts, vaddr) - 1
        if i < 0 or vaddr >= starts[i] + syms[i][1]:
            return None
        return f"{syms[i][2]}+0x{vaddr - starts[i]:x}"
    return name


def _part(c: Counts, rate: dict, cycles: dict, clock_ghz: float, name_of) -> dict:
    """Instructions, cycles and time per frame of one part, with its hottest blocks. Blocks
    llvm-mca could not model count one cycle per instruction (their share is reported)."""
    per_block = {k: r * cycles.get(k, len(c.blocks[k].insns)) for k, r in rate.items()}
    total_cycles = sum(per_block.values())
    n_insns = instructions(c.blocks, rate)
    unmodelled = sum(r * len(c.blocks[k].insns) for k, r in rate.items() if k not in cycles)
    hot = sorted(per_block, key=per_block.get, reverse=True)[:HOT_BLOCKS]
    return {
        "instructions": round(n_insns),
        "cycles": total_cycles,
        "us": total_cycles / clock_ghz / 1e3,
        "ipc": n_insns / total_cycles if total_cycles else 0.0,
        "unmodelled_share": unmodelled / n_insns if n_insns else 0.0,
        "hot_blocks": [{"where": name_of(k[0]) or f"0x{k[0]:x} (shared library)",
                        "instructions": k[1], "executions": rate[k],
                        "cycles_per_execution": cycles.get(k), "share": per_block[k] / total_cycles}
                       for k in hot],
    }


def _host_clock_ghz() -> float:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.lower().startswith("cpu mhz"):
            return float(line.split(":", 1)[1]) / 1e3
    raise EstimateError("/proc/cpuinfo gives no 'cpu MHz': set [estimate].clock_ghz in boards/host.toml")


def _memory(board: Board, weight_bytes: int) -> dict | None:
    e = board.estimate
    if weight_bytes <= e.cache_bytes:
        source, gbps = "cache", e.cache_read_gbps
    elif e.dram_read_gbps:
        source, gbps = "dram", e.dram_read_gbps
    else:
        return None
    return {"bytes": weight_bytes, "from": source, "read_gbps": gbps, "us": weight_bytes / gbps / 1e3}


def estimate_board(board: Board, model_path: Path, audio: Path, frames: int = FRAMES,
                   simd: str | None = None, say=_quiet) -> dict:
    """The estimate for one board and model file (no error bar); say: told each stage."""
    if board.estimate is None:
        raise EstimateError(f"{board.path}: no [estimate] section (llvm-mca model, clock, "
                            f"read bandwidth): this board cannot be estimated")
    _tool(f"llvm-mc-{LLVM}", f"llvm-{LLVM}")  # before the qemu runs, not after them
    clock = board.estimate.clock_ghz or _host_clock_ghz()
    mcpu = resolve_cpu(board.estimate.mca_cpu)
    c = count(board, model_path, audio, frames, simd, say)
    keys = c.dsp.keys() | c.network.keys()
    say(f"{board.name}: cycles of {len(keys)} blocks from llvm-mca-{LLVM} -mcpu={mcpu}")
    cycles = mca_cycles([c.blocks[k] for k in sorted(keys)], board.arch, mcpu)
    name_of = symbolizer(board, c.program, c.main)
    dsp = _part(c, c.dsp, cycles, clock, name_of)
    net = _part(c, c.network, cycles, clock, name_of)
    memory = _memory(board, model_path.stat().st_size)
    compute_us = net["us"]
    net["compute_us"] = compute_us
    net["memory"] = memory
    net["us"] = max(compute_us, memory["us"]) if memory else compute_us
    net["bound"] = "memory" if memory and memory["us"] > compute_us else "compute"
    frame_us = dsp["us"] + net["us"]
    for part in (dsp, net):
        part["core_pct"] = 100 * part["us"] / HOP_US
    return {
        "board": board.name,
        "method": (f"instructions: tbcount plugin under {runner(board)[0].rsplit('/', 1)[-1]}, "
                   f"{3 * frames} minus {frames} hops; cycles: llvm-mca-{LLVM} -mcpu={mcpu} per "
                   f"block; memory: weight bytes / one-core read bandwidth"),
        "core": {"mca_cpu": mcpu, "clock_ghz": clock, "qemu_cpu": board.qemu_cpu or "max",
                 "simd": c.simd},
        "frames": [frames, 3 * frames],
        "dsp": dsp,
        "network": net,
        "frame": {"instructions": dsp["instructions"] + net["instructions"],
                  "compute_cycles": dsp["cycles"] + net["cycles"], "us": frame_us,
                  "core_pct": 100 * frame_us / HOP_US,
                  "compute_us": dsp["us"] + compute_us,
                  "memory_us": memory["us"] if memory else None},
        "sources": list(board.estimate.sources),
    }


def calibration(model_path: Path, audio: Path, frames: int = FRAMES, say=_quiet) -> dict:
    """The method on this machine against `edge bench` here: measured / estimated, per part.
    Both run the SIMD path qemu's CPU gets (QEMU 7.2 has AVX2 but no AVX-VNNI, for one)."""
    import numpy as np

    from edge.bench.dsp import _cpu_name, _looped, bench_dsp
    from edge.bench.models import time_model
    from edge.native import check, fn

    est = estimate_board(load_board("host"), model_path, audio, frames, say=say)
    simd = est["core"]["simd"]
    say(f"host: timing the same build with edge bench ({2 * CALIBRATION_SECONDS:g} s of audio)")
    native = fn("pn_simd_active")().decode()
    check(fn("pn_simd_select")(simd.encode()), f"pn_simd_select {simd} (the path qemu ran)")
    try:
        dsp = bench_dsp(seconds=CALIBRATION_SECONDS)["dsp_us_per_frame"]["p50"]
        net, frame = time_model(model_path, _looped(CALIBRATION_SECONDS))
    finally:
        check(fn("pn_simd_select")(native.encode()), f"pn_simd_select {native}")
    measured = {"dsp": dsp, "network": float(np.percentile(net, 50)),
                "frame": float(np.percentile(frame, 50))}
    estimated = {"dsp": est["dsp"]["us"], "network": est["network"]["us"], "frame": est["frame"]["us"]}
    return {"processor": _cpu_name(), "simd": simd, "mca_cpu": est["core"]["mca_cpu"],
            "clock_ghz": est["core"]["clock_ghz"],
            "measured_us_p50": measured, "estimated_us": estimated,
            "ratio": {k: measured[k] / estimated[k] for k in measured}}


def estimate(board_name: str, model: str = "small", calibrate: bool = True,
             frames: int = FRAMES, weights: str = "int8", say=_quiet) -> dict:
    """`edge bench --estimate BOARD --model MODEL [--weights W]`, with the error bar from this
    machine. say: told each stage as it starts (the whole takes a minute or more)."""
    board = load_board(board_name)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        say(f"model: {model}" + (f" with random {weights} weights" if model in MODEL_SIZES else ""))
        path = model_file(model, tmp, weights)
        audio = example_audio(tmp / "audio.f32")
        result = estimate_board(board, path, audio, frames, say=say)
        result["model"] = model
        result["weights"] = weights if model in MODEL_SIZES else "file"
        result["weight_bytes"] = path.stat().st_size
        if calibrate:
            say("error bar: the same method on this machine, against edge bench here")
            cal = calibration(path, audio, frames, say)
            result["calibration"] = cal
            result["error_bar"] = cal["ratio"]["frame"]
    return result
