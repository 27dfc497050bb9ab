"""edge flash against a real sshd on 127.0.0.1: deploy, health check, rollback, interrupted
copy, and pre-flight refusals. The "board" is this machine, flashed with the host descriptor
(deploy settings pointed at a temporary prefix and a systemctl stand-in the test controls)."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

import edge.boards as boards
from edge.boards import load_board
from edge.cli import main
from edge.errors import EdgeError
from edge.flash import deploy
from edge.flash.bundle import write_bundle
from edge.flash.ssh import CHUNK, Target
from native_build import build
from broken_bundle import broken_bundle

SSHD = "/usr/sbin/sshd"
pytestmark = pytest.mark.skipif(not (os.path.exists(SSHD) and os.geteuid() == 0 and shutil.which("ssh")),
                                reason="needs openssh-server, ssh and root (the test sshd logs in as root)")

# Stands in for systemd: `restart` runs the installed unit's ExecStart (with its Environment
# and its EnvironmentFile, whose ${VAR}s it expands, as systemd does; the expanded command line
# goes to STATE/execstart) for half a second of audio on the null PCM; `is-active` says active
# when that run exited cleanly. So the deployed release really runs `edge run` from
# PREFIX/current.
# `--user -M USER@ ...` stands in for the user's own systemd: `restart pipewire.service` starts a
# real PipeWire daemon (runtime directory STATE/run, configuration under CONFIG, so it reads the
# drop-in edge flash installed there), `is-active` says whether it runs, `show-environment`
# gives its runtime directory (tests/test_flash_pipewire.py).
FAKE_SYSTEMCTL = """#!/bin/sh
echo "$*" >> {state}/calls
if [ "$1" = --user ]; then
  shift 3
  running() {{ [ -f {state}/pw.pid ] && kill -0 "$(cat {state}/pw.pid)" 2>/dev/null; }}
  case "$1" in
    is-active) running ;;
    show-environment) running && echo XDG_RUNTIME_DIR={state}/run ;;
    restart)
      if running; then
        kill "$(cat {state}/pw.pid)"
        while running; do sleep 0.05; done
      fi
      rm -rf {state}/run && mkdir -m 700 {state}/run
      XDG_RUNTIME_DIR={state}/run XDG_CONFIG_HOME={config} setsid pipewire > {state}/pipewire.log 2>&1 < /dev/null &
      echo $! > {state}/pw.pid ;;
  esac
  exit
fi
case "$1" in
  restart)
    unit={units}/$2.service
    envfile=$(sed -n 's/^EnvironmentFile=//p' "$unit")
    cmd="$(sed -n 's/^ExecStart=//p' "$unit") --duration 0.5"
    env $(sed -n 's/^Environment=//p' "$unit") $(sed '/^#/d' "$envfile") \\
        sh -c "echo $cmd > {state}/execstart; exec $cmd" > {state}/service.log 2>&1
    echo $? > {state}/status ;;
  stop|disable) echo stopped > {state}/status ;;
  is-active)
    if [ "$(cat {state}/status 2>/dev/null)" = 0 ]; then echo active; else echo failed; exit 3; fi ;;
esac
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """A throwaway sshd on 127.0.0.1 accepting one generated key for root."""
    d = tmp_path_factory.mktemp("sshd")
    for key in ("host_key", "user_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)], check=True)
    shutil.copy(d / "user_key.pub", d / "authorized_keys")
    port = _free_port()
    (d / "sshd_config").write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {d}/host_key
PidFile {d}/sshd.pid
AuthorizedKeysFile {d}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
LogLevel ERROR
""")
    os.makedirs("/run/sshd", exist_ok=True)
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")],
                            stderr=open(d / "sshd.log", "w"))
    deadline = time.time() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(f"sshd did not start: {(d / 'sshd.log').read_text()}")
            time.sleep(0.1)
    host_pub = (d / "host_key.pub").read_text().split()
    (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    yield Target(user="root", host="127.0.0.1", port=port, identity=d / "user_key",
                 known_hosts=d / "known_hosts")
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)


@pytest.fixture
def board_env(tmp_path):
    """(boards dir, prefix, state dir) for a host-board deploy into tmp_path."""
    prefix, state, bdir = tmp_path / "opt" / "percepnet-edge", tmp_path / "state", tmp_path / "boards"
    state.mkdir()
    bdir.mkdir()
    systemctl = state / "systemctl"
    systemctl.write_text(FAKE_SYSTEMCTL.format(state=state, units=tmp_path / "units",
                                               config=tmp_path / "config"))
    systemctl.chmod(0o755)
    text = (boards.BOARDS_DIR / "host.toml").read_text()
    text = (text.replace('capture = "default"', 'capture = "null"')
                .replace('playback = "default"', 'playback = "null"')
                .replace('integration = "pipewire"', 'integration = "alsa"')
                .replace('python = "/usr/bin/python3"',
                         f'python = "{sys.executable}"\nsystemctl = "{systemctl}"\n'
                         f'unit_dir = "{tmp_path / "units"}"\nhealth_timeout_s = 4\n'
                         f'pipewire_conf_dir = "{tmp_path / "config" / "pipewire" / "pipewire.conf.d"}"'))
    assert 'integration = "alsa"' in text
    (bdir / "host.toml").write_text(text)
    yield bdir, prefix, state
    pid = state / "pw.pid"          # a PipeWire the systemctl stand-in started
    if pid.is_file():
        try:
            os.kill(int(pid.read_text()), signal.SIGTERM)
        except ProcessLookupError:
            pass


def _flash_args(sshd, prefix) -> list[str]:
    """`edge flash` of the host board to the loopback sshd, into prefix."""
    return ["flash", "--board", "host", "--host", f"root@{sshd.host}", "--port", str(sshd.port),
            "--identity", str(sshd.identity), "--known-hosts", str(sshd.known_hosts),
            "--prefix", str(prefix)]


def _board(bdir, description="test board"):
    """The test host board; a distinct description gives a distinct release."""
    path = bdir / "host.toml"
    lines = path.read_text().splitlines()
    lines[1] = f'description = "{description}"'
    path.write_text("\n".join(lines) + "\n")
    return load_board("host", bdir)


def _bundle(board, prefix, tmp_path):
    return write_bundle(board, tmp_path / f"{board.description.replace(' ', '-')}.tar.gz",
                        str(prefix), build_dir=build("host"))


def _release(prefix):
    link = prefix / "current"
    return os.readlink(link) if link.is_symlink() else ""


def _calls(state):
    f = state / "calls"
    return f.read_text().splitlines() if f.exists() else []


def test_first_deploy_installs_switches_current_and_passes_health(sshd, board_env, tmp_path):
    bdir, prefix, state = board_env
    board = _board(bdir, "release A")
    b = _bundle(board, prefix, tmp_path)
    r = deploy.flash(board, sshd, str(prefix), bundle=b)
    assert r.status == "deployed", r
    assert _release(prefix) == f"releases/{b.version}"
    rel = prefix / "releases" / b.version
    assert (rel / "edge" / "_lib" / "libpercepnet.so").is_file()
    assert '"snr_db"' in r.health and f"python={rel}/edge/_lib/libpercepnet.so" in r.health
    assert "alsa ok" in r.health
    unit = (tmp_path / "units" / "percepnet-edge.service").read_text()
    assert (f"ExecStart={sys.executable} -m edge.cli run --board host --telemetry "
            f"{prefix}/var/telemetry.jsonl --prometheus {prefix}/var/percepnet-edge.prom") in unit
    assert ["daemon-reload", "restart percepnet-edge"] == [c for c in _calls(state) if c != "is-active percepnet-edge"
                                                           and not c.startswith("enable")]
    assert not list((prefix / "incoming").iterdir())
    # The service ran from the release: the supervisor wrote telemetry where the unit says.
    frames = [json.loads(line)["frames"] for line in (prefix / "var" / "telemetry.jsonl").read_text().splitlines()]
    assert frames and frames[-1] >= 50
    # The release's own `edge` command runs from the release with its one descriptor.
    out = subprocess.run([prefix / "current" / "bin" / "edge", "boards", "--json"], capture_output=True,
                         text=True, cwd="/", env={"PATH": "/usr/bin:/bin"}, check=True).stdout
    assert [b["name"] for b in json.loads(out)["boards"]] == ["host"]


def test_the_service_runs_with_the_attenuation_limit_of_its_release(sshd, board_env, monkeypatch, capsys):
    """edge flash --atten-lim: the release's service.env, read through the unit's EnvironmentFile
    (the stand-in systemctl expands it as systemd does), reaches edge run; the next release's
    limit comes with it, the unit unchanged."""
    bdir, prefix, state = board_env
    _board(bdir, "release with a limit")
    monkeypatch.setattr(boards, "BOARDS_DIR", bdir)
    build("host")
    args = _flash_args(sshd, prefix)
    unit = bdir.parent / "units" / "percepnet-edge.service"
    ran = []
    for limit in ("12.5", "0"):
        assert main(args + ["--atten-lim", limit]) == 0, capsys.readouterr().err
        assert (prefix / "current" / "service.env").read_text().splitlines()[-1] == f"PN_ATTEN_LIM={limit}"
        ran.append((state / "execstart").read_text())
        assert f"--atten-lim {limit} --duration 0.5" in ran[-1], ran[-1]
        assert (state / "status").read_text().strip() == "0"
        ran.append(unit.read_text())
    assert ran[1] == ran[3]          # one unit for every limit: the helper's pinned sha holds
    capsys.readouterr()


def test_unhealthy_release_is_rolled_back_to_the_running_one(sshd, board_env, tmp_path):
    bdir, prefix, state = board_env
    good = _bundle(_board(bdir, "release A"), prefix, tmp_path)
    assert deploy.flash(load_board("host", bdir), sshd, str(prefix), bundle=good).status == "deployed"
    bad_board = _board(bdir, "release B")
    bad = broken_bundle(_bundle(bad_board, prefix, tmp_path), tmp_path)
    r = deploy.flash(bad_board, sshd, str(prefix), bundle=bad)
    assert r.status == "rolled_back"
    assert "service percepnet-edge is failed" in r.reason and "healthy=" in r.health
    assert _release(prefix) == f"releases/{good.version}"
    assert not (prefix / "releases" / bad.version).exists()
    assert _calls(state).count("restart percepnet-edge") == 3   # good, bad, good again


def test_unhealthy_first_release_stops_the_service_and_leaves_no_current(sshd, board_env, tmp_path):
    bdir, prefix, state = board_env
    board = _board(bdir, "first release")
    r = deploy.flash(board, sshd, str(prefix), bundle=broken_bundle(_bundle(board, prefix, tmp_path), tmp_path))
    assert r.status == "failed" and r.current == ""
    assert not (prefix / "current").exists()
    assert "stop percepnet-edge" in _calls(state)
    assert "broken on purpose by the test" in (state / "service.log").read_text()


def test_interrupted_copy_leaves_the_running_release_untouched(sshd, board_env, tmp_path):
    bdir, prefix, state = board_env
    a = _bundle(_board(bdir, "release A"), prefix, tmp_path)
    deploy.flash(load_board("host", bdir), sshd, str(prefix), bundle=a)
    board_b = _board(bdir, "release B")
    b = _bundle(board_b, prefix, tmp_path)
    assert b.size > 2 * CHUNK
    calls_before = _calls(state)

    def cut(sent, proc):     # the link drops after the first chunk
        if sent >= CHUNK:
            proc.kill()
    with pytest.raises(EdgeError, match=r"interrupted after \d+ of \d+ bytes.*still runs releases/"):
        deploy.flash(board_b, sshd, str(prefix), bundle=b, on_chunk=cut)
    assert _release(prefix) == f"releases/{a.version}"
    assert sorted(os.listdir(prefix / "releases")) == [a.version]
    assert not (prefix / "incoming" / f"{b.version}.tar.gz").exists()
    assert _calls(state) == calls_before        # no restart, no switch
    # The next attempt goes through and clears the partial copy.
    assert deploy.flash(board_b, sshd, str(prefix), bundle=b).status == "deployed"
    assert _release(prefix) == f"releases/{b.version}"
    assert not list((prefix / "incoming").iterdir())


def test_rollback_switches_to_the_previous_release_and_back(sshd, board_env, tmp_path):
    bdir, prefix, state = board_env
    a = _bundle(_board(bdir, "release A"), prefix, tmp_path)
    deploy.flash(load_board("host", bdir), sshd, str(prefix), bundle=a)
    b = _bundle(_board(bdir, "release B"), prefix, tmp_path)
    deploy.flash(load_board("host", bdir), sshd, str(prefix), bundle=b)
    r = deploy.rollback(load_board("host", bdir), sshd, str(prefix))
    assert r.status == "switched" and _release(prefix) == f"releases/{a.version}"
    assert os.readlink(prefix / "previous") == f"releases/{b.version}"
    deploy.rollback(load_board("host", bdir), sshd, str(prefix))
    assert _release(prefix) == f"releases/{b.version}"


def test_rollback_without_a_previous_release_is_refused(sshd, board_env, tmp_path):
    bdir, prefix, _ = board_env
    with pytest.raises(EdgeError, match="no previous release"):
        deploy.rollback(_board(bdir), sshd, str(prefix))


def test_rpi4_bundle_is_refused_by_an_x86_64_board_and_nothing_changes(sshd, tmp_path):
    prefix = tmp_path / "opt"
    with pytest.raises(EdgeError) as e:
        deploy.flash(load_board("rpi4"), sshd, str(prefix), bundle=None)
    msg = str(e.value)
    assert "userland is amd64 (uname -m x86_64), the rpi4 bundle is built for aarch64" in msg
    assert "nothing changed" in msg and "\n" not in msg
    assert not prefix.exists()


def test_board_without_numpy_or_the_capture_device_gets_each_reason(sshd, board_env, tmp_path):
    bdir, prefix, _ = board_env
    bare_python = tmp_path / "python-without-site"
    bare_python.write_text(f"#!/bin/sh\nexec {sys.executable} -S \"$@\"\n")
    bare_python.chmod(0o755)
    text = (bdir / "host.toml").read_text()
    (bdir / "host.toml").write_text(text.replace(f'python = "{sys.executable}"', f'python = "{bare_python}"')
                                    .replace('capture = "null"', 'capture = "plughw:CARD=Nope,DEV=0"'))
    with pytest.raises(EdgeError) as e:
        deploy.flash(load_board("host", bdir), sshd, str(prefix))
    msg = str(e.value)
    assert f"{bare_python} on the board has no numpy" in msg
    assert "ALSA capture device 'plughw:CARD=Nope,DEV=0' ([audio].capture) is not on the board" in msg
    assert not prefix.exists()


def test_unknown_host_key_is_refused_never_accepted(sshd, board_env, tmp_path):
    bdir, prefix, _ = board_env
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    t = Target(sshd.user, sshd.host, sshd.port, sshd.identity, empty)
    with pytest.raises(EdgeError, match="host key of 127.0.0.1 is unknown or changed"):
        deploy.flash(_board(bdir), t, str(prefix))
    assert empty.read_text() == ""


def test_edge_flash_command_builds_deploys_and_rolls_back(sshd, board_env, monkeypatch, capsys):
    bdir, prefix, _ = board_env
    _board(bdir, "release via cli")
    monkeypatch.setattr(boards, "BOARDS_DIR", bdir)
    build("host")
    args = _flash_args(sshd, prefix)
    assert main(args) == 0
    assert capsys.readouterr().out.startswith("deployed 0.1.0-g")
    assert main(args + ["--rollback"]) == 2
    assert "no previous release" in capsys.readouterr().err


def test_prune_keeps_current_previous_and_the_newest_releases(sshd, tmp_path):
    from edge.flash import ssh
    prefix = tmp_path / "p"
    for i, name in enumerate(["old1", "old2", "prev", "new1", "cur"]):
        (prefix / "releases" / name).mkdir(parents=True)
        os.utime(prefix / "releases" / name, (1000 + i, 1000 + i))
    os.utime(prefix / "releases" / "cur", (10, 10))       # current may be the oldest
    (prefix / "current").symlink_to("releases/cur")
    (prefix / "previous").symlink_to("releases/prev")
    ssh.run(sshd, "prune", str(prefix), "2")
    assert sorted(os.listdir(prefix / "releases")) == ["cur", "new1", "prev"]
