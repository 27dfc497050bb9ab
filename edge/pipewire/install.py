"""`edge install-pipewire` as a library: copy the plugin and its model to a place of their own,
check that the copy loads and starts at the rate, write the filter-chain drop-in.

The copies are what PipeWire loads, not the build tree's files: a rebuild or `scons -c` while
the daemon has the plugin mapped changes nothing under it. The plugin and model are checked
together in a staging directory inside the prefix before either replaces the installed pair, and
every file is renamed into place: a failed install leaves the previous one working, and a running
daemon never sees half a file.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from edge.errors import EdgeError
from edge.ladspa import MODEL_FILE, PLUGIN_FILE, probe
from edge.pipewire.config import (CONF_NAME, DESCRIPTION, ECHO_SINK, ECHO_SINK_DESCRIPTION, NODE,
                                  check_rate, render)

ROOT = Path(__file__).resolve().parents[2]
# A release unpacked by `edge flash` keeps the plugin in ladspa/; the source tree in build/host/.
PLUGIN_CANDIDATES = (ROOT / "ladspa" / PLUGIN_FILE, ROOT / "build" / "host" / PLUGIN_FILE)
RESTART = "systemctl --user restart pipewire.service"   # wireplumber, bound to it, follows


@dataclass(frozen=True)
class Installed:
    conf: str              # the drop-in written
    plugin: str            # the plugin copy PipeWire loads
    model: str             # its model, beside it
    rate: int
    atten_lim: float
    latency_samples: int   # what the plugin's latency port reports at rate
    echo_cancel: bool = False
    node: str = NODE
    description: str = DESCRIPTION
    # with echo_cancel: the sink applications play to, the canceller's reference
    echo_sink: str | None = None
    echo_sink_description: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def default_prefix() -> Path:
    return Path.home() / ".local" / "lib" / "percepnet-edge"


def default_dest() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "pipewire" / "pipewire.conf.d"


def find_plugin(plugin: str | Path | None = None) -> Path:
    """The plugin to install: the one named, else a release's or the source tree's build."""
    if plugin is not None:
        if not Path(plugin).is_file():
            raise EdgeError(f"--plugin {plugin}: no such file")
        return Path(plugin)
    for p in PLUGIN_CANDIDATES:
        if p.is_file():
            return p
    raise EdgeError(f"no LADSPA plugin found (looked for {' and '.join(map(str, PLUGIN_CANDIDATES))}): "
                    f"build it with `scons` (it needs ladspa.h: apt-get install ladspa-sdk) "
                    f"or give --plugin PATH")


def find_model(plugin: Path, model: str | Path | None = None) -> Path:
    """The model to install beside the plugin: the one named, else the one beside the plugin
    (as scons and a release lay them out), else the shipped model."""
    from edge.models import shipped

    if model is not None:
        if not Path(model).is_file():
            raise EdgeError(f"--model {model}: no such file")
        return Path(model)
    for p in (plugin.parent / MODEL_FILE, shipped()):
        if p is not None and p.is_file():
            return p
    raise EdgeError(f"no model for the plugin: {plugin.parent / MODEL_FILE} is missing and this "
                    f"package ships none: give --model PATH.pnw")


def _replace(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(mode)
    tmp.replace(path)


def install(plugin: str | Path | None = None, model: str | Path | None = None,
            prefix: str | Path | None = None, dest: str | Path | None = None, rate: int = 48000,
            atten_lim: float = 0.0, capture: str | None = None, echo_cancel: bool = False) -> Installed:
    src = find_plugin(plugin)
    src_model = find_model(src, model)
    prefix = Path(prefix or default_prefix()).absolute()
    dest = Path(dest or default_dest()).absolute()
    render(str(prefix / PLUGIN_FILE), check_rate(rate), atten_lim, capture,
           echo_cancel=echo_cancel)  # refuses bad values first
    for d, what in ((prefix, "--prefix"), (dest, "--dest")):
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise EdgeError(f"{what} {d}: cannot create it ({e.strerror})") from None
    plugin_dst, model_dst = prefix / PLUGIN_FILE, prefix / MODEL_FILE
    stage = Path(tempfile.mkdtemp(prefix=".staging-", dir=prefix))
    try:
        shutil.copyfile(src, stage / PLUGIN_FILE)
        shutil.copyfile(src_model, stage / MODEL_FILE)
        (stage / PLUGIN_FILE).chmod(0o755)
        (stage / MODEL_FILE).chmod(0o644)
        report = probe(stage / PLUGIN_FILE, rate)     # as PipeWire will: no $PERCEPNET_MODEL
        (stage / MODEL_FILE).replace(model_dst)
        (stage / PLUGIN_FILE).replace(plugin_dst)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    conf = dest / CONF_NAME
    _replace(conf, render(str(plugin_dst), rate, atten_lim, capture, echo_cancel=echo_cancel).encode(), 0o644)
    return Installed(conf=str(conf), plugin=str(plugin_dst), model=str(model_dst), rate=rate,
                     atten_lim=atten_lim, latency_samples=report["latency"], echo_cancel=echo_cancel,
                     echo_sink=ECHO_SINK if echo_cancel else None,
                     echo_sink_description=ECHO_SINK_DESCRIPTION if echo_cancel else None)


def remove(prefix: str | Path | None = None, dest: str | Path | None = None) -> list[str]:
    """Delete the drop-in and the plugin's copies; the paths removed."""
    prefix = Path(prefix or default_prefix())
    dest = Path(dest or default_dest())
    gone = []
    for p in (dest / CONF_NAME, prefix / PLUGIN_FILE, prefix / MODEL_FILE):
        if p.is_file():
            p.unlink()
            gone.append(str(p))
    if prefix.is_dir() and not any(prefix.iterdir()):
        prefix.rmdir()
    return gone

