"""The supervisor: capture -> processor -> playback, one hop per ALSA period, never silent.

Each hop's processing is timed on the monotonic clock against its 10 ms deadline. A kernel
that raises, or that misses the deadline `miss_limit` times in a row, is taken out of the
path: the output becomes the input delayed by the kernel's latency (so the switch does not
jump in time) for `cooldown` hops. The kernel is then fed again for enough hops to refill
its buffers (its output still discarded), and switched back in with a one-hop crossfade.
A kernel error, returned or raised, never stops the audio.

That policy is decided here, hop by hop, as a mode (edge.native.HOP_*: the kernel's output, a
crossfade into it, bypass, or bypass while priming). The hop's samples are the processor's
hop runner's: for edge.kernel.Kernel, pn_hop_run (native/src/hop.c, the LADSPA plugin's hop
too), which takes the captured S16_LE period and gives the one to play in one C call: the
delay line, the kernel, the crossfade, the S16 conversions. It is most of what the live process
saves (docs/measurements.md, "What the live process costs").

The kernel is called on the audio thread itself by default: handing each hop to a worker
thread and back costs more CPU than the rest of the loop, and a call that never returns (a C
call stuck inside the library) stops the watchdog pings, so systemd restarts the service. With
`hang_ns` the hop's C call runs on a worker thread instead (ctypes releases the GIL during the
call) and each hop waits for it at most hang_ns; a result not there by then is replaced by the
delayed input for that hop, which a second hop runner gives on the audio thread (in bypass: its
delay line only, never the kernel). A worker still inside an earlier hop's call is not fed
again: the loop bypasses (counted once per stuck call as kernel_hung) until the call returns,
if ever.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

from edge.native import HOP_BYPASS, HOP_FADE, HOP_KERNEL, HOP_PRIME
from edge.supervisor.deadline import HOP_NS, FrameTimes


class HopRunner(Protocol):
    """One hop's samples (edge.kernel.HopRunner): run(period, mode) -> (the period to play,
    None or the kernel's error); on an error the period is the delayed input. Never raises
    for the kernel."""

    def run(self, period, mode: int) -> tuple[object, Exception | None]: ...


class Processor(Protocol):
    """What the loop needs from a kernel (edge.kernel.Kernel has it)."""
    latency: int                                     # samples of delay, input to output
    hop: int                                         # samples per hop

    def hop_runner(self, channels: int, capture_channel: int,
                   playback_channel: int | None) -> HopRunner: ...


class AudioIO(Protocol):
    """One period in, one period out, as the processor's hop runner takes them: S16_LE bytes
    of `layout` = (channels, capture_channel, playback_channel or None for every channel)
    (edge.audio.alsa.AlsaDuplex, edge bench's looped audio, or a test stand-in)."""
    xruns: int
    layout: tuple[int, int, int | None]

    def read_bytes(self): ...

    def write_bytes(self, period) -> None: ...


LATE = object()     # a guarded kernel call not back within hang_ns


class GuardedHop:
    """The hop with its C call on the kernel thread: `main` there, waited for at most hang_s;
    `dry`, in bypass on the audio thread every hop, gives the delayed input, which plays
    whenever main's period does not (bypassed, late, failed, or priming: main's own delay line
    missed the hops it was not fed). run(period, mode) -> (the period to play, None, LATE or
    the error)."""

    def __init__(self, thread: KernelThread, main: HopRunner, dry: HopRunner, hang_s: float):
        self._thread, self._main, self._dry, self._hang_s = thread, main, dry, hang_s

    def run(self, x, mode: int):
        dry, _ = self._dry.run(x, HOP_BYPASS)
        if mode == HOP_BYPASS:
            return dry, None
        try:
            got = self._thread.run(lambda: self._main.run(x, mode), self._hang_s)
        except Exception as e:  # noqa: BLE001 - a failing kernel never stops audio
            return dry, e
        if got is None:
            return dry, LATE
        y, err = got
        return (dry if err is not None or mode == HOP_PRIME else y), err


_WORKER_STACK = 1 << 20
CPU_SAMPLE_EVERY = 8


class _Inline:
    """The kernel called on the audio thread itself (hang_ns=None): no hand-off; a hung call
    is the watchdog's to catch."""
    busy = False
    calls = 0

    def __init__(self, release=None):
        self._release = release

    def ready(self) -> bool:
        return True

    def start(self) -> None:
        pass

    def demote(self) -> None:
        pass

    def close(self, wait_s: float = 0.0) -> bool:
        if self._release:
            self._release()
            self._release = None
        return True


class KernelThread:
    """Each hop's kernel call on a thread of its own, handed over through two raw locks used as
    semaphores (the cheapest wake-up CPython has). The thread is started from the audio thread
    when the loop starts, so it inherits that thread's scheduling policy and CPU affinity (the
    hand-off then stays on one core), with a 1 MiB stack (mlockall locks all of it); it then
    steps one real-time priority below it, so that a call spinning forever cannot keep the
    audio thread off its core, and a call found stuck is demoted to normal scheduling."""

    def __init__(self, release=None):
        self._release = release
        self._go, self._done = threading.Lock(), threading.Lock()
        self._go.acquire()
        self._done.acquire()
        self._call = self._out = self._err = None
        self._quit = False
        self._thread: threading.Thread | None = None
        self._policy = None          # the worker's own (policy, priority), restored after a demotion
        self._demoted = False
        self.tid = 0
        self.busy = False            # a call is in flight (submitted, result not collected)
        self.calls = 0

    def _work(self) -> None:
        self.tid = threading.get_native_id()
        self._policy = _below_caller()
        while True:
            self._go.acquire()
            if self._quit:
                break
            if self._demoted:
                _set_policy(0, self._policy)
                self._demoted = False
            try:
                self._out, self._err = self._call(), None
            except Exception as e:  # noqa: BLE001 - handed to the audio thread
                self._out, self._err = None, e
            self._done.release()
        if self._release:            # no call of ours runs on the processor any more
            self._release()

    def ready(self) -> bool:
        """True when no call is in flight (a late one that has ended since is collected)."""
        if self.busy and self._done.acquire(blocking=False):
            self.busy = False        # its result belonged to a hop already played dry
        return not self.busy

    def start(self) -> None:
        if self._thread is not None:
            return
        old = threading.stack_size(_WORKER_STACK)
        try:
            self._thread = threading.Thread(target=self._work, name="edge-kernel", daemon=True)
            self._thread.start()
        finally:
            threading.stack_size(old)

    def run(self, call, timeout_s: float):
        """What call() returns, or None when it is not done within timeout_s (it goes on;
        ready() says when it has ended). Raises what call raised."""
        self.start()
        self._call = call
        self.calls += 1
        self._go.release()
        if not self._done.acquire(timeout=timeout_s):
            self.busy = True
            return None
        if self._err is not None:
            err, self._err = self._err, None
            raise err
        return self._out

    def demote(self) -> None:
        """A stuck call leaves real-time scheduling, whatever it does meanwhile."""
        if self.tid and self._policy and self._policy[0] != os.SCHED_OTHER:
            self._demoted = _set_policy(self.tid, (os.SCHED_OTHER, 0))

    def close(self, wait_s: float = 1.0) -> bool:
        """Stop the thread; True when the processor was released (no call in flight). A
        stuck thread is left behind (a daemon: it cannot hold up the exit) and releases the
        processor itself if its call ever returns."""
        if self._thread is None or self._quit:
            if self._thread is None and self._release:
                self._release()
                self._release = None
            return self._thread is None or not self._thread.is_alive()
        self._quit = True
        self._go.release()
        self._thread.join(wait_s)
        return not self._thread.is_alive()


def _set_policy(tid: int, policy) -> bool:
    try:
        os.sched_setscheduler(tid, policy[0], os.sched_param(policy[1]))
        return True
    except (OSError, AttributeError):
        return False


def _below_caller():
    """Step the calling (worker) thread one priority below the real-time thread that made it;
    returns the policy it runs with."""
    try:
        policy, prio = os.sched_getscheduler(0), os.sched_getparam(0).sched_priority
    except (OSError, AttributeError):
        return None
    if policy in (os.SCHED_FIFO, os.SCHED_RR) and prio > 1 and _set_policy(0, (policy, prio - 1)):
        prio -= 1
    return policy, prio


@dataclass
class Counters:
    frames: int = 0
    kernel_errors: int = 0
    kernel_hung: int = 0
    bypass_frames: int = 0
    bypass_entries: int = 0
    last_error: str = ""
    times: FrameTimes = field(default_factory=FrameTimes)
    cpu_ns: dict = field(default_factory=lambda: {"read": 0, "step": 0, "write": 0})  # audio thread
    cpu_hops: int = 0                                   # the hops cpu_ns was measured on


class Supervisor:
    def __init__(self, processor: Processor, io: AudioIO, *, miss_limit: int = 3,
                 cooldown: int = 100, deadline_ns: int = HOP_NS, hang_ns: int | None = None,
                 release=None, watchdog=None, echo=None, clock=time.monotonic_ns):
        """hang_ns: run the kernel on a guard thread, and wait this long for it before a hop
        plays the delayed input (None: call it on the audio thread). release: called once the
        processor is no longer in use (at close, or when a stuck call returns). watchdog:
        its tick() is called after every hop (edge.supervisor.sdnotify.Notifier). echo: its
        run(period) takes the echo out of each captured period first, inside the hop's time
        (edge.supervisor.echo.LiveCanceller; its owner closes it)."""
        self.proc = processor
        self.io = io
        self.miss_limit = miss_limit
        self.cooldown = cooldown
        self.clock = clock
        self.counters = Counters(times=FrameTimes(deadline_ns))
        hop = int(processor.hop)            # rate / 100 samples
        # Hops of fresh input the kernel needs before its output is trustworthy again.
        self._prime = -(-int(processor.latency) // hop) + 1
        self._bypass_left = 0        # > 0: hops still to play from the delay line
        self._misses_in_row = 0
        self._fade_next = False
        runner = processor.hop_runner(*io.layout)
        if hang_ns is None:
            self._kernel, self._path = _Inline(release), runner
        else:
            self._kernel = KernelThread(release)
            self._path = GuardedHop(self._kernel, runner, processor.hop_runner(*io.layout), hang_ns / 1e9)
        self._hung_call = 0
        self.watchdog = watchdog
        self.echo = echo
        self.stop_requested = False
        self._process_cpu0: int | None = None    # process CPU time when the loop first ran

    @property
    def bypassing(self) -> bool:
        return self._bypass_left > 0

    def _enter_bypass(self) -> None:
        self._bypass_left = self.cooldown + self._prime
        self._misses_in_row = 0
        self.counters.bypass_entries += 1

    def _kernel_failed(self, e: Exception) -> None:
        self.counters.kernel_errors += 1
        self.counters.last_error = str(e)
        self._enter_bypass()

    def _refuse(self) -> None:
        """The worker is still inside an earlier hop's call: not fed, bypass, counted once."""
        k = self._kernel
        if k.calls != self._hung_call:
            self._hung_call = k.calls
            self.counters.kernel_hung += 1
            k.demote()
        if self._bypass_left:
            self._bypass_left = max(self._bypass_left, self.cooldown + self._prime)
        else:
            self._enter_bypass()

    def step(self, x):
        """Process one captured period and return the one to play. Never raises for the
        kernel."""
        c = self.counters
        t0 = self.clock()
        if self.echo is not None:
            x = self.echo.run(x)
        if not self._kernel.ready():
            self._refuse()
        if self._bypass_left:
            self._bypass_left -= 1
            c.bypass_frames += 1
            feed = self._bypass_left < self._prime and self._kernel.ready()
            y, err = self._path.run(x, HOP_PRIME if feed else HOP_BYPASS)   # the delayed input
            if err is not None and err is not LATE:
                self._kernel_failed(err)
            elif feed:
                self._fade_next = self._bypass_left == 0 and err is None
        else:
            y, err = self._path.run(x, HOP_FADE if self._fade_next else HOP_KERNEL)
            if err is None:
                self._fade_next = False
            elif err is LATE:           # not back in time: this hop played the delayed input
                self._fade_next = True
            else:
                self._kernel_failed(err)
        c.frames += 1
        if c.times.record(self.clock() - t0):
            self._misses_in_row += 1
            if self._misses_in_row >= self.miss_limit and not self._bypass_left:
                self._enter_bypass()
        else:
            self._misses_in_row = 0
        return y

    def run(self, frames: int | None = None) -> Counters:
        """Loop until `frames` hops (None: until stop_requested is set, e.g. by SIGTERM)."""
        self._kernel.start()
        tick = self.watchdog.tick if self.watchdog else (lambda: None)
        c = self.counters
        if self._process_cpu0 is None:
            self._process_cpu0 = time.process_time_ns()
        read, write = self.io.read_bytes, self.io.write_bytes
        while not self.stop_requested and (frames is None or c.frames < frames):
            if c.frames % CPU_SAMPLE_EVERY:
                write(self.step(read()))
                tick()
                continue
            # This thread's CPU time, split, on one hop in CPU_SAMPLE_EVERY: each reading is a
            # system call (about 1.5 us on a VM), three per hop would cost more than the split
            cpu = time.thread_time_ns
            t0 = cpu()
            x = read()
            t1 = cpu()
            y = self.step(x)
            t2 = cpu()
            write(y)
            tick()
            t3 = cpu()
            c.cpu_ns["read"] += t1 - t0
            c.cpu_ns["step"] += t2 - t1
            c.cpu_ns["write"] += t3 - t2
            c.cpu_hops += 1
        return c

    def close(self, wait_s: float = 1.0) -> bool:
        """Stop the kernel thread; True when the processor was released (False: a call is
        still stuck in it, and it must not be freed under that call)."""
        return self._kernel.close(wait_s)

    def split_us(self) -> dict:
        """Per hop, µs: the kernel's own time timed in C (None when the processor does not
        time itself); the audio thread's CPU time in capture, the hop's processing (with the
        kernel when it is called inline) and playback; the whole process's CPU time (all
        threads: a kernel worker, telemetry, an audio plugin's own threads); with a canceller,
        its time (wall, in the hop's own)."""
        c = self.counters
        n, sampled = max(1, c.frames), max(1, c.cpu_hops)
        total = getattr(self.proc, "total_us", lambda: None)()
        process = 0 if self._process_cpu0 is None else time.process_time_ns() - self._process_cpu0
        split = {"kernel_c": None if total is None else total / n,
                 **{f"audio_thread_{k}": v / sampled / 1000 for k, v in c.cpu_ns.items()},
                 "process": process / n / 1000}
        if self.echo is not None:
            split["canceller"] = self.echo.ns / n / 1000
        return split

    def stats(self) -> dict:
        c = self.counters
        return {"frames": c.frames, "frame_us": c.times.summary(),
                "split_us": self.split_us(),
                "deadline_misses": c.times.misses, "xruns": self.io.xruns,
                "kernel_errors": c.kernel_errors, "kernel_hung": c.kernel_hung,
                "kernel_stuck": self._kernel.busy, "bypass_frames": c.bypass_frames,
                "bypass_entries": c.bypass_entries, "bypassing": self.bypassing,
                "last_error": c.last_error,
                **({"echo": self.echo.stats()} if self.echo is not None else {})}
