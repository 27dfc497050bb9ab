"""The chains edge eval-echo measures, by name: each a function (scene, model) -> Heard
(edge.eval.echo); a new canceller adds one entry."""
from __future__ import annotations

from typing import Callable

from edge.errors import EdgeError
from edge.eval.echo import RATE, Heard, Scene, erle, pesq_double_talk


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
