"""Echo cancellation measured (issue 25): a speakerphone scene built from speech and a measured
room response, run through a processing chain and scored.

The scene, at 48 kHz: far-end speech alone (the loudspeaker talks, the room is quiet), then the
near-end talker alone, then both at once (double talk). The microphone hears the loudspeaker
through the room response, delayed and attenuated by the echo loss, plus the near-end talker
(dry) and optional noise. Scored on what a chain sends to the far end:

- ERLE, echo return loss enhancement: the microphone's energy over the output's, in the
  far-end-only speech from `settle_s` after the far end's first word on (the microphone holds
  only echo there, and the noise if any: a chain that removes noise earns that too);
- convergence_s: from the far end's first word to the start of the first `window_s` window
  after which every window of far-end-only speech has an ERLE of at least `target_db` (None:
  never);
- PESQ-WB of the near-end talker in double talk, beside the same chain's on the same scene
  with the loudspeaker silent (no echo): what the echo costs the near end.

A chain is a function (scene, model) -> Heard: what its microphone heard, the near-end talker
as it reached the microphone, and each of its outputs shifted back by its delay, all over the
scene's span. Offline chains hear scene.mic exactly; the PipeWire chain (edge.eval.echo_pipewire)
plays the scene through a real daemon and records what its microphone heard. CHAINS names
them; a new canceller adds one entry."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Callable

import numpy as np

from edge.errors import EdgeError
from edge.native import SAMPLE_RATE as RATE

FRAME = RATE // 100
LEVEL_DBFS = -26.0          # far-end and near-end speech, RMS over their segments
ACTIVE_DB = 30.0            # far-end speech: frames within this of the loudest echo frame


def _db(energy) -> float:
    return float(10 * np.log10(max(float(energy), 1e-20)))


def _tiled(x: np.ndarray, n: int) -> np.ndarray:
    return np.resize(np.asarray(x, np.float32), n) if len(x) else np.zeros(n, np.float32)


def _at_level(x: np.ndarray, dbfs: float, what: str) -> np.ndarray:
    power = np.mean(np.asarray(x, np.float64) ** 2)
    if power <= 0:
        raise EdgeError(f"{what} is silent")
    return (x * 10 ** ((dbfs - _db(power)) / 20)).astype(np.float32)


@dataclass(frozen=True)
class Scene:
    far: np.ndarray          # what the loudspeaker plays
    room: np.ndarray         # loudspeaker to microphone: the room response, delayed and scaled
    near: np.ndarray         # the near-end talker as the microphone hears it
    noise: np.ndarray        # what else the microphone hears
    segments: dict = field(default_factory=dict)   # far_only, near_only, double_talk -> (start, stop)

    @cached_property
    def echo(self) -> np.ndarray:
        from scipy.signal import fftconvolve
        return fftconvolve(self.far, self.room)[: len(self.far)].astype(np.float32)

    @cached_property
    def mic(self) -> np.ndarray:
        return self.echo + self.near + self.noise

    def without_echo(self) -> "Scene":
        """The same near end and noise with the loudspeaker silent."""
        return replace(self, far=np.zeros_like(self.far))

    def span(self, name: str) -> slice:
        return slice(*self.segments[name])


@dataclass(frozen=True)
class Heard:
    mic: np.ndarray          # what the chain's microphone heard, in the scene's span
    near: np.ndarray         # the near-end talker as it reached the microphone
    outputs: dict            # label -> what the chain sent on, shifted back by its delay


def build_scene(far: np.ndarray, near: np.ndarray, room: np.ndarray, *, delay_ms: float = 50.0,
                loss_db: float = 5.0, noise: np.ndarray | None = None, snr_db: float | None = None,
                far_only_s: float = 6.0, near_only_s: float = 3.0, double_talk_s: float = 6.0) -> Scene:
    """The scene from 48 kHz speech (each repeated to fill its segments, set to LEVEL_DBFS), a
    room response (its energy made 1, then delay_ms of silence put ahead of it and its gain set
    so that the echo is loss_db below the loudspeaker), and optional noise (repeated, snr_db
    below the near-end speech)."""
    for value, what, low, high in ((delay_ms, "the echo delay", 0, 1000), (loss_db, "the echo loss", -20, 60),
                                   (far_only_s, "the far-end-only segment", 0.5, 600),
                                   (near_only_s, "the near-end-only segment", 0.5, 600),
                                   (double_talk_s, "the double-talk segment", 0.5, 600)):
        if not low <= value <= high:
            raise EdgeError(f"{what} must be between {low:g} and {high:g}, got {value:g}")
    if (noise is None) != (snr_db is None):
        raise EdgeError("noise needs its SNR and an SNR needs noise: give both or neither")
    a, b = round(far_only_s * RATE), round(near_only_s * RATE)
    n = a + b + round(double_talk_s * RATE)
    talk = _at_level(_tiled(far, n - b), LEVEL_DBFS, "the far-end speech")
    far_sig = np.concatenate([talk[:a], np.zeros(b, np.float32), talk[a:]])
    near_sig = np.concatenate([np.zeros(a, np.float32), _at_level(_tiled(near, n - a), LEVEL_DBFS, "the near-end speech")])
    h = np.asarray(room, np.float64)
    if not np.any(h):
        raise EdgeError("the room response is silent")
    h /= np.sqrt(np.sum(h ** 2))
    scene = Scene(far_sig, np.concatenate([np.zeros(round(delay_ms * RATE / 1000)), h]).astype(np.float32),
                  near_sig, np.zeros(n, np.float32),
                  {"far_only": (0, a), "near_only": (a, a + b), "double_talk": (a + b, n)})
    gain = 10 ** ((_db(np.mean(far_sig ** 2)) - loss_db - _db(np.mean(scene.echo ** 2))) / 20)
    scene = replace(scene, room=(scene.room * gain).astype(np.float32))
    if noise is not None:
        scene = replace(scene, noise=_at_level(_tiled(noise, n), LEVEL_DBFS - snr_db, "the noise"))
    return scene


def _frame_energy(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x[: len(x) // FRAME * FRAME], np.float64)
    return (x.reshape(-1, FRAME) ** 2).sum(1)


def erle(scene: Scene, heard: Heard, label: str, *, settle_s: float = 2.0, target_db: float = 25.0,
         window_s: float = 0.5) -> dict:
    """ERLE and convergence of one output (see the module's docstring)."""
    start, stop = (s // FRAME for s in scene.segments["far_only"])
    mic, out = _frame_energy(heard.mic)[start:stop], _frame_energy(heard.outputs[label])[start:stop]
    active = np.flatnonzero(mic > mic.max() * 10 ** (-ACTIVE_DB / 10))
    first = int(active[0])
    settled = active[active >= first + round(settle_s * 100)]
    if len(settled) < 10:
        raise EdgeError(f"the far-end-only segment has under 0.1 s of far-end speech after "
                        f"{settle_s:g} s to settle: make it longer")
    per = round(window_s * 100)
    windows = []
    for w in range(first, len(mic), per):
        f = active[(active >= w) & (active < w + per)]
        windows.append(_db(mic[f].sum()) - _db(out[f].sum()) if len(f) >= per // 5 else None)
    valid = [i for i, v in enumerate(windows) if v is not None]
    converged = None
    for i in reversed(valid):
        if windows[i] < target_db:
            break
        converged = i * window_s
    return {"erle_db": _db(mic[settled].sum()) - _db(out[settled].sum()),
            "convergence_s": converged,
            "erle_by_window_db": [None if v is None else round(v, 2) for v in windows]}


def pesq_double_talk(scene: Scene, heard: Heard, label: str) -> float:
    """PESQ-WB of an output against the near-end talker over the double-talk segment."""
    from edge.data.audio import resample
    from edge.eval.metrics import pesq_wb

    s = scene.span("double_talk")
    return pesq_wb(resample(heard.outputs[label][s], RATE, 16000), resample(heard.near[s], RATE, 16000))


# -- chains: (scene, model) -> Heard ---------------------------------------------------------

def _none(scene: Scene, model=None) -> Heard:
    return Heard(scene.mic, scene.near, {"none": scene.mic})


def _network(scene: Scene, model=None) -> Heard:
    from edge.denoise import denoise
    return Heard(scene.mic, scene.near, {"network": denoise(scene.mic, model=model)})


def _speexdsp(scene: Scene, model=None) -> Heard:
    from edge.aec import cancel
    from edge.denoise import denoise
    return Heard(scene.mic, scene.near, {
        "speexdsp-canceller": cancel(scene.mic, scene.far, RATE),
        "speexdsp": denoise(scene.mic, model=model, reference=scene.far)})


def _pipewire(scene: Scene, model=None) -> Heard:
    from edge.eval.echo_pipewire import run_scene
    return run_scene(scene, model)


# name -> (chain, what it is)
CHAINS: dict[str, tuple[Callable[..., Heard], str]] = {
    "none": (_none, "the microphone as it is"),
    "network": (_network, "the PercepNet kernel alone, no canceller (edge denoise)"),
    "speexdsp": (_speexdsp, "speexdsp's linear echo canceller ahead of the PercepNet kernel in "
                            "each hop (edge denoise --reference); also scores the canceller alone "
                            "(speexdsp-canceller)"),
    "pipewire": (_pipewire, "PipeWire's WebRTC echo canceller and the PercepNet filter, as "
                            "`edge install-pipewire --echo-cancel` sets them up, in a private "
                            "PipeWire daemon; also scores the canceller alone (pipewire-canceller)"),
}


def check_chains(chains) -> list[str]:
    unknown = [c for c in chains if c not in CHAINS]
    if unknown or not chains:
        raise EdgeError(f"unknown chain {(unknown or [''])[0]!r} (choose from {', '.join(CHAINS)})")
    return list(chains)


def evaluate(scene: Scene, chains, model=None, *, settle_s: float = 2.0, target_db: float = 25.0,
             window_s: float = 0.5) -> dict:
    """Each chain on the scene and on the scene without echo: {label: scores}."""
    out = {}
    for name in check_chains(chains):
        run = CHAINS[name][0]
        heard, quiet = run(scene, model), run(scene.without_echo(), model)
        for label in heard.outputs:
            r = erle(scene, heard, label, settle_s=settle_s, target_db=target_db, window_s=window_s)
            r["pesq_wb_double_talk"] = pesq_double_talk(scene, heard, label)
            r["pesq_wb_no_echo"] = pesq_double_talk(scene, quiet, label)
            r["pesq_wb_drop"] = r["pesq_wb_no_echo"] - r["pesq_wb_double_talk"]
            out[label] = r
    return out
