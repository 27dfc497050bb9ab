"""The release bundle: everything a board needs to run percepnet-edge, in one .tar.gz.

Layout inside (unpacked as PREFIX/releases/<version>/):
  edge/                  the Python package, models in edge/models/ (default.pnw in the board's
                         [deploy].weights encoding)
  edge/_lib/libpercepnet.so  the kernel built for the board (edge/native.py looks here)
  bin/pn_selftest        the health check program, bin/edge the command
  boards/<board>.toml    the descriptor `edge run --board` reads
  pylib/alsaaudio.py     the ALSA binding the release runs with (ahead of the board's own on
                         PYTHONPATH: Debian 12's python3-alsaaudio cannot capture)
  examples/noisy.wav     the clip `edge bench --board` and `--dsp` play
  ladspa/libpercepnet_ladspa.so, ladspa/percepnet.pnw   the LADSPA plugin built for the board
                         and the model it loads from beside itself
  percepnet-edge.service, asound.conf   rendered for the board and prefix
  service.env            the service's settings (PN_ATTEN_LIM), read by the unit through
                         PREFIX/current, so the unit is the same whatever they are
  pipewire/percepnet-edge.conf   the filter-chain drop-in, the plugin at PREFIX/current/ladspa/
                         (with [deploy].echo_cancel, PipeWire's echo canceller ahead of it)
  integration            "alsa" or "pipewire": what switching to this release installs (the
                         service, or the drop-in in the service user's PipeWire), so a rollback
                         brings back the integration its release had
  RELEASE.json           version, board, arch, integration, weights, source commit, sha256 of
                         every file
"""
from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from string import Template

from edge import __version__
from edge.boards import Board
from edge.build import build_native
from edge.errors import EdgeError
from edge.native import SAMPLE_RATE

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "edge"
TEMPLATES = Path(__file__).resolve().parent / "templates"
BOARD_PYLIB = Path(__file__).resolve().parent / "board_pylib"
EXAMPLE = ROOT / "examples" / "noisy.wav"
# Paths written into the systemd unit and shell scripts: absolute, and nothing that a shell,
# systemd's quoting or its %-specifiers would read as anything but a path.
_SAFE_PATH = re.compile(r"/[A-Za-z0-9._+/-]*")
_SKIP_DIRS = {"__pycache__", "_lib"}


@dataclass(frozen=True)
class Bundle:
    path: Path
    version: str
    sha256: str
    size: int
    board: str
    arch: str
    files: tuple[str, ...]


def check_path(value: str, what: str) -> str:
    """An absolute path safe to write unquoted into a unit file or a shell script."""
    if not _SAFE_PATH.fullmatch(value) or "/../" in value + "/" or value.strip("/") == "":
        raise EdgeError(f"{what} must be an absolute path of letters, digits and . _ + - / "
                        f"(no spaces, quotes, newlines, $ or %), got {value!r}")
    return value


def render(name: str, **values) -> str:
    return Template((TEMPLATES / name).read_text()).substitute(values)


def unit_file(board: Board, prefix: str) -> str:
    """The systemd unit of the board's service under prefix."""
    d = board.deploy
    return render("percepnet-edge.service", board=board.name, user=d.user, prefix=prefix,
                  python=d.python)


def _git_short_hash() -> str:
    r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                       text=True)
    return r.stdout.strip() if r.returncode == 0 else "nogit"


def _package_files() -> dict[str, bytes]:
    files = {}
    for p in sorted(PACKAGE.rglob("*")):
        rel = p.relative_to(ROOT)
        if (p.is_file() and not _SKIP_DIRS & set(rel.parts) and p.suffix != ".pyc"
                and BOARD_PYLIB not in p.parents):
            files[rel.as_posix()] = p.read_bytes()
    return files


def contents(board: Board, build_dir: Path, prefix: str) -> dict[str, tuple[bytes, int]]:
    """Bundle members (name -> bytes, mode) from a finished build of the board."""
    from edge.native import elf_machine

    from edge.ladspa import MODEL_FILE, PLUGIN_FILE
    from edge.models import native_default
    from edge.pipewire.config import check_atten_lim, render as pipewire_conf

    lib, selftest, plugin = (build_dir / "libpercepnet.so", build_dir / "bin" / "pn_selftest",
                             build_dir / PLUGIN_FILE)
    if not plugin.is_file():
        raise EdgeError(f"{plugin} missing: the LADSPA plugin is built where ladspa.h is "
                        f"(apt-get install ladspa-sdk), then `scons -Q board={board.name}`")
    for p in (lib, selftest, plugin):
        if not p.is_file():
            raise EdgeError(f"{p} missing: build it with `scons -Q board={board.name}`")
        if elf_machine(p) != board.arch:
            raise EdgeError(f"{p} is built for {elf_machine(p)}, board {board.name} is {board.arch}: "
                            f"rebuild with `scons -Q board={board.name}`")
    d = board.deploy
    a = board.audio
    check_path(prefix, "the install prefix ([deploy].prefix or --prefix)")
    check_path(d.python, f"[deploy].python of {board.name}")
    check_atten_lim(d.atten_lim, "the attenuation limit (--atten-lim or [deploy].atten_lim)")
    if not EXAMPLE.is_file():
        raise EdgeError(f"{EXAMPLE} missing (edge bench on the board plays it)")
    files = {name: (data, 0o644) for name, data in _package_files().items()}
    model = native_default(d.weights)       # the service and the plugin run the same weights
    files["edge/models/default.pnw"] = (model, 0o644)
    files["pylib/alsaaudio.py"] = ((BOARD_PYLIB / "alsaaudio.py").read_bytes(), 0o644)
    files["examples/noisy.wav"] = (EXAMPLE.read_bytes(), 0o644)
    files["edge/_lib/libpercepnet.so"] = (lib.read_bytes(), 0o755)
    files["bin/pn_selftest"] = (selftest.read_bytes(), 0o755)
    files["bin/edge"] = (render("edge.sh", python=d.python).encode(), 0o755)
    files[f"boards/{board.name}.toml"] = (board.path.read_bytes(), 0o644)
    files["percepnet-edge.service"] = (unit_file(board, prefix).encode(), 0o644)
    files["service.env"] = (render("service.env", prefix=prefix, atten_lim=f"{d.atten_lim:g}").encode(),
                            0o644)
    files["asound.conf"] = (render(
        "asound.conf", board=board.name, capture=a.capture, playback=a.playback, rate=SAMPLE_RATE,
        channels=a.channels).encode(), 0o644)
    files[f"ladspa/{PLUGIN_FILE}"] = (plugin.read_bytes(), 0o755)
    files[f"ladspa/{MODEL_FILE}"] = (model, 0o644)
    files["pipewire/percepnet-edge.conf"] = (pipewire_conf(
        f"{prefix}/current/ladspa/{PLUGIN_FILE}", SAMPLE_RATE, d.atten_lim,
        written_by=f"edge flash --board {board.name}", echo_cancel=d.echo_cancel).encode(), 0o644)
    files["integration"] = (f"{d.integration}\n".encode(), 0o644)
    return files


def release_version(files: dict[str, tuple[bytes, int]]) -> str:
    """Package version, source commit and a hash of the exact contents."""
    h = hashlib.sha256()
    for name in sorted(files):
        data, mode = files[name]
        h.update(f"{name}\0{mode:o}\0{len(data)}\0".encode())
        h.update(data)
    return f"{__version__}-g{_git_short_hash()}-{h.hexdigest()[:10]}"


def write_bundle(board: Board, out: Path, prefix: str | None = None,
                 build_dir: Path | None = None) -> Bundle:
    """Build (unless build_dir is given) and write the board's bundle to out, into a folder
    that must exist (checked before anything is built; none is created)."""
    out = Path(out)
    if out.is_dir():
        raise EdgeError(f"{out} is a directory: give the bundle's file name (OUT.tar.gz)")
    if not out.parent.is_dir():
        raise EdgeError(f"{out.parent}: no such directory for the bundle")
    prefix = (prefix or board.deploy.prefix).rstrip("/")
    build_dir = build_dir or build_native(board)
    files = contents(board, build_dir, prefix)
    version = release_version(files)
    manifest = {"version": version, "board": board.name, "arch": board.arch, "prefix": prefix,
                "integration": board.deploy.integration, "weights": board.deploy.weights,
                "atten_lim": board.deploy.atten_lim, "echo_cancel": board.deploy.echo_cancel,
                "commit": _git_short_hash(),
                "files": {n: hashlib.sha256(files[n][0]).hexdigest() for n in sorted(files)}}
    files["RELEASE.json"] = (json.dumps(manifest, indent=1).encode(), 0o644)
    now = int(time.time())
    tmp = out.with_name(out.name + ".tmp")
    try:
        with tarfile.open(tmp, "w:gz") as tar:
            for name in sorted(files):
                data, mode = files[name]
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), mode, now
                info.uname = info.gname = "root"
                tar.addfile(info, io.BytesIO(data))
        tmp.replace(out)
    except OSError as e:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise EdgeError(f"cannot write the bundle {out}: {e.strerror}") from None
    data = out.read_bytes()
    return Bundle(path=out, version=version, sha256=hashlib.sha256(data).hexdigest(),
                  size=len(data), board=board.name, arch=board.arch, files=tuple(sorted(files)))
