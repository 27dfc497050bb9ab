"""Boot the virtual Raspberry Pi: qemu-system-aarch64 (-M virt -cpu cortex-a72, TCG) on a
fresh copy-on-write overlay of the cached image, sshd reached on a forwarded 127.0.0.1 port.

    python tests/board_vm/vm.py [--keep DIR]    # boot, print how to ssh in, wait for Ctrl-C

The guest's clock comes from its instruction count (-icount shift=0,sleep=off: one guest
instruction is 1 ns, idle time is skipped), so to itself the VM is a steady 1-GIPS board however
slow or busy the host is: under plain TCG the kernel takes 12 ms per 10 ms hop on a loaded
2-core host and the service can only bypass, under icount it takes 1 ms of guest time and
holds real time (guest time) without a miss. Wall-clock time is slower than guest time while
the guest is busy (about 5x here).

Each VM gets a throwaway client key and host key (passed in through fw_cfg, see image.py),
and a known_hosts file naming that host key, so ssh and `edge flash` keep strict checking.
"""
from __future__ import annotations

import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import image  # noqa: E402

QEMU = "qemu-system-aarch64"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BoardVM:
    """One virtual board: its overlay disk, keys and (while running) its qemu process."""

    def __init__(self, image_dir: Path, workdir: Path, smp: int = 2, mem_mb: int = 2048,
                 icount: int | None = 0):
        self.image_dir, self.dir = Path(image_dir), Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.smp, self.mem_mb, self.icount = smp, mem_mb, icount
        self.overlay = self.dir / "overlay.qcow2"
        self.identity = self.dir / "id_ed25519"
        self.known_hosts = self.dir / "known_hosts"
        self.console = self.dir / "console.log"
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.boots: list[float] = []            # seconds from qemu start to ssh answering
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2",
                        "-b", str(self.image_dir / "base.qcow2"), str(self.overlay)], check=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pn-board-vm-client",
                        "-f", str(self.identity)], check=True)

    # -- life cycle ---------------------------------------------------------------------
    def _new_host_key(self) -> None:
        """A host key for this boot, and a known_hosts that names it and nothing else."""
        key = self.dir / "host_key"
        for p in (key, key.with_suffix(".pub")):
            p.unlink(missing_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pn-board-vm-host",
                        "-f", str(key)], check=True)
        kind, blob = key.with_suffix(".pub").read_text().split()[:2]
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {kind} {blob}\n")

    def start(self, timeout: float = 600) -> float:
        """Boot (a fresh qemu process on the same overlay) and wait for sshd; boot seconds."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.port = free_port()
        self._new_host_key()
        img = self.image_dir
        argv = [QEMU, "-M", "virt", "-cpu", "cortex-a72", "-smp", str(self.smp),
                "-m", str(self.mem_mb),
                *(["-accel", "tcg,thread=single", "-icount", f"shift={self.icount},sleep=off"]
                  if self.icount is not None else ["-accel", "tcg,thread=multi"]),
                "-display", "none", "-monitor", "none", "-serial", f"file:{self.console}",
                "-kernel", str(img / "vmlinuz"), "-initrd", str(img / "initrd.img"),
                "-append", "root=/dev/vda rw console=ttyAMA0 quiet",
                "-drive", f"file={self.overlay},format=qcow2,if=virtio,cache=writeback",
                "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{self.port}-:22",
                "-device", "virtio-net-pci,netdev=n0",
                "-fw_cfg", f"name=opt/percepnet/host_key,file={self.dir / 'host_key'}",
                "-fw_cfg", f"name=opt/percepnet/authorized_keys,file={self.identity}.pub"]
        t0 = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(self.dir / "qemu.log", "ab"))
        took = self.wait_ssh(timeout, since=t0)
        self.boots.append(took)
        return took

    def wait_ssh(self, timeout: float, since: float | None = None) -> float:
        since = since or time.monotonic()
        deadline = since + timeout
        while True:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"qemu exited ({self.proc and self.proc.returncode}): "
                                   f"{self.tail()}")
            r = self.ssh("true", timeout=20, check=False, connect_timeout=5)
            if r.returncode == 0:
                return time.monotonic() - since
            if time.monotonic() > deadline:
                raise RuntimeError(f"no ssh after {timeout:.0f}s: {r.stderr.strip()} "
                                   f"console: {self.tail()}")
            time.sleep(2)

    def reboot(self, timeout: float = 600) -> float:
        """`reboot` inside the guest (the same qemu process restarts it); boot seconds."""
        self.ssh("systemctl reboot", check=False, timeout=30)
        t0 = time.monotonic()
        # Wait until sshd has gone away, then until it is back.
        while self.ssh("true", timeout=10, check=False, connect_timeout=3).returncode == 0:
            if time.monotonic() - t0 > 120:
                raise RuntimeError("the guest did not go down after `systemctl reboot`")
            time.sleep(1)
        took = self.wait_ssh(timeout, since=t0)
        self.boots.append(took)
        return took

    def power_cut(self) -> None:
        """Pull the plug: SIGKILL qemu (nothing is flushed inside the guest)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def poweroff(self, timeout: float = 90) -> None:
        if not self.proc or self.proc.poll() is not None:
            return
        try:
            self.ssh("systemctl poweroff", check=False, timeout=20)
        except subprocess.TimeoutExpired:
            pass    # the session can hang while the guest goes down: the wait below decides
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.power_cut()

    def tail(self, n: int = 15) -> str:
        try:
            lines = self.console.read_text(errors="replace").splitlines()
        except OSError:
            return "(no console log)"
        return " | ".join(lines[-n:])

    # -- talking to it ------------------------------------------------------------------
    def ssh_options(self, connect_timeout: int = 10) -> list[str]:
        return ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "IdentitiesOnly=yes",
                "-i", str(self.identity), "-o", f"ConnectTimeout={connect_timeout}",
                "-o", "LogLevel=ERROR"]

    def ssh(self, command: str, *, user: str = "root", timeout: float = 300, check: bool = True,
            input: bytes | str | None = None, connect_timeout: int = 10,
            text: bool = True) -> subprocess.CompletedProcess:
        argv = (["ssh"] + self.ssh_options(connect_timeout)
                + ["-p", str(self.port), f"{user}@127.0.0.1", command])
        r = subprocess.run(argv, input=input, capture_output=True, text=text, timeout=timeout)
        if check and r.returncode != 0:
            err = r.stderr if text else r.stderr.decode(errors="replace")
            raise RuntimeError(f"ssh {command!r} exited {r.returncode}: {err.strip()[-2000:]}")
        return r

    def put(self, local: Path, remote: str) -> None:
        with open(local, "rb") as f:
            self.ssh(f"cat > {shlex.quote(remote)}", input=f.read(), text=False)

    def get(self, remote: str, local: Path) -> None:
        r = self.ssh(f"cat {shlex.quote(remote)}", text=False)
        Path(local).write_bytes(r.stdout)


def main() -> int:
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, help="work directory (overlay, keys); default a temp dir")
    ap.add_argument("--icount", type=int, default=0, metavar="SHIFT",
                    help="guest clock from instruction counts: 2^SHIFT ns per instruction (0)")
    ap.add_argument("--wall-clock", dest="icount", action="store_const", const=None,
                    help="guest clock is the host's (multi-threaded TCG, no icount)")
    a = ap.parse_args()
    img = image.get()
    work = a.dir or Path(tempfile.mkdtemp(prefix="pn-board-vm-"))
    vm = BoardVM(img, work, icount=a.icount)
    print(f"booting {img} (overlay {vm.overlay}) ...", file=sys.stderr)
    took = vm.start()
    print(f"up in {took:.0f}s. ssh in with:\n  ssh {' '.join(shlex.quote(o) for o in vm.ssh_options())}"
          f" -p {vm.port} root@127.0.0.1\nflash it with:\n  edge flash --board rpi4 --host "
          f"root@127.0.0.1 --port {vm.port} --identity {vm.identity} --known-hosts {vm.known_hosts}"
          f"\nCtrl-C powers it off (so does `systemctl poweroff` inside).", file=sys.stderr)
    try:
        while vm.proc.poll() is None:      # until Ctrl-C, or the guest powers itself off
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    vm.poweroff()
    if not a.dir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
