"""The narrowed sudo right: a login that is not root deploys through one root-owned helper.

`edge flash --install-sudoers` (once, with a login that has full sudo, or root) installs
HELPER, a copy of remote.sh with the board's deploy settings pinned (prefix, python, service
user, service, systemctl, unit directory, and the sha256 of the unit file rendered for them),
and a sudoers drop-in letting the login run that helper as root and nothing else. Every later
flash and rollback runs `sudo -n HELPER COMMAND ...`: the helper refuses another prefix,
interpreter, user, service or unit, so the right cannot install a unit running as root or
touch files outside the prefix. What it still does as root is the deploy itself: unpack the
login's bundle inside the prefix and restart the service, which runs as the service user.
A release whose integration is the PipeWire filter has its drop-in written into the pinned
directory by the service user itself (setpriv, never root): it loads the release's plugin into
the service user's own PipeWire, code the login can already run as that user.
"""
from __future__ import annotations

import hashlib
import shlex

from edge.boards import Board
from edge.flash.bundle import unit_file
from edge.flash.ssh import REMOTE_SCRIPT

HELPER = "/usr/local/libexec/percepnet-edge-deploy"
DROPIN = "/etc/sudoers.d/percepnet-edge"


def helper_script(board: Board, prefix: str) -> str:
    """remote.sh with the board's deploy settings pinned (see the module doc)."""
    d = board.deploy
    pins = {"PIN_PREFIX": prefix, "PIN_PYTHON": d.python, "PIN_USER": d.user,
            "PIN_SERVICE": d.service, "PIN_SYSTEMCTL": d.systemctl, "PIN_UNIT_DIR": d.unit_dir,
            "PIN_PIPEWIRE_DIR": d.pipewire_conf_dir,
            "PIN_UNIT_SHA": hashlib.sha256(unit_file(board, prefix).encode()).hexdigest()}
    header = "".join(f"{k}={shlex.quote(v)}\n" for k, v in pins.items())
    return f"#!/bin/sh\n# Installed by `edge flash --install-sudoers`: remote.sh, settings pinned.\n{header}" \
        + REMOTE_SCRIPT.read_text()


def helper_sha(board: Board, prefix: str) -> str:
    return hashlib.sha256(helper_script(board, prefix).encode()).hexdigest()


def dropin(login: str) -> str:
    return f"# Installed by `edge flash --install-sudoers`.\n{login} ALL=(root) NOPASSWD: {HELPER}\n"
