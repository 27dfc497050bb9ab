"""SSH to the board with the system ssh binary: keys only, host keys checked, never a prompt.

Every remote step runs templates/remote.sh passed as `sh -c SCRIPT`, so stdin stays free to
stream the bundle. A login other than root runs it through `sudo -n` (no password prompt),
or, once `edge flash --install-sudoers` has installed it, runs the board's pinned copy of
remote.sh through `sudo -n` and needs no other sudo right (edge/flash/sudo.py).
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from edge.errors import EdgeError

REMOTE_SCRIPT = Path(__file__).resolve().parent / "templates" / "remote.sh"
CHUNK = 16 * 1024


class RemoteError(EdgeError):
    """A remote step failed; the message is remote.sh's reason or ssh's."""


@dataclass(frozen=True)
class Target:
    user: str
    host: str
    port: int = 22
    identity: Path | None = None
    known_hosts: Path | None = None
    control: str | None = None    # socket of a shared connection (session())
    helper: str | None = None     # the board's pinned remote.sh, run through sudo (sudo.py)

    @classmethod
    def parse(cls, spec: str, default_user: str, **kw) -> "Target":
        user, _, host = spec.rpartition("@")
        if not host or not re.fullmatch(r"[A-Za-z0-9_.:%\[\]-]+", host) or (
                user and not re.fullmatch(r"[A-Za-z0-9_.-]+", user)):
            raise EdgeError(f"--host must be USER@HOST or HOST, got {spec!r}")
        if host.count(":") == 1:
            raise EdgeError(f"--host takes no port ({spec!r}): use --port {host.partition(':')[2]}")
        return cls(user=user or default_user, host=host.strip("[]"), **kw)

    def __str__(self) -> str:
        return f"{self.user}@{self.host}" + (f":{self.port}" if self.port != 22 else "")


def _options(t: Target) -> list[str]:
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no",
            "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=5",
            "-o", "ServerAliveCountMax=3", "-p", str(t.port)]
    if t.identity:
        argv += ["-i", str(t.identity), "-o", "IdentitiesOnly=yes"]
    if t.known_hosts:
        argv += ["-o", f"UserKnownHostsFile={t.known_hosts}"]
    return argv


def ssh_argv(t: Target, remote_command: str) -> list[str]:
    control = ["-S", t.control, "-o", "ControlMaster=no"] if t.control else []
    return _options(t) + control + ["--", f"{t.user}@{t.host}", remote_command]


@contextmanager
def session(t: Target, timeout: float = 30):
    """One authenticated connection that every step inside reuses (an ssh ControlMaster):
    a deploy is a handful of short commands, and a handshake costs more than most of them."""
    d = tempfile.mkdtemp(prefix="edge-ssh-")
    sock = os.path.join(d, "control")
    with open(os.path.join(d, "stderr"), "w+") as err:
        try:
            master = subprocess.Popen(_options(t) + ["-M", "-N", "-S", sock, "-o", "ControlPersist=no",
                                                     "--", f"{t.user}@{t.host}"],
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        except FileNotFoundError:
            shutil.rmtree(d)
            raise EdgeError("ssh not found: install openssh-client") from None
        try:
            deadline = time.monotonic() + timeout
            while not os.path.exists(sock):
                if master.poll() is not None:
                    err.seek(0)
                    raise RemoteError(explain_ssh_failure(t, err.read()))
                if time.monotonic() > deadline:
                    raise RemoteError(f"cannot reach {t}: no SSH session within {timeout:.0f}s")
                time.sleep(0.05)
            yield replace(t, control=sock)
        finally:
            master.terminate()
            master.wait()
            shutil.rmtree(d, ignore_errors=True)


# Commands that only read: run as the login user, so a missing sudo right is reported, not hit.
READ_ONLY = {"facts"}


def remote_command(t: Target, command: str, *args: str) -> str:
    argv = " ".join(shlex.quote(a) for a in (command, *args))
    if t.helper and command not in READ_ONLY:
        return f"sudo -n {shlex.quote(t.helper)} {argv}"
    sudo = "" if t.user == "root" or command in READ_ONLY else "sudo -n "
    return f"{sudo}sh -c {shlex.quote(REMOTE_SCRIPT.read_text())} remote.sh {argv}"


def explain_ssh_failure(t: Target, stderr: str) -> str:
    """ssh's own failures (exit 255) as one actionable line."""
    s = stderr.strip()
    if "Host key verification failed" in s or "REMOTE HOST IDENTIFICATION HAS CHANGED" in s:
        return (f"host key of {t.host} is unknown or changed: check it and store it with "
                f"`ssh -p {t.port} {t.user}@{t.host}` once (edge flash never accepts keys itself)")
    if "Permission denied" in s:
        return (f"{t} refused key login (passwords are never used): install your key with "
                f"`ssh-copy-id -p {t.port} {t.user}@{t.host}` or pass --identity KEY")
    lines = [line for line in s.splitlines() if line.strip()]
    return f"cannot reach {t}: {lines[-1] if lines else 'ssh failed'}"


def _failure(t: Target, command: str, rc: int, stderr: str) -> RemoteError:
    if rc == 255:
        return RemoteError(explain_ssh_failure(t, stderr))
    reasons = [line[len("remote: "):] for line in stderr.splitlines() if line.startswith("remote: ")]
    tail = reasons[-1] if reasons else (stderr.strip().splitlines() or [f"exit {rc}"])[-1]
    return RemoteError(f"{command} on {t.host} failed: {tail}")


def run(t: Target, command: str, *args: str, timeout: float = 120) -> str:
    """Run a remote.sh command; its stdout, or RemoteError."""
    try:
        r = subprocess.run(ssh_argv(t, remote_command(t, command, *args)), capture_output=True,
                           text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise EdgeError("ssh not found: install openssh-client") from None
    except subprocess.TimeoutExpired:
        raise RemoteError(f"{command} on {t.host} did not finish within {timeout:.0f}s") from None
    if r.returncode != 0:
        raise _failure(t, command, r.returncode, r.stderr)
    return r.stdout


def send(t: Target, path: Path, command: str, *args: str,
         on_chunk: Callable[[int, subprocess.Popen], None] | None = None,
         timeout: float = 600) -> str:
    """Stream a file into a remote.sh command's stdin. on_chunk(bytes_sent, process) is
    called before each chunk (progress, or a test cutting the connection)."""
    # Output goes to files: nothing can block on a full pipe while we write stdin.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(ssh_argv(t, remote_command(t, command, *args)),
                                    stdin=subprocess.PIPE, stdout=out, stderr=err)
        except FileNotFoundError:
            raise EdgeError("ssh not found: install openssh-client") from None
        sent = 0
        try:
            with open(path, "rb") as f:
                while chunk := f.read(CHUNK):
                    if on_chunk:
                        on_chunk(sent, proc)
                    proc.stdin.write(chunk)
                    sent += len(chunk)
            proc.stdin.close()
        except OSError:
            pass    # the connection went away: the exit status below says how
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    size = path.stat().st_size
    if proc.returncode != 0:
        e = _failure(t, command, proc.returncode, stderr)
        if proc.returncode < 0 or sent < size:
            e = RemoteError(f"copy to {t.host} interrupted after {sent} of {size} bytes")
        raise e
    return stdout
