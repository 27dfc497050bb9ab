"""Pre-flight checks: does this board fit this bundle? Pure functions over the key=value facts
that `remote.sh facts` prints, so tests can feed recorded outputs."""
from __future__ import annotations

import re

from edge.boards import Board

# `uname -m` names and Debian architectures of the userland each board arch needs.
DPKG_ARCH = {"aarch64": "arm64", "armv7l": "armhf", "x86_64": "amd64"}
MIN_DEBIAN = 12          # the cross toolchains are Debian 12's: their glibc or newer
MIN_PYTHON = (3, 11)


# /proc/cpuinfo feature flag (HWCAP) each SIMD level of a board descriptor needs.
CPU_FEATURE = {"dotprod": "asimddp"}


def python_recipe(board: Board) -> str:
    """How to give the board a Python that runs edge/: Debian's own packages, so no venv and no
    compiler on the board. The ALSA binding comes with the release (pylib/alsaaudio.py over
    libasound): Debian 12's python3-alsaaudio 0.8.4 cannot capture under Python 3.11."""
    text = "on the board run `sudo apt install python3-numpy alsa-utils`"
    if board.deploy.python != "/usr/bin/python3":
        text += " and set [deploy].python = \"/usr/bin/python3\""
    return text


def parse_facts(text: str) -> dict[str, list[str]]:
    facts: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            facts.setdefault(key.strip(), []).append(value.strip())
    return facts


def fact(facts: dict[str, list[str]], key: str) -> str:
    return facts.get(key, [""])[0]


def _pcm_present(name: str, listed: list[str], cards: int) -> bool:
    if name == "default":
        return cards > 0 or "default" in listed
    return name in listed


def problems(board: Board, facts: dict[str, list[str]], login_user: str,
             narrowed: bool = False) -> list[str]:
    """Every reason this board cannot take the board's bundle, one clear sentence each.
    narrowed: the login deploys through the board's pinned helper (edge/flash/sudo.py)."""
    out = []
    # The userland decides: a 32-bit Raspberry Pi OS reports aarch64 from its 64-bit kernel.
    uname, dpkg = fact(facts, "uname_m"), fact(facts, "dpkg_arch")
    want = DPKG_ARCH.get(board.arch, board.arch)
    if dpkg and dpkg != want:
        out.append(f"the board's userland is {dpkg} (uname -m {uname}), the {board.name} bundle "
                   f"is built for {board.arch} ({want}): pick the board descriptor that matches")
    elif not dpkg and uname != board.arch:
        out.append(f"the board is {uname or 'of unknown architecture'} (uname -m), the "
                   f"{board.name} bundle is built for {board.arch}")

    os_id, like = fact(facts, "os_id"), fact(facts, "os_id_like").split()
    version = fact(facts, "os_version_id")
    pretty = fact(facts, "os_pretty") or os_id or "unknown"
    if not (os_id in ("debian", "raspbian") or "debian" in like) or not (
            version.isdigit() and int(version) >= MIN_DEBIAN):
        out.append(f"the board runs {pretty}; the bundle needs Debian {MIN_DEBIAN} (bookworm) or "
                   f"newer, e.g. Raspberry Pi OS bookworm")

    if fact(facts, "uid") != "0" and fact(facts, "sudo") != "yes" and not narrowed:
        stale = ("; the deploy helper on the board was installed for other settings or another "
                 "edge version" if fact(facts, "helper_sha") else "")
        out.append(f"{login_user} cannot run sudo without a password on the board{stale}: log in "
                   f"as root, or install the narrowed right once with `edge flash "
                   f"--install-sudoers` as root or a login with passwordless sudo")
    d = board.deploy
    if fact(facts, "service_user") != "yes":
        out.append(f"the service user {d.user} ([deploy].user) does not exist on the board")
    if fact(facts, "systemctl") != "yes":
        out.append(f"{d.systemctl} not found on the board (the service needs systemd)")

    pyver = fact(facts, "python_version")
    if not re.fullmatch(r"\d+\.\d+", pyver):
        out.append(f"{d.python} is not on the board or does not run: {python_recipe(board)}")
    else:
        if tuple(int(x) for x in pyver.split(".")) < MIN_PYTHON:
            out.append(f"{d.python} on the board is Python {pyver}; "
                       f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer is needed")
        if fact(facts, "python_numpy") != "yes":
            out.append(f"{d.python} on the board has no numpy: {python_recipe(board)}")
        if fact(facts, "alsa_lib") != "yes":
            out.append(f"{d.python} on the board cannot load libasound.so.2 (ALSA's library): "
                       f"{python_recipe(board)}")

    features = fact(facts, "cpu_features").split()
    if "cpu_features" in facts and features:
        for level in board.simd:
            need = CPU_FEATURE.get(level)
            if need and need not in features:
                out.append(f"the board's CPU lacks {need} ({level}), which the {board.name} build "
                           f"uses: it would crash there; pick the descriptor of this board "
                           f"(e.g. rpi4 for a Raspberry Pi 4)")

    if d.integration == "pipewire":
        # PipeWire owns the sound card; the filter takes its default capture device.
        needs = [("pipewire_version", "pipewire"), ("pipewire_filter_chain", "its filter-chain module"),
                 ("pw_dump", "pw-dump (pipewire-bin)")]
        if d.echo_cancel:
            needs.append(("pipewire_echo_cancel", "its echo-cancel module with the WebRTC canceller"))
        missing = [what for key, what in needs if not fact(facts, key)]
        if missing:
            out.append(f"the pipewire integration needs PipeWire on the board, which lacks "
                       f"{', '.join(missing)}: Raspberry Pi OS with desktop has it, elsewhere run "
                       f"`sudo apt install pipewire pipewire-bin wireplumber`; or flash with --alsa "
                       f"for the ALSA service")
        return out
    cards = int(fact(facts, "sound_cards") or 0)
    for role, key in (("capture", "capture_pcm"), ("playback", "playback_pcm")):
        name = getattr(board.audio, role)
        if not _pcm_present(name, facts.get(key, []), cards):
            out.append(f"ALSA {role} device {name!r} ([audio].{role}) is not on the board "
                       f"({'arecord' if role == 'capture' else 'aplay'} -L lists "
                       f"{', '.join(facts.get(key, [])[:6]) or 'nothing'}; {cards} sound card(s))")
    return out
