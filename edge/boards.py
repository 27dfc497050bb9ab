"""Board descriptors: boards/<name>.toml read into a validated Board.

Board knowledge is data: the SConstruct, the flash tool and the supervisor all read it here.
Every field is checked on load, so a typo or a missing value is reported with the file and
the field's name instead of surfacing later on a board.
"""
from __future__ import annotations

import platform
import re
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

from edge.errors import EdgeError
from edge.kernel import ATTEN_MAX_DB
from edge.model.pnw import WEIGHT_BITS

BOARDS_DIR = Path(__file__).resolve().parent.parent / "boards"

# What `simd = "auto"` means on the machine doing the build.
_AUTO_SIMD = {"x86_64": ["avx2", "avxvnni"], "aarch64": ["neon"]}
KNOWN_SIMD = ("avx2", "avxvnni", "neon", "dotprod")
POWER_SOURCES = ("pmic", "hwmon", "rapl", "none")
# What `edge flash` installs: the ALSA service (`edge run` under systemd, owning the sound card)
# or the PipeWire filter (the LADSPA plugin in the deploy user's PipeWire, a "Denoised
# microphone" source beside the card PipeWire owns).
INTEGRATIONS = ("alsa", "pipewire")


class BoardError(EdgeError, ValueError):
    """A board that does not exist or whose descriptor is invalid."""


@dataclass(frozen=True)
class Audio:
    capture: str          # ALSA PCM names `edge run` opens
    playback: str
    channels: int         # channels opened on both devices
    capture_channel: int  # which captured channel is processed
    periods: int          # ALSA buffer = periods x one 10 ms period


@dataclass(frozen=True)
class Telemetry:
    thermal_zone: str     # sysfs file in millidegrees C, "" when none
    cpufreq: str          # sysfs file in kHz, "" when none
    vcgencmd: bool        # `vcgencmd get_throttled` works (Raspberry Pi firmware)
    power: str            # one of POWER_SOURCES


@dataclass(frozen=True)
class Deploy:
    user: str             # SSH login when --host has no user@
    prefix: str           # releases/, current, previous live here
    service: str          # systemd unit name, without .service
    python: str           # interpreter that runs the bundled package on the board
    systemctl: str        # the systemctl to call (a path lets tests stand one in)
    unit_dir: str         # where the unit file is installed
    health_timeout_s: float
    integration: str      # one of INTEGRATIONS: what `edge flash` installs by default
    pipewire_conf_dir: str  # the user's PipeWire drop-in directory ("~/" is the user's home)
    weights: str          # a key of WEIGHT_BITS: the encoding of the default model `edge flash` installs
    atten_lim: float = 0.0  # dB the service and the filter remove at most per band (0: no limit)
    echo_cancel: bool = False  # the PipeWire filter has PipeWire's echo canceller ahead of it


@dataclass(frozen=True)
class Estimate:
    """What `edge bench --estimate` needs to turn instruction counts into time on the board."""
    mca_cpu: str                   # llvm-mca -mcpu scheduling model for the board's core
    clock_ghz: float | None        # core clock; None: this machine's, from /proc/cpuinfo
    dram_read_gbps: float | None   # one core streaming reads from DRAM; None: no memory bound
    cache_bytes: int               # weights up to this size stream from cache (0: never)
    cache_read_gbps: float | None  # one core streaming reads from that cache
    sources: tuple[str, ...]       # where the figures come from


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
    audio: Audio
    telemetry: Telemetry
    deploy: Deploy
    estimate: Estimate | None = None  # [estimate], optional

    def qemu_command(self) -> list[str]:
        """The prefix that runs a program of the board's build on this machine ([] when the
        build is this machine's own): its qemu-user with the board's CPU, and the libc that
        Debian's cross toolchain packages install under /usr/<triple>."""
        return [self.qemu, "-cpu", self.qemu_cpu, "-L", f"/usr/{self.toolchain}"] if self.qemu else []

    def summary(self) -> dict:
        """JSON-ready view for `edge boards --json`."""
        return {"name": self.name, "description": self.description, "arch": self.arch,
                "toolchain": self.toolchain, "cflags": list(self.cflags), "simd": list(self.simd),
                "qemu": self.qemu, "qemu_cpu": self.qemu_cpu, "path": str(self.path),
                "audio": asdict(self.audio), "telemetry": asdict(self.telemetry),
                "deploy": asdict(self.deploy),
                "estimate": asdict(self.estimate) if self.estimate else None}


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")


def _positive(v) -> str | None:
    return None if v > 0 else "above 0"


def _abs_or_empty(v) -> str | None:
    return None if v == "" or v.startswith("/") else "an absolute path or \"\""


# Schema: section -> key -> (type, check returning a problem or None, default or _REQUIRED).
_REQUIRED = object()
_SCHEMA = {
    "cpu": {
        "arch": (str, lambda v: None if v else "non-empty", _REQUIRED),
        "toolchain": (str, None, _REQUIRED),
        "cflags": (list, lambda v: None if all(isinstance(s, str) for s in v) else "a list of strings",
                   _REQUIRED),
        "simd": ((list, str), None, _REQUIRED),
        "qemu": (str, None, ""),
        "qemu_cpu": (str, None, ""),
    },
    "audio": {
        "capture": (str, lambda v: None if v else "a non-empty ALSA PCM name", _REQUIRED),
        "playback": (str, lambda v: None if v else "a non-empty ALSA PCM name", _REQUIRED),
        "channels": (int, lambda v: None if 1 <= v <= 32 else "between 1 and 32", _REQUIRED),
        "capture_channel": (int, None, _REQUIRED),
        "periods": (int, lambda v: None if 2 <= v <= 32 else "between 2 and 32", _REQUIRED),
    },
    "telemetry": {
        "thermal_zone": (str, _abs_or_empty, _REQUIRED),
        "cpufreq": (str, _abs_or_empty, _REQUIRED),
        "vcgencmd": (bool, None, _REQUIRED),
        "power": (str, lambda v: None if v in POWER_SOURCES else "one of " + ", ".join(POWER_SOURCES),
                  _REQUIRED),
    },
    "deploy": {
        "user": (str, lambda v: None if _NAME.match(v) else "a user name", _REQUIRED),
        "prefix": (str, lambda v: None if v.startswith("/") and v.rstrip("/") else
                   "an absolute path other than /", _REQUIRED),
        "service": (str, lambda v: None if _NAME.match(v) else "a systemd unit name", _REQUIRED),
        "python": (str, lambda v: None if v else "non-empty", _REQUIRED),
        "systemctl": (str, lambda v: None if v else "non-empty", "systemctl"),
        "unit_dir": (str, lambda v: None if v.startswith("/") else "an absolute path",
                     "/etc/systemd/system"),
        "health_timeout_s": ((int, float), lambda v: None if 0 < v <= 600 else "between 0 and 600 s",
                             30),
        "integration": (str, lambda v: None if v in INTEGRATIONS else
                        "\"alsa\" (the edge run service on the ALSA devices) or \"pipewire\" (the "
                        "filter-chain source in the user's PipeWire)", _REQUIRED),
        "pipewire_conf_dir": (str, lambda v: None if v.startswith(("/", "~/")) and v.strip("/~") else
                              "an absolute path or one starting with ~/ (the user's home)",
                              "~/.config/pipewire/pipewire.conf.d"),
        "weights": (str, lambda v: None if v in WEIGHT_BITS else " or ".join(f'"{w}"' for w in WEIGHT_BITS),
                    "int8"),
        "atten_lim": ((int, float), lambda v: None if 0 <= v <= ATTEN_MAX_DB else
                      f"between 0 (no limit) and {ATTEN_MAX_DB:g} dB", 0.0),
        "echo_cancel": (bool, lambda v: None, False),
    },
    "estimate": {
        "mca_cpu": (str, lambda v: None if v else "an llvm-mca -mcpu name", _REQUIRED),
        "clock_ghz": ((int, float), lambda v: None if 0 < v <= 10 else "between 0 and 10 GHz", None),
        "dram_read_gbps": ((int, float), _positive, None),
        "cache_bytes": (int, lambda v: None if v >= 0 else "0 or more", 0),
        "cache_read_gbps": ((int, float), _positive, None),
        "sources": (list, lambda v: None if all(isinstance(s, str) for s in v) else "a list of strings",
                    []),
    },
}
_TOP = {"name": str, "description": str}
_MISSING_HINT = {("deploy", "integration"): "what edge flash installs: \"alsa\" or \"pipewire\""}


def _type_name(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             list: "a list"}
    return " or ".join(names[k] for k in kinds)


def _section(data: dict, path: Path, section: str) -> dict:
    """The section's values with defaults filled in, every field checked."""
    table = data.get(section)
    if table is None:
        raise BoardError(f"{path}: missing section [{section}]")
    if not isinstance(table, dict):
        raise BoardError(f"{path}: [{section}] must be a table")
    schema = _SCHEMA[section]
    for key in table:
        if key not in schema:
            raise BoardError(f"{path}: unknown field [{section}].{key} "
                             f"(known: {', '.join(schema)})")
    out = {}
    for key, (kind, check, default) in schema.items():
        if key not in table:
            if default is _REQUIRED:
                hint = _MISSING_HINT.get((section, key))
                raise BoardError(f"{path}: missing field [{section}].{key}" + (f" ({hint})" if hint else ""))
            out[key] = default
            continue
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # bool is an int in Python: only accept it where bool is asked for.
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise BoardError(f"{path}: field [{section}].{key} must be {_type_name(kind)}, "
                             f"got {value!r}")
        problem = check(value) if check else None
        if problem:
            raise BoardError(f"{path}: field [{section}].{key} must be {problem}, got {value!r}")
        out[key] = value
    return out


def board_names(boards_dir: Path | None = None) -> list[str]:
    boards_dir = boards_dir or BOARDS_DIR
    return sorted(p.stem for p in boards_dir.glob("*.toml"))


def load_board(name: str, boards_dir: Path | None = None) -> Board:
    boards_dir = boards_dir or BOARDS_DIR
    path = boards_dir / f"{name}.toml"
    if not path.is_file():
        raise BoardError(f"unknown board '{name}' (known: {', '.join(board_names(boards_dir))})")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise BoardError(f"{path}: not valid TOML: {e}") from None
    for key, value in data.items():
        if key in _SCHEMA:
            continue
        if key not in _TOP:
            raise BoardError(f"{path}: unknown field {key} "
                             f"(known: {', '.join(list(_TOP) + [f'[{s}]' for s in _SCHEMA])})")
        if not isinstance(value, _TOP[key]):
            raise BoardError(f"{path}: field {key} must be a string, got {value!r}")
    if data.get("name", name) != name:
        raise BoardError(f"{path}: field name is {data['name']!r} but the file is {name}.toml")

    cpu = _section(data, path, "cpu")
    arch = cpu["arch"]
    if arch == "native":
        arch = platform.machine()
    simd = cpu["simd"]
    if simd == "auto":
        simd = _AUTO_SIMD.get(arch, [])
    if not isinstance(simd, list) or not all(isinstance(s, str) for s in simd):
        raise BoardError(f"{path}: field [cpu].simd must be a list of strings or \"auto\"")
    unknown = [s for s in simd if s not in KNOWN_SIMD]
    if unknown:
        raise BoardError(f"{path}: field [cpu].simd has unknown ISA {unknown[0]!r} "
                         f"(known: {', '.join(KNOWN_SIMD)})")
    if cpu["toolchain"] and not cpu["qemu"]:
        raise BoardError(f"{path}: missing field [cpu].qemu (a cross-built board needs the "
                         f"qemu-user binary that runs its programs)")

    audio = _section(data, path, "audio")
    if not 0 <= audio["capture_channel"] < audio["channels"]:
        raise BoardError(f"{path}: field [audio].capture_channel must be between 0 and "
                         f"channels-1 ({audio['channels'] - 1}), got {audio['capture_channel']}")
    deploy = _section(data, path, "deploy")
    deploy["prefix"] = deploy["prefix"].rstrip("/")
    deploy["health_timeout_s"] = float(deploy["health_timeout_s"])
    deploy["atten_lim"] = float(deploy["atten_lim"])
    estimate = None
    if "estimate" in data:
        est = _section(data, path, "estimate")
        if est["cache_bytes"] and est["cache_read_gbps"] is None:
            raise BoardError(f"{path}: missing field [estimate].cache_read_gbps "
                             f"(cache_bytes is {est['cache_bytes']})")
        estimate = Estimate(**{**est, "sources": tuple(est["sources"])})
    return Board(
        name=name,
        description=data.get("description", ""),
        arch=arch,
        toolchain=cpu["toolchain"],
        cflags=tuple(cpu["cflags"]),
        simd=tuple(simd),
        qemu=cpu["qemu"],
        qemu_cpu=cpu["qemu_cpu"],
        path=path,
        raw=data,
        audio=Audio(**audio),
        telemetry=Telemetry(**_section(data, path, "telemetry")),
        deploy=Deploy(**deploy),
        estimate=estimate,
    )


def load_boards(boards_dir: Path | None = None) -> list[Board]:
    boards_dir = boards_dir or BOARDS_DIR
    return [load_board(n, boards_dir) for n in board_names(boards_dir)]
