"""edge flash as a library: check the board, copy the bundle, switch releases, check health,
roll back. The board only ever changes through remote.sh's rename-at-the-end steps."""
from __future__ import annotations

import math
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

from edge.boards import Board
from edge.errors import EdgeError
from edge.flash import ssh, sudo
from edge.build import scons_command
from edge.flash.bundle import Bundle, write_bundle
from edge.flash.checks import DPKG_ARCH, MIN_DEBIAN, fact, parse_facts, problems
from edge.flash.ssh import RemoteError, Target
from edge.ladspa import PLUGIN_FILE
from edge.pipewire.config import CONF_NAME, DESCRIPTION, ECHO_SINK, ECHO_SINK_DESCRIPTION, NODE

KEEP_RELEASES = 3


@dataclass
class Report:
    board: str
    host: str
    prefix: str
    status: str                 # deployed | rolled_back | failed | switched
    integration: str = ""       # alsa | pipewire: what the new release installed
    version: str = ""
    current: str = ""           # release running when we finished ("" when none)
    previous: str = ""          # what --rollback would switch to
    reason: str = ""            # why the new release was refused
    health: str = ""            # the health check's own output
    steps: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def plan(board: Board, target: Target, prefix: str | None = None) -> list[str]:
    """What flash() will do, step by step, without touching anything."""
    p = (prefix or board.deploy.prefix).rstrip("/")
    d, a = board.deploy, board.audio
    pipewire = d.integration == "pipewire"
    conf = f"{d.pipewire_conf_dir.rstrip('/')}/{CONF_NAME}"
    if pipewire:
        audio = ("PipeWire with its filter-chain module"
                 + (", its echo-cancel module with the WebRTC canceller" if d.echo_cancel else "")
                 + " and pw-dump (PipeWire owns the sound card: the ALSA devices are not checked)")
        echo = (f", with PipeWire's WebRTC echo canceller ahead of it (applications play to "
                f"\"{ECHO_SINK_DESCRIPTION}\", node {ECHO_SINK})" if d.echo_cancel else "")
        install = [f"install {conf} for {d.user}, written as {d.user}: the filter-chain drop-in "
                   f"(plugin {p}/current/ladspa/{PLUGIN_FILE}){echo}; stop, disable and remove "
                   f"{d.service}.service if installed; restart {d.user}'s PipeWire where it runs",
                   f"health: the \"{DESCRIPTION}\" source ({NODE}) in {d.user}'s PipeWire within "
                   f"{d.health_timeout_s:g}s and PipeWire still running a few seconds later (where no "
                   f"PipeWire runs for {d.user}, it says so: the source appears with their session)"]
    else:
        audio = f"ALSA capture {a.capture!r} and playback {a.playback!r}"
        install = [f"install {d.unit_dir}/{d.service}.service; {d.systemctl} daemon-reload; "
                   f"{d.systemctl} restart {d.service}; remove {conf} if an earlier release "
                   f"installed the PipeWire filter",
                   f"health: {d.service} active within {d.health_timeout_s:g}s and still active a few "
                   f"seconds later"]
    return [
        f"build: scons {' '.join(scons_command(board)[1:])} ({board.arch}, "
        f"{' '.join(board.cflags) or 'no extra flags'}, simd {','.join(board.simd) or 'scalar'})",
        "bundle: edge/_lib/libpercepnet.so, bin/pn_selftest, the edge package and models, "
        f"pylib/alsaaudio.py, examples/noisy.wav, boards/{board.name}.toml, "
        f"percepnet-edge.service, service.env, asound.conf, ladspa/{PLUGIN_FILE} with its model, "
        f"pipewire/{CONF_NAME}; integration: {d.integration} "
        f"({'the PipeWire filter' if pipewire else 'the ALSA service'}); attenuation limit: "
        + (f"at most {d.atten_lim:g} dB removed per band" if d.atten_lim else "none"),
        f"check {target} over ssh (keys only, host key checked): userland "
        f"{DPKG_ARCH.get(board.arch, board.arch)} ({board.arch}), Debian {MIN_DEBIAN}+, {d.python} "
        f"with numpy and libasound.so.2, the CPU features of simd "
        f"{','.join(board.simd) or 'scalar'}, {audio}, "
        f"user {d.user}, {d.systemctl}; any mismatch stops here with nothing changed",
        f"as root: directly for a root login; for {target.user or 'another login'} through "
        f"`sudo -n {sudo.HELPER}` where `edge flash --install-sudoers` installed it (remote.sh "
        f"pinned to these settings; drop-in {sudo.DROPIN}: "
        f"`{sudo.dropin(target.user or 'LOGIN').splitlines()[-1]}`), else full passwordless sudo",
        f"copy the bundle to {p}/incoming/ (kept only when its sha256 matches)",
        f"unpack into {p}/releases/<version>, create {p}/var for {d.user}, sync",
        f"precheck the unpacked release as {d.user} (never root): bin/pn_selftest on the bundled "
        f"library, the bundled model through the kernel, and the bundled ALSA binding "
        f"(pylib/alsaaudio.py) reading and writing a period on ALSA's null PCMs"
        + (", the bundled LADSPA plugin starting with its model at the drop-in's rate" if pipewire else "")
        + "; a failure deletes it and changes nothing else",
        f"switch {p}/current to the new release by an atomic rename; {p}/previous to the old one",
        *install,
        "unhealthy: switch back to the previous release, reinstall its own integration and report why",
    ]


def dry_run(board: Board, target: Target, prefix: str | None = None) -> tuple[list[str], Bundle]:
    """plan() after every check flash() makes on this machine: the board's bundle is built as
    flash() builds it (the kernel, the model in the board's weight encoding, the unit, the
    configuration), in a temporary folder, then discarded. The board is not contacted."""
    p = (prefix or board.deploy.prefix).rstrip("/")
    with tempfile.TemporaryDirectory(prefix="edge-flash-") as tmp:
        bundle = write_bundle(board, Path(tmp) / f"percepnet-edge-{board.name}.tar.gz", p)
    return plan(board, target, prefix), bundle


def board_facts(board: Board, target: Target, prefix: str) -> dict[str, list[str]]:
    d = board.deploy
    return parse_facts(ssh.run(target, "facts", d.python, d.systemctl, d.user, prefix, sudo.HELPER))


def _checked(board: Board, target: Target, prefix: str, check: bool = True):
    """(target, facts): the target runs the pinned helper when the board has the one made
    for these settings and lets this login run it; with check, raises with every problem
    found."""
    facts = board_facts(board, target, prefix)
    if (target.user != "root" and fact(facts, "helper_sudo") == "yes"
            and fact(facts, "helper_sha") == sudo.helper_sha(board, prefix)):
        target = replace(target, helper=sudo.HELPER)
    found = problems(board, facts, target.user, narrowed=target.helper is not None) if check else []
    if found:
        raise EdgeError(f"{target} cannot take the {board.name} bundle, nothing changed: "
                        + "; ".join(found))
    return target, facts


def install_sudoers(board: Board, target: Target, prefix: str | None = None) -> str:
    """Install the pinned helper and the sudoers drop-in letting target's login run it (see
    edge/flash/sudo.py); needs root or full passwordless sudo this once."""
    prefix = (prefix or board.deploy.prefix).rstrip("/")
    if target.user == "root":
        raise EdgeError("--install-sudoers gives a login other than root its narrowed sudo "
                        "right: name that login in --host USER@HOST")
    with ssh.session(target) as shared:
        facts = board_facts(board, shared, prefix)
        if fact(facts, "sudo") != "yes":
            raise EdgeError(f"{target} cannot run sudo without a password: installing the "
                            f"narrowed right needs full passwordless sudo (or root) this once")
        with tempfile.TemporaryDirectory(prefix="edge-flash-") as tmp:
            helper = Path(tmp) / "helper.sh"
            helper.write_text(sudo.helper_script(board, prefix))
            ssh.send(shared, helper, "install_helper", sudo.HELPER, sudo.DROPIN,
                     sudo.dropin(target.user))
        facts = board_facts(board, shared, prefix)
    if fact(facts, "helper_sha") != sudo.helper_sha(board, prefix) or fact(facts, "helper_sudo") != "yes":
        raise EdgeError(f"installed {sudo.HELPER} and {sudo.DROPIN} on {target.host}, but sudo "
                        f"does not let {target.user} run the helper (check the board's sudoers)")
    return (f"{target.user} on {target.host} may now run {sudo.HELPER} (pinned to {prefix}, "
            f"service user {board.deploy.user}) through sudo; {sudo.DROPIN} allows nothing else")


def _switch(board: Board, target: Target, prefix: str, current: str, previous: str) -> None:
    """Links, then what the current release's integration file says (remote.sh switch)."""
    d = board.deploy
    ssh.run(target, "switch", prefix, current, previous, d.service, d.systemctl, d.unit_dir,
            d.user, d.pipewire_conf_dir)


def _health(board: Board, target: Target, prefix: str) -> str:
    d = board.deploy
    settle = max(1, min(3, round(d.health_timeout_s / 4)))    # whole seconds: sh arithmetic
    return ssh.run(target, "health", prefix, d.service, d.systemctl,
                   str(math.ceil(d.health_timeout_s)), str(settle), d.user,
                   timeout=d.health_timeout_s + 120)


def _precheck(board: Board, target: Target, prefix: str, version: str) -> str:
    d = board.deploy
    return ssh.run(target, "precheck", prefix, version, d.python, d.user,
                   timeout=d.health_timeout_s + 300)


def flash(board: Board, target: Target, prefix: str | None = None, bundle: Bundle | None = None,
          log: Callable[[str], None] = lambda s: None,
          on_chunk: Callable | None = None) -> Report:
    """Deploy the board's bundle to target. Raises EdgeError when nothing was changed on the
    board (checks failed, copy interrupted); returns a Report once a switch happened."""
    prefix = (prefix or board.deploy.prefix).rstrip("/")
    log(f"checking {target}")
    with ssh.session(target) as shared:
        return _flash(board, shared, prefix, bundle, log, on_chunk)


def _flash(board, target, prefix, bundle, log, on_chunk) -> Report:
    target, facts = _checked(board, target, prefix)
    old_cur, old_prev = fact(facts, "current"), fact(facts, "previous")

    with tempfile.TemporaryDirectory(prefix="edge-flash-") as tmp:
        if bundle is None:
            log(f"building for {board.name}")
            bundle = write_bundle(board, Path(tmp) / f"percepnet-edge-{board.name}.tar.gz", prefix)
        log(f"copying {bundle.version} ({bundle.size} bytes)")
        try:
            ssh.send(target, bundle.path, "receive", prefix, bundle.version, bundle.sha256,
                     on_chunk=on_chunk)
        except RemoteError as e:
            raise EdgeError(f"{e}; nothing switched, the board still runs "
                            f"{old_cur or 'no release'}") from None

    ssh.run(target, "unpack", prefix, bundle.version, board.deploy.user)
    log(f"prechecking {bundle.version} as {board.deploy.user}")
    try:
        checked = _precheck(board, target, prefix, bundle.version).strip()
    except RemoteError as e:
        if f"releases/{bundle.version}" not in (old_cur, old_prev):
            ssh.run(target, "drop", prefix, bundle.version)
        raise EdgeError(f"{e}; nothing switched, the board still runs "
                        f"{old_cur or 'no release'}") from None
    new = f"releases/{bundle.version}"
    report = Report(board=board.name, host=str(target), prefix=prefix, status="deployed",
                    integration=board.deploy.integration, version=bundle.version)
    back_to = (old_cur, old_prev) if old_cur != new else (old_prev, "")
    try:
        log(f"switching to {new} and restarting {board.deploy.service}")
        _switch(board, target, prefix, new, back_to[0])
        report.steps.append(f"switched current to {new}")
        log("checking health")
        report.health = checked + "\n" + _health(board, target, prefix).strip()
        report.current, report.previous = new, back_to[0]
    except RemoteError as e:
        report.status, report.reason = "rolled_back", str(e)
        log(f"unhealthy ({e}); rolling back to {back_to[0] or 'no release'}")
        _switch(board, target, prefix, *back_to)
        ssh.run(target, "drop", prefix, bundle.version)
        report.steps.append(f"switched back to {back_to[0] or 'no release (service stopped)'}")
        report.current, report.previous = back_to
        if back_to[0]:
            try:
                report.health = _health(board, target, prefix).strip()
            except RemoteError as e2:
                report.status = "failed"
                report.health = f"the previous release is unhealthy too: {e2}"
        else:
            report.status = "failed"
    ssh.run(target, "prune", prefix, str(KEEP_RELEASES))
    return report


def rollback(board: Board, target: Target, prefix: str | None = None) -> Report:
    """Swap current and previous, restart, check health."""
    prefix = (prefix or board.deploy.prefix).rstrip("/")
    with ssh.session(target) as shared:
        return _rollback(board, shared, prefix)


def _rollback(board, target, prefix) -> Report:
    target, facts = _checked(board, target, prefix, check=False)
    cur, prev = fact(facts, "current"), fact(facts, "previous")
    if not prev:
        raise EdgeError(f"no previous release under {prefix} on {target.host} to roll back to "
                        f"(current: {cur or 'none'})")
    _switch(board, target, prefix, prev, cur)
    report = Report(board=board.name, host=str(target), prefix=prefix, status="switched",
                    version=prev.rpartition("/")[2], current=prev, previous=cur,
                    steps=[f"switched current from {cur or 'none'} to {prev}"])
    try:
        report.health = _health(board, target, prefix).strip()
    except RemoteError as e:
        report.status, report.reason = "failed", str(e)
    return report
