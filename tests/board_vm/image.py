"""The virtual Raspberry Pi's disk image: Debian 12 arm64 built from Debian packages with
mmdebstrap, cached outside the work tree and keyed by its inputs (this file's recipe).

    python tests/board_vm/image.py          # build (or find) the image; prints its directory

The cache directory (~/.cache/percepnet-edge/board-vm/<key>/, or $PN_BOARD_VM_CACHE/<key>/)
holds base.qcow2 (never written to: every boot gets a copy-on-write overlay), vmlinuz,
initrd.img and image.json (inputs, timings). Everything the tests need on the board is
installed here, at build time.

The guest, as the tests see it:
  - systemd, dbus, udev, sshd (root by key only), sudo, a user `pi` in group audio;
  - python3 3.11 with Debian's python3-numpy, and Debian's python3-alsaaudio 0.8.4 (kept on
    purpose: it is what a Raspberry Pi OS board has, and its capture is broken);
  - snd-aloop loaded at boot as card "Device" with one substream per device, standing in for
    a USB audio adapter (`plughw:CARD=Device,DEV=0`, the rpi4 descriptor's default): what is
    played into device 1 is captured on device 0 and the other way round, with a real clock;
  - a static address 10.0.2.15 on qemu's user network; sshd reached through a forwarded port;
  - no ssh host key in the image: at every boot pn-vm-keys.service installs the host key
    and root's authorized key that the host passes through qemu's fw_cfg, so each run has a
    throwaway client key and a host key the host knows in advance (strict checking stays on).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUITE = "bookworm"
ARCH = "arm64"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = [
    "systemd-sysv", "dbus", "udev", "kmod", "openssh-server", "sudo", "procps", "iproute2",
    "python3", "python3-numpy", "python3-alsaaudio", "alsa-utils",
    "linux-image-arm64", "initramfs-tools",
]
IMAGE_MB = 2048
# Host tools the build needs, and the Debian packages that give them.
HOST_TOOLS = {"mmdebstrap": "mmdebstrap", "mkfs.ext4": "e2fsprogs", "qemu-img": "qemu-utils",
              "update-binfmts": "binfmt-support", "qemu-aarch64-static": "qemu-user-static"}

# Installed before the kernel package, so its initramfs is small and fast to make under
# emulation: only the modules listed, and the ones a virtio disk root needs are forced in.
INITRAMFS_CONF = "MODULES=list\nCOMPRESS=gzip\n"
INITRAMFS_HOOK = """#!/bin/sh
PREREQ=""
prereqs() { echo "$PREREQ"; }
case "$1" in prereqs) prereqs; exit 0;; esac
. /usr/share/initramfs-tools/hook-functions
for m in virtio_pci virtio_mmio virtio_blk virtio_net ext4; do force_load "$m"; done
"""

FILES = {
    "/etc/hostname": "pn-board\n",
    "/etc/hosts": "127.0.0.1 localhost\n127.0.1.1 pn-board\n",
    "/etc/fstab": "/dev/vda / ext4 defaults,errors=remount-ro 0 1\n",
    "/etc/systemd/network/20-wired.network":
        "[Match]\nName=en* eth*\n\n[Network]\nAddress=10.0.2.15/24\nGateway=10.0.2.2\n"
        "DNS=10.0.2.3\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n",
    "/etc/modules-load.d/percepnet-vm.conf": "snd-aloop\nqemu_fw_cfg\n",
    "/etc/modprobe.d/percepnet-vm.conf": "options snd-aloop index=0 id=Device pcm_substreams=1\n",
    "/etc/ssh/sshd_config.d/percepnet-vm.conf":
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUseDNS no\n"
        "HostKey /etc/ssh/ssh_host_ed25519_key\n",
    "/usr/local/sbin/pn-vm-keys": """#!/bin/sh
# Install the ssh host key and root's authorized key the host passed through fw_cfg.
set -eu
modprobe qemu_fw_cfg 2>/dev/null || true
d=/sys/firmware/qemu_fw_cfg/by_name/opt/percepnet
i=0
while [ ! -r "$d/host_key/raw" ]; do
    i=$((i + 1)); [ "$i" -le 50 ] || { echo "pn-vm-keys: no keys in fw_cfg" >&2; exit 1; }
    sleep 0.1
done
umask 077
cat "$d/host_key/raw" > /etc/ssh/ssh_host_ed25519_key.tmp
mv /etc/ssh/ssh_host_ed25519_key.tmp /etc/ssh/ssh_host_ed25519_key
ssh-keygen -y -f /etc/ssh/ssh_host_ed25519_key > /etc/ssh/ssh_host_ed25519_key.pub
mkdir -p /root/.ssh
cat "$d/authorized_keys/raw" > /root/.ssh/authorized_keys.tmp
mv /root/.ssh/authorized_keys.tmp /root/.ssh/authorized_keys
""",
    "/etc/systemd/system/pn-vm-keys.service": """[Unit]
Description=ssh keys of this boot from qemu fw_cfg
DefaultDependencies=no
After=local-fs.target systemd-modules-load.service
Before=ssh.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/pn-vm-keys

[Install]
WantedBy=ssh.service
""",
}

# Run in the finished root file system (chroot, aarch64 through binfmt_misc).
CUSTOMIZE = [
    "useradd -m -s /bin/bash -G audio pi",
    "passwd -l root",
    "rm -f /etc/ssh/ssh_host_*",
    "chmod 755 /usr/local/sbin/pn-vm-keys",
    "systemctl enable systemd-networkd pn-vm-keys.service",
    # Nothing periodic that could wake up in the middle of a test.
    "systemctl disable apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer "
    "dpkg-db-backup.timer 2>/dev/null || true",
    "systemctl mask systemd-networkd-wait-online.service getty@tty1.service",
    "systemctl set-default multi-user.target",
]


def cache_root() -> Path:
    env = os.environ.get("PN_BOARD_VM_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "percepnet-edge" / "board-vm"


def recipe() -> dict:
    return {"suite": SUITE, "arch": ARCH, "mirror": MIRROR, "packages": PACKAGES,
            "image_mb": IMAGE_MB, "initramfs_conf": INITRAMFS_CONF,
            "initramfs_hook": INITRAMFS_HOOK, "files": FILES, "customize": CUSTOMIZE}


def key() -> str:
    return hashlib.sha256(json.dumps(recipe(), sort_keys=True).encode()).hexdigest()[:16]


def image_dir() -> Path:
    return cache_root() / key()


def cached() -> Path | None:
    d = image_dir()
    return d if (d / "image.json").is_file() else None


class Unavailable(Exception):
    """The image cannot be built on this machine (the reason says why)."""


def missing_prerequisites() -> str | None:
    """Why this machine cannot build the image, or None."""
    if os.geteuid() != 0:
        return "building the board VM image needs root (mmdebstrap --mode=root, binfmt_misc)"
    lacking = [pkg for tool, pkg in HOST_TOOLS.items() if not shutil.which(tool)
               and not Path("/usr/sbin", tool).exists()]
    if lacking:
        return f"building the board VM image needs apt packages: {' '.join(sorted(set(lacking)))}"
    return None


def enable_binfmt() -> None:
    """Let the host run aarch64 programs (the packages' maintainer scripts) transparently."""
    mnt = Path("/proc/sys/fs/binfmt_misc")
    if not (mnt / "register").exists():
        r = subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(mnt)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise Unavailable(f"cannot mount binfmt_misc: {r.stderr.strip()}")
    if not (mnt / "qemu-aarch64").exists():
        subprocess.run(["update-binfmts", "--import", "qemu-aarch64"], capture_output=True)
    subprocess.run(["update-binfmts", "--enable", "qemu-aarch64"], capture_output=True)
    entry = mnt / "qemu-aarch64"
    if not entry.exists() or "enabled" not in entry.read_text():
        raise Unavailable("binfmt_misc has no enabled qemu-aarch64 entry "
                          "(apt-get install qemu-user-static binfmt-support)")


def _hook_writing_files(setup_dir: Path) -> list[str]:
    """mmdebstrap --customize-hook arguments copying FILES into the root ($1)."""
    args = []
    for i, (path, text) in enumerate(FILES.items()):
        src = setup_dir / f"file{i}"
        src.write_text(text)
        args += ["--customize-hook", f'mkdir -p "$1{os.path.dirname(path)}" && cp {src} "$1{path}"']
    return args


def build(log=lambda s: print(s, file=sys.stderr)) -> Path:
    """Build the image into the cache (once; a concurrent build waits for the first)."""
    why = missing_prerequisites()
    if why:
        raise Unavailable(why)
    final = image_dir()
    final.parent.mkdir(parents=True, exist_ok=True)
    with open(final.parent / f".{final.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if cached():
            return final
        enable_binfmt()
        times = {}
        work = Path(tempfile.mkdtemp(prefix=f".build-{final.name}-", dir=final.parent))
        try:
            rootfs, setup = work / "rootfs", work / "setup"
            setup.mkdir()
            rootfs.mkdir()
            (setup / "initramfs.conf").write_text(INITRAMFS_CONF)
            (setup / "hook").write_text(INITRAMFS_HOOK)
            cmd = ["mmdebstrap", "--mode=root", "--variant=apt", f"--architectures={ARCH}",
                   "--include=" + ",".join(PACKAGES),
                   "--essential-hook",
                   'mkdir -p "$1/etc/initramfs-tools/conf.d" "$1/etc/initramfs-tools/hooks"',
                   "--essential-hook",
                   f'cp {setup}/initramfs.conf "$1/etc/initramfs-tools/conf.d/percepnet-vm.conf"',
                   "--essential-hook",
                   f'install -m 755 {setup}/hook "$1/etc/initramfs-tools/hooks/percepnet-vm"',
                   *_hook_writing_files(setup),
                   *sum((["--customize-hook", f'chroot "$1" sh -c {_q(c)}'] for c in CUSTOMIZE), []),
                   SUITE, str(rootfs) + "/", MIRROR]
            log(f"board-vm: mmdebstrap {SUITE} {ARCH} ({len(PACKAGES)} packages) into {rootfs}")
            t = time.monotonic()
            for attempt in (1, 2):      # a mirror caught mid-sync fails once, not twice
                r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                if r.returncode == 0 or attempt == 2:
                    break
                log("board-vm: mmdebstrap failed, retrying once: "
                    + " | ".join(r.stdout.splitlines()[-3:]))
                shutil.rmtree(rootfs)
                rootfs.mkdir()
            times["mmdebstrap_s"] = round(time.monotonic() - t, 1)
            (work / "mmdebstrap.log").write_text(r.stdout)
            if r.returncode != 0:
                raise RuntimeError(f"mmdebstrap failed (log {work}/mmdebstrap.log): "
                                   + "\n".join(r.stdout.splitlines()[-15:]))
            boot = rootfs / "boot"
            kernels = sorted(boot.glob("vmlinuz-*"))
            initrds = sorted(boot.glob("initrd.img-*"))
            if not kernels or not initrds:
                raise RuntimeError(f"no kernel or initrd in {boot}: {os.listdir(boot)}")
            stage = work / "out"
            stage.mkdir()
            shutil.copy(kernels[-1], stage / "vmlinuz")
            shutil.copy(initrds[-1], stage / "initrd.img")
            t = time.monotonic()
            raw = work / "root.img"
            subprocess.run(["mkfs.ext4", "-q", "-L", "pnroot", "-d", str(rootfs), str(raw),
                            f"{IMAGE_MB}M"], check=True)
            subprocess.run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(stage / "base.qcow2")],
                           check=True)
            times["mkfs_qcow2_s"] = round(time.monotonic() - t, 1)
            (stage / "base.qcow2").chmod(0o444)
            du = subprocess.run(["du", "-sm", str(rootfs)], capture_output=True, text=True).stdout
            meta = {"key": final.name, "recipe": recipe(), "kernel": kernels[-1].name,
                    "rootfs_mb": int(du.split()[0]) if du else None,
                    "built": time.strftime("%Y-%m-%dT%H:%M:%S"), "timings": times}
            (stage / "image.json").write_text(json.dumps(meta, indent=1))
            stage.rename(final)
            log(f"board-vm: image {final} built in {times}")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return final


def _q(s: str) -> str:
    import shlex
    return shlex.quote(s)


def get(build_if_missing: bool = True) -> Path:
    return cached() or (build() if build_if_missing else None)


if __name__ == "__main__":
    try:
        print(get())
    except Unavailable as e:
        sys.exit(f"board-vm: {e}")
