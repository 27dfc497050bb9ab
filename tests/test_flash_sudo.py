"""The narrowed sudo right (edge/flash/sudo.py): the pinned helper refuses every setting but
its own before it changes anything, flash picks it only when it is the one made for these
settings, and the drop-in is valid sudoers. End to end on a real sudo: tests/test_board_vm.py."""
import hashlib
import shutil
import subprocess
from dataclasses import replace

import pytest

from edge.boards import load_board
from edge.flash import sudo
from edge.flash.bundle import unit_file
from edge.flash.checks import parse_facts, problems
from edge.flash.ssh import Target, remote_command
from test_flash_bundle import PI4_FACTS

NO_SUDO = PI4_FACTS.replace("sudo=yes", "sudo=no")
PW_DIR = "~/.config/pipewire/pipewire.conf.d"


def helper(tmp_path, prefix):
    p = tmp_path / "helper.sh"
    p.write_text(sudo.helper_script(load_board("rpi4"), str(prefix)))
    return p


def run(script, *args):
    return subprocess.run(["sh", str(script), *map(str, args)], capture_output=True, text=True)


@pytest.mark.parametrize("args, why", [
    (("drop", "/etc", "x"), "pinned to /opt/pe, not /etc"),
    (("drop", "/opt/pe", ".."), "not a release name: .."),
    (("receive", "/opt/pe", "a/../../b", "0"), "not a release name"),
    (("precheck", "/opt/pe", "v1", "/tmp/python", "pi"), "pinned to /usr/bin/python3"),
    (("unpack", "/opt/pe", "v1", "root"), "pinned to pi, not root"),
    (("switch", "/opt/pe", "releases/v1", "", "percepnet-edge", "/tmp/systemctl", "/etc/systemd/system",
      "pi", PW_DIR), "pinned to systemctl"),
    (("switch", "/opt/pe", "releases/v1", "", "percepnet-edge", "systemctl", "/run/systemd/system",
      "pi", PW_DIR), "pinned to /etc/systemd/system"),
    (("switch", "/opt/pe", "releases/v1", "", "percepnet-edge", "systemctl", "/etc/systemd/system",
      "root", PW_DIR), "pinned to pi, not root"),
    (("switch", "/opt/pe", "releases/v1", "", "percepnet-edge", "systemctl", "/etc/systemd/system",
      "pi", "/etc/pipewire/pipewire.conf.d"), f"pinned to {PW_DIR}, not /etc/pipewire"),
    (("health", "/opt/pe", "percepnet-edge", "systemctl", "30", "3", "root"), "pinned to pi, not root"),
    (("install_helper", "/tmp/h", "/tmp/d", "root ALL=(ALL) ALL"), "cannot install helpers"),
])
def test_the_pinned_helper_refuses_other_settings_before_acting(tmp_path, args, why):
    r = run(helper(tmp_path, "/opt/pe"), *args)
    assert r.returncode == 3 and why in r.stderr, r.stderr
    assert not (tmp_path / "d").exists()


def test_the_pinned_helper_installs_no_unit_but_the_one_rendered_for_its_settings(tmp_path):
    prefix = tmp_path / "pe"
    rel = prefix / "releases" / "v1"
    rel.mkdir(parents=True)
    unit = unit_file(load_board("rpi4"), str(prefix))
    (rel / "percepnet-edge.service").write_text(unit.replace("User=pi", "User=root"))
    r = run(helper(tmp_path, prefix), "switch", prefix, "releases/v1", "", "percepnet-edge",
            "systemctl", "/etc/systemd/system", "pi", PW_DIR)
    assert r.returncode == 3 and hashlib.sha256(unit.encode()).hexdigest() in r.stderr
    assert not (prefix / "current").exists()


def test_flash_runs_the_helper_through_sudo_and_reads_facts_without_it():
    t = Target("deployer", "pi.local", helper=sudo.HELPER)
    assert remote_command(t, "drop", "/opt/pe", "v1") == f"sudo -n {sudo.HELPER} drop /opt/pe v1"
    assert remote_command(t, "facts", "x").startswith("sh -c ")
    assert remote_command(Target("deployer", "pi.local"), "drop", "/opt/pe", "v1").startswith("sudo -n sh -c ")


def test_without_sudo_only_the_helper_made_for_these_settings_lets_a_login_deploy():
    board = load_board("rpi4")
    plain = problems(board, parse_facts(NO_SUDO), "deployer")
    assert len(plain) == 1 and "--install-sudoers" in plain[0] and "other settings" not in plain[0]
    assert problems(board, parse_facts(NO_SUDO), "deployer", narrowed=True) == []
    stale = parse_facts(NO_SUDO + "helper_sha=0123\nhelper_sudo=yes\n")
    assert "installed for other settings" in problems(board, stale, "deployer")[0]


def test_the_helper_is_tied_to_the_prefix_the_service_user_and_the_kit():
    board = load_board("rpi4")
    other = replace(board, deploy=replace(board.deploy, user="audio"))
    shas = {sudo.helper_sha(board, "/opt/pe"), sudo.helper_sha(board, "/opt/other"),
            sudo.helper_sha(other, "/opt/pe")}
    assert len(shas) == 3
    r = subprocess.run(["sh", "-n"], input=sudo.helper_script(board, "/opt/pe"), text=True)
    assert r.returncode == 0


@pytest.mark.skipif(shutil.which("visudo") is None, reason="visudo not installed (apt-get install sudo)")
def test_the_dropin_is_valid_sudoers(tmp_path):
    (tmp_path / "d").write_text(sudo.dropin("deployer"))
    r = subprocess.run(["visudo", "-cf", str(tmp_path / "d")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
