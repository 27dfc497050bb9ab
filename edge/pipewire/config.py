"""The filter-chain drop-in (percepnet-edge.conf beside this file), rendered for a plugin path,
a rate and an attenuation limit, with PipeWire's echo canceller ahead of the filter if asked
(echo-cancel.conf beside it). One renderer for `edge install-pipewire` and `edge flash`."""
from __future__ import annotations

import re
from pathlib import Path
from string import Template

from edge.errors import EdgeError
from edge.kernel import ATTEN_MAX_DB
from edge.native import rates

TEMPLATE = Path(__file__).resolve().parent / "percepnet-edge.conf"
ECHO_TEMPLATE = Path(__file__).resolve().parent / "echo-cancel.conf"
CONF_NAME = "percepnet-edge.conf"          # the drop-in's name in pipewire.conf.d/
NODE = "percepnet_source"                  # the virtual source's node.name
DESCRIPTION = "Denoised microphone"
ECHO_SINK = "percepnet_echo_sink"          # with echo cancellation: where applications play
ECHO_SINK_DESCRIPTION = "Echo-cancelled speaker"
ECHO_SOURCE = "percepnet_echo_source"      # the cancelled microphone, the filter's input
ECHO_SOURCE_DESCRIPTION = "Echo-cancelled microphone"
ECHO_RATES = (8000, 16000, 32000, 48000)   # what WebRTC's canceller (webrtc-audio-processing 0.3) runs at
# Inside SPA JSON double quotes: no quote, backslash or control character to escape.
_PLAIN = re.compile(r"[^\"\\\x00-\x1f\x7f]+")


def _quoted(value: str, what: str) -> str:
    if not _PLAIN.fullmatch(value):
        raise EdgeError(f"{what} cannot go into the PipeWire configuration (no quotes, "
                        f"backslashes or control characters), got {value!r}")
    return value


def check_atten_lim(db: float, what: str = "attenuation limit") -> float:
    """dB in 0 (no limit)..ATTEN_MAX_DB, the plugin's range; inf and nan are refused."""
    if not 0 <= db <= ATTEN_MAX_DB:
        raise EdgeError(f"{what} must be between 0 (no limit) and {ATTEN_MAX_DB:g} dB, got {db:g}")
    return db


def check_rate(rate: int) -> int:
    """A rate the kernel takes, as the host's library lists them (edge install-pipewire's
    --rate; edge flash renders the kernel's own rate for a board, with no host library)."""
    if rate not in rates():
        raise EdgeError(f"rate {rate} Hz is not one the kernel takes ("
                        + ", ".join(str(r) for r in rates()) + " Hz)")
    return rate


def render(plugin: str, rate: int = 48000, atten_lim: float = 0.0, capture: str | None = None,
           written_by: str = "edge install-pipewire", echo_cancel: bool = False) -> str:
    """The drop-in text. plugin: absolute path of libpercepnet_ladspa.so where PipeWire will
    load it; rate: one the kernel takes (check_rate); capture: a PipeWire node name to take the
    microphone from instead of the default capture device; echo_cancel: the microphone goes
    through PipeWire's WebRTC echo canceller first, against what applications play to
    "Echo-cancelled speaker"."""
    if not str(plugin).startswith("/"):
        raise EdgeError(f"the plugin path in the PipeWire configuration must be absolute, got {plugin!r}")
    if echo_cancel and rate not in ECHO_RATES:
        raise EdgeError(f"rate {rate} Hz is not one the WebRTC echo canceller takes ("
                        + ", ".join(str(r) for r in ECHO_RATES) + " Hz)")
    check_atten_lim(atten_lim)
    mic = f"node {capture}" if capture else "the default capture device"
    target = ""
    if capture is not None:
        target = f'\n                target.object = "{_quoted(capture, "the capture node name")}"'
    echo = ""
    if echo_cancel:
        echo = Template(ECHO_TEMPLATE.read_text()).substitute(
            capture_what=mic, capture_target=target, hop=rate // 100, rate=rate,
            ec_sink=ECHO_SINK, ec_sink_description=ECHO_SINK_DESCRIPTION,
            ec_source=ECHO_SOURCE, ec_source_description=ECHO_SOURCE_DESCRIPTION)
        target = f'\n                target.object = "{ECHO_SOURCE}"'
    return Template(TEMPLATE.read_text()).substitute(
        written_by=written_by, plugin=_quoted(str(plugin), "the plugin path"), rate=rate,
        hop=rate // 100, atten_lim=f"{atten_lim:g}", node=NODE, capture_target=target,
        echo_cancel=echo,
        chain_input=(f"echo-cancelled microphone (node {ECHO_SOURCE}, below)" if echo_cancel
                     else f"microphone ({mic})"))
