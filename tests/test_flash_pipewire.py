"""edge flash and the two integrations: each board's descriptor names the one flash installs
(the ALSA service or the PipeWire filter), --alsa/--pipewire override it, and exactly one is
installed at a time; a rollback brings back the one its release had.

End to end against this machine as the board (the real sshd on 127.0.0.1 and the systemctl
stand-in of tests/test_flash.py, whose `--user` half starts a real PipeWire daemon for the
"user's session"): the drop-in lands in the user's pipewire.conf.d, the release's own plugin
loads into that daemon, and health finds the "Denoised microphone" there. Checks on recorded
board facts need neither."""
import json
import os
import shutil
import subprocess
from dataclasses import replace

import pytest

import edge.boards as boards
import test_flash
from broken_bundle import edited_bundle
from edge.boards import load_board
from edge.cli import main
from edge.flash import deploy
from edge.flash.checks import parse_facts, problems
from test_flash import _board, _bundle, _calls, _flash_args, _release
from test_flash_bundle import PI4_FACTS, PIPEWIRE_FACTS

sshd, board_env = test_flash.sshd, test_flash.board_env     # the fixtures, shared

needs_sshd = pytest.mark.skipif(not (os.path.exists(test_flash.SSHD) and os.geteuid() == 0 and shutil.which("ssh")),
                                reason="needs openssh-server, ssh and root (the test sshd logs in as root)")
needs_pipewire = pytest.mark.skipif(
    shutil.which("pipewire") is None or shutil.which("pw-dump") is None,
    reason="PipeWire not installed (apt-get install pipewire pipewire-bin): the board check wants it")


def _integration(bdir, kind, description):
    """The test host board with [deploy].integration = kind."""
    path = bdir / "host.toml"
    text = path.read_text()
    path.write_text(text.replace('integration = "alsa"', f'integration = "{kind}"')
                        .replace('integration = "pipewire"', f'integration = "{kind}"'))
    return _board(bdir, description)


def _conf(tmp_path):
    return tmp_path / "config" / "pipewire" / "pipewire.conf.d" / "percepnet-edge.conf"


def _unit(tmp_path):
    return tmp_path / "units" / "percepnet-edge.service"


def _session_pipewire(state):
    """The user's PipeWire, started as their systemd would (the stand-in's --user half)."""
    subprocess.run([state / "systemctl", "--user", "-M", "root@", "restart", "pipewire.service"], check=True)


# -- the checks and the command ---------------------------------------------------------

def test_a_board_without_pipewire_is_refused_the_filter_and_told_of_alsa():
    board = load_board("rpi4")
    filt = replace(board, deploy=replace(board.deploy, integration="pipewire"))
    found = problems(filt, parse_facts(PI4_FACTS), "pi")
    assert found == ["the pipewire integration needs PipeWire on the board, which lacks pipewire, "
                     "its filter-chain module, pw-dump (pipewire-bin): Raspberry Pi OS with desktop "
                     "has it, elsewhere run `sudo apt install pipewire pipewire-bin wireplumber`; or "
                     "flash with --alsa for the ALSA service"]
    # PipeWire owns the card: a desktop Pi without the USB adapter of [audio] takes the filter.
    no_usb = "\n".join(line for line in PI4_FACTS.splitlines() if "CARD=Device" not in line)
    assert problems(filt, parse_facts(no_usb + "\n" + PIPEWIRE_FACTS), "pi") == []
    assert problems(board, parse_facts(no_usb), "pi") != []


def test_echo_cancel_needs_the_boards_echo_cancel_module():
    board = load_board("rpi5")
    echo = replace(board, deploy=replace(board.deploy, echo_cancel=True))
    pi5 = PI4_FACTS.replace("cpu_features=fp asimd", "cpu_features=fp asimd asimddp") + PIPEWIRE_FACTS
    found = problems(echo, parse_facts(pi5), "pi")
    assert len(found) == 1 and "lacks its echo-cancel module with the WebRTC canceller" in found[0]
    assert problems(echo, parse_facts(pi5 + "pipewire_echo_cancel=yes\n"), "pi") == []
    assert problems(board, parse_facts(pi5), "pi") == []


def test_echo_cancel_is_for_the_pipewire_filter_and_shows_in_the_plan(capsys):
    assert main(["flash", "--board", "rpi4", "--host", "pi@h", "--dry-run", "--echo-cancel"]) == 2
    assert ("--echo-cancel puts PipeWire's echo canceller ahead of the PipeWire filter, and rpi4 installs "
            "the alsa integration: add --pipewire") in capsys.readouterr().err
    assert main(["flash", "--board", "rpi4", "--host", "pi@h", "--rollback", "--echo-cancel"]) == 2
    assert "no --echo-cancel" in capsys.readouterr().err
    assert main(["flash", "--board", "rpi4", "--host", "pi@h", "--dry-run", "--pipewire", "--echo-cancel",
                 "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)["plan"]
    assert any("its echo-cancel module with the WebRTC canceller" in step for step in plan)
    assert any('echo canceller ahead of it (applications play to "Echo-cancelled speaker"' in step for step in plan)


def test_dry_run_shows_the_boards_integration_and_the_flags_override_it(capsys):
    assert main(["flash", "--board", "rpi5", "--host", "pi@h", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "integration: pipewire" in out and "~/.config/pipewire/pipewire.conf.d/percepnet-edge.conf" in out
    assert "restart percepnet-edge" not in out
    assert main(["flash", "--board", "rpi5", "--host", "pi@h", "--dry-run", "--alsa"]) == 0
    out = capsys.readouterr().out
    assert "integration: alsa" in out and "systemctl restart percepnet-edge" in out
    assert main(["flash", "--board", "rpi4", "--host", "pi@h", "--dry-run", "--pipewire", "--json"]) == 0
    assert any("PipeWire with its filter-chain module" in step for step in json.loads(capsys.readouterr().out)["plan"])


def test_integration_flags_are_one_or_the_other_and_not_for_rollback(capsys):
    with pytest.raises(SystemExit):
        main(["flash", "--board", "rpi4", "--host", "pi@h", "--alsa", "--pipewire"])
    assert "not allowed with argument" in capsys.readouterr().err
    assert main(["flash", "--board", "rpi4", "--host", "pi@h", "--rollback", "--pipewire"]) == 2
    err = capsys.readouterr().err
    assert "--rollback brings back the previous release with the integration it was installed with" in err


def test_the_bundle_records_its_integration(tmp_path, capsys):
    from native_build import build
    build("rpi4")
    out = tmp_path / "b.tar.gz"
    assert main(["flash", "--board", "rpi4", "--bundle", str(out), "--pipewire", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    import tarfile
    with tarfile.open(out) as tar:
        assert tar.extractfile("integration").read() == b"pipewire\n"
        assert json.load(tar.extractfile("RELEASE.json"))["integration"] == "pipewire"
    assert info["integration"] == "pipewire" and info["echo_cancel"] is False
    assert main(["flash", "--board", "rpi4", "--bundle", str(out), "--pipewire", "--echo-cancel", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["echo_cancel"] is True
    with tarfile.open(out) as tar:
        assert json.load(tar.extractfile("RELEASE.json"))["echo_cancel"] is True
        assert b"libpipewire-module-echo-cancel" in tar.extractfile("pipewire/percepnet-edge.conf").read()


# -- against this machine as the board ------------------------------------------------------

@needs_sshd
@needs_pipewire
def test_the_filter_lands_in_the_users_running_pipewire_from_the_release(sshd, board_env, tmp_path):
    bdir, prefix, state = board_env
    board = _integration(bdir, "pipewire", "filter release")
    _session_pipewire(state)
    b = _bundle(board, prefix, tmp_path)
    r = deploy.flash(board, sshd, str(prefix), bundle=b)
    assert r.status == "deployed" and r.integration == "pipewire", r
    # precheck started the release's plugin with its model as the service user; health found
    # the source in the user's daemon, which loaded the drop-in from pipewire.conf.d.
    assert '"latency": 1920' in r.health and "pipewire=percepnet_source in the PipeWire of root" in r.health
    conf = _conf(tmp_path).read_text()
    assert f'plugin = "{prefix}/current/ladspa/libpercepnet_ladspa.so"' in conf
    dump = subprocess.run(["pw-dump"], env={**os.environ, "XDG_RUNTIME_DIR": str(state / "run")},
                          capture_output=True, text=True, check=True).stdout
    props = [o["info"]["props"] for o in json.loads(dump) if o["type"].endswith(":Node")
             and o["info"]["props"].get("node.name") == "percepnet_source"]
    assert props and props[0]["media.class"] == "Audio/Source"
    assert props[0]["node.description"] == "Denoised microphone"
    calls = _calls(state)
    assert calls.count("--user -M root@ restart pipewire.service") == 2     # the session's, flash's
    assert not any(c.startswith("restart percepnet-edge") for c in calls) and not _unit(tmp_path).exists()


@needs_sshd
@needs_pipewire
def test_a_filter_that_never_appears_is_rolled_back_to_the_alsa_release(sshd, board_env, tmp_path):
    bdir, prefix, state = board_env
    a = _bundle(_integration(bdir, "alsa", "service release"), prefix, tmp_path)
    assert deploy.flash(load_board("host", bdir), sshd, str(prefix), bundle=a).status == "deployed"
    _session_pipewire(state)
    board = _integration(bdir, "pipewire", "filter release")
    # A drop-in naming another plugin: PipeWire runs on without the source (flags = [ nofail ]).
    bad = edited_bundle(_bundle(board, prefix, tmp_path), tmp_path, "pipewire/percepnet-edge.conf",
                        lambda t: t.replace("/current/ladspa/", "/current/nowhere/"), "nofilter")
    r = deploy.flash(board, sshd, str(prefix), bundle=bad)
    assert r.status == "rolled_back", r
    assert "no Denoised microphone (node percepnet_source) in the PipeWire of root after 4s" in r.reason
    assert _release(prefix) == f"releases/{a.version}"
    assert _unit(tmp_path).exists() and not _conf(tmp_path).exists()
    assert "healthy=" in r.health and "pipewire=" not in r.health      # the service's health


@needs_sshd
@needs_pipewire
def test_flash_installs_one_integration_at_a_time_and_rollback_brings_back_the_other(
        sshd, board_env, tmp_path, monkeypatch, capsys):
    bdir, prefix, state = board_env
    _board(bdir, "release via cli")
    monkeypatch.setattr(boards, "BOARDS_DIR", bdir)
    args = _flash_args(sshd, prefix)
    assert main(args) == 0                                  # the descriptor says alsa
    assert " as the ALSA service; healthy" in capsys.readouterr().out
    assert _unit(tmp_path).exists() and not _conf(tmp_path).exists()
    first = _release(prefix)

    assert main(args + ["--pipewire"]) == 0                # no PipeWire runs for the user now
    out = capsys.readouterr().out
    assert (" as the PipeWire filter (\"Denoised microphone\"); not running for root: the Denoised "
            "microphone appears when their session starts PipeWire; healthy") in out
    assert _conf(tmp_path).exists() and not _unit(tmp_path).exists()
    assert "disable --now percepnet-edge" in _calls(state)

    assert main(args + ["--rollback"]) == 0                 # back to the service release
    assert capsys.readouterr().out.startswith(f"rolled back root@{sshd.host}:{sshd.port}:{prefix} to {first}")
    assert _unit(tmp_path).exists() and not _conf(tmp_path).exists()
    assert _calls(state)[-1] == "is-active percepnet-edge"
