"""edge bench --board: the supervisor loop on the bundled audio with an idle baseline."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge.audio import clocked
from edge.bench.device import LoopedAudio, bench_device, summarize
from edge.errors import EdgeError
from edge.telemetry.sources import Sources

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures" / "telemetry"


def snap(power=None, temp=None):
    return {"power_w": power, "temp_c": temp, "clock_mhz": None, "throttled": None}


def test_power_and_energy_are_reported_above_idle():
    idle = [snap(2.0, 50.0), snap(2.2, 50.0)]
    run = [snap(3.5, 51.0), snap(3.7, 53.5)]
    s = summarize(idle, run, audio_s=10.0, wall_s=10.0)
    assert s["idle_power_w"] == pytest.approx(2.1)
    assert s["power_w_above_idle"] == pytest.approx(1.5)
    assert s["energy_j_per_audio_s"] == pytest.approx(1.5)
    assert s["temp_rise_c"] == pytest.approx(3.5)
    # Flat out: the same extra power for half the wall time is half the energy per audio second.
    assert summarize(idle, run, audio_s=10.0, wall_s=5.0)["energy_j_per_audio_s"] == pytest.approx(0.75)


def test_no_power_source_gives_null_power_and_energy():
    s = summarize([snap()], [snap()], audio_s=1.0, wall_s=1.0)
    assert s["power_w_above_idle"] is None and s["energy_j_per_audio_s"] is None
    assert s["temp_rise_c"] is None


def test_paced_run_takes_real_time_and_reports_the_contract_keys(tmp_path):
    r = bench_device("host", seconds=1.0, idle_s=0.2, sources=Sources(tmp_path, run=lambda a: None))
    for key in ("cpu_share", "rtf", "frame_us", "deadline_misses", "temp_rise_c",
                "power_w_above_idle", "energy_j_per_audio_s", "power_source", "board", "seconds"):
        assert key in r
    assert r["board"] == "host" and r["seconds"] == pytest.approx(1.0)
    assert r["wall_s"] >= 0.98                        # 100 hops paced at 10 ms
    assert 0 < r["cpu_share"] < 2 and 0 < r["rtf"] < 1
    f = r["frame_us"]
    assert 0 < f["p50"] <= f["p99"] <= f["max"]
    assert r["power_source"] is None and r["power_w_above_idle"] is None
    split = r["split_us"]       # the kernel timed in C lies inside the audio thread's step
    assert 0 < split["kernel_c"] and 0 < split["audio_thread_step"] <= split["process"]
    # paced by the clocked device's 48 kHz clock where it can start here, as a card paces it
    assert r["pacing"] == ("clocked" if clocked.missing() is None else f"sleep ({clocked.missing()})")
    assert r["xruns"] == 0 or r["pacing"] == "clocked"


def test_paced_run_sleeps_to_each_hop_where_the_clocked_device_cannot_start(tmp_path, monkeypatch):
    monkeypatch.setattr(clocked, "missing", lambda: "pulseaudio not installed (a test)")
    r = bench_device("host", seconds=0.5, idle_s=0.1, sources=Sources(tmp_path, run=lambda a: None))
    assert r["pacing"] == "sleep (clocked test device unavailable: pulseaudio not installed (a test))"
    assert r["wall_s"] >= 0.48 and r["xruns"] == 0


def test_flat_out_run_is_faster_than_real_time_and_reads_board_power(tmp_path):
    pi5 = FIX / "pi5"

    def vcgencmd(args):
        f = pi5 / "vcgencmd" / args[1]
        return f.read_text() if f.exists() else None
    r = bench_device("rpi5", seconds=1.0, flat_out=True, idle_s=0.6,
                     sources=Sources(pi5, run=vcgencmd, vcgencmd=True, power="pmic"))
    assert r["wall_s"] < 1.0 and r["board"] == "rpi5"
    assert r["power_source"] == "pmic"
    # The recorded PMIC output does not change, so nothing is drawn above idle.
    assert r["idle_power_w"] == pytest.approx(r["power_w"]) and r["idle_power_w"] > 2
    assert r["power_w_above_idle"] == pytest.approx(0.0, abs=1e-9)
    assert r["temp_rise_c"] == pytest.approx(0.0)


def test_looped_audio_wraps_around_the_example():
    import numpy as np
    io = LoopedAudio(np.arange(960, dtype=np.float32) / 1024, flat_out=True)
    periods = [np.frombuffer(io.read_bytes(), "<i2")[1] for _ in range(3)]   # as S16_LE from ALSA
    assert periods == [1 * 32, 481 * 32, 1 * 32] and io.layout == (1, 0, None)


def test_unknown_board_and_bad_seconds_are_clear_errors():
    with pytest.raises(EdgeError, match="unknown board 'nope'"):
        bench_device("nope", seconds=1.0)
    with pytest.raises(EdgeError, match="--seconds must be positive"):
        bench_device("host", seconds=0)


def test_edge_bench_board_json_cli():
    p = subprocess.run([sys.executable, "-m", "edge.cli", "bench", "--board", "host", "--seconds", "0.5",
                        "--flat-out", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["seconds"] == pytest.approx(0.5) and r["flat_out"] is True
    assert set(r["frame_us"]) == {"p50", "p99", "max", "mean"}
