# Board side of `edge flash`, run as: sh -c "$(this file)" remote.sh COMMAND ARGS...
# POSIX sh only: it runs on a stock Raspberry Pi OS. Every command that changes the board
# works on the side (incoming/, releases/V.tmp, .current.tmp) and ends in a rename, so an
# interruption at any point leaves `current` pointing at a complete release.
set -u
cmd=$1; shift

say() { printf '%s\n' "$*"; }
die() { printf 'remote: %s\n' "$*" >&2; exit 3; }

# The copy that `edge flash --install-sudoers` installs for a narrowed sudo right sets PIN_*
# above this file (edge/flash/sudo.py) and refuses every other setting; run as `sh -c` by root
# or a login with full sudo, nothing is pinned.
pin() { [ -z "$2" ] || [ "$1" = "$2" ] || die "this board's deploy helper is pinned to $2, not $1: run \`edge flash --install-sudoers\` again"; }
pinned() { [ -n "${PIN_PREFIX-}" ]; }
release_name() { case "$1" in ""|.*|*[!A-Za-z0-9._+-]*) die "not a release name: $1";; esac; }

# Where a link points, relative to the prefix ("" when absent).
target() { [ -L "$1" ] && readlink "$1" || true; }

# facts PYTHON SYSTEMCTL USER PREFIX HELPER: key=value lines for the pre-flight checks; changes
# nothing.
facts() {
    py=$1 systemctl=$2 user=$3 prefix=$4 helper=$5
    say "uname_m=$(uname -m)"
    command -v dpkg >/dev/null 2>&1 && say "dpkg_arch=$(dpkg --print-architecture)"
    if [ -r /etc/os-release ]; then
        ( . /etc/os-release; say "os_id=${ID:-}"; say "os_id_like=${ID_LIKE:-}"
          say "os_version_id=${VERSION_ID:-}"; say "os_pretty=${PRETTY_NAME:-}" )
    fi
    say "uid=$(id -u)"
    [ "$(id -u)" = 0 ] || { sudo -n true >/dev/null 2>&1 && say "sudo=yes" || say "sudo=no"; }
    if [ -f "$helper" ]; then
        say "helper_sha=$(sha256sum "$helper" | cut -d' ' -f1)"
        [ "$(id -u)" = 0 ] || { sudo -n -l "$helper" >/dev/null 2>&1 && say "helper_sudo=yes"; }
    fi
    id "$user" >/dev/null 2>&1 && say "service_user=yes" || say "service_user=no"
    command -v "$systemctl" >/dev/null 2>&1 && say "systemctl=yes" || say "systemctl=no"
    if command -v "$py" >/dev/null 2>&1; then
        say "python_version=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)"
        "$py" -c 'import numpy' >/dev/null 2>&1 && say "python_numpy=yes" || say "python_numpy=no"
        # The release brings its own ALSA binding (pylib/alsaaudio.py, ctypes): it needs only
        # libasound.so.2. precheck opens PCMs with it once the release is unpacked.
        "$py" -c 'import ctypes; ctypes.CDLL("libasound.so.2")' >/dev/null 2>&1 \
            && say "alsa_lib=yes" || say "alsa_lib=no"
    else
        say "python_version="
    fi
    if [ -r /proc/asound/cards ]; then
        say "sound_cards=$(grep -c '^ *[0-9]' /proc/asound/cards)"
    else
        say "sound_cards=0"
    fi
    command -v aplay >/dev/null 2>&1 && aplay -L 2>/dev/null | grep -v '^[[:space:]]' | sed 's/^/playback_pcm=/'
    command -v arecord >/dev/null 2>&1 && arecord -L 2>/dev/null | grep -v '^[[:space:]]' | sed 's/^/capture_pcm=/'
    # The pipewire integration: the daemon, its filter-chain module (which hosts LADSPA plugins)
    # and pw-dump, with which health finds the filter's source.
    command -v pipewire >/dev/null 2>&1 && say "pipewire_version=$(pipewire --version 2>/dev/null | sed -n 's/^Linked with libpipewire //p')"
    for m in /usr/lib/*/pipewire-0.3/libpipewire-module-filter-chain.so /usr/lib/pipewire-0.3/libpipewire-module-filter-chain.so; do
        [ -f "$m" ] && { say "pipewire_filter_chain=yes"; break; }
    done
    # --echo-cancel: the echo-cancel module and the WebRTC canceller it loads (libspa-0.2-modules).
    for m in /usr/lib/*/spa-0.2/aec/libspa-aec-webrtc.so /usr/lib/spa-0.2/aec/libspa-aec-webrtc.so; do
        [ -f "$m" ] && [ -f "${m%/spa-0.2/aec/libspa-aec-webrtc.so}/pipewire-0.3/libpipewire-module-echo-cancel.so" ] \
            && { say "pipewire_echo_cancel=yes"; break; }
    done
    command -v pw-dump >/dev/null 2>&1 && say "pw_dump=yes"
    # CPU features the kernel's build may use (asimddp: the dotprod instructions of a Pi 5).
    say "cpu_features=$(sed -n 's/^\(Features\|flags\)[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1)"
    say "current=$(target "$prefix/current")"
    say "previous=$(target "$prefix/previous")"
}

# receive PREFIX VERSION SHA256: the bundle on stdin into incoming/, kept only when complete.
receive() {
    prefix=$1 version=$2 sha=$3
    pin "$prefix" "${PIN_PREFIX-}"; release_name "$version"
    mkdir -p "$prefix/incoming" "$prefix/releases" || die "cannot create $prefix"
    rm -f "$prefix"/incoming/*.part
    part="$prefix/incoming/$version.tar.gz.part"
    cat > "$part" || die "copy to $part failed"
    got=$(sha256sum "$part" | cut -d' ' -f1)
    if [ "$got" != "$sha" ]; then
        rm -f "$part"
        die "bundle arrived incomplete or altered (sha256 $got, expected $sha)"
    fi
    mv "$part" "$prefix/incoming/$version.tar.gz"
}

# unpack PREFIX VERSION USER: incoming bundle -> releases/VERSION (complete or absent).
unpack() {
    prefix=$1 version=$2 user=$3
    pin "$prefix" "${PIN_PREFIX-}"; release_name "$version"; pin "$user" "${PIN_USER-}"
    rel="$prefix/releases/$version"
    if [ ! -d "$rel" ]; then
        rm -rf "$rel.tmp" && mkdir -p "$rel.tmp" || die "cannot create $rel.tmp"
        tar -xzf "$prefix/incoming/$version.tar.gz" -C "$rel.tmp" --no-same-owner \
            || { rm -rf "$rel.tmp"; die "cannot unpack the bundle"; }
        mv "$rel.tmp" "$rel"
    fi
    rm -f "$prefix/incoming/$version.tar.gz"
    # The service's own writable directory: telemetry lines (rotated) and the Prometheus file.
    mkdir -p "$prefix/var" && chown "$user" "$prefix/var" || die "cannot create $prefix/var for $user"
    # On disk before any link points at it: a power cut after the switch finds it whole.
    sync
}

# as USER COMMAND...: run a command of the new release as the service user, never as root.
as() {
    user=$1; shift
    if [ "$(id -u)" != 0 ] || [ "$user" = root ]; then "$@"; return; fi
    setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups --reset-env -- "$@"
}

# integration_of RELEASE_DIR: what switching to the release installs (releases from before
# integrations existed are "alsa").
integration_of() { i=$(cat "$1/integration" 2>/dev/null) || i=alsa; case "$i" in pipewire) say pipewire;; *) say alsa;; esac; }

# user_systemctl USER SYSTEMCTL ARGS...: USER's own systemd, where their PipeWire runs.
user_systemctl() { u=$1 sc=$2; shift 2; "$sc" --user -M "$u@" "$@"; }

# pipewire_dir USER DIR: the drop-in directory, a leading ~/ made USER's home.
pipewire_dir() {
    case "$2" in
        "~/"*) home=$(getent passwd "$1" | cut -d: -f6); [ -n "$home" ] || die "$1 has no home directory"
               printf '%s/%s' "$home" "${2#"~/"}" ;;
        *) printf '%s' "$2" ;;
    esac
}

# pipewire_conf PREFIX USER DIR install|remove: the current release's drop-in into DIR, or out of
# it, written by USER (never root: DIR is USER's own), renamed in whole.
pipewire_conf() {
    dir=$(pipewire_dir "$2" "$3") || exit 3
    if [ "$4" = install ]; then
        as "$2" sh -c 'mkdir -p "$1" && cp "$2" "$1/.percepnet-edge.conf.tmp" && mv "$1/.percepnet-edge.conf.tmp" "$1/percepnet-edge.conf"' \
            sh "$dir" "$1/current/pipewire/percepnet-edge.conf" || die "cannot write $dir/percepnet-edge.conf as $2"
    elif [ -f "$dir/percepnet-edge.conf" ]; then
        as "$2" rm -f "$dir/percepnet-edge.conf" || die "cannot remove $dir/percepnet-edge.conf as $2"
        say "removed"
    fi
}

# pipewire_restart USER SYSTEMCTL: restart USER's PipeWire where it runs (wireplumber follows it);
# where it does not, the drop-in loads when their session starts it.
pipewire_restart() {
    if user_systemctl "$1" "$2" is-active --quiet pipewire.service 2>/dev/null; then
        user_systemctl "$1" "$2" restart pipewire.service || die "cannot restart the PipeWire of $1"
    fi
}

# precheck PREFIX VERSION PYTHON USER: before anything switches, run the unpacked release as the
# service user: the native self-test, the bundled model through the kernel, and the bundled
# ALSA binding reading and writing a period on ALSA's null PCMs; for the pipewire integration,
# the bundled LADSPA plugin loading its model at the drop-in's rate, as PipeWire will.
precheck() {
    prefix=$1 version=$2 py=$3 user=$4
    pin "$prefix" "${PIN_PREFIX-}"; release_name "$version"
    pin "$py" "${PIN_PYTHON-}"; pin "$user" "${PIN_USER-}"
    rel="$prefix/releases/$version"
    [ -d "$rel" ] || die "release $version is not unpacked"
    out=$(as "$user" "$rel/bin/pn_selftest" "$rel/edge/_lib/libpercepnet.so" 2>&1) \
        || die "self-test of the bundled library failed: $(printf '%s' "$out" | tail -n 1)"
    say "selftest=$out"
    out=$(cd / && as "$user" env PYTHONPATH="$rel/pylib:$rel" HOME=/ "$py" -c '
import sys, numpy as np
rel = sys.argv[1]
import alsaaudio, edge, edge.native as n
from edge.kernel import Kernel
from edge.models import shipped
for m, what in ((edge, "edge"), (alsaaudio, "the ALSA binding")):
    if not m.__file__.startswith(rel + "/"):
        sys.exit("imported %s from %s, not from the release" % (what, m.__file__))
with Kernel(shipped()) as k:
    t = np.arange(n.HOP * 20) / n.SAMPLE_RATE
    x = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    y = np.concatenate([k.process(x[i:i + n.HOP]) for i in range(0, len(x), n.HOP)])
    if not np.all(np.isfinite(y)):
        sys.exit("the bundled model gives non-finite output")
kw = dict(rate=n.SAMPLE_RATE, channels=1, format=alsaaudio.PCM_FORMAT_S16_LE, periodsize=n.HOP,
          periods=3, device="null")
cap = alsaaudio.PCM(alsaaudio.PCM_CAPTURE, alsaaudio.PCM_NORMAL, **kw)
frames, data = cap.read()
if frames != n.HOP or len(data) != 2 * n.HOP:
    sys.exit("ALSA capture read gave %r frames, %d bytes" % (frames, len(data)))
play = alsaaudio.PCM(alsaaudio.PCM_PLAYBACK, alsaaudio.PCM_NORMAL, **kw)
if play.write(data) != n.HOP:
    sys.exit("ALSA playback write did not take a period")
cap.close(); play.close()
print(n.library_path(), n.fn("pn_version_string")().decode(), "model", shipped().name, "alsa ok")
' "$rel" 2>&1) || die "the release does not run on this board: $(printf '%s' "$out" | tail -n 1)"
    say "python=$out"
    [ "$(integration_of "$rel")" = pipewire ] || return 0
    rate=$(sed -n 's/^ *audio\.rate = \([0-9]*\)$/\1/p' "$rel/pipewire/percepnet-edge.conf" | head -n 1)
    out=$(cd / && as "$user" env PYTHONPATH="$rel" HOME=/ "$py" -m edge.ladspa "$rel/ladspa/libpercepnet_ladspa.so" --rate "${rate:-48000}" 2>&1) \
        || die "the bundled LADSPA plugin does not start on this board: $(printf '%s' "$out" | tail -n 1)"
    say "plugin=$out"
}

# link PREFIX NAME TARGET: point PREFIX/NAME at TARGET by an atomic rename ("" removes it).
link() {
    if [ -z "$3" ]; then rm -f "$1/$2"; return; fi
    ln -sfn "$3" "$1/.$2.tmp" && mv -T "$1/.$2.tmp" "$1/$2" || die "cannot switch $1/$2"
}

# switch PREFIX CURRENT PREVIOUS SERVICE SYSTEMCTL UNIT_DIR USER PIPEWIRE_DIR: set both links and
# install what the current release's integration says: its unit, restarting the service, or its
# PipeWire drop-in for USER, restarting their PipeWire, with the service stopped, disabled and its
# unit removed. Only one of the two is ever installed. No current: neither.
switch() {
    prefix=$1 cur=$2 prev=$3 service=$4 systemctl=$5 unit_dir=$6 user=$7 pwdir=$8
    pin "$prefix" "${PIN_PREFIX-}"; pin "$service" "${PIN_SERVICE-}"
    pin "$systemctl" "${PIN_SYSTEMCTL-}"; pin "$unit_dir" "${PIN_UNIT_DIR-}"
    pin "$user" "${PIN_USER-}"; pin "$pwdir" "${PIN_PIPEWIRE_DIR-}"
    for r in "$cur" "$prev"; do [ -z "$r" ] || release_name "${r#releases/}"; done
    if [ -n "$cur" ] && pinned; then
        sha=$(sha256sum "$prefix/$cur/percepnet-edge.service" | cut -d' ' -f1)
        pin "$sha" "$PIN_UNIT_SHA"
    fi
    link "$prefix" previous "$prev"
    link "$prefix" current "$cur"
    if [ -z "$cur" ]; then
        "$systemctl" stop "$service" || true
        unfilter
        return
    fi
    if [ "$(integration_of "$prefix/current")" = pipewire ]; then
        if [ -f "$unit_dir/$service.service" ]; then
            "$systemctl" disable --now "$service" >/dev/null 2>&1 || true
            rm -f "$unit_dir/$service.service" && "$systemctl" daemon-reload || die "cannot remove the unit of $service"
        fi
        pipewire_conf "$prefix" "$user" "$pwdir" install
        sync
        pipewire_restart "$user" "$systemctl"
        return
    fi
    unfilter
    mkdir -p "$unit_dir" && cp "$prefix/current/percepnet-edge.service" "$unit_dir/.$service.service.tmp" \
        && mv "$unit_dir/.$service.service.tmp" "$unit_dir/$service.service" || die "cannot install the unit"
    "$systemctl" daemon-reload || die "systemctl daemon-reload failed"
    "$systemctl" enable "$service" >/dev/null 2>&1 || true
    sync
    "$systemctl" restart "$service" || die "systemctl restart $service failed"
}

# unfilter: switch's drop-in out of the user's PipeWire, which restarts without it.
unfilter() {
    removed=$(pipewire_conf "$prefix" "$user" "$pwdir" remove) || exit 3
    [ -z "$removed" ] || pipewire_restart "$user" "$systemctl"
}

# health PREFIX SERVICE SYSTEMCTL TIMEOUT SETTLE USER: the service is active within TIMEOUT
# seconds and still active SETTLE seconds later (the release's own code ran in precheck, as its
# user); for the pipewire integration, the filter's source is in USER's PipeWire within TIMEOUT
# seconds and PipeWire still runs SETTLE seconds later (where no PipeWire runs for USER, it
# says so: the drop-in loads with their next session).
health() {
    prefix=$1 service=$2 systemctl=$3 timeout=$4 settle=$5 user=$6
    pin "$prefix" "${PIN_PREFIX-}"; pin "$service" "${PIN_SERVICE-}"; pin "$systemctl" "${PIN_SYSTEMCTL-}"
    pin "$user" "${PIN_USER-}"
    rel=$(readlink -f "$prefix/current")
    [ -n "$rel" ] || die "no current release"
    if [ "$(integration_of "$rel")" = pipewire ]; then
        health_pipewire
        return
    fi
    start=$(date +%s)
    while :; do
        state=$("$systemctl" is-active "$service" 2>/dev/null)
        [ "$state" = active ] && break
        case "$state" in activating|reloading|"") ;; *) die "service $service is $state";; esac
        [ $(( $(date +%s) - start )) -ge "$timeout" ] && die "service $service still $state after ${timeout}s"
        sleep 0.5
    done
    # Watch it for SETTLE seconds: longer than the unit's RestartSec, so a crash loop shows.
    end=$(( $(date +%s) + settle ))
    while [ "$(date +%s)" -lt "$end" ]; do
        sleep 0.5
        state=$("$systemctl" is-active "$service" 2>/dev/null)
        [ "$state" = active ] || die "service $service went $state within ${settle}s of starting"
    done
    say "healthy=$rel"
}

health_pipewire() {
    if ! user_systemctl "$user" "$systemctl" is-active --quiet pipewire.service 2>/dev/null; then
        say "healthy=$rel"
        say "pipewire=not running for $user: the Denoised microphone appears when their session starts PipeWire"
        return
    fi
    rt=$(user_systemctl "$user" "$systemctl" show-environment 2>/dev/null | sed -n 's/^XDG_RUNTIME_DIR=//p')
    [ -n "$rt" ] || die "cannot find the runtime directory of $user's session"
    start=$(date +%s)
    until as "$user" env XDG_RUNTIME_DIR="$rt" pw-dump 2>/dev/null | grep -q '"node.name": "percepnet_source"'; do
        [ $(( $(date +%s) - start )) -ge "$timeout" ] \
            && die "no Denoised microphone (node percepnet_source) in the PipeWire of $user after ${timeout}s"
        sleep 0.5
    done
    sleep "$settle"
    user_systemctl "$user" "$systemctl" is-active --quiet pipewire.service \
        || die "the PipeWire of $user stopped within ${settle}s of loading the filter"
    say "healthy=$rel"
    say "pipewire=percepnet_source in the PipeWire of $user"
}

# prune PREFIX KEEP: delete releases other than current/previous beyond the KEEP newest.
prune() {
    prefix=$1 keep=$2
    pin "$prefix" "${PIN_PREFIX-}"
    cur=$(target "$prefix/current") prev=$(target "$prefix/previous")
    ls -1t "$prefix/releases" 2>/dev/null | tail -n +$((keep + 1)) | while read -r r; do
        [ "releases/$r" = "$cur" ] || [ "releases/$r" = "$prev" ] || rm -rf "$prefix/releases/$r"
    done
}

# drop PREFIX VERSION: remove a release that failed its health check.
drop() { pin "$1" "${PIN_PREFIX-}"; release_name "$2"; rm -rf "$1/releases/$2"; }

# install_helper HELPER DROPIN TEXT: the pinned helper on stdin becomes HELPER (root's, 0755)
# and TEXT the sudoers drop-in that lets the login run it. Both are checked, then renamed in.
install_helper() {
    helper=$1 dropin=$2 text=$3
    pinned && die "the pinned helper cannot install helpers"
    mkdir -p "$(dirname "$helper")" "$(dirname "$dropin")" || die "cannot create $(dirname "$helper")"
    cat > "$helper.tmp" && chown root:root "$helper.tmp" && chmod 0755 "$helper.tmp" \
        || die "cannot write $helper"
    sh -n "$helper.tmp" || die "the helper does not parse"
    # sudo skips drop-in names with a dot: the .tmp is never live
    printf '%s' "$text" > "$dropin.tmp" && chmod 0440 "$dropin.tmp" || die "cannot write $dropin"
    if command -v visudo >/dev/null 2>&1; then
        visudo -cqf "$dropin.tmp" >/dev/null || { rm -f "$dropin.tmp"; die "visudo refuses the drop-in"; }
    fi
    mv "$helper.tmp" "$helper" && mv "$dropin.tmp" "$dropin" || die "cannot install $helper"
}

case "$cmd" in
    facts|receive|unpack|precheck|switch|health|prune|drop|install_helper) "$cmd" "$@" ;;
    *) die "unknown command $cmd" ;;
esac
