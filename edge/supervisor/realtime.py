"""Real-time hygiene for the audio thread, each measure applied where the system permits.

SCHED_FIFO and mlockall need privileges (root, CAP_SYS_NICE/CAP_IPC_LOCK, or rtprio and
memlock limits); without them the loop still runs, with a warning saying what was skipped.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
from dataclasses import dataclass, field

_MCL_CURRENT, _MCL_FUTURE = 1, 2


def _libc():
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _mlockall() -> int:
    """0 on success, else the errno (EPERM without CAP_IPC_LOCK or a memlock limit)."""
    if _libc().mlockall(_MCL_CURRENT | _MCL_FUTURE) == 0:
        return 0
    return ctypes.get_errno()


@dataclass
class Hygiene:
    applied: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


INTERPRETER_PRIORITY = 1


def apply(priority: int = 70, cpus: set[int] | None = None, lock_memory: bool = True,
          helpers=(), interpreter_threads=()) -> Hygiene:
    """Make the calling thread as real-time as allowed, and the `helpers` threads (ids) one
    priority below it; returns what was done and what not.

    `interpreter_threads`: the process's other Python threads (the telemetry sampler). Any
    of them holding the interpreter lock while the machine is busy would hold up the audio
    thread until the scheduler runs it again (tens of ms under load: priority inversion
    through the GIL, which a shorter switch interval does not cure). At the lowest real-time
    priority no ordinary process can preempt them, so they give the lock back within the
    switch interval; their children (vcgencmd) start with the normal policy again."""
    h = Hygiene()
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        h.applied.append(f"SCHED_FIFO priority {priority}")
    except (OSError, AttributeError) as e:
        h.warnings.append(f"SCHED_FIFO not permitted ({e}); running at normal priority")
    if lock_memory:
        err = _mlockall()
        if err == 0:
            h.applied.append("mlockall")
        else:
            h.warnings.append(f"mlockall not permitted ({os.strerror(err)}); "
                              f"pages may be swapped out")
    if h.applied and h.applied[0].startswith("SCHED_FIFO"):
        if helpers:
            raise_threads(helpers, max(1, priority - 1), h)
        for tid in interpreter_threads:
            try:
                os.sched_setscheduler(tid, os.SCHED_FIFO | getattr(os, "SCHED_RESET_ON_FORK", 0),
                                      os.sched_param(INTERPRETER_PRIORITY))
                h.applied.append(f"telemetry thread SCHED_FIFO priority {INTERPRETER_PRIORITY}")
            except (OSError, AttributeError) as e:
                h.warnings.append(f"telemetry thread not made real-time ({e})")
    if cpus:
        try:
            os.sched_setaffinity(0, cpus)
            h.applied.append("affinity " + ",".join(str(c) for c in sorted(cpus)))
        except OSError as e:
            h.warnings.append(f"CPU affinity {sorted(cpus)} not permitted ({e})")
    # Objects made so far are frozen out of the collector, and no collection can start
    # in the middle of a hop; the loop allocates little and frees by reference counting.
    gc.collect()
    gc.freeze()
    gc.disable()
    h.applied.append("gc frozen and disabled")
    return h


def raise_threads(tids, priority: int, h: Hygiene) -> None:
    """SCHED_FIFO at `priority` for helper threads the audio thread waits on (an ALSA plugin's
    own I/O thread); what was done or refused goes into `h`."""
    done = []
    for tid in tids:
        try:
            os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(priority))
            done.append(tid)
        except (OSError, AttributeError) as e:
            h.warnings.append(f"audio plugin thread {tid} not made real-time ({e})")
    if done:
        h.applied.append(f"{len(done)} audio plugin thread(s) SCHED_FIFO priority {priority}")


def default_audio_cpu() -> int | None:
    """The core the audio thread is pinned to by default: the last one this process may use
    (on a Pi, cores 1-3 see fewer interrupts than core 0), or None on a single core."""
    cpus = os.sched_getaffinity(0)
    return max(cpus) if len(cpus) > 1 else None


def release() -> None:
    """Undo the memory-side measures when the loop ends (the scheduler class stays)."""
    gc.enable()
    gc.unfreeze()
    _libc().munlockall()
