"""Where telemetry comes from: the real files and commands, found once at start.

Everything is read under `root` (default "/") and commands go through `run`, so tests point
both at recorded outputs. A source that is absent, unreadable or answers in an unexpected
format is skipped and named in `skipped`; it never stops the audio.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

from edge.telemetry import parsers

_log = logging.getLogger("edge.telemetry")

HWMON_CHIPS = ("ina219", "ina226", "ina209", "ina230", "ina231", "ina238")


def run_command(args: list[str]) -> str | None:
    """A command's stdout, or None when it is missing, fails or hangs."""
    if shutil.which(args[0]) is None:
        return None
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=2.0)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout if r.returncode == 0 else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


class Sources:
    """Detects the sources at construction; sample() reads them all once."""

    def __init__(self, root: str | Path = "/", *, thermal_zone: str = "", cpufreq: str = "",
                 vcgencmd: bool | None = None, power: str | None = None, run=run_command,
                 clock=time.monotonic):
        self.root = Path(root)
        self.run = run
        self.clock = clock
        self.skipped: dict[str, str] = {}
        self._proc_self = self._at("/proc/self/stat")
        self._proc_stat = self._at("/proc/stat")
        self._tick = os.sysconf("SC_CLK_TCK")
        self._thermal = self._find_file("temperature", thermal_zone,
                                        "sys/class/thermal/thermal_zone*/temp", parsers.millidegrees_c)
        self._cpufreq = self._find_file("clock", cpufreq,
                                        "sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq",
                                        parsers.khz_to_mhz)
        use_vc = vcgencmd if vcgencmd is not None else shutil.which("vcgencmd") is not None
        self._throttle = use_vc and self._probe_cmd("throttling", ["vcgencmd", "get_throttled"],
                                                    parsers.throttled)
        if not use_vc:
            self.skipped["throttling"] = "no vcgencmd (not Raspberry Pi firmware)"
        self._hwmon_dir: Path | None = None
        self._rapl_zones: list[Path] = []
        self.power_source = self._find_power(power)
        self._prev: dict | None = None

    # -- detection ---------------------------------------------------------------------------
    def _at(self, abs_path: str) -> Path:
        return self.root / abs_path.lstrip("/")

    def _find_file(self, what: str, configured: str, pattern: str, parse) -> Path | None:
        candidates = [self._at(configured)] if configured else sorted(self.root.glob(pattern))
        for p in candidates:
            text = _read(p)
            if text is None:
                continue
            try:
                parse(text)
                return p
            except ValueError:
                continue
        self.skipped[what] = f"no readable {configured or '/' + pattern}"
        return None

    def _probe_cmd(self, what: str, args: list[str], parse) -> bool:
        out = self.run(args)
        try:
            if out is not None:
                parse(out)
                return True
        except ValueError:
            pass
        self.skipped[what] = f"`{' '.join(args)}` gave no usable output"
        return False

    def _hwmon(self) -> Path | None:
        for name_file in sorted(self.root.glob("sys/class/hwmon/hwmon*/name")):
            if (_read(name_file) or "").strip() in HWMON_CHIPS:
                d = name_file.parent
                if (d / "power1_input").exists() or (d / "curr1_input").exists():
                    return d
        return None

    def _rapl(self) -> list[Path]:
        zones = [p for p in sorted(self.root.glob("sys/class/powercap/intel-rapl:*"))
                 if re.fullmatch(r"intel-rapl:\d+", p.name)]      # packages, not subzones
        return [z for z in zones if _read(z / "energy_uj") is not None
                and _read(z / "max_energy_range_uj") is not None]

    def _find_power(self, wanted: str | None) -> str | None:
        order = [wanted] if wanted else ["pmic", "hwmon", "rapl"]
        if wanted == "none":
            self.skipped["power"] = "the board has no power source"
            return None
        for kind in order:
            if kind == "pmic" and self._probe_cmd("power", ["vcgencmd", "pmic_read_adc"],
                                                  parsers.pmic_rails):
                self.skipped.pop("power", None)
                return "pmic"
            if kind == "hwmon":
                self._hwmon_dir = self._hwmon()
                if self._hwmon_dir:
                    return "hwmon"
            if kind == "rapl":
                self._rapl_zones = self._rapl()
                if self._rapl_zones:
                    return "rapl"
        self.skipped["power"] = f"no {' / '.join(order)} power source found"
        return None

    # -- reading -----------------------------------------------------------------------------
    def _raw(self) -> dict:
        raw = {"t": self.clock(), "self": _read(self._proc_self), "stat": _read(self._proc_stat)}
        if self.power_source == "rapl":
            raw["energy"] = [(_read(z / "energy_uj"), _read(z / "max_energy_range_uj"))
                             for z in self._rapl_zones]
        return raw

    def _power_now(self, raw: dict, prev: dict | None) -> float | None:
        if self.power_source == "pmic":
            out = self.run(["vcgencmd", "pmic_read_adc"])
            return parsers.pmic_power_w(out) if out else None
        if self.power_source == "hwmon":
            d = self._hwmon_dir
            return parsers.hwmon_power_w(_read(d / "power1_input"), _read(d / "curr1_input"),
                                         _read(d / "in1_input"))
        if self.power_source == "rapl" and prev is not None:
            dt = raw["t"] - prev["t"]
            joules = sum(parsers.energy_delta_j(e0, e1, top) for (e0, _), (e1, top)
                         in zip(prev["energy"], raw["energy"]) if e0 and e1 and top)
            return joules / dt if dt > 0 else None
        return None

    def _cpu(self, raw: dict, prev: dict, snap: dict) -> None:
        if raw["self"] and prev["self"] and raw["t"] > prev["t"]:
            ticks = parsers.process_cpu_ticks(raw["self"]) - parsers.process_cpu_ticks(prev["self"])
            snap["process_cpu"] = ticks / self._tick / (raw["t"] - prev["t"])
        if raw["stat"] and prev["stat"]:
            shares = parsers.cpu_shares(parsers.cpu_times(prev["stat"]), parsers.cpu_times(raw["stat"]))
            snap["cpu_total"] = shares.pop("cpu", None)
            snap["cpu_cores"] = shares

    def sample(self) -> dict:
        """One reading of every detected source. CPU shares and RAPL power are averages
        since the previous sample (None on the first)."""
        raw = self._raw()
        prev, self._prev = self._prev, raw
        snap: dict = {"process_cpu": None, "cpu_cores": None, "cpu_total": None,
                      "temp_c": None, "clock_mhz": None, "throttled": None,
                      "power_w": None, "power_source": self.power_source}
        if prev is not None:
            try:
                self._cpu(raw, prev, snap)
            except (ValueError, IndexError):
                pass
        readers = (
            ("temp_c", self._thermal, lambda: parsers.millidegrees_c(_read(self._thermal) or "")),
            ("clock_mhz", self._cpufreq, lambda: parsers.khz_to_mhz(_read(self._cpufreq) or "")),
            ("throttled", self._throttle,
             lambda: parsers.throttled(self.run(["vcgencmd", "get_throttled"]) or "")),
            ("power_w", self.power_source, lambda: self._power_now(raw, prev)),
        )
        for key, enabled, read in readers:
            if enabled:
                try:
                    snap[key] = read()
                except ValueError:
                    pass  # one source answering oddly loses its value, not the others'
        return snap


def for_board(board, **kwargs) -> Sources:
    """Sources as the board descriptor's [telemetry] section names them."""
    t = board.telemetry
    return Sources(thermal_zone=t.thermal_zone, cpufreq=t.cpufreq, vcgencmd=t.vcgencmd,
                   power=t.power, **kwargs)


class Sampler(threading.Thread):
    """Calls `sample()` every `interval` s off the audio thread and hands each snapshot to
    `sink` (exporters, a bench accumulator). Whatever either raises is logged (each distinct
    message once, through `warn`), counted in `errors`, and sampling goes on."""

    def __init__(self, sample, sink, interval: float = 1.0, warn=None):
        super().__init__(name="telemetry", daemon=True)
        self.sample, self.sink, self.interval = sample, sink, interval
        self.warn = warn or (lambda msg: _log.warning("%s", msg))
        self.errors = 0
        self.last_error = ""
        self._said: set[str] = set()
        self._stop_evt = threading.Event()

    def run(self) -> None:
        while not self._stop_evt.wait(self.interval):
            try:
                self.sink(self.sample())
            except Exception as e:  # noqa: BLE001 - telemetry never dies silently nor stops
                self.errors += 1
                self.last_error = f"{type(e).__name__}: {e}"
                if self.last_error not in self._said and len(self._said) < 100:
                    self._said.add(self.last_error)
                    try:
                        self.warn(f"warning: telemetry sample failed ({self.last_error}); "
                                  f"sampling goes on")
                    except Exception:  # noqa: BLE001 - a broken log must not stop sampling
                        pass

    def stop(self) -> None:
        self._stop_evt.set()
        self.join()
