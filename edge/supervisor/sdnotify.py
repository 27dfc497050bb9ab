"""systemd's notify protocol, without a dependency: READY=1 once the audio runs, WATCHDOG=1
from the audio loop itself, STOPPING=1 on the way out.

With WatchdogSec= in the unit, systemd restarts a service whose loop stops turning (a wedged
driver, a read that never returns): the last line of defence after the kernel guard, which
keeps the audio flowing when only a kernel call is stuck. Outside systemd (no $NOTIFY_SOCKET)
every call is a no-op.
"""
from __future__ import annotations

import os
import socket
import time


class Notifier:
    def __init__(self, env=None):
        env = os.environ if env is None else env
        self.sock = None
        self.interval_ns = 0               # 0: no watchdog asked for this process
        self._last_ns = 0
        addr = env.get("NOTIFY_SOCKET", "")
        if not addr or addr[0] not in "/@":
            return
        self.addr = "\0" + addr[1:] if addr[0] == "@" else addr     # '@': abstract namespace
        # Non-blocking: a full socket queue (systemd not reading) drops a ping, never a hop.
        self.sock = socket.socket(socket.AF_UNIX,
                                  socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
        usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.interval_ns = int(usec) * 1000 // 2      # ping twice per period, as sd_notify advises

    def _send(self, msg: str) -> None:
        if self.sock is None:
            return
        try:
            self.sock.sendto(msg.encode(), self.addr)
        except OSError:
            pass                 # systemd gone or socket full: never a reason to stop the audio

    def ready(self) -> None:
        self._send("READY=1")

    def tick(self) -> None:
        """From the audio loop, every hop: a ping when half the watchdog period has passed."""
        if self.interval_ns:
            now = time.monotonic_ns()
            if now - self._last_ns >= self.interval_ns:
                self._last_ns = now
                self._send("WATCHDOG=1")

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
