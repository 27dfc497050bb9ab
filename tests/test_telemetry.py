"""Telemetry parsers on recorded outputs of real sources, source detection on fixture trees
laid out like the real /proc and /sys, and the exporters."""
import json
import os
import shutil
from pathlib import Path

import pytest

from edge.telemetry import parsers, sinks
from edge.telemetry.sources import Sources

FIX = Path(__file__).resolve().parent / "fixtures" / "telemetry"


def text(rel: str) -> str:
    return (FIX / rel).read_text()


def fake_vcgencmd(board_dir: Path):
    """Answers `vcgencmd <sub>` with the recorded output of that board, None when absent."""
    def run(args):
        assert args[0] == "vcgencmd"
        f = board_dir / "vcgencmd" / args[1]
        return f.read_text() if f.exists() else None
    return run


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


# --- parsers ----------------------------------------------------------------------------------

def test_process_cpu_ticks_handles_command_names_with_spaces():
    assert parsers.process_cpu_ticks(text("pi4/proc/self/stat")) == 1532 + 211


def test_cpu_shares_from_two_proc_stat_readings():
    a = parsers.cpu_times(text("pi4/proc/stat"))
    b = parsers.cpu_times(text("pi4/later/proc_stat"))
    assert set(a) == {"cpu", "cpu0", "cpu1", "cpu2", "cpu3"}
    shares = parsers.cpu_shares(a, b)
    # cpu0: busy +110 ticks of +140 (idle 423198->423228, iowait unchanged)
    assert shares["cpu0"] == pytest.approx(110 / 140)
    assert shares["cpu"] == pytest.approx(170 / 470)


def test_proc_stat_without_cpu_line_is_refused():
    with pytest.raises(ValueError):
        parsers.cpu_times("intr 1 2 3\nctxt 5\n")


def test_thermal_and_cpufreq_units():
    assert parsers.millidegrees_c(text("pi4/sys/class/thermal/thermal_zone0/temp")) == 52.582
    assert parsers.khz_to_mhz(text("pi5/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")) == 2400.0


def test_get_throttled_decodes_pi4_undervoltage_flags():
    t = parsers.throttled(text("pi4/vcgencmd/get_throttled"))       # 0x50005
    assert t["raw"] == 0x50005
    assert t["under_voltage"] and t["throttled"]
    assert t["under_voltage_occurred"] and t["throttled_occurred"]
    assert not t["arm_freq_capped"] and not t["soft_temp_limit"]
    assert not t["arm_freq_capped_occurred"] and not t["soft_temp_limit_occurred"]


def test_get_throttled_all_clear_on_pi5():
    t = parsers.throttled(text("pi5/vcgencmd/get_throttled"))
    assert t["raw"] == 0 and not any(v for k, v in t.items() if k != "raw")


def test_pmic_power_sums_current_times_voltage_over_paired_rails():
    rails = parsers.pmic_rails(text("pi5/vcgencmd/pmic_read_adc"))
    assert rails["VDD_CORE"] == {"A": 1.6405, "V": 0.878464}
    assert rails["EXT5V"] == {"V": 5.12368}                        # no current: not summed
    expected = sum(r["A"] * r["V"] for r in rails.values() if len(r) == 2)
    assert len([r for r in rails.values() if len(r) == 2]) == 12
    assert parsers.pmic_power_w(text("pi5/vcgencmd/pmic_read_adc")) == pytest.approx(expected)
    assert 2.0 < expected < 4.0                                    # an idle Pi 5 is ~3 W


def test_pmic_output_of_a_pi4_is_refused():
    with pytest.raises(ValueError):
        parsers.pmic_rails(text("pi4/vcgencmd/pmic_read_adc"))


def test_hwmon_power_prefers_power1_input_and_falls_back_to_current_times_voltage():
    d = "pi4/sys/class/hwmon/hwmon2/"
    assert parsers.hwmon_power_w(text(d + "power1_input")) == pytest.approx(3.112)
    d = "ina226/sys/class/hwmon/hwmon3/"
    assert parsers.hwmon_power_w(None, text(d + "curr1_input"), text(d + "in1_input")) == \
        pytest.approx(1.250 * 12.016)
    with pytest.raises(ValueError):
        parsers.hwmon_power_w(None, "12\n", None)


def test_rapl_energy_delta_wraps_at_max_energy_range():
    top = text("x86/sys/class/powercap/intel-rapl:0/max_energy_range_uj")
    before = text("x86/sys/class/powercap/intel-rapl:0/energy_uj")
    after = text("x86/later/energy_uj")
    assert parsers.energy_delta_j(before, after, top) == pytest.approx(
        (262143328850 - 262143100000 + 64900000) / 1e6)
    assert parsers.energy_delta_j("1000000", "3500000", top) == pytest.approx(2.5)


# --- sources ----------------------------------------------------------------------------------

def test_pi5_sources_detect_pmic_throttle_thermal_and_clock():
    s = Sources(FIX / "pi5", run=fake_vcgencmd(FIX / "pi5"), vcgencmd=True)
    assert s.power_source == "pmic"
    snap = s.sample()
    assert snap["temp_c"] == 61.25 and snap["clock_mhz"] == 2400.0
    assert snap["throttled"]["raw"] == 0
    assert snap["power_w"] == pytest.approx(parsers.pmic_power_w(text("pi5/vcgencmd/pmic_read_adc")))
    assert snap["process_cpu"] is None            # needs a previous sample


def test_pi4_falls_back_from_pmic_to_ina219_skipping_other_hwmon_chips():
    s = Sources(FIX / "pi4", run=fake_vcgencmd(FIX / "pi4"), vcgencmd=True)
    assert s.power_source == "hwmon"
    assert s.sample()["power_w"] == pytest.approx(3.112)
    assert s.sample()["throttled"]["under_voltage"]


def test_board_that_names_pmic_without_one_reports_no_power_and_says_why():
    s = Sources(FIX / "pi4", run=fake_vcgencmd(FIX / "pi4"), vcgencmd=True, power="pmic")
    assert s.power_source is None and "power" in s.skipped
    assert s.sample()["power_w"] is None


def test_absent_sources_are_skipped_cleanly(tmp_path):
    s = Sources(tmp_path, run=lambda args: None, vcgencmd=None)
    snap = s.sample()
    snap2 = s.sample()
    assert s.power_source is None
    assert {"temperature", "clock", "power"} <= set(s.skipped)
    assert all(snap2[k] is None for k in ("temp_c", "clock_mhz", "power_w", "process_cpu"))
    assert snap["power_source"] is None


def test_cpu_and_rapl_power_are_averages_between_samples(tmp_path):
    root = tmp_path / "root"
    shutil.copytree(FIX / "x86", root)
    shutil.copytree(FIX / "pi4" / "proc", root / "proc", dirs_exist_ok=True)
    clock = Clock()
    s = Sources(root, run=lambda args: None, vcgencmd=False, clock=clock)
    assert s.power_source == "rapl"                 # the package zone, not its core subzone
    s.sample()
    clock.t += 5.0
    (root / "sys/class/powercap/intel-rapl:0/energy_uj").write_text(text("x86/later/energy_uj"))
    (root / "proc/self/stat").write_text(text("pi4/later/proc_self_stat"))
    (root / "proc/stat").write_text(text("pi4/later/proc_stat"))
    snap = s.sample()
    assert snap["power_w"] == pytest.approx(65.12885 / 5.0)
    assert snap["process_cpu"] == pytest.approx(70 / os.sysconf("SC_CLK_TCK") / 5.0)
    assert snap["cpu_cores"]["cpu0"] == pytest.approx(110 / 140)
    assert snap["temp_c"] == 47.0


def test_a_source_that_turns_garbled_loses_only_its_own_value(tmp_path):
    root = tmp_path / "root"
    shutil.copytree(FIX / "pi5", root)
    s = Sources(root, run=fake_vcgencmd(root), vcgencmd=True)
    (root / "sys/class/thermal/thermal_zone0/temp").write_text("garbage\n")
    snap = s.sample()
    assert snap["temp_c"] is None and snap["clock_mhz"] == 2400.0 and snap["power_w"] > 0


# --- exporters --------------------------------------------------------------------------------

RECORD = {"frames": 500, "frame_us": {"p50": 212.0, "p99": 480.0, "max": 1210.0, "mean": 230.5},
          "deadline_misses": 2, "xruns": 1, "kernel_errors": 0, "kernel_hung": 1,
          "kernel_stuck": True, "bypass_frames": 0, "bypassing": False, "process_cpu": 0.031, "cpu_cores": {"cpu0": 0.2, "cpu1": 0.1},
          "temp_c": 52.582, "clock_mhz": 1800.0,
          "throttled": parsers.throttled("throttled=0x50005"), "power_w": 3.112,
          "power_source": "hwmon"}


def test_prometheus_textfile_is_valid_exposition_format(tmp_path):
    path = tmp_path / "edge.prom"
    sinks.write_prometheus(path, RECORD)
    lines = path.read_text().splitlines()
    samples = {}
    for line in lines:
        if line.startswith("#"):
            assert line.split()[1] in ("HELP", "TYPE")
            continue
        name, value = line.rsplit(" ", 1)
        samples[name] = float(value)
    assert samples['edge_frame_seconds{quantile="0.99"}'] == pytest.approx(480e-6)
    assert samples["edge_frame_seconds_count"] == 500
    assert samples["edge_frame_seconds_sum"] == pytest.approx(500 * 230.5e-6)
    assert samples["edge_deadline_misses_total"] == 2
    assert samples["edge_kernel_hung_total"] == 1 and samples["edge_kernel_stuck"] == 1
    assert samples['edge_throttled{flag="under_voltage"}'] == 1
    assert samples['edge_throttled{flag="soft_temp_limit"}'] == 0
    assert samples['edge_power_watts{source="hwmon"}'] == pytest.approx(3.112)
    assert samples['edge_cpu_busy_ratio{cpu="cpu1"}'] == pytest.approx(0.1)
    assert list(tmp_path.iterdir()) == [path]               # no temp file left behind


def test_prometheus_leaves_out_absent_values():
    t = sinks.prometheus_text({"frames": 3, "power_w": None, "temp_c": None})
    assert "edge_frames_total 3.0" in t
    assert "power" not in t and "temperature" not in t


def test_jsonl_appends_one_object_per_record(tmp_path):
    path = tmp_path / "t.jsonl"
    j = sinks.JsonLines(path)
    j.write(RECORD)
    j.write({**RECORD, "frames": 600})
    j.close()
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["frames"] for r in rows] == [500, 600] and "time" in rows[0]


def test_jsonl_rotates_at_its_size_cap_and_keeps_n_files(tmp_path):
    path = tmp_path / "t.jsonl"
    j = sinks.JsonLines(path, max_bytes=2000, keep=2)
    for i in range(200):
        j.write({**RECORD, "frames": i})
    j.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["t.jsonl", "t.jsonl.1", "t.jsonl.2"]
    assert all((tmp_path / f).stat().st_size <= 2000 for f in files)
    frames = [json.loads(line)["frames"]
              for f in ("t.jsonl.2", "t.jsonl.1", "t.jsonl") for line in (tmp_path / f).read_text().splitlines()]
    assert frames[-1] == 199 and frames == list(range(frames[0], 200))   # newest, in order, no gap
    assert j.rotations > 2


def test_jsonl_rotation_counts_what_the_file_already_holds(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text("x" * 1900 + "\n")
    j = sinks.JsonLines(path, max_bytes=2000, keep=0)
    j.write(RECORD)
    j.close()
    assert not (tmp_path / "t.jsonl.1").exists()
    assert [json.loads(line)["frames"] for line in path.read_text().splitlines()] == [500]


def test_sampler_logs_counts_and_keeps_sampling_after_any_exception():
    import threading

    from edge.telemetry.sources import Sampler
    calls, got, warned = [], [], []
    done = threading.Event()

    def sample():
        calls.append(1)
        if len(calls) in (2, 3):
            raise TypeError("unsupported operand type(s) for -: 'NoneType' and 'int'")
        if len(calls) == 4:
            raise KeyError("cpu")
        if len(calls) >= 6:
            done.set()
        return {"n": len(calls)}

    s = Sampler(sample, got.append, interval=0.005, warn=warned.append)
    s.start()
    assert done.wait(10)
    s.stop()
    assert s.errors == 3 and "KeyError" in s.last_error
    assert len(warned) == 2 and "TypeError" in warned[0] and "sampling goes on" in warned[0]
    assert [g["n"] for g in got][:3] == [1, 5, 6]


def test_live_line_shows_throttling_bypass_and_a_stuck_kernel():
    line = sinks.live_line({**RECORD, "bypassing": True})
    assert "p99 480 us" in line and "THROTTLED: under_voltage,throttled" in line
    assert "BYPASS" in line and "3.11 W" in line
    assert "hung 1" in line and "KERNEL STUCK" in line


def test_steal_per_cpu_from_a_kvm_guest_and_none_on_a_board():
    # recorded on the development host, a 2-vCPU KVM guest
    assert parsers.steal_ticks(text("kvm-guest/proc/stat")) == {"cpu0": 95155, "cpu1": 96548}
    assert set(parsers.steal_ticks(text("pi4/proc/stat")).values()) == {0}
    with pytest.raises(ValueError):
        parsers.steal_ticks("cpu  1 2 3 4\nintr 5\n")
