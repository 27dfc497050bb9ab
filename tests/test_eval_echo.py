"""edge eval-echo without PipeWire: the scene it builds (segments, echo loss, levels), ERLE and
convergence on outputs whose answer is known, the network alone as the baseline through the
command's JSON, and one-line refusals of bad input. The PipeWire chain itself:
tests/test_pipewire_echo.py."""
import json

import numpy as np
import pytest

from edge.cli import main
from edge.eval import echo
from shared_data import DEV, SHARED_DATA

ROOM = SHARED_DATA / "train" / "rir" / "mitir_h010_Livingroom_31txts.flac"
FAR, NEAR = DEV / "clean" / "p360_aero.wav", DEV / "clean" / "p363_aero.wav"
R = echo.RATE


def _speech(seed, n=R):
    """Speech-like: noise bursts of 0.3 s with pauses between them."""
    x = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
    x[(np.arange(n) // (R // 10)) % 4 == 3] = 0
    return x


@pytest.fixture(scope="module")
def scene():
    room = np.zeros(4800, np.float32)
    room[[0, 300, 1200]] = [1.0, -0.5, 0.25]
    return echo.build_scene(_speech(0), _speech(1), room, delay_ms=40, loss_db=7,
                            noise=_speech(2), snr_db=30, far_only_s=4, near_only_s=1, double_talk_s=2)


def _db(x):
    return 10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2))


def test_the_scene_is_far_end_alone_then_near_end_alone_then_both(scene):
    s = scene.segments
    assert s == {"far_only": (0, 4 * R), "near_only": (4 * R, 5 * R), "double_talk": (5 * R, 7 * R)}
    assert not scene.far[scene.span("near_only")].any() and not scene.near[scene.span("far_only")].any()
    talking = scene.span("near_only").start
    assert _db(scene.far[:talking]) == pytest.approx(echo.LEVEL_DBFS, abs=0.3)      # over its segments
    assert _db(scene.near[talking:]) == pytest.approx(echo.LEVEL_DBFS, abs=0.01)
    # the echo: loss_db below the loudspeaker, delay_ms late; the noise snr_db below the talker
    assert _db(scene.far) - _db(scene.echo) == pytest.approx(7, abs=0.01)
    assert np.flatnonzero(scene.room)[0] == round(0.040 * R)
    assert _db(scene.near[talking:]) - _db(scene.noise) == pytest.approx(30, abs=0.01)
    np.testing.assert_allclose(scene.mic, scene.echo + scene.near + scene.noise)
    quiet = scene.without_echo()
    assert not quiet.far.any() and not quiet.echo.any() and quiet.near is scene.near


def _heard(scene, out):
    return echo.Heard(scene.mic, scene.near, {"x": out})


def test_erle_is_the_echo_taken_out_and_convergence_when_it_stays_above_the_target(scene):
    r = echo.erle(scene, _heard(scene, scene.mic), "x")
    assert r["erle_db"] == pytest.approx(0, abs=1e-6) and r["convergence_s"] is None
    r = echo.erle(scene, _heard(scene, scene.mic * 0.01), "x")
    assert r["erle_db"] == pytest.approx(40, abs=1e-3) and r["convergence_s"] == 0
    # 40 dB out from 1.2 s after the far end's first word: converged with the window from 1.5 s
    first = np.flatnonzero(scene.echo)[0]
    late = np.where(np.arange(len(scene.mic)) < first + 1.2 * R, 1.0, 0.01) * scene.mic
    r = echo.erle(scene, _heard(scene, late), "x", target_db=25, window_s=0.5)
    assert r["convergence_s"] == 1.5 and r["erle_db"] == pytest.approx(40, abs=1e-3)
    assert r["erle_by_window_db"][:2] == [0.0, 0.0] and r["erle_by_window_db"][3] == pytest.approx(40, abs=1e-2)


def test_eval_echo_prints_erle_convergence_and_pesq_of_the_network_beside_the_microphone(tmp_path, capsys):
    out = tmp_path / "echo.json"
    assert main(["eval-echo", "--far", str(FAR), "--near", str(NEAR), "--rir", str(ROOM), "--chains", "none,network",
                 "--far-only", "3", "--near-only", "1", "--double-talk", "3", "--json", str(out)]) == 0
    r = json.loads(capsys.readouterr().out)
    assert json.loads(out.read_text()) == r
    assert r["scene"]["segments_s"]["double_talk"] == [4.0, 7.0] and r["scene"]["delay_ms"] == 50
    mic, net = r["chains"]["none"], r["chains"]["network"]
    assert set(net) == {"erle_db", "convergence_s", "erle_by_window_db", "pesq_wb_double_talk",
                        "pesq_wb_no_echo", "pesq_wb_drop"}
    assert mic["erle_db"] == 0 and mic["pesq_wb_no_echo"] > 4.5          # the clean near end itself
    assert mic["pesq_wb_drop"] > 2                                       # the echo is what hurts
    # the network alone takes little echo out: it is speech to it
    assert 0 < net["erle_db"] < 6 and net["convergence_s"] is None
    assert net["pesq_wb_drop"] == pytest.approx(net["pesq_wb_no_echo"] - net["pesq_wb_double_talk"])


@pytest.mark.parametrize("args, says", [
    (["--far", "/nonexistent/far.wav"], "--far /nonexistent/far.wav: no such file"),
    (["--rir", "/nonexistent/room.wav"], "--rir /nonexistent/room.wav: no such file"),
    (["--chains", "network,speex"], "--chains: unknown chain 'speex' (choose from none, network, speexdsp, pipewire"),
    (["--noise", str(NEAR)], "--noise and --snr go together"),
    (["--settle", "6"], "--settle must be at least 0 and under --far-only (6 s)"),
    (["--delay-ms", "-5"], "the echo delay must be between 0 and 1000, got -5"),
    (["--window", "0"], "--window must be between 0.1 s and --far-only (6 s)"),
    (["--model", "/nonexistent/m.pnw"], "--model /nonexistent/m.pnw: no such file"),
])
def test_bad_input_is_refused_in_one_line(capsys, args, says):
    base = {"--far": str(FAR), "--near": str(NEAR), "--rir": str(ROOM), "--chains": "none"}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    assert main(["eval-echo", *[x for kv in base.items() for x in kv]]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1, err
