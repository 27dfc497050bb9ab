"""A LADSPA host just big enough to check a plugin the way PipeWire's filter-chain will load it:
dlopen, find the label, instantiate at a rate (the plugin loads its model there), run a few
blocks and read the `latency` output port.

probe() runs it in a child process (`python -m edge.ladspa PLUGIN --rate R`): the plugin says
why it refuses on its own stderr, a crash stays in the child, and $PERCEPNET_MODEL is removed
from the child's environment, as a PipeWire daemon started by systemd does not have it. Only
ctypes: it runs on a board with the release's Python and nothing else.
"""
from __future__ import annotations

import argparse
import ctypes as C
import json
import math
import os
import subprocess
import sys
from pathlib import Path

from edge.errors import EdgeError

LABEL = "percepnet_mono"
MODEL_ENV = "PERCEPNET_MODEL"
MODEL_FILE = "percepnet.pnw"          # beside the plugin: where it looks without MODEL_ENV
PLUGIN_FILE = "libpercepnet_ladspa.so"

_PORT_INPUT, _PORT_OUTPUT, _PORT_CONTROL, _PORT_AUDIO = 1, 2, 4, 8
_HANDLE = C.c_void_p
_DATA_P = C.POINTER(C.c_float)


class _Descriptor(C.Structure):
    pass


_Descriptor._fields_ = [
    ("UniqueID", C.c_ulong), ("Label", C.c_char_p), ("Properties", C.c_int),
    ("Name", C.c_char_p), ("Maker", C.c_char_p), ("Copyright", C.c_char_p),
    ("PortCount", C.c_ulong), ("PortDescriptors", C.POINTER(C.c_int)),
    ("PortNames", C.POINTER(C.c_char_p)), ("PortRangeHints", C.c_void_p),
    ("ImplementationData", C.c_void_p),
    ("instantiate", C.CFUNCTYPE(_HANDLE, C.POINTER(_Descriptor), C.c_ulong)),
    ("connect_port", C.CFUNCTYPE(None, _HANDLE, C.c_ulong, _DATA_P)),
    ("activate", C.CFUNCTYPE(None, _HANDLE)),
    ("run", C.CFUNCTYPE(None, _HANDLE, C.c_ulong)),
    ("run_adding", C.CFUNCTYPE(None, _HANDLE, C.c_ulong)),
    ("set_run_adding_gain", C.CFUNCTYPE(None, _HANDLE, C.c_float)),
    ("deactivate", C.CFUNCTYPE(None, _HANDLE)),
    ("cleanup", C.CFUNCTYPE(None, _HANDLE)),
]


def _check(plugin: str, rate: int) -> dict:
    """In this process: the plugin instantiated at `rate`, a 440 Hz tone run through it."""
    try:
        lib = C.CDLL(plugin)
        entry = lib.ladspa_descriptor
    except (OSError, AttributeError) as e:
        raise EdgeError(f"{plugin} is not a LADSPA plugin this machine can load: {e}") from None
    entry.restype = C.POINTER(_Descriptor)
    entry.argtypes = [C.c_ulong]
    labels, d = [], None
    for i in range(64):
        p = entry(i)
        if not p:
            break
        labels.append(p.contents.Label.decode())
        if labels[-1] == LABEL:
            d = p.contents
            break
    if d is None:
        raise EdgeError(f"{plugin} has no plugin labelled {LABEL} (it has {', '.join(labels) or 'none'})")
    handle = d.instantiate(C.pointer(d), rate)
    if not handle:
        raise EdgeError(f"{plugin} refused to start at {rate} Hz")
    block = max(1, rate // 100)
    ports, buffers = {}, []
    try:
        for i in range(d.PortCount):
            kind, name = d.PortDescriptors[i], d.PortNames[i].decode()
            buf = (C.c_float * (block if kind & _PORT_AUDIO else 1))()
            buffers.append(buf)
            ports[name] = (kind, buf)
            d.connect_port(handle, i, C.cast(buf, _DATA_P))
        if d.activate:
            d.activate(handle)
        out_ok = True
        for b in range(20):
            for kind, buf in ports.values():
                if kind & _PORT_AUDIO and kind & _PORT_INPUT:
                    for n in range(block):
                        buf[n] = 0.1 * math.sin(2 * math.pi * 440 * (b * block + n) / rate)
            d.run(handle, block)
            out_ok &= all(math.isfinite(buf[n]) for kind, buf in ports.values()
                          if kind & _PORT_AUDIO and kind & _PORT_OUTPUT for n in range(block))
        latency = ports.get("latency", (0, [math.nan]))[1][0]
        if d.deactivate:
            d.deactivate(handle)
    finally:
        d.cleanup(handle)
    if not out_ok:
        raise EdgeError(f"{plugin} gave non-finite output at {rate} Hz")
    return {"plugin": plugin, "label": LABEL, "rate": rate, "block": block,
            "latency": None if math.isnan(latency) else int(latency), "ports": list(ports)}


def probe(plugin: str | Path, rate: int = 48000, timeout: float = 60) -> dict:
    """Checks the plugin in a child process without $PERCEPNET_MODEL; its report, or EdgeError
    with the plugin's own reason."""
    env = {k: v for k, v in os.environ.items() if k != MODEL_ENV}
    here = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = here + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:
        r = subprocess.run([sys.executable, "-m", "edge.ladspa", os.path.abspath(plugin), "--rate", str(rate)],
                           capture_output=True, text=True, timeout=timeout, env=env, cwd="/")
    except subprocess.TimeoutExpired:
        raise EdgeError(f"{plugin} did not finish its check within {timeout:.0f}s") from None
    if r.returncode != 0:
        ours = [line.partition(": ")[2] for line in r.stderr.splitlines() if line.startswith("edge.ladspa: ")]
        said = [line for line in r.stderr.splitlines() if line.startswith("percepnet: ")]
        why = (ours or [f"checking {plugin} failed (exit {r.returncode}): "
                        f"{(r.stderr.strip().splitlines() or ['no output'])[-1]}"])[-1]
        raise EdgeError(why + (f" ({'; '.join(said)})" if said else ""))
    return json.loads(r.stdout)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge.ladspa",
                                description="Load the percepnet LADSPA plugin as a host would, "
                                            "run a tone through it, print its latency as JSON.")
    p.add_argument("plugin")
    p.add_argument("--rate", type=int, default=48000)
    args = p.parse_args(argv)
    try:
        print(json.dumps(_check(args.plugin, args.rate)))
    except EdgeError as e:
        sys.stdout.flush()
        print(f"edge.ladspa: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
