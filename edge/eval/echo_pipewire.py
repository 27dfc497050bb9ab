"""The PipeWire chain of `edge eval-echo`: a scene played through the drop-in `edge
install-pipewire --echo-cancel` writes, in a private PipeWire daemon (edge.pipewire.daemon).

One player plays the far end to "Echo-cancelled speaker", as an application would, and, in the
same graph cycles, what the microphone hears (the far end through the room, the near-end talker,
the noise) into a null source standing in for the microphone. The echo is the scene's, computed
ahead: a loop through PipeWire (canceller's loudspeaker output -> a convolver -> microphone) was
tried first, and its delay moved by a cycle from time to time, which a real room does not do.
The canceller takes the far end as its reference in the cycle the microphone hears the echo
of it, so the echo reaches it exactly the scene's delay late.

One recorder takes, sample-aligned: the microphone, what the player gave it less the echo and
the near-end talker alone (the null source's other channels), what the canceller plays on to
the loudspeaker, the canceller's output and "Denoised microphone". A client late for a graph
cycle on a busy machine leaves the same gap in all of them, so the scores come from the
recording, not from the scene's timeline. A play where the canceller's reference moved against
the echo (it lost or doubled a block of the far end) is played again.

The graph cycle is forced to the canceller's 10 ms block: PipeWire 0.3.65's module processes
one block per cycle, so a longer cycle loses audio (measured: at 1024 or 2048 samples the
loudspeaker no longer plays the far end)."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from edge.errors import EdgeError
from edge.eval.align import estimate_delay
from edge.eval.echo import RATE, Heard, Scene

MIC = "echo-rig-mic"
QUANTUM = 480
TRIES = 3
STRETCH = RATE // 2         # the lag of the canceller's reference is checked over each of these
RIG = """# The microphone of edge.eval.echo_pipewire.
context.objects = [
    { factory = adapter
        args = {
            factory.name = support.null-audio-sink
            node.name = "%s"
            media.class = Audio/Source/Virtual
            # FL: what the microphone hears; FR: that less the echo; FC: the near-end talker
            audio.position = [ FL FR FC ]
            audio.rate = 48000
            adapter.auto-port-config = { mode = dsp monitor = true position = preserve }
        }
    }
]
""" % MIC


def _play(scene: Scene, model, folder: Path, tag: str) -> np.ndarray:
    from edge.pipewire import install
    from edge.pipewire.config import ECHO_SINK, ECHO_SOURCE, NODE
    from edge.pipewire.daemon import Daemon
    from edge.wavio import write

    d = Daemon(folder / f"daemon{tag}")
    try:
        install.install(model=model, prefix=d.dir / "lib", dest=d.conf_dir, capture=MIC, echo_cancel=True)
        (d.conf_dir / "zz-echo-rig.conf").write_text(RIG)
        d.start()
        d.force_quantum(QUANTUM)
        for name, direction in ((f"capture.{ECHO_SOURCE}", "Input"), (ECHO_SOURCE, "Output"),
                                (ECHO_SINK, "Input"), (f"playback.{ECHO_SINK}", "Output"),
                                (f"capture.{NODE}", "Input"), (NODE, "Output")):
            d.dsp_ports(name, direction, ["MONO"])
        # what wireplumber does with the drop-in's targets
        d.link(f"{MIC}:capture_FL", f"capture.{ECHO_SOURCE}:input_MONO")
        d.link(f"{ECHO_SOURCE}:capture_MONO", f"capture.{NODE}:input_MONO")
        play = d.dir / "play.wav"
        # a half second of silence after the scene: a player's last cycles can be cut short
        write(play, np.pad(np.stack([scene.far, scene.mic, scene.near + scene.noise, scene.near], 1),
                           ((0, RATE // 2), (0, 0))), RATE, "WAV", "FLOAT")
        return d.play_and_record(
            play, [f"{ECHO_SINK}:playback_MONO", f"{MIC}:input_FL", f"{MIC}:input_FR", f"{MIC}:input_FC"],
            d.dir / "rec.wav", [f"{MIC}:capture_FL", f"{MIC}:capture_FR", f"{MIC}:capture_FC",
                                f"playback.{ECHO_SINK}:output_MONO", f"{ECHO_SOURCE}:capture_MONO",
                                f"{NODE}:capture_MONO"], tag)
    finally:
        d.stop()


def _heard(scene: Scene, rec: np.ndarray) -> tuple[Heard | None, str]:
    """The recording's span of the scene, or None and why the play is no good."""
    from scipy.signal import fftconvolve

    n = len(scene.far)
    start = estimate_delay(rec[:, 2], scene.near, max_lag=len(rec))
    rec = rec[start: start + n + RATE // 2]
    mic, rest, near, speaker = rec[:, 0], rec[:, 1], rec[:, 2], rec[:, 3]
    if np.any(scene.far):
        # The loudspeaker plays the far end a few cycles after the microphone hears its echo,
        # by the same lag throughout unless the canceller lost or doubled a block of its
        # reference. (A single block it plays wrong, and there are a few in a play here, leaves
        # its reference and the lag as they were.)
        echo, played = mic - rest, fftconvolve(speaker, scene.room)[: len(rec)]
        starts = range(0, n - STRETCH, STRETCH)
        energy = np.array([np.sum(echo[w: w + STRETCH] ** 2) for w in starts])
        lags = {estimate_delay(played[w: w + 2 * STRETCH], echo[w: w + STRETCH], max_lag=STRETCH)
                for w, e in zip(starts, energy) if e > 0.1 * energy.max()}
        if len(lags) > 1:
            return None, f"the canceller's reference moved against the echo ({sorted(lags)} samples)"
    quiet = scene.span("near_only")          # no far end there: each output's delay, from the talker
    outputs = {}
    for label, ch in (("pipewire-canceller", 4), ("pipewire", 5)):
        y = rec[:, ch]
        delay = estimate_delay(y[quiet.start:], near[quiet.start: quiet.stop])
        outputs[label] = np.pad(y[delay: delay + n], (0, max(0, n - len(y) + delay)))
    return Heard(mic[:n], near[:n], outputs), ""


def run_scene(scene: Scene, model=None, tries: int = TRIES) -> Heard:
    """The scene through the PipeWire chain: what the microphone heard, the near-end talker as it
    reached it, and the canceller's output (pipewire-canceller) and the filter's (pipewire),
    each shifted back by its delay."""
    from edge.pipewire.daemon import missing_tools

    if gone := missing_tools():
        raise EdgeError("the pipewire chain needs PipeWire (apt-get install pipewire pipewire-bin): "
                        + ", ".join(gone) + " missing")
    why = []
    with tempfile.TemporaryDirectory(prefix="edge-eval-echo-") as tmp:
        for attempt in range(tries):
            heard, reason = _heard(scene, _play(scene, model, Path(tmp), str(attempt)))
            if heard is not None:
                return heard
            why.append(reason)
    raise EdgeError(f"the PipeWire graph lost audio in each of {tries} plays (a machine too busy "
                    f"for 10 ms cycles?): " + "; ".join(why))
