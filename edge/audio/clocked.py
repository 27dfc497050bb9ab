"""A clocked 48 kHz ALSA device without a sound card, for tests and `edge bench --soak`.

ALSA `file` PCMs have no clock: they never underrun and never make the loop wait. This starts
a private PulseAudio server as an ordinary child process (its own socket and state under a
temporary directory, no D-Bus, no session) with two null sinks, whose timer paces them at
48 kHz like a sound card, and writes an asoundrc that reaches them through ALSA's `pulse`
plugin (Debian: pulseaudio, pulseaudio-utils, libasound2-plugins):

    clocked_tone  playback into the input sink  (a feeder: a tone, the bundled speech)
    clocked_cap   capture of the input sink's monitor       -> what `edge run` hears
    clocked_play  playback into the output sink             <- what `edge run` plays
    clocked_out   capture of the output sink's monitor      (to check what was played)

Underruns are reported to the application (handle_underrun), so xruns are counted as on a card.
$EDGE_CLOCKED_LOG=debug makes the server log every underrun (in its directory, pulseaudio.log).
PulseAudio refuses root unless told otherwise: run as root it only warns with these flags
(-n: no default script, --system=no), so the same fixture serves CI (root) and a user.
"""
from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from edge.errors import EdgeError
from edge.native import SAMPLE_RATE

CAPTURE, PLAYBACK, TONE, MONITOR = "clocked_cap", "clocked_play", "clocked_tone", "clocked_out"
_SINK_IN, _SINK_OUT = "edge_in", "edge_out"


class ClockedDeviceUnavailable(EdgeError):
    """The clocked device cannot start here (what is missing is in the message)."""


def missing() -> str | None:
    """Why the clocked device cannot start on this machine, or None when it can."""
    for prog, pkg in (("pulseaudio", "pulseaudio"), ("pacat", "pulseaudio-utils"),
                      ("parec", "pulseaudio-utils")):
        if shutil.which(prog) is None:
            return f"{prog} not installed (Debian: apt-get install {pkg})"
    if not glob.glob("/usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so") + \
            glob.glob("/usr/lib/alsa-lib/libasound_module_pcm_pulse.so"):
        return "the ALSA pulse plugin is not installed (Debian: apt-get install libasound2-plugins)"
    return None


def _pcm(name: str, device: str, server: str) -> str:
    return (f'pcm.{name} {{ type pulse; server "{server}"; device "{device}"; '
            f'handle_underrun true }}\n')


class ClockedDevice:
    """The private server and its ALSA names. Use as a context manager, or start()/stop().
    `alsa_config_path` is the value for $ALSA_CONFIG_PATH (alsa-lib rereads its configuration
    when it changes, so setting it in os.environ works within a running process)."""

    def __init__(self, workdir: str | Path | None = None, start_timeout_s: float = 10.0):
        self._own_dir = workdir is None
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="edge-clocked-", dir=memory_dir()))
        self.start_timeout_s = start_timeout_s
        self.socket = self.dir / "native"
        self.server = f"unix:{self.socket}"
        self.asoundrc = self.dir / "asoundrc"
        self.log = self.dir / "pulseaudio.log"
        self.alsa_config_path = f"/usr/share/alsa/alsa.conf:{self.asoundrc}"
        self._proc: subprocess.Popen | None = None
        self._feeders: list[subprocess.Popen] = []

    # -- server ----------------------------------------------------------------------------
    def start(self) -> "ClockedDevice":
        why = missing()
        if why:
            raise ClockedDeviceUnavailable(f"clocked test device unavailable: {why}")
        (self.dir / "state").mkdir(parents=True, exist_ok=True)
        script = self.dir / "server.pa"
        sink = f"rate={SAMPLE_RATE} channels=1 format=s16le"
        script.write_text(
            f"load-module module-native-protocol-unix socket={self.socket} auth-anonymous=1\n"
            f"load-module module-null-sink sink_name={_SINK_IN} {sink}\n"
            f"load-module module-null-sink sink_name={_SINK_OUT} {sink}\n")
        self.asoundrc.write_text(_pcm(TONE, _SINK_IN, self.server)
                                 + _pcm(CAPTURE, f"{_SINK_IN}.monitor", self.server)
                                 + _pcm(PLAYBACK, _SINK_OUT, self.server)
                                 + _pcm(MONITOR, f"{_SINK_OUT}.monitor", self.server))
        state = str(self.dir / "state")
        env = {**os.environ, "HOME": state, "XDG_RUNTIME_DIR": state, "XDG_CONFIG_HOME": state,
               "PULSE_RUNTIME_PATH": state, "PULSE_STATE_PATH": state}
        env.pop("DISPLAY", None)
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        cmd = ["pulseaudio", "-n", "-F", str(script), "--daemonize=no", "--system=no",
               "--exit-idle-time=-1", "--disable-shm=yes", "--use-pid-file=no", "--disallow-exit",
               "--log-target=stderr", "--log-time=1", "--log-level=" + os.environ.get("EDGE_CLOCKED_LOG", "notice")]
        with open(self.log, "wb") as log:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                          env=env, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail = self.log.read_text(errors="replace").strip().splitlines()[-1:]
                self.stop()
                raise ClockedDeviceUnavailable(
                    "clocked test device unavailable: pulseaudio exited with status "
                    f"{self._proc.returncode} ({tail[0] if tail else 'no output'})")
            if self._accepts():
                _realtime(self._proc.pid)       # it reset its main thread's policy at start
                self._pace()
                return self
            time.sleep(0.05)
        self.stop()
        raise ClockedDeviceUnavailable("clocked test device unavailable: pulseaudio did not "
                                       f"open its socket within {self.start_timeout_s:g} s")

    def _pace(self) -> None:
        """Keep both sinks ticking at a 10 ms block whatever streams come and go: a null sink
        that no stream asks for a latency sleeps in 2 s blocks, so a stream (re)started then
        waits up to 2 s for its first period. A recorder on each monitor asks for 10 ms."""
        for sink in (_SINK_IN, _SINK_OUT):
            self._feeders.append(subprocess.Popen(
                ["parec", f"--server={self.server}", f"--device={sink}.monitor", "--raw",
                 "--format=s16le", f"--rate={SAMPLE_RATE}", "--channels=1", "--latency-msec=10"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True))

    def _accepts(self) -> bool:
        if not self.socket.exists():
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            try:
                s.connect(str(self.socket))
                return True
            except OSError:
                return False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def stop(self) -> None:
        for f in self._feeders:
            _end(f)
        self._feeders.clear()
        if self._proc is not None:
            _end(self._proc)
            self._proc = None
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "ClockedDevice":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- feeding the input -----------------------------------------------------------------
    def feed(self, raw_s16: bytes, seconds: float | None = None) -> subprocess.Popen:
        """Play mono S16_LE samples into the input sink from a separate process (pacat, one
        process, paced by the server), repeated to last `seconds` (default: once); stopped
        with the device."""
        src = self.dir / f"feed{len(self._feeders)}.raw"
        frames = len(raw_s16) // 2
        if seconds is not None and frames:
            want = round(seconds * SAMPLE_RATE)
            with open(src, "wb") as f:
                for _ in range(want // frames):
                    f.write(raw_s16[: frames * 2])
                f.write(raw_s16[: (want % frames) * 2])
        else:
            src.write_bytes(raw_s16)
        p = subprocess.Popen(["pacat", "--playback", f"--server={self.server}",
                              f"--device={_SINK_IN}", "--raw", "--format=s16le",
                              f"--rate={SAMPLE_RATE}", "--channels=1", "--latency-msec=40",
                              str(src)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        self._feeders.append(p)
        return p


@contextmanager
def fed_duplex(raw_s16: bytes, seconds: float, periods: int, start_up_s: float = 30.0):
    """A started device whose input plays mono S16_LE `raw_s16` looped for `seconds` (plus
    the capture's start-up), this process's ALSA pointed at it meanwhile: yields the
    AlsaDuplex `edge run` would open on it (clocked_cap -> clocked_play)."""
    from edge.audio.alsa import AlsaDuplex, AudioConfig

    dev = ClockedDevice().start()
    old_cfg = os.environ.get("ALSA_CONFIG_PATH")
    os.environ["ALSA_CONFIG_PATH"] = dev.alsa_config_path
    io = None
    try:
        dev.feed(raw_s16, seconds=seconds + start_up_s)
        io = AlsaDuplex(AudioConfig(capture=CAPTURE, playback=PLAYBACK, periods=periods))
        yield io
    finally:
        if io is not None:
            io.close(drain=False)
        dev.stop()
        if old_cfg is None:
            os.environ.pop("ALSA_CONFIG_PATH", None)
        else:
            os.environ["ALSA_CONFIG_PATH"] = old_cfg


def memory_dir() -> str | None:
    """/dev/shm where writable, else the temporary directory: the feed file (96 kB per second
    of a soak, 60 MB for 10 minutes) and the server's log must not keep a disk busy, as a
    card's DMA does no I/O."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


SERVER_PRIORITY = 20    # SCHED_RR, below `edge run`'s audio thread (SCHED_FIFO 70)


def _realtime(pid: int) -> None:
    """Run the server's main thread (it moves the audio between clients and sinks) SCHED_RR
    where permitted: as a sound card's DMA does not wait for a busy CPU, the server standing in
    for it should not either. Its sink threads make themselves SCHED_RR. An unprivileged user
    gets an ordinary server, which paces as well on a machine that is not overloaded."""
    try:
        os.sched_setscheduler(pid, os.SCHED_RR, os.sched_param(SERVER_PRIORITY))
    except (OSError, AttributeError):
        pass


def _end(p: subprocess.Popen) -> None:
    """Stop a child we started (one process, in a session of its own)."""
    if p.poll() is not None:
        return
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(5)
