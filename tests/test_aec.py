"""The echo canceller ahead of the suppressor (edge.aec, speexdsp through libpercepnet_aec.so):
it removes a measured room's echo of far-end speech, and `edge denoise --reference` runs it
hop by hop before the kernel or refuses bad input in one line."""
import numpy as np
import pytest
import soundfile as sf

from edge.cli import main
from edge.data.audio import load, resample
from edge.eval import echo
from shared_data import DEV, SHARED_DATA

ROOM = SHARED_DATA / "train" / "rir" / "mitir_h010_Livingroom_31txts.flac"
FAR, NEAR = DEV / "clean" / "p360_aero.wav", DEV / "clean" / "p363_aero.wav"
R = echo.RATE


pytestmark = pytest.mark.usefixtures("canceller_built")


@pytest.mark.parametrize("delay_ms", [20, 50])
def test_the_canceller_removes_a_rooms_echo_of_far_end_speech(delay_ms):
    from edge.aec import cancel

    scene = echo.build_scene(load(FAR), load(NEAR), load(ROOM), delay_ms=delay_ms, far_only_s=4,
                             near_only_s=0.5, double_talk_s=0.5)
    heard = echo.Heard(scene.mic, scene.near, {"aec": cancel(scene.mic, scene.far, R)})
    # speexdsp's linear filter alone, 2 s after the far end's first word: 13.4 (50 ms) and 17.3 dB (20 ms) measured
    assert echo.erle(scene, heard, "aec")["erle_db"] > 8


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("aec")
    scene = echo.build_scene(load(FAR), load(NEAR), load(ROOM), delay_ms=30, far_only_s=3,
                             near_only_s=0.5, double_talk_s=0.5)
    sf.write(d / "mic.wav", scene.mic, R, subtype="FLOAT")
    sf.write(d / "far.wav", scene.far, R, subtype="FLOAT")
    sf.write(d / "far16k.wav", resample(scene.far, R, 16000), 16000, subtype="FLOAT")
    sf.write(d / "short.wav", scene.far[: R], R, subtype="FLOAT")
    sf.write(d / "stereo.wav", np.stack([scene.far] * 2, 1), R, subtype="FLOAT")
    return d, scene


def _far_only_db(x, scene):
    s = slice(2 * R, scene.segments["far_only"][1])
    return 10 * np.log10(np.mean(np.asarray(x[s], np.float64) ** 2))


def test_denoise_with_a_reference_takes_the_echo_out_ahead_of_the_network(files, capsys):
    d, scene = files
    assert main(["denoise", str(d / "mic.wav"), str(d / "plain.wav")]) == 0
    assert main(["denoise", "--reference", str(d / "far.wav"), str(d / "mic.wav"), str(d / "out.wav")]) == 0
    assert capsys.readouterr().err == ""
    plain, out = sf.read(d / "plain.wav")[0], sf.read(d / "out.wav")[0]
    assert len(out) == len(scene.mic)
    assert _far_only_db(plain, scene) - _far_only_db(out, scene) > 6


@pytest.mark.parametrize("ref, says", [
    ("far16k.wav", "far16k.wav: 16000 Hz, resampled to "),
    ("short.wav", "the reference is padded with silence to its length"),
])
def test_a_reference_at_another_rate_or_length_is_fitted_and_said(files, capsys, ref, says):
    d, _ = files
    assert main(["denoise", "--reference", str(d / ref), str(d / "mic.wav"), str(d / "o.wav")]) == 0
    assert says in capsys.readouterr().err
    assert len(sf.read(d / "o.wav")[0]) == len(files[1].mic)


@pytest.mark.parametrize("args, says", [
    (["--reference", "/nonexistent/far.wav"], "--reference /nonexistent/far.wav: no such file"),
    (["--reference", "{d}/stereo.wav"], "the reference has 2 channels; give what the loudspeaker played, mono"),
    (["--reference", "{d}/far.wav", "--backend", "tflite"], "--reference goes with one IN OUT pair and the native backend"),
    (["--reference", "{d}/far.wav", "--oracle", "{d}/far.wav"], "--reference goes with one IN OUT pair"),
])
def test_bad_reference_is_refused_in_one_line(files, capsys, args, says):
    d, _ = files
    args = [a.format(d=d) for a in args]
    assert main(["denoise", *args, str(d / "mic.wav"), str(d / "x.wav")]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1, err


def test_a_missing_canceller_is_one_line(files, capsys, monkeypatch, tmp_path):
    from edge import aec
    d, _ = files
    monkeypatch.setenv("PERCEPNET_AEC_LIB", str(tmp_path / "none.so"))
    aec.lib.cache_clear()
    try:
        assert main(["denoise", "--reference", str(d / "far.wav"), str(d / "mic.wav"), str(d / "x.wav")]) == 2
    finally:
        aec.lib.cache_clear()
    err = capsys.readouterr().err
    assert "the echo canceller is not built in" in err and err.count("\n") == 1, err
