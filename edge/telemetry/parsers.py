"""Text in, numbers out: one parser per telemetry format, no file or process access here.

Each takes the exact text a source produces (a sysfs file's content, a /proc file, the output
of a `vcgencmd` command) and raises ValueError when the text is not in that format.
"""
from __future__ import annotations

import re


def process_cpu_ticks(stat: str) -> int:
    """/proc/<pid>/stat -> utime + stime in clock ticks. The command name (field 2) may
    contain spaces and parentheses, so fields are counted after its last ')'."""
    rest = stat[stat.rindex(")") + 2:].split()
    # rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    return int(rest[11]) + int(rest[12])


def _cpu_lines(stat: str):
    """(name, [user, nice, system, idle, iowait, irq, softirq, steal] as far as present) for
    each `cpu` line of /proc/stat, the all-CPU line "cpu" first."""
    for line in stat.splitlines():
        if line.startswith("cpu"):
            name, *vals = line.split()
            yield name, [int(x) for x in vals[:8]]


def cpu_times(stat: str) -> dict[str, tuple[int, int]]:
    """/proc/stat -> {"cpu": (busy, total), "cpu0": ...} in clock ticks.
    Idle and iowait count as not busy; guest time is already inside user/nice."""
    out = {}
    for name, v in _cpu_lines(stat):
        if len(v) < 4:
            raise ValueError(f"/proc/stat line {name!r} too short: {len(v)} fields")
        total = sum(v)
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        out[name] = (total - idle, total)
    if "cpu" not in out:
        raise ValueError("no 'cpu' line in /proc/stat text")
    return out


def steal_ticks(stat: str) -> dict[str, int]:
    """/proc/stat -> {"cpu0": ticks, ...}: time the hypervisor ran something else while this
    CPU had work (field 8, `steal`; 0 on bare metal, absent before Linux 2.6.11)."""
    out = {name: v[7] if len(v) > 7 else 0 for name, v in _cpu_lines(stat) if name != "cpu"}
    if not out:
        raise ValueError("no per-CPU line in /proc/stat text")
    return out


def cpu_shares(before: dict, after: dict) -> dict[str, float]:
    """Busy fraction of each CPU line between two cpu_times() readings."""
    shares = {}
    for name, (busy1, total1) in after.items():
        if name not in before:
            continue
        busy0, total0 = before[name]
        dt = total1 - total0
        shares[name] = (busy1 - busy0) / dt if dt > 0 else 0.0
    return shares


def millidegrees_c(text: str) -> float:
    """thermal_zone*/temp ("48686\\n", millidegrees) -> degrees C."""
    return int(text.strip()) / 1000.0


def khz_to_mhz(text: str) -> float:
    """cpufreq scaling_cur_freq ("1500000\\n", kHz) -> MHz."""
    return int(text.strip()) / 1000.0


# vcgencmd get_throttled bits (Raspberry Pi firmware documentation).
THROTTLE_BITS = {
    0: "under_voltage",
    1: "arm_freq_capped",
    2: "throttled",
    3: "soft_temp_limit",
    16: "under_voltage_occurred",
    17: "arm_freq_capped_occurred",
    18: "throttled_occurred",
    19: "soft_temp_limit_occurred",
}


def throttled(text: str) -> dict:
    """`vcgencmd get_throttled` ("throttled=0x50005") -> {"raw": int, flag: bool, ...}."""
    m = re.search(r"throttled=(0x[0-9a-fA-F]+|\d+)", text)
    if not m:
        raise ValueError(f"not get_throttled output: {text.strip()!r}")
    raw = int(m.group(1), 0)
    flags = {name: bool(raw >> bit & 1) for bit, name in THROTTLE_BITS.items()}
    return {"raw": raw, **flags}


_PMIC_LINE = re.compile(r"^\s*(\S+)_([AV])\s+(?:current|volt)\(\d+\)=([-+0-9.eE]+)[AV]\s*$")


def pmic_rails(text: str) -> dict[str, dict[str, float]]:
    """`vcgencmd pmic_read_adc` (Pi 5) -> {"VDD_CORE": {"A": 0.76, "V": 0.88}, ...}."""
    rails: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        m = _PMIC_LINE.match(line)
        if m:
            rails.setdefault(m.group(1), {})[m.group(2)] = float(m.group(3))
    if not rails:
        raise ValueError(f"not pmic_read_adc output: {text.strip()[:80]!r}")
    return rails


def pmic_power_w(text: str) -> float:
    """Board power from the PMIC: sum of current x voltage over rails that report both
    (EXT5V and BATT report a voltage only)."""
    return sum(r["A"] * r["V"] for r in pmic_rails(text).values() if "A" in r and "V" in r)


def hwmon_power_w(power_uw: str | None = None, curr_ma: str | None = None,
                  bus_mv: str | None = None) -> float:
    """INA219/INA226 via hwmon: power1_input (uW), or curr1_input (mA) x in1_input (mV)."""
    if power_uw is not None:
        return int(power_uw.strip()) / 1e6
    if curr_ma is not None and bus_mv is not None:
        return int(curr_ma.strip()) * int(bus_mv.strip()) / 1e6
    raise ValueError("hwmon power needs power1_input, or curr1_input and in1_input")


def energy_delta_j(before_uj: str, after_uj: str, max_range_uj: str) -> float:
    """RAPL energy_uj counter difference in joules, across one wraparound at
    max_energy_range_uj."""
    e0, e1, top = int(before_uj.strip()), int(after_uj.strip()), int(max_range_uj.strip())
    d = e1 - e0
    if d < 0:
        d += top
    return d / 1e6
