"""The soak's stall probes (edge.bench.stalls): what they report, and a real stall found."""
import os
import time

import pytest

from edge.bench import stalls
import spinner


def test_a_line_cut_by_the_kill_is_dropped():
    text = "10.0000 cpu0 realtime 1\n10.5000 cpu1 gap 31.2\n10.6 cpu1 steal 30\n10.7 cpu0 ga"
    assert stalls.parse(text) == [(10.0, "cpu0", "realtime", 1.0), (10.5, "cpu1", "gap", 31.2),
                                  (10.6, "cpu1", "steal", 30.0)]


def test_an_xrun_is_listed_with_the_gap_and_steal_around_it():
    events = [(0.0, "cpu0", "realtime", 1.0), (0.0, "cpu1", "realtime", 1.0),
              (99.0, "cpu0", "steal", 10.0),                            # unrelated, 1 s away
              (100.00, "cpu1", "gap", 280.0), (100.29, "cpu1", "steal", 270.0),
              (100.30, "cpu0", "gap", 12.0)]
    assert stalls.near(events, 100.2) == {"gap_ms": 280.0, "steal_ms": 270.0}
    assert stalls.near(events, 102.0) == {"gap_ms": 0.0, "steal_ms": 0.0}
    s = stalls.summary(events, t0=90.0, t1=110.0)
    assert s == {"cpus": 2, "probe_realtime": True, "steal_ms": 280.0, "max_gap_ms": 280.0, "stalls": 1,
                 "stall_list": [[10.0, "cpu1", 280.0, 270.0]]}
    # only what happened while the loop ran counts (not the start-up's mlockall, say)
    assert stalls.summary(events, t0=100.1, t1=110.0)["stalls"] == 0
    ordinary = [(0.0, "cpu1", "realtime", 0.0)] + events[:1] + events[2:]
    assert stalls.summary(ordinary, t0=0.0, t1=200.0)["probe_realtime"] is False   # its gaps mean less


@pytest.mark.skipif(not spinner.can_run_fifo(50), reason="needs SCHED_FIFO (root or CAP_SYS_NICE)")
def test_a_cpu_held_by_a_higher_priority_task_shows_as_a_gap(tmp_path):
    cpu = min(os.sched_getaffinity(0))
    probes = stalls.StallProbes(tmp_path).start()
    try:
        time.sleep(0.5)                  # the probes are running at their priority
        spinner.hold_cpu(cpu, 0.08, priority=50)
        time.sleep(0.2)
    finally:
        events = probes.stop()
    s = stalls.summary(events, t0=0.0, t1=time.monotonic())
    assert s["probe_realtime"] and s["cpus"] == min(len(os.sched_getaffinity(0)), stalls.MAX_PROBES)
    gaps = [v for _, c, kind, v in events if kind == "gap" and c == f"cpu{cpu}"]
    assert gaps and 60.0 <= max(gaps) <= 1000.0, events
    assert s["stalls"] >= 1 and s["max_gap_ms"] >= max(gaps)


class _Periods:
    """A duplex stand-in: S16 periods in and out, nothing reported."""
    overruns = underruns = xruns = 0

    def read_bytes(self):
        return bytes(960)

    def write_bytes(self, data):
        pass


def test_a_write_later_than_the_playback_buffer_is_counted_whatever_alsa_reports():
    from edge.bench.soak import _Timed
    io = _Timed(_Periods(), hops=10, buffer_s=0.03)
    for pause in (0.0, 0.01, 0.05, 0.01):
        time.sleep(pause)
        io.write_bytes(io.read_bytes())
    assert io.late_writes == 1 and io.xruns == 0
    (hop, gap, _), = io.late_write_hops
    assert hop == 3 and 0.05 <= gap < 1.0 and io.max_write_gap == gap
