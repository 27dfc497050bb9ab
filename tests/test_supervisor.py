"""The real-time loop with stand-in kernels and audio (float hops through the numpy reference
of the C hop, tests/hop_reference.py): bypass on failure and overrun, recovery, deadline
statistics, signals, telemetry and real-time hygiene."""
import gc
import json
import os
import signal
import sys
import threading
import time

import numpy as np
import pytest

from edge.native import HOP
from edge.supervisor import realtime
from edge.supervisor.deadline import FrameTimes
from edge.supervisor.loop import Supervisor
from edge.supervisor.service import SWITCH_INTERVAL_S, Outputs, run_service
from hop_reference import DelayLine, FloatHop

LATENCY = 1440
PATIENT = 2_000_000_000     # kernel wait for tests of the loop's logic: never reached on a busy host


def supervise(proc, io, **kw):
    return Supervisor(proc, io, **{"hang_ns": PATIENT, **kw})


class FakeClock:
    """Monotonic nanoseconds that only move when a stand-in kernel says so."""
    def __init__(self):
        self.ns = 0

    def __call__(self):
        return self.ns


class StandIn:
    """A kernel stand-in: the input delayed by LATENCY and halved. `fail` and `slow` are
    sets of call indices that raise or take `slow_ns` on the fake clock."""
    hop = HOP

    def __init__(self, clock, fail=(), slow=(), slow_ns=15_000_000, work_ns=200_000):
        self.latency = LATENCY
        self.clock, self.fail, self.slow = clock, set(fail), set(slow)
        self.slow_ns, self.work_ns = slow_ns, work_ns
        self.delay = DelayLine(LATENCY)
        self.calls = 0

    def process(self, hop):
        i = self.calls
        self.calls += 1
        y = 0.5 * self.delay.push(hop)
        self.clock.ns += self.slow_ns if i in self.slow else self.work_ns
        if i in self.fail:
            raise RuntimeError(f"injected failure at call {i}")
        return y

    def hop_runner(self, channels, capture_channel, playback_channel):
        return FloatHop(self.process, self.latency)


class ListIO:
    """Audio stand-in: float hops from an array (its periods, as the stand-ins' hop takes
    them), results collected."""
    layout = (1, 0, None)

    def __init__(self, x, on_read=None):
        self.hops = x.reshape(-1, HOP)
        self.out = []
        self.xruns = 0
        self.on_read = on_read

    def read_bytes(self):
        i = len(self.out)
        if self.on_read:
            self.on_read(i)
        return self.hops[i % len(self.hops)]

    def write_bytes(self, hop):
        self.out.append(np.array(hop))


def signal_in(n_hops, seed=0):
    return (0.1 * np.random.default_rng(seed).standard_normal(n_hops * HOP)).astype(np.float32)


def delayed(x, d=LATENCY):
    return np.concatenate((np.zeros(d, np.float32), x))[:x.size]


def test_delay_line_delays_by_exactly_the_latency():
    x = signal_in(6)
    d = DelayLine(1000)
    y = np.concatenate([d.push(h) for h in x.reshape(-1, HOP)])
    np.testing.assert_array_equal(y, delayed(x, 1000))


def test_frame_times_percentiles_max_and_misses():
    t = FrameTimes(deadline_ns=10_000_000)
    for us in [100] * 98 + [900, 12_000]:
        t.record(us * 1000)
    s = t.summary()
    assert s["p50"] == pytest.approx(101.0, abs=1.0)
    assert s["p99"] == pytest.approx(901.0, abs=1.0)
    assert s["max"] == 12_000.0 and t.misses == 1
    assert s["mean"] == pytest.approx((98 * 100 + 900 + 12_000) / 100)


def test_frame_times_longer_than_the_histogram_keep_an_exact_max():
    t = FrameTimes()
    t.record(250_000_000)
    assert t.summary()["max"] == 250_000.0 and t.summary()["p99"] == 250_000.0


def test_clean_run_outputs_exactly_the_kernel_result():
    clock = FakeClock()
    x = signal_in(50)
    io = ListIO(x)
    sup = supervise(StandIn(clock), io, clock=clock)
    sup.run(50)
    np.testing.assert_array_equal(np.concatenate(io.out), 0.5 * delayed(x))
    s = sup.stats()
    assert s["frames"] == 50 and s["deadline_misses"] == 0 and s["kernel_errors"] == 0
    assert s["frame_us"]["max"] == pytest.approx(200.0)


def test_bypass_keeps_audio_flowing_when_kernel_raises():
    clock = FakeClock()
    x = signal_in(60)
    io = ListIO(x)
    proc = StandIn(clock, fail={10})
    sup = supervise(proc, io, clock=clock, cooldown=20)
    sup.run(60)
    y = np.concatenate(io.out).reshape(-1, HOP)
    dry = delayed(x).reshape(-1, HOP)
    np.testing.assert_array_equal(y[:10], 0.5 * dry[:10])
    # From the failing hop on: the input delayed by the kernel latency, never silence.
    np.testing.assert_array_equal(y[10:31], dry[10:31])
    assert np.all(np.abs(y[10:31]).max(axis=1) > 0)
    s = sup.stats()
    assert s["kernel_errors"] == 1 and s["bypass_entries"] == 1
    assert "injected failure" in s["last_error"]


def test_kernel_comes_back_after_cooldown_with_a_crossfade():
    clock = FakeClock()
    x = signal_in(80)
    io = ListIO(x)
    sup = supervise(StandIn(clock, fail={10}), io, clock=clock, cooldown=20)
    sup.run(80)
    y = np.concatenate(io.out).reshape(-1, HOP)
    dry = delayed(x).reshape(-1, HOP)
    back = 11 + 20 + sup._prime            # failing hop, cooldown, priming hops
    assert sup.counters.bypass_frames == back - 11
    fade = np.linspace(0, 1, HOP, endpoint=False, dtype=np.float32)
    np.testing.assert_allclose(y[back], dry[back] + fade * (0.5 * dry[back] - dry[back]), atol=1e-7)
    np.testing.assert_array_equal(y[back + 1:], 0.5 * dry[back + 1:])
    assert not sup.bypassing


def test_bypass_keeps_audio_flowing_when_kernel_overruns():
    clock = FakeClock()
    x = signal_in(40)
    io = ListIO(x)
    proc = StandIn(clock, slow={5, 12, 13, 14})     # one isolated overrun, then three in a row
    sup = supervise(proc, io, clock=clock, miss_limit=3, cooldown=10)
    sup.run(40)
    y = np.concatenate(io.out).reshape(-1, HOP)
    dry = delayed(x).reshape(-1, HOP)
    s = sup.stats()
    assert s["deadline_misses"] == 4 and s["bypass_entries"] == 1
    assert s["frame_us"]["max"] == pytest.approx(15_000.0)
    np.testing.assert_array_equal(y[5], 0.5 * dry[5])            # late but still the result
    np.testing.assert_array_equal(y[15:25], dry[15:25])          # bypassed after 3 misses
    assert all(np.abs(h).max() > 0 for h in y[LATENCY // HOP:])     # never silence


def test_a_kernel_that_keeps_failing_never_stops_the_audio():
    clock = FakeClock()
    x = signal_in(100)
    io = ListIO(x)
    proc = StandIn(clock, fail=set(range(1000)))
    sup = supervise(proc, io, clock=clock, cooldown=5)
    sup.run(100)
    np.testing.assert_array_equal(np.concatenate(io.out), delayed(x))
    assert sup.counters.kernel_errors > 1 and sup.counters.frames == 100


def test_sigterm_stops_the_service_cleanly_and_flushes_telemetry(tmp_path):
    clock = FakeClock()
    x = signal_in(20)
    io = ListIO(x, on_read=lambda i: i == 7 and os.kill(os.getpid(), signal.SIGTERM))
    before = signal.getsignal(signal.SIGTERM)
    out = Outputs(jsonl=tmp_path / "t.jsonl", prometheus=tmp_path / "t.prom", interval=60)
    result = run_service(StandIn(clock), io, frames=None, outputs=out, rt=False, clock=clock,
                         hang_ns=PATIENT)
    assert result["frames"] == 8 and result["final"] is True
    assert signal.getsignal(signal.SIGTERM) is before
    rows = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert rows[-1]["final"] and rows[-1]["frames"] == 8
    assert "edge_frames_total 8.0" in (tmp_path / "t.prom").read_text()


def test_unwritable_prometheus_path_is_a_clear_error_before_audio_starts(tmp_path):
    from edge.errors import EdgeError
    clock = FakeClock()
    io = ListIO(signal_in(5))
    with pytest.raises(EdgeError, match="prometheus file .*missing/e.prom"):
        run_service(StandIn(clock), io, frames=5, hang_ns=PATIENT, rt=False, clock=clock,
                    outputs=Outputs(prometheus=tmp_path / "missing" / "e.prom"))
    assert io.out == []


def test_telemetry_that_cannot_be_written_mid_run_warns_once_and_audio_goes_on(tmp_path):
    clock = FakeClock()
    d = tmp_path / "prom"
    d.mkdir()
    warnings = []

    def pull_the_disk(i):
        if i == 3:
            (d / "e.prom").unlink()
            d.rmdir()
    io = ListIO(signal_in(10), on_read=pull_the_disk)
    result = run_service(StandIn(clock), io, frames=10, rt=False, clock=clock, warn=warnings.append,
                         hang_ns=PATIENT,
                         outputs=Outputs(prometheus=d / "e.prom", interval=60))
    assert result["frames"] == 10 and len(io.out) == 10
    assert len(warnings) == 1 and "telemetry not written" in warnings[0]


def test_a_failing_telemetry_source_is_counted_and_the_run_goes_on(tmp_path):
    clock = FakeClock()
    warnings = []

    class Broken:
        n = 0

        def sample(self):
            self.n += 1
            if self.n > 1:                           # the baseline works, then it breaks
                raise RuntimeError("sensor gone")
            return {}
    io = ListIO(signal_in(30), on_read=lambda i: time.sleep(0.002))
    result = run_service(StandIn(clock), io, frames=30, rt=False, clock=clock, hang_ns=PATIENT,
                         sources=Broken(), warn=warnings.append,
                         outputs=Outputs(jsonl=tmp_path / "t.jsonl", interval=0.005))
    assert result["frames"] == 30 and result["final"] is True
    assert result["telemetry_errors"] >= 2
    assert any("sensor gone" in w for w in warnings)
    rows = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert rows[-1]["final"] and rows[-1]["telemetry_errors"] == result["telemetry_errors"]


def test_realtime_measures_that_are_not_permitted_become_warnings(monkeypatch):
    def refuse(*a):
        raise PermissionError(1, "Operation not permitted")
    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    monkeypatch.setattr(os, "sched_setaffinity", refuse)
    monkeypatch.setattr(realtime, "_mlockall", lambda: 1)           # EPERM from libc
    try:
        h = realtime.apply(cpus={0})
        assert not gc.isenabled()
    finally:
        realtime.release()
    assert gc.isenabled()
    assert any("SCHED_FIFO" in w for w in h.warnings)
    assert any("mlockall" in w for w in h.warnings)
    assert any("affinity" in w for w in h.warnings)
    assert h.applied == ["gc frozen and disabled"]


def test_audio_plugin_threads_get_real_time_one_below_the_audio_thread(monkeypatch):
    calls = []
    monkeypatch.setattr(os, "sched_setscheduler", lambda tid, pol, p: calls.append((tid, pol, p.sched_priority)))
    monkeypatch.setattr(realtime, "_mlockall", lambda: 0)
    try:
        h = realtime.apply(priority=70, helpers=[4242, 4243])
    finally:
        realtime.release()
    assert calls == [(0, os.SCHED_FIFO, 70), (4242, os.SCHED_FIFO, 69), (4243, os.SCHED_FIFO, 69)]
    assert "2 audio plugin thread(s) SCHED_FIFO priority 69" in h.applied


def test_service_shortens_the_interpreter_switch_interval_while_it_runs():
    clock = FakeClock()
    seen = []
    before = sys.getswitchinterval()
    io = ListIO(signal_in(5), on_read=lambda i: seen.append(sys.getswitchinterval()))
    run_service(StandIn(clock), io, frames=5, rt=False, clock=clock, hang_ns=PATIENT)
    assert seen and set(seen) == {SWITCH_INTERVAL_S} and SWITCH_INTERVAL_S < 0.001
    assert sys.getswitchinterval() == before


class Blocking:
    """The input delayed by LATENCY and halved, on the real clock; call `at` blocks (GIL
    released, as in a ctypes call) until `let_go` is set."""
    hop = HOP

    def __init__(self, at):
        self.latency = LATENCY
        self.delay = DelayLine(LATENCY)
        self.at, self.calls = at, 0
        self.let_go = threading.Event()
        self.threads = set()

    def process(self, hop):
        self.threads.add(threading.get_ident())
        i = self.calls
        self.calls += 1
        if i == self.at:
            self.let_go.wait()
        return 0.5 * self.delay.push(hop)

    def hop_runner(self, channels, capture_channel, playback_channel):
        return FloatHop(self.process, self.latency)


def test_a_kernel_call_that_blocks_is_bypassed_then_the_kernel_comes_back():
    x = signal_in(60)
    proc = Blocking(at=10)

    def unblock(i):
        if i == 30:
            proc.let_go.set()
            time.sleep(0.05)              # the stuck call returns meanwhile
    io = ListIO(x, on_read=unblock)
    released = threading.Event()
    sup = Supervisor(proc, io, cooldown=5, hang_ns=20_000_000, release=released.set)
    sup.run(30)
    s = sup.stats()
    assert s["kernel_hung"] == 1 and s["kernel_stuck"] and s["bypassing"]
    assert proc.calls == 11                 # never fed again while stuck
    sup.run(60)
    assert sup.close() and released.is_set()
    y = np.concatenate(io.out).reshape(-1, HOP)
    dry = delayed(x).reshape(-1, HOP)
    np.testing.assert_array_equal(y[:10], 0.5 * dry[:10])
    np.testing.assert_array_equal(y[10:31], dry[10:31])        # the delayed input, never silence
    np.testing.assert_array_equal(y[-10:], 0.5 * dry[-10:])    # re-primed and switched back
    s = sup.stats()
    assert s["kernel_hung"] == 1 and not s["kernel_stuck"] and s["bypass_entries"] == 1
    assert threading.get_ident() not in proc.threads           # the kernel ran on its own thread


def test_inline_kernel_runs_on_the_audio_thread_without_a_guard():
    clock = FakeClock()
    proc = Blocking(at=-1)
    io = ListIO(signal_in(5))
    sup = Supervisor(proc, io, hang_ns=None, clock=clock)
    sup.run(5)
    assert proc.threads == {threading.get_ident()} and sup.close()


def test_a_hung_inline_kernel_stops_the_watchdog_pings(tmp_path):
    """Inline (the default), a call that never returns holds the audio thread: the pings stop,
    so systemd's WatchdogSec restarts the service."""
    from edge.supervisor.sdnotify import Notifier
    sock = notify_socket(tmp_path)
    proc = Blocking(at=20)
    io = ListIO(signal_in(10), on_read=lambda i: time.sleep(0.002))
    dog = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "10000",
                    "WATCHDOG_PID": str(os.getpid())})
    sup = Supervisor(proc, io, watchdog=dog)
    loop = threading.Thread(target=sup.run, args=(60,), daemon=True)
    loop.start()
    while proc.calls <= 20:
        time.sleep(0.005)
    time.sleep(0.05)
    before = received(sock)
    time.sleep(0.2)                              # 20 watchdog periods, the call still stuck
    assert before.count("WATCHDOG=1") >= 2 and received(sock) == []
    proc.let_go.set()
    loop.join(5)
    assert sup.stats()["frames"] == 60 and "WATCHDOG=1" in received(sock)


def test_a_stuck_kernel_is_not_released_under_its_call():
    proc = Blocking(at=0)
    released = threading.Event()
    sup = Supervisor(proc, ListIO(signal_in(5)), hang_ns=5_000_000, release=released.set)
    sup.run(5)
    assert not sup.close(wait_s=0.05)
    assert not released.is_set()
    proc.let_go.set()                                 # the call returns late: freed then
    assert released.wait(5)


def notify_socket(tmp_path):
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(tmp_path / "notify"))
    s.setblocking(False)
    return s


def received(sock):
    out = []
    while True:
        try:
            out.append(sock.recv(256).decode())
        except BlockingIOError:
            return out


def test_systemd_watchdog_is_pinged_from_the_audio_loop(tmp_path):
    from edge.supervisor.sdnotify import Notifier
    sock = notify_socket(tmp_path)
    io = ListIO(signal_in(10), on_read=lambda i: time.sleep(0.003))
    dog = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "60000",
                    "WATCHDOG_PID": str(os.getpid())})
    result = run_service(StandIn(FakeClock()), io, frames=40, rt=False, hang_ns=PATIENT, watchdog=dog)
    msgs = received(sock)
    assert result["frames"] == 40
    assert msgs[0] == "READY=1" and msgs[-1] == "STOPPING=1"
    # 40 hops of >= 3 ms, a ping at most every 30 ms (half of WatchdogSec): several, not one a
    # hop (the socket queue holds 10 datagrams: a full one drops pings rather than block).
    assert 2 <= msgs.count("WATCHDOG=1") <= 6


def test_no_watchdog_pings_when_systemd_asked_another_process_or_none(tmp_path):
    from edge.supervisor.sdnotify import Notifier
    sock = notify_socket(tmp_path)
    other = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "20000",
                      "WATCHDOG_PID": "1"})
    other.tick()
    assert received(sock) == [] and other.interval_ns == 0
    nothing = Notifier({})
    nothing.ready()
    nothing.tick()
    assert nothing.sock is None
    assert Notifier({"NOTIFY_SOCKET": "@edge/x"}).addr == "\0edge/x"      # abstract namespace


def test_a_watchdog_socket_nobody_reads_never_blocks_the_loop(tmp_path):
    from edge.supervisor.sdnotify import Notifier
    sock = notify_socket(tmp_path)
    dog = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "1"})
    for _ in range(50):                      # far more than the socket queue holds
        dog._last_ns = 0
        dog.tick()
    assert 0 < len(received(sock)) < 50



class SlowEcho:
    """An echo canceller stand-in whose run takes `cost` ns on the fake clock (summed in ns, as
    edge.supervisor.echo.LiveCanceller does) and adds 1 to the hop."""

    def __init__(self, clock, cost):
        self.clock, self.cost, self.ns, self.calls = clock, cost, 0, 0

    def run(self, x):
        self.calls += 1
        self.clock.ns += self.cost
        self.ns += self.cost
        return x + 1.0

    def stats(self):
        return {"calls": self.calls}


def test_the_echo_canceller_runs_first_inside_the_hop_and_its_deadline():
    """edge run --reference: the kernel hears the cancelled period; the canceller's time counts
    in the hop's, so a slow one misses the deadline and bypasses the kernel as a slow kernel
    would (the canceller still running); its figures are in the stats."""
    clock = FakeClock()
    k = StandIn(clock)
    heard = []
    process = k.process
    k.process = lambda h: (heard.append(np.array(h)), process(h))[1]
    echo = SlowEcho(clock, 11_000_000)
    sup = Supervisor(k, ListIO(np.zeros(10 * HOP, np.float32)), miss_limit=3, cooldown=5,
                     clock=clock, echo=echo)
    sup.run(frames=4)
    s = sup.stats()
    assert all((h == 1.0).all() for h in heard) and len(heard) == 3
    assert echo.calls == 4 and s["deadline_misses"] == 4 and s["bypass_frames"] == 1
    assert s["echo"] == {"calls": 4} and s["split_us"]["canceller"] == 11_000
