"""edge install-pipewire without a daemon: the drop-in it writes (werman's filter-chain pattern:
a ladspa node, a passive capture, an Audio/Source), the plugin and model copied and checked the
way PipeWire loads them, the echo canceller ahead of it with --echo-cancel, and one-line refusals of a missing plugin or model, a bad rate, limit or
node name, leaving the previous install in place. The daemon itself: tests/test_pipewire.py."""
import json
import shutil
from pathlib import Path

import pytest

from edge.cli import main
from edge.pipewire.config import render
from native_build import build

LADSPA_H = Path("/usr/include/ladspa.h")
pytestmark = pytest.mark.skipif(not LADSPA_H.is_file(), reason="ladspa.h missing (apt-get install ladspa-sdk)")


@pytest.fixture
def where(tmp_path):
    build("host")
    return ["--prefix", str(tmp_path / "lib"), "--dest", str(tmp_path / "conf.d")]


def test_it_writes_the_filter_chain_drop_in_and_the_plugin_pair_pipewire_loads(where, tmp_path, capsys):
    assert main(["install-pipewire", *where, "--atten-lim", "12", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    plugin = tmp_path / "lib" / "libpercepnet_ladspa.so"
    assert r["plugin"] == str(plugin) and (tmp_path / "lib" / "percepnet.pnw").is_file()
    assert r["latency_samples"] == 1920 and r["rate"] == 48000 and r["description"] == "Denoised microphone"
    conf = (tmp_path / "conf.d" / "percepnet-edge.conf").read_text()
    for line in ("name = libpipewire-module-filter-chain", "type = ladspa", f'plugin = "{plugin}"',
                 "label = percepnet_mono", '"Attenuation limit (dB, 0 = none)" = 12',
                 "node.passive = true", "media.class = Audio/Source", 'node.name = "percepnet_source"',
                 "audio.rate = 48000", "node.latency = 480/48000", "flags = [ nofail ]"):
        assert line in conf, line
    assert "target.object" not in conf          # the default capture device
    assert not list((tmp_path / "lib").glob(".staging-*"))


def test_human_output_says_where_and_how_to_load_it(where, capsys):
    assert main(["install-pipewire", *where, "--rate", "16000"]) == 0
    out = capsys.readouterr().out
    assert "16000 Hz" in out and "plugin delay 672 samples (42.0 ms)" in out
    assert "restart PipeWire to load it: systemctl --user restart pipewire.service" in out


def test_capture_pins_a_microphone_node():
    conf = render("/p/libpercepnet_ladspa.so", capture="alsa_input.usb-Device-00.mono-fallback")
    assert 'target.object = "alsa_input.usb-Device-00.mono-fallback"' in conf


def test_echo_cancel_puts_the_webrtc_canceller_ahead_of_the_filter(where, tmp_path, capsys):
    assert main(["install-pipewire", *where, "--echo-cancel", "--capture", "mic1", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["echo_cancel"] and r["echo_sink"] == "percepnet_echo_sink"
    assert r["echo_sink_description"] == "Echo-cancelled speaker" and r["description"] == "Denoised microphone"
    conf = (tmp_path / "conf.d" / "percepnet-edge.conf").read_text()
    echo, chain = conf.split("name = libpipewire-module-filter-chain")
    for line in ("name = libpipewire-module-echo-cancel", "library.name = aec/libspa-aec-webrtc",
                 "webrtc.noise_suppression = false", "webrtc.gain_control = false",
                 "node.latency = 480/48000", 'node.description = "Echo-cancelled speaker"',
                 'node.name = "percepnet_echo_source"', 'target.object = "mic1"', "audio.position = [ MONO ]"):
        assert line in echo, line
    # the filter takes the canceller's output, the canceller the microphone
    assert 'target.object = "percepnet_echo_source"' in chain and "mic1" not in chain


def test_human_output_names_the_sink_to_play_to(where, capsys):
    assert main(["install-pipewire", *where, "--echo-cancel"]) == 0
    out = capsys.readouterr().out
    assert 'reference is what is played to "Echo-cancelled speaker" (node percepnet_echo_sink)' in out


def test_help_explains_what_it_does(capsys):
    with pytest.raises(SystemExit):
        main(["install-pipewire", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "Denoised microphone" in out and "filter-chain" in out and "edge flash --pipewire" in out
    assert "--echo-cancel" in out and "Echo-cancelled speaker" in out and "WebRTC echo canceller" in out


@pytest.mark.parametrize("args, reason", [
    (["--plugin", "/nonexistent/libpercepnet_ladspa.so"], "--plugin /nonexistent/libpercepnet_ladspa.so: no such file"),
    (["--model", "/nonexistent/m.pnw"], "--model /nonexistent/m.pnw: no such file"),
    (["--rate", "22050"], "rate 22050 Hz is not one the kernel takes"),
    (["--atten-lim", "-3"], "attenuation limit must be between 0 (no limit) and 100 dB"),
    (["--capture", 'mic"x'], "the capture node name cannot go into the PipeWire configuration"),
    (["--echo-cancel", "--rate", "24000"], "rate 24000 Hz is not one the WebRTC echo canceller takes "
                                           "(8000, 16000, 32000, 48000 Hz)"),
])
def test_bad_input_is_refused_in_one_line_and_writes_nothing(where, tmp_path, capsys, args, reason):
    assert main(["install-pipewire", *where, *args]) == 2
    err = capsys.readouterr().err
    assert reason in err and err.count("\n") == 1
    assert not (tmp_path / "conf.d" / "percepnet-edge.conf").exists()


def test_a_model_the_plugin_refuses_leaves_the_previous_install_working(where, tmp_path, capsys):
    assert main(["install-pipewire", *where]) == 0
    before = (tmp_path / "lib" / "percepnet.pnw").read_bytes()
    bad = tmp_path / "bad.pnw"
    bad.write_bytes(b"not a model")
    capsys.readouterr()
    assert main(["install-pipewire", *where, "--model", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "refused to start at 48000 Hz (percepnet: " in err and err.count("\n") == 1
    assert (tmp_path / "lib" / "percepnet.pnw").read_bytes() == before
    assert not list((tmp_path / "lib").glob(".staging-*"))


def test_no_plugin_anywhere_says_how_to_build_it(where, monkeypatch, capsys):
    from edge.pipewire import install
    monkeypatch.setattr(install, "PLUGIN_CANDIDATES", (Path("/nonexistent/a.so"),))
    assert main(["install-pipewire", *where]) == 2
    assert "no LADSPA plugin found" in capsys.readouterr().err


def test_remove_takes_the_drop_in_and_the_copies_away(where, tmp_path, capsys):
    assert main(["install-pipewire", *where]) == 0
    assert main(["install-pipewire", *where, "--remove", "--json"]) == 0
    removed = json.loads(capsys.readouterr().out.splitlines()[-1])["removed"]
    assert len(removed) == 3 and not (tmp_path / "lib").exists()
    assert not (tmp_path / "conf.d" / "percepnet-edge.conf").exists()


def test_the_plugin_without_its_model_says_where_it_looked(tmp_path):
    from edge.errors import EdgeError
    from edge.ladspa import probe
    alone = tmp_path / "libpercepnet_ladspa.so"
    shutil.copy(build("host") / "libpercepnet_ladspa.so", alone)
    with pytest.raises(EdgeError, match=f"cannot open {tmp_path}/percepnet.pnw"):
        probe(alone)
