"""A CPU taken away for a while: a SCHED_FIFO process spinning on it, as a stall of that CPU
(a hypervisor's, a long kernel section's) looks to everything of lower priority there."""
from __future__ import annotations

import subprocess
import sys

_SPIN = """
import os, sys, time
os.sched_setaffinity(0, {int(sys.argv[1])})
os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(int(sys.argv[3])))
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    pass
"""


def can_run_fifo(priority: int = 99) -> bool:
    """Whether a process of ours may take SCHED_FIFO at this priority (root, CAP_SYS_NICE)."""
    return subprocess.run([sys.executable, "-c", "import os; os.sched_setscheduler(0, "
                           f"os.SCHED_FIFO, os.sched_param({priority}))"],
                          capture_output=True).returncode == 0


def hold_cpu(cpu: int, seconds: float, priority: int) -> None:
    """Spin on `cpu` for `seconds` at SCHED_FIFO `priority`; returns when done."""
    subprocess.run([sys.executable, "-c", _SPIN, str(cpu), str(seconds), str(priority)],
                   check=True, timeout=30)
