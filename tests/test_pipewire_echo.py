"""`edge install-pipewire --echo-cancel` in a real PipeWire daemon (edge.pipewire.daemon): the
WebRTC canceller's sink "Echo-cancelled speaker" and its source feeding the PercepNet filter's
"Denoised microphone". Far-end speech is played to that sink as an application would, and the
microphone (a null source) hears it through a measured living room, 50 ms late and 5 dB down,
with near-end speech and street noise: edge.eval.echo_pipewire plays the scene and
edge.eval.echo scores it, as `edge eval-echo --chains pipewire` does. Skips, saying why, where
PipeWire is not installed or its daemon cannot start here."""
import numpy as np
import pytest

from edge.cli import main
from edge.data.audio import load
from edge.errors import EdgeError
from edge.eval import echo, echo_chains
from edge.eval.echo_pipewire import run_scene
from edge.pipewire.config import DESCRIPTION, ECHO_SINK, ECHO_SINK_DESCRIPTION, ECHO_SOURCE, NODE
from edge.pipewire.daemon import Daemon, missing_tools
from native_build import build
from shared_data import DEV, SHARED_DATA

ROOM = SHARED_DATA / "train" / "rir" / "mitir_h010_Livingroom_31txts.flac"      # T60 about 0.21 s
NOISE = SHARED_DATA / "train" / "noise" / "emgse_street_noise.wav"

pytestmark = pytest.mark.skipif(
    bool(missing_tools()),
    reason="PipeWire not installed (apt-get install pipewire pipewire-bin): " + ", ".join(missing_tools()) + " missing")


@pytest.fixture(autouse=True)
def plugin():
    if not (build("host") / "libpercepnet_ladspa.so").is_file():
        pytest.skip("libpercepnet_ladspa.so not built (ladspa.h missing: apt-get install ladspa-sdk)")


def _started(d):
    try:
        d.start()
    except EdgeError as e:
        pytest.skip(str(e))


def test_apps_play_to_the_echo_cancelled_speaker_and_record_the_denoised_microphone(tmp_path):
    d = Daemon(tmp_path)
    assert main(["install-pipewire", "--prefix", str(tmp_path / "lib"), "--dest", str(d.conf_dir),
                 "--echo-cancel"]) == 0
    _started(d)
    try:
        props = {name: d.node(name)["info"]["props"] for name in (ECHO_SINK, ECHO_SOURCE, NODE)}
    finally:
        d.stop()
    assert props[ECHO_SINK]["media.class"] == "Audio/Sink"
    assert props[ECHO_SINK]["node.description"] == ECHO_SINK_DESCRIPTION
    assert props[NODE]["media.class"] == "Audio/Source" and props[NODE]["node.description"] == DESCRIPTION
    assert props[ECHO_SOURCE]["node.latency"] == "480/48000"          # the canceller's 10 ms blocks


def test_the_canceller_takes_the_echo_out_and_leaves_the_near_end_talking():
    scene = echo.build_scene(load(DEV / "clean" / "p360_aero.wav"), load(DEV / "clean" / "p363_aero.wav"),
                             load(ROOM), delay_ms=50, loss_db=5, noise=load(NOISE), snr_db=20,
                             far_only_s=4, near_only_s=1.5, double_talk_s=2)
    try:
        heard = run_scene(scene)
    except EdgeError as e:
        if "does not start here" in str(e):
            pytest.skip(str(e))
        raise
    network = echo_chains.CHAINS["network"][0](scene)
    erle = {label: echo.erle(scene, h, label)["erle_db"]
            for h in (heard, network) for label in h.outputs}
    # Measured here (2 vCPUs, busy): the canceller 13-18 dB, with the filter 18-25, the network
    # alone 2 (the echo is speech to it). A pass-through gives 0.
    assert erle["pipewire"] > 12 and erle["pipewire-canceller"] > 8, erle
    assert erle["network"] < 5 and erle["pipewire"] > erle["network"] + 10, erle
    # the near end alone goes through (its level within 6 dB), echo tail and all
    quiet = scene.span("near_only")
    for label, y in heard.outputs.items():
        kept = 10 * np.log10(np.sum(y[quiet] ** 2) / np.sum(heard.mic[quiet] ** 2))
        assert kept > -6, f"{label}: the near end alone {kept:.1f} dB"
