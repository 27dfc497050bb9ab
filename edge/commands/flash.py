"""edge flash: build, bundle, copy over SSH, switch releases, check health, roll back."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from edge.errors import EdgeError


def add_parser(sub):
    p = sub.add_parser("flash", help="deploy to a board over SSH (build, bundle, switch, health check)",
                       description="Cross-build for the board, bundle, copy over SSH (keys only, "
                                   "host key checked), install as a new release, restart the "
                                   "service and roll back when it is not healthy.")
    p.add_argument("--board", required=True, metavar="NAME", help="board descriptor (edge boards)")
    p.add_argument("--host", metavar="USER@HOST",
                   help="the board and the SSH login (USER may come from User in ~/.ssh/config)")
    p.add_argument("--service-user", metavar="NAME",
                   help="user the service runs as (default: the login user, or the "
                        "descriptor's [deploy].user when logging in as root)")
    p.add_argument("--port", type=int, default=22, help="SSH port (22)")
    p.add_argument("--identity", type=Path, metavar="KEY", help="SSH private key")
    p.add_argument("--known-hosts", type=Path, metavar="FILE",
                   help="known_hosts file to check the board's host key against")
    p.add_argument("--prefix", metavar="P", help="install prefix (default: [deploy].prefix)")
    p.add_argument("--dry-run", action="store_true",
                   help="make every check this machine can (the bundle is built, then discarded) "
                        "and print the plan; nothing on the board is contacted or changed")
    p.add_argument("--bundle", type=Path, metavar="OUT.tar.gz", help="only build the bundle")
    p.add_argument("--rollback", action="store_true", help="switch back to the previous release")
    p.add_argument("--install-sudoers", action="store_true",
                   help="once, as a login with full passwordless sudo: install a root-owned "
                        "deploy helper pinned to this board's settings and a sudoers drop-in "
                        "letting the login run it and nothing else; later flashes need no "
                        "other sudo right (--dry-run shows the drop-in)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--pipewire", dest="integration", action="store_const", const="pipewire",
                     help="install the PipeWire filter: a \"Denoised microphone\" source in the "
                          "service user's PipeWire (drop-in in ~/.config/pipewire/pipewire.conf.d, "
                          "the release's LADSPA plugin), with the ALSA service stopped and removed "
                          "(default: the board's [deploy].integration)")
    how.add_argument("--alsa", dest="integration", action="store_const", const="alsa",
                     help="install the ALSA service (`edge run` under systemd on the board's "
                          "devices), with the PipeWire filter removed")
    p.add_argument("--atten-lim", type=float, metavar="DB",
                   help="the service and the filter remove at most DB dB of each band, keeping "
                        "some ambience: 0 (no limit) to 100 (default: the board's "
                        "[deploy].atten_lim, else 0); the release's service.env (PN_ATTEN_LIM) "
                        "and its PipeWire drop-in carry it")
    p.add_argument("--echo-cancel", action="store_true", default=None,
                   help="with the PipeWire filter, PipeWire's WebRTC echo canceller ahead of it, "
                        "for a speakerphone: applications play to \"Echo-cancelled speaker\" and "
                        "record from \"Denoised microphone\" (default: the board's "
                        "[deploy].echo_cancel, else off)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return p


def _ssh_config_user(host: str, port: int) -> str | None:
    """User for HOST set in the ssh configuration (`ssh -G` with it differs from without)."""
    def user(*extra):
        try:
            r = subprocess.run(["ssh", "-G", *extra, "-p", str(port), host], capture_output=True,
                               text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        for line in r.stdout.splitlines():
            key, _, value = line.partition(" ")
            if key == "user":
                return value.strip()
        return None
    configured, plain = user(), user("-F", "/dev/null")
    return configured if configured and configured != plain else None


def login_user(spec: str, port: int) -> str:
    """USER of USER@HOST, else the ssh configuration's User for HOST: never a guessed name
    (current Raspberry Pi OS images have no `pi` user; Imager makes the one you name)."""
    user, _, host = spec.rpartition("@")
    if user:
        return user
    found = _ssh_config_user(host, port)
    if not found:
        raise EdgeError(f"--host {spec!r} names no user: give USER@{host} (the user you created "
                        f"in Raspberry Pi Imager; current images have no default `pi`), or set "
                        f"`User` for {host} in ~/.ssh/config")
    return found


def _log(msg: str) -> None:
    print(f"edge flash: {msg}", file=sys.stderr)


def run(args) -> int:
    from edge.boards import load_board
    from edge.flash import deploy
    from edge.flash.bundle import check_path, write_bundle
    from edge.pipewire.config import check_atten_lim
    from edge.flash.ssh import Target

    board = load_board(args.board)
    if args.prefix is not None and not (args.prefix.startswith("/") and args.prefix.strip("/")):
        raise EdgeError(f"--prefix must be an absolute path other than /, got {args.prefix!r}")
    if args.prefix is not None:
        check_path(args.prefix, "--prefix")
    check_path(board.deploy.prefix, f"[deploy].prefix of {board.name}")
    check_path(board.deploy.python, f"[deploy].python of {board.name}")
    if args.identity and not args.identity.is_file():
        raise EdgeError(f"--identity {args.identity}: no such key file")
    if not 0 < args.port < 65536:
        raise EdgeError(f"--port must be 1-65535, got {args.port}")
    if sum(map(bool, (args.bundle, args.rollback, args.install_sudoers))) > 1:
        raise EdgeError("--bundle, --rollback and --install-sudoers each do one thing: give one")
    if args.integration and args.rollback:
        raise EdgeError(f"--rollback brings back the previous release with the integration it was "
                        f"installed with: no --{args.integration}")
    if args.integration:
        board = replace(board, deploy=replace(board.deploy, integration=args.integration))
    if args.atten_lim is not None:
        if args.rollback:
            raise EdgeError("--rollback brings back the previous release with the settings it was "
                            "installed with: no --atten-lim")
        limit = check_atten_lim(args.atten_lim, "--atten-lim")
        board = replace(board, deploy=replace(board.deploy, atten_lim=limit))
    if args.echo_cancel:
        if args.rollback:
            raise EdgeError("--rollback brings back the previous release with the settings it was "
                            "installed with: no --echo-cancel")
        if board.deploy.integration != "pipewire":
            raise EdgeError(f"--echo-cancel puts PipeWire's echo canceller ahead of the PipeWire "
                            f"filter, and {board.name} installs the {board.deploy.integration} "
                            f"integration: add --pipewire")
        board = replace(board, deploy=replace(board.deploy, echo_cancel=True))

    if args.bundle:
        b = write_bundle(board, args.bundle, args.prefix)
        out = {"bundle": str(b.path), "version": b.version, "board": b.board, "arch": b.arch,
               "integration": board.deploy.integration, "atten_lim": board.deploy.atten_lim,
               "echo_cancel": board.deploy.echo_cancel,
               "sha256": b.sha256, "size": b.size}
        print(json.dumps(out) if args.json else f"{b.path}: {b.board} ({b.arch}) release "
              f"{b.version} ({board.deploy.integration}), {b.size} bytes, sha256 {b.sha256}")
        return 0

    if not args.host:
        raise EdgeError("--host USER@HOST is required (or --bundle OUT.tar.gz to only build)")
    target = Target.parse(args.host, "", port=args.port, identity=args.identity,
                          known_hosts=args.known_hosts)
    target = replace(target, user=login_user(args.host, args.port))
    service_user = args.service_user or (target.user if target.user != "root" else board.deploy.user)
    if not re.fullmatch(r"[a-z_][a-z0-9_-]*[$]?", service_user) or len(service_user) > 32:
        raise EdgeError(f"--service-user must be a user name, got {service_user!r}")
    board = replace(board, deploy=replace(board.deploy, user=service_user))
    if args.dry_run:
        built = None
        if args.rollback:
            steps = [f"switch {target} back to its previous release, restart, check health"]
        elif args.install_sudoers:
            steps = deploy.plan(board, target, args.prefix)
        else:
            steps, built = deploy.dry_run(board, target, args.prefix)
        if args.json:
            print(json.dumps({"plan": steps} | ({"release": built.version, "bundle_bytes": built.size}
                                                if built else {})))
        else:
            done = (f"; the bundle was built and discarded: release {built.version}, {built.size} "
                    f"bytes" if built else "")
            print(f"plan for {board.name} -> {target} (nothing is done on the board with "
                  f"--dry-run{done}):")
            print("\n".join(f"  {i}. {s}" for i, s in enumerate(steps, 1)))
        return 0

    if args.install_sudoers:
        print(deploy.install_sudoers(board, target, args.prefix))
        return 0
    if args.rollback:
        report = deploy.rollback(board, target, args.prefix)
    else:
        report = deploy.flash(board, target, args.prefix, log=_log)
    if args.json:
        print(json.dumps(report.as_dict()))
    else:
        print(_summary(report))
    return 0 if report.status in ("deployed", "switched") else 1


def _summary(r) -> str:
    where = f"{r.host}:{r.prefix}"
    if r.status == "deployed":
        how = ("the ALSA service" if r.integration == "alsa" else
               "the PipeWire filter (\"Denoised microphone\"); " + _pipewire_note(r.health))
        return f"deployed {r.version} to {where} as {how}; healthy (previous: {r.previous or 'none'})"
    if r.status == "switched":
        return f"rolled back {where} to {r.current}; healthy (next --rollback: {r.previous})"
    if r.status == "rolled_back":
        return (f"release {r.version} was unhealthy ({r.reason}); rolled back to {r.current}, "
                f"which is healthy")
    return (f"{'release ' + r.version + ' ' if r.version else ''}failed on {where}: "
            f"{r.reason or r.health}; now running {r.current or 'no release'}"
            + (f" ({r.health})" if r.reason and r.health else ""))


def _pipewire_note(health: str) -> str:
    """What health found of the filter's source (remote.sh's pipewire= line)."""
    for line in health.splitlines():
        if line.startswith("pipewire="):
            return line[len("pipewire="):]
    return ""
