"""A PipeWire daemon of one's own (Debian's pipewire, pipewire-bin), headless, with its runtime
and configuration directories in a folder given to it, and the clients run against it: the
drop-ins `edge install-pipewire` writes, measured without touching the user's own PipeWire
(tests/test_pipewire*.py, `edge eval-echo --chains pipewire`).

There is no session manager: where wireplumber would configure the streams' ports and link
them, the caller does it with dsp_ports() and link() (pw-cli, pw-link)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from edge.errors import EdgeError

TOOLS = ("pipewire", "pw-cat", "pw-cli", "pw-link", "pw-dump", "pw-metadata")
_DROP = {"PIPEWIRE_REMOTE", "PIPEWIRE_RUNTIME_DIR", "PIPEWIRE_CONFIG_DIR", "PIPEWIRE_CONFIG_NAME",
         "DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY", "PERCEPNET_MODEL"}


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


class Daemon:
    """The daemon and its clients; stop() ends them all. Drop-ins go in conf_dir before start()."""

    def __init__(self, folder: str | Path):
        self.dir = Path(folder)
        run_dir = self.dir / "run"
        run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if k not in _DROP}
        self.env.update(XDG_RUNTIME_DIR=str(run_dir), XDG_CONFIG_HOME=str(self.dir / "config"),
                        HOME=str(self.dir))
        self.conf_dir = self.dir / "config" / "pipewire" / "pipewire.conf.d"
        self.log = self.dir / "pipewire.log"
        self.procs = []

    def start(self) -> None:
        """Starts the daemon, or says in one line why it cannot (the log's last line)."""
        gone = missing_tools()
        if gone:
            raise EdgeError("PipeWire is not installed (apt-get install pipewire pipewire-bin): "
                            + ", ".join(gone) + " missing")
        with open(self.log, "w") as log:
            self.daemon = self.spawn(["pipewire"], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not (self.dir / "run" / "pipewire-0").exists():
            if self.daemon.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text().strip().splitlines()[-1:] or ["no output"]
                self.stop()
                raise EdgeError(f"the PipeWire daemon does not start here: {tail[0]}")
            time.sleep(0.05)

    def spawn(self, argv, **kw) -> subprocess.Popen:
        p = subprocess.Popen(argv, env=self.env, start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def run(self, *argv) -> str:
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=20,
                              check=True).stdout

    def force_quantum(self, samples: int) -> None:
        """Every graph cycle this many samples (0: PipeWire picks, from the nodes' latencies)."""
        self.run("pw-metadata", "-n", "settings", "0", "clock.force-quantum", str(samples))

    def nodes(self) -> dict:
        return {o["info"]["props"].get("node.name"): o for o in json.loads(self.run("pw-dump"))
                if o["type"].endswith(":Node")}

    def node(self, name: str, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while (found := self.nodes().get(name)) is None:
            if time.monotonic() > deadline:
                raise EdgeError(f"no node {name} in the PipeWire daemon after {timeout:g}s "
                                f"(its log: {self.log})")
            time.sleep(0.05)
        return found

    def dsp_ports(self, name: str, direction: str, positions, rate: int = 48000) -> None:
        """What a session manager does for a stream: planar float ports, one per channel."""
        self.run("pw-cli", "set-param", str(self.node(name)["id"]), "PortConfig",
                 f"{{ direction: {direction}, mode: dsp, format: {{ mediaType: audio, mediaSubtype: raw, "
                 f"format: F32P, rate: {rate}, channels: {len(positions)}, position: [ {', '.join(positions)} ] }} }}")

    def link(self, out_port: str, in_port: str, timeout: float = 5) -> None:
        deadline = time.monotonic() + timeout
        while True:
            r = subprocess.run(["pw-link", out_port, in_port], env=self.env, capture_output=True, text=True)
            if r.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise EdgeError(f"pw-link {out_port} {in_port}: {r.stderr.strip()}")
            time.sleep(0.05)

    def play_and_record(self, play: Path, to: list, rec: Path, sources: list[str],
                        tag: str = "", settle_s: float = 0.5):
        """Plays the multichannel audio file `play` with its channel i linked into port to[i]
        (or each port of a list there),
        records ports sources[j] as channel j of `rec` (32-bit float WAV) meanwhile, with one
        recorder (sample-aligned), until settle_s after the player ends. Returns the
        recording, float32 [frames, channels]."""
        from edge.wavio import read

        positions = [f"AUX{i}" for i in range(max(len(to), len(sources)))]
        recorder_name, player_name = f"rec{tag}", f"play{tag}"
        recorder = self.spawn(
            ["pw-cat", "--record", "--rate", "48000", "--format", "f32", "--channels", str(len(sources)),
             "--channel-map", ",".join(positions[:len(sources)]), "-P",
             f"{{ node.name = {recorder_name} }}", str(rec)], stderr=subprocess.DEVNULL)
        self.dsp_ports(recorder_name, "Input", positions[:len(sources)])
        for pos, port in zip(positions, sources):
            self.link(port, f"{recorder_name}:input_{pos}")
        player = self.spawn(
            ["pw-cat", "--playback", "--channels", str(len(to)), "--channel-map",
             ",".join(positions[:len(to)]), "-P",
             f"{{ node.name = {player_name} node.want-driver = false }}", str(play)],
            stderr=subprocess.DEVNULL)
        self.dsp_ports(player_name, "Output", positions[:len(to)])
        for pos, ports in zip(positions, to):
            for port in [ports] if isinstance(ports, str) else ports:
                self.link(f"{player_name}:output_{pos}", port)
        player.wait(timeout=600)
        time.sleep(settle_s)                       # the chain's delay and a graph cycle or two
        recorder.send_signal(signal.SIGINT)        # pw-cat finishes the wav header on SIGINT
        recorder.wait(timeout=10)
        a = read(rec)
        if a.info.rate != 48000 or a.info.channels != len(sources):
            raise EdgeError(f"{rec}: the recorder wrote {a.info.channels} channels at "
                            f"{a.info.rate} Hz, not {len(sources)} at 48000 Hz")
        return a.samples

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs = []
