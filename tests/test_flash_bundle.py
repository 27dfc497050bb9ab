"""Bundles, pre-flight checks on recorded board facts, and the aarch64 bundle's library
processing audio under qemu from the unpacked bundle (no SSH here)."""
import json
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from edge.boards import load_board
from edge.cli import main
from edge.errors import EdgeError
from edge.model.pnw import describe
from edge.flash.bundle import contents, write_bundle
from edge.flash.checks import parse_facts, problems, python_recipe
from edge.flash.ssh import Target, remote_command, ssh_argv
from edge.models import native_default, shipped
from edge.native import elf_machine
from native_build import build, runner

# `remote.sh facts` on a Raspberry Pi 4, 64-bit Raspberry Pi OS bookworm, USB audio adapter.
PI4_FACTS = """uname_m=aarch64
dpkg_arch=arm64
os_id=debian
os_id_like=
os_version_id=12
os_pretty=Debian GNU/Linux 12 (bookworm)
uid=1000
sudo=yes
service_user=yes
systemctl=yes
python_version=3.11
python_numpy=yes
alsa_lib=yes
cpu_features=fp asimd evtstrm crc32 cpuid
sound_cards=3
playback_pcm=null
playback_pcm=hw:CARD=Headphones,DEV=0
playback_pcm=plughw:CARD=Headphones,DEV=0
playback_pcm=hw:CARD=Device,DEV=0
playback_pcm=plughw:CARD=Device,DEV=0
capture_pcm=null
capture_pcm=hw:CARD=Device,DEV=0
capture_pcm=plughw:CARD=Device,DEV=0
current=releases/0.1.0-gabc1234-0123456789
previous=
"""
# What `remote.sh facts` adds on Raspberry Pi OS with desktop (bookworm: PipeWire 0.3.65).
PIPEWIRE_FACTS = """pipewire_version=0.3.65
pipewire_filter_chain=yes
pw_dump=yes
"""


def test_recorded_pi4_facts_fit_the_rpi4_bundle():
    facts = parse_facts(PI4_FACTS)
    assert facts["capture_pcm"][-1] == "plughw:CARD=Device,DEV=0"
    assert problems(load_board("rpi4"), facts, "pi") == []


def test_32bit_pi_os_on_a_64bit_kernel_takes_only_the_armv7_bundle():
    facts = parse_facts(PI4_FACTS.replace("dpkg_arch=arm64", "dpkg_arch=armhf"))
    found = problems(load_board("rpi4"), facts, "pi")
    assert found == ["the board's userland is armhf (uname -m aarch64), the rpi4 bundle is built "
                     "for aarch64 (arm64): pick the board descriptor that matches"]
    assert problems(load_board("rpi3-armv7"), facts, "pi") == []


def test_bullseye_board_without_usb_audio_or_sudo_gets_every_reason():
    text = (PI4_FACTS.replace("os_version_id=12", "os_version_id=11")
            .replace("Debian GNU/Linux 12 (bookworm)", "Debian GNU/Linux 11 (bullseye)")
            .replace("sudo=yes", "sudo=no").replace("python_numpy=yes", "python_numpy=no"))
    text = "\n".join(line for line in text.splitlines() if "CARD=Device" not in line)
    found = problems(load_board("rpi4"), parse_facts(text), "pi")
    assert any("runs Debian GNU/Linux 11 (bullseye); the bundle needs Debian 12" in f for f in found)
    assert any(f.startswith("pi cannot run sudo without a password") for f in found)
    assert any("has no numpy: on the board run `sudo apt install python3-numpy alsa-utils`"
               in f for f in found)
    assert any(f.startswith("ALSA capture device 'plughw:CARD=Device,DEV=0'") for f in found)
    assert any(f.startswith("ALSA playback device") for f in found)
    assert len(found) == 5


def test_pi_with_debians_python_fits_the_rpi4_bundle_without_python3_alsaaudio():
    # Raspberry Pi OS bookworm's own python3 with python3-numpy; the release brings its ALSA
    # binding, so the board's python3-alsaaudio (0.8.4, cannot capture) is neither needed nor used.
    board = load_board("rpi4")
    assert board.deploy.python == "/usr/bin/python3"
    assert problems(board, parse_facts(PI4_FACTS), "pi") == []


def test_board_without_libasound_gets_the_apt_recipe():
    facts = parse_facts(PI4_FACTS.replace("alsa_lib=yes", "alsa_lib=no"))
    assert problems(load_board("rpi4"), facts, "pi") == [
        "/usr/bin/python3 on the board cannot load libasound.so.2 (ALSA's library): on the board "
        "run `sudo apt install python3-numpy alsa-utils`"]
    gone = parse_facts(PI4_FACTS.replace("python_version=3.11", "python_version="))
    assert problems(load_board("rpi4"), gone, "pi") == [
        "/usr/bin/python3 is not on the board or does not run: " + python_recipe(load_board("rpi4"))]


def test_a_board_pointed_at_another_python_is_told_to_use_debians():
    board = load_board("rpi4")
    venv = replace(board, deploy=replace(board.deploy, python="/opt/percepnet-edge/venv/bin/python"))
    found = problems(venv, parse_facts(PI4_FACTS.replace("python_numpy=yes", "python_numpy=no")), "pi")
    assert found == ["/opt/percepnet-edge/venv/bin/python on the board has no numpy: on the "
                     "board run `sudo apt install python3-numpy alsa-utils` and set "
                     '[deploy].python = "/usr/bin/python3"']


def test_a_dotprod_bundle_is_refused_by_a_pi4_cpu_before_anything_changes():
    # A Pi 4 (Cortex-A72) has no asimddp: the rpi5 build would die of SIGILL there. (The rpi5
    # descriptor installs the PipeWire filter: the board has PipeWire.)
    found = problems(load_board("rpi5"), parse_facts(PI4_FACTS + PIPEWIRE_FACTS), "pi")
    assert found == ["the board's CPU lacks asimddp (dotprod), which the rpi5 build uses: it would "
                     "crash there; pick the descriptor of this board (e.g. rpi4 for a Raspberry Pi 4)"]
    pi5 = PI4_FACTS.replace("cpu_features=fp asimd", "cpu_features=fp asimd asimddp") + PIPEWIRE_FACTS
    assert problems(load_board("rpi5"), parse_facts(pi5), "pi") == []


@pytest.fixture(scope="module")
def rpi4_bundle(tmp_path_factory):
    d = tmp_path_factory.mktemp("rpi4")
    b = write_bundle(load_board("rpi4"), d / "rpi4.tar.gz", build_dir=build("rpi4"))
    with tarfile.open(b.path) as tar:
        tar.extractall(d / "unpacked", filter="data")
    return b, d / "unpacked"


def test_rpi4_bundle_holds_an_aarch64_library_the_package_unit_and_config(rpi4_bundle):
    b, root = rpi4_bundle
    assert b.arch == "aarch64" and b.board == "rpi4"
    for name in ("edge/_lib/libpercepnet.so", "bin/pn_selftest", "bin/edge", "edge/native.py",
                 "edge/cli.py", "boards/rpi4.toml", "percepnet-edge.service", "asound.conf",
                 "pylib/alsaaudio.py", "examples/noisy.wav", "RELEASE.json",
                 "ladspa/libpercepnet_ladspa.so", "ladspa/percepnet.pnw", "pipewire/percepnet-edge.conf",
                 "integration", "service.env", "edge/pipewire/percepnet-edge.conf"):
        assert name in b.files, name
    assert elf_machine(root / "edge/_lib/libpercepnet.so") == "aarch64"
    assert elf_machine(root / "ladspa/libpercepnet_ladspa.so") == "aarch64"
    # rpi4's [deploy].weights: the service and the plugin both get the int4 default
    model = (root / "edge/models/default.pnw").read_bytes()
    assert (root / "ladspa/percepnet.pnw").read_bytes() == model
    assert model == native_default("int4") and describe(model)["int4_matrices"] > 0
    conf = (root / "pipewire/percepnet-edge.conf").read_text()
    assert 'plugin = "/opt/percepnet-edge/current/ladspa/libpercepnet_ladspa.so"' in conf
    assert "audio.rate = 48000" in conf and "edge flash --board rpi4" in conf
    assert (root / "integration").read_text() == "alsa\n"      # rpi4's [deploy].integration
    assert not any("__pycache__" in f for f in b.files)
    unit = (root / "percepnet-edge.service").read_text()
    assert ("ExecStart=/usr/bin/python3 -m edge.cli run --board rpi4 "
            "--telemetry /opt/percepnet-edge/var/telemetry.jsonl "
            "--prometheus /opt/percepnet-edge/var/percepnet-edge.prom "
            "--atten-lim ${PN_ATTEN_LIM}") in unit.splitlines()
    assert (root / "service.env").read_text().splitlines()[-1] == "PN_ATTEN_LIM=0"
    assert ("Environment=PYTHONPATH=/opt/percepnet-edge/current/pylib:/opt/percepnet-edge/current"
            in unit.splitlines())
    assert "User=pi" in unit
    # The supervisor speaks sd_notify: systemd waits for READY=1 and kills a loop silent for 5 s.
    for line in ("Type=notify", "WatchdogSec=5", "Restart=always", "RestartSec=2"):
        assert line in unit.splitlines(), line
    assert 'pcm "plughw:CARD=Device,DEV=0"' in (root / "asound.conf").read_text()
    manifest = json.loads((root / "RELEASE.json").read_text())
    assert manifest["version"] == b.version and manifest["arch"] == "aarch64"
    assert manifest["integration"] == "alsa" and manifest["weights"] == "int4"
    assert set(manifest["files"]) == set(b.files) - {"RELEASE.json"}


@pytest.mark.qemu
def test_rpi4_bundle_library_processes_audio_under_qemu_cortex_a72(rpi4_bundle):
    _, root = rpi4_bundle
    lib = root / "edge/_lib/libpercepnet.so"
    r = subprocess.run(runner("rpi4") + [str(root / "bin/pn_selftest"), str(lib)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["library"] == str(lib) and out["simd"] == "neon" and out["hops"] == 100
    assert out["rms_out"] > 0.5 * out["rms_in"] and out["snr_db"] > 10


@pytest.mark.qemu
def test_selftest_fails_on_a_library_it_cannot_load(rpi4_bundle, tmp_path):
    _, root = rpi4_bundle
    fake = tmp_path / "libpercepnet.so"
    fake.write_bytes(b"\x7fELF truncated")
    r = subprocess.run(runner("rpi4") + [str(root / "bin/pn_selftest"), str(fake)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and r.stderr.startswith(f"pn_selftest: {fake}:")


def test_release_version_is_package_commit_and_content_hash(tmp_path):
    board = load_board("rpi4")
    a = write_bundle(board, tmp_path / "a.tar.gz", build_dir=build("rpi4"))
    again = write_bundle(board, tmp_path / "b.tar.gz", build_dir=build("rpi4"))
    moved = write_bundle(board, tmp_path / "c.tar.gz", prefix="/srv/pn", build_dir=build("rpi4"))
    assert a.version.startswith("0.1.0-g") and a.version == again.version
    assert moved.version != a.version       # the unit names the prefix: other contents


def test_bundle_refuses_a_build_for_another_architecture():
    with pytest.raises(EdgeError, match=r"built for x86_64, board rpi4 is aarch64"):
        contents(load_board("rpi4"), build("host"), "/opt/percepnet-edge")


def test_dry_run_builds_the_bundle_then_discards_it_and_connects_to_nothing(capsys, monkeypatch, tmp_path):
    build("rpi4")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert main(["flash", "--board", "rpi4", "--host", "pi@192.0.2.1", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "the bundle was built and discarded: release 0.1.0-g" in out.splitlines()[0]
    assert "scons -Q board=rpi4" in out and "pi@192.0.2.1" in out
    assert "atomic rename" in out and "switch back to the previous release" in out
    assert list(tmp_path.iterdir()) == []               # the bundle's folder went with it


def test_dry_run_fails_where_the_flash_would_fail_to_make_the_bundle(capsys, monkeypatch, tmp_path):
    from edge.flash import bundle
    build("rpi4")
    monkeypatch.setattr(bundle, "EXAMPLE", tmp_path / "noisy.wav")
    assert main(["flash", "--board", "rpi4", "--host", "pi@192.0.2.1", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "noisy.wav missing" in err and err.count("\n") == 1


def test_an_int4_bundle_needs_no_tflite_interpreter_nor_keras(capsys, monkeypatch, tmp_path):
    """rpi4 ships the int4 default: quantised from default.pnw in numpy (edge.model.pnw.from_pnw)."""
    build("rpi4")
    for name in ("ai_edge_litert", "ai_edge_litert.interpreter", "tflite_runtime",
                 "tflite_runtime.interpreter", "tensorflow", "keras"):
        monkeypatch.setitem(sys.modules, name, None)     # import of any of them fails
    assert main(["flash", "--board", "rpi4", "--host", "pi@192.0.2.1", "--dry-run"]) == 0
    out = tmp_path / "rpi4.tar.gz"
    assert main(["flash", "--board", "rpi4", "--bundle", str(out)]) == 0
    with tarfile.open(out) as tar:
        model = tar.extractfile("edge/models/default.pnw").read()
    assert describe(model)["int4_matrices"] > 0 and model == native_default("int4")


@pytest.mark.parametrize("where", ["/nonexistent/x.tar.gz", "missing/x.tar.gz", "."])
def test_a_bundle_into_a_missing_folder_is_refused_and_creates_nothing(capsys, monkeypatch, tmp_path, where):
    monkeypatch.chdir(tmp_path)
    assert main(["flash", "--board", "rpi4", "--bundle", where]) == 2
    err = capsys.readouterr().err
    assert err.startswith("edge flash: ") and err.count("\n") == 1
    assert ("is a directory" if where == "." else "no such directory") in err
    assert not Path("/nonexistent").exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv,reason", [
    (["--host", "pi@bad host"], "--host must be USER@HOST or HOST"),
    (["--host", "pi@raspberrypi.local:2222"], "use --port 2222"),
    (["--host", "pi@h", "--prefix", "relative"], "--prefix must be an absolute path"),
    (["--host", "pi@h", "--identity", "/nonexistent/key"], "no such key file"),
    ([], "--host USER@HOST is required"),
])
def test_bad_flash_arguments_fail_in_one_line(capsys, argv, reason):
    assert main(["flash", "--board", "rpi4", "--dry-run"] + argv) == 2
    err = capsys.readouterr().err
    assert reason in err and err.count("\n") == 1


def test_unknown_board_is_named_with_the_known_ones(capsys):
    assert main(["flash", "--board", "rpi9", "--dry-run", "--host", "pi@h"]) == 2
    assert "unknown board 'rpi9' (known: generic-aarch64, host" in capsys.readouterr().err


def test_edge_flash_bundle_only_builds_the_bundle(tmp_path, capsys):
    build("rpi4")
    out = tmp_path / "pn-rpi4.tar.gz"
    assert main(["flash", "--board", "rpi4", "--bundle", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["arch"] == "aarch64" and info["bundle"] == str(out) and out.is_file()
    with tarfile.open(out) as tar:
        manifest = json.load(tar.extractfile("RELEASE.json"))
    assert manifest["version"] == info["version"] and manifest["board"] == "rpi4"


def test_board_changes_go_through_sudo_for_a_non_root_login_and_facts_do_not():
    pi = Target("pi", "raspberrypi.local")
    assert remote_command(pi, "switch", "/opt/p", "releases/v", "", "s", "systemctl", "/u").startswith("sudo -n sh -c ")
    assert remote_command(pi, "facts", "python3", "systemctl", "pi", "/opt/p").startswith("sh -c ")
    assert remote_command(Target("root", "h"), "switch", "x").startswith("sh -c ")
    argv = ssh_argv(pi, "true")
    assert "BatchMode=yes" in argv and "StrictHostKeyChecking=yes" in argv
    assert "PasswordAuthentication=no" in argv and argv[-2:] == ["pi@raspberrypi.local", "true"]


def test_host_without_a_user_is_refused_unless_the_ssh_config_names_one(capsys, monkeypatch):
    from edge.commands import flash as flash_cmd
    monkeypatch.setattr(flash_cmd, "_ssh_config_user", lambda host, port: None)
    assert main(["flash", "--board", "rpi4", "--host", "raspberrypi.local", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "names no user: give USER@raspberrypi.local" in err and err.count("\n") == 1
    monkeypatch.setattr(flash_cmd, "_ssh_config_user", lambda host, port: "alice")
    assert main(["flash", "--board", "rpi4", "--host", "raspberrypi.local", "--dry-run"]) == 0
    out = capsys.readouterr().out
    # The login user runs the service too; a root login leaves it to [deploy].user.
    assert "alice@raspberrypi.local" in out and "user alice," in out and "as alice" in out
    assert main(["flash", "--board", "rpi4", "--host", "root@h", "--dry-run"]) == 0
    assert "user pi," in capsys.readouterr().out
    assert main(["flash", "--board", "rpi4", "--host", "root@h", "--service-user", "bob",
                 "--dry-run"]) == 0
    assert "as bob (never root)" in capsys.readouterr().out
    assert main(["flash", "--board", "rpi4", "--host", "root@h", "--service-user", "a b",
                 "--dry-run"]) == 2
    assert "--service-user must be a user name" in capsys.readouterr().err


def test_the_attenuation_limit_goes_to_service_env_and_the_filter_never_into_the_unit():
    board = load_board("rpi4")
    limited = replace(board, deploy=replace(board.deploy, atten_lim=12.5))
    files, plain = (contents(b, build("rpi4"), "/opt/percepnet-edge") for b in (limited, board))
    env = files["service.env"][0].decode()
    assert env.splitlines()[-1] == "PN_ATTEN_LIM=12.5"
    assert plain["service.env"][0].decode().splitlines()[-1] == "PN_ATTEN_LIM=0"
    assert '"Attenuation limit (dB, 0 = none)" = 12.5' in files["pipewire/percepnet-edge.conf"][0].decode()
    assert '"Attenuation limit (dB, 0 = none)" = 0' in plain["pipewire/percepnet-edge.conf"][0].decode()
    unit = files["percepnet-edge.service"][0].decode().splitlines()
    assert "EnvironmentFile=/opt/percepnet-edge/current/service.env" in unit
    assert [x for x in unit if x.startswith("ExecStart=")][0].endswith(" --atten-lim ${PN_ATTEN_LIM}")
    assert files["percepnet-edge.service"] == plain["percepnet-edge.service"]   # pinned sha holds


def test_edge_flash_atten_lim_reaches_the_bundle_and_the_plan(tmp_path, capsys):
    build("rpi4")
    out = tmp_path / "pn.tar.gz"
    assert main(["flash", "--board", "rpi4", "--bundle", str(out), "--atten-lim", "20", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["atten_lim"] == 20
    with tarfile.open(out) as tar:
        assert json.load(tar.extractfile("RELEASE.json"))["atten_lim"] == 20
        assert b"PN_ATTEN_LIM=20\n" in tar.extractfile("service.env").read()
    assert main(["flash", "--board", "rpi4", "--host", "pi@192.0.2.1", "--dry-run", "--atten-lim", "20"]) == 0
    assert "attenuation limit: at most 20 dB removed per band" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["-1", "100.5", "1e9", "inf", "-inf", "nan"])
def test_an_attenuation_limit_outside_0_to_100_is_refused_in_one_line(capsys, tmp_path, value):
    out = tmp_path / "pn.tar.gz"
    assert main(["flash", "--board", "rpi4", "--bundle", str(out), f"--atten-lim={value}"]) == 2
    err = capsys.readouterr().err
    assert "--atten-lim must be between 0 (no limit) and 100 dB" in err and err.count("\n") == 1
    assert not out.exists()


def test_rollback_takes_no_attenuation_limit(capsys):
    assert main(["flash", "--board", "rpi4", "--host", "pi@h", "--rollback", "--atten-lim", "6"]) == 2
    assert "no --atten-lim" in capsys.readouterr().err


def test_a_32bit_bundle_brings_the_same_alsa_binding_and_example():
    # ctypes over libasound: one file for arm64 and armhf (no per-architecture build).
    files = contents(load_board("rpi3-armv7"), build("rpi3-armv7"), "/opt/percepnet-edge")
    arm64 = contents(load_board("rpi4"), build("rpi4"), "/opt/percepnet-edge")
    assert files["pylib/alsaaudio.py"] == arm64["pylib/alsaaudio.py"]
    assert elf_machine(build("rpi3-armv7") / "libpercepnet.so") == "armv7l"
    assert files["examples/noisy.wav"][0][:4] == b"RIFF"


def test_a_board_that_keeps_int8_ships_the_default_model_byte_for_byte():
    files = contents(load_board("rpi5"), build("rpi5"), "/opt/percepnet-edge")
    model = shipped().read_bytes()
    assert files["edge/models/default.pnw"][0] == model == files["ladspa/percepnet.pnw"][0]


@pytest.mark.parametrize("prefix", ["/opt/percepnet edge", "/opt/p\nExecStartPre=/bin/evil",
                                    "/opt/$HOME", "/opt/100%", "relative", "/"])
def test_prefixes_that_would_break_the_unit_or_the_scripts_are_refused(prefix):
    with pytest.raises(EdgeError, match="must be an absolute path of letters"):
        contents(load_board("rpi4"), build("rpi4"), prefix)
