"""Training: the paper's loss, a tiny model trained on kernel features, resume, time budget,
int8 export that the native engine and the TFLite interpreter both run."""
import json
from pathlib import Path

import numpy as np
import pytest

from edge.cli import main
from shared_data import SHARED_DATA

TINY = {"dense": 16, "conv": 16, "kernels": [5, 3], "gru": 16, "gru_layers": 1,
        "gain_gru": 16, "strength_gru": 8}
SHARED = str(SHARED_DATA)


def test_loss_is_zero_when_exact_and_punishes_large_gain_errors_more_than_square():
    from keras import ops
    from edge.model.loss import gain_loss, strength_loss

    g = np.array([[0.0, 0.25, 1.0]], np.float32)
    assert float(ops.convert_to_numpy(gain_loss(g, g))[0]) == pytest.approx(0, abs=1e-6)
    assert float(ops.convert_to_numpy(strength_loss(g, g))[0]) == pytest.approx(0, abs=1e-6)
    small = float(ops.convert_to_numpy(gain_loss(np.full((1, 1), 0.81, "f4"), np.full((1, 1), 0.64, "f4")))[0])
    large = float(ops.convert_to_numpy(gain_loss(np.full((1, 1), 1.0, "f4"), np.full((1, 1), 0.0, "f4")))[0])
    assert small == pytest.approx(0.1 ** 2 + 10 * 0.1 ** 4, rel=1e-3)  # sqrt-compressed error 0.1
    assert large == pytest.approx(1 + 10, rel=1e-2)
    # strengths: an error at r near 0 weighs more than the same error near 1
    near0 = float(ops.convert_to_numpy(strength_loss(np.zeros((1, 1), "f4"), np.full((1, 1), 0.1, "f4")))[0])
    near1 = float(ops.convert_to_numpy(strength_loss(np.full((1, 1), 0.9, "f4"), np.ones((1, 1), "f4")))[0])
    assert near1 > near0


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from edge.data import dataset, sources
    from edge.data.mix import MixConfig
    paths = dataset.build(sources.builtin(SHARED, None), tmp_path_factory.mktemp("feat"), 8,
                          MixConfig(seconds=2.0), per_shard=4, workers=1, progress=False)
    return dataset.load_shards(paths)


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    from edge.model import train
    out = tmp_path_factory.mktemp("run")
    train.write_config(out, TINY)
    cfg = train.TrainConfig(config=TINY, steps=40, batch=8, seq_frames=100, lr=3e-3, checkpoint_s=1e9)
    state = train.train(*data, out, cfg, log=lambda *_: None)
    return out, cfg, state


def test_training_lowers_the_loss_on_kernel_features(trained, data):
    from edge.model import loss, train
    out, cfg, state = trained
    f, g, s = train.crops(data[0], np.clip(data[1], 0, 1), np.clip(data[2], 0, 1), cfg.seq_frames)
    import keras
    keras.utils.set_random_seed(cfg.seed)  # the weights the run started from
    untrained = float(train.new_model(cfg).evaluate(f, [g, s], verbose=0)[0])
    model = keras.models.load_model(out / "checkpoint.keras", custom_objects=loss.custom_objects())
    trained_loss = float(model.evaluate(f, [g, s], verbose=0)[0])
    assert state["step"] == 40
    assert trained_loss < 0.8 * untrained


def test_resume_continues_from_the_checkpoint_step_with_a_new_learning_rate(trained, data):
    import keras
    from edge.model import loss, train
    out, cfg, state = trained
    logs = []
    cfg2 = train.TrainConfig(config=TINY, steps=43, batch=8, seq_frames=100, lr=2.5e-4, checkpoint_s=1e9)
    state2 = train.train(*data, out, cfg2, log=logs.append)
    assert state2["step"] == 43 and any("resumed" in m and "step 40" in m for m in logs)
    assert json.loads((out / "state.json").read_text())["step"] == 43
    saved = keras.models.load_model(out / "checkpoint.keras", custom_objects=loss.custom_objects())
    assert float(saved.optimizer.learning_rate) == pytest.approx(2.5e-4)


def test_time_budget_stops_an_unbounded_run(data, tmp_path):
    from edge.model import train
    cfg = train.TrainConfig(config=TINY, hours=2 / 3600, batch=4, seq_frames=100, checkpoint_s=1e9)
    state = train.train(*data, tmp_path, cfg, log=lambda *_: None)
    assert 1 <= state["step"] and (tmp_path / "checkpoint.keras").is_file()


def test_a_non_finite_loss_stops_the_run_without_saving_over_it(data, tmp_path):
    from edge.errors import EdgeError
    from edge.model import train
    f, g, s = data
    s = s.copy()
    s[:, :, 3] = np.nan
    cfg = train.TrainConfig(config=TINY, steps=5, batch=4, seq_frames=100, checkpoint_s=0)
    with pytest.raises(EdgeError, match="training loss is nan"):
        train.train(f, g, s, tmp_path, cfg, log=lambda *_: None)
    assert not (tmp_path / "checkpoint.keras").exists()


def test_shards_with_non_finite_values_are_refused_by_name(data, tmp_path):
    from edge.data import dataset
    from edge.errors import EdgeError
    f, g, s = data
    bad = tmp_path / "shard_00000.npz"
    np.savez(bad, features=f.astype(np.float16), gains=g.astype(np.float16),
             strengths=np.where(np.arange(s.shape[-1]) == 2, np.nan, s).astype(np.float16),
             band_hz=np.full(len(f), 24000.0, np.float32))
    with pytest.raises(EdgeError, match="shard_00000.npz: non-finite strengths"):
        dataset.load_shards([bad])


def test_export_runs_in_the_native_engine_and_tflite_alike(trained, data):
    from edge import denoise
    from edge.model import train
    out, _, _ = trained
    result = train.export(out)
    from edge.model import pnw
    assert pnw.from_tflite(result["tflite"]) == Path(result["pnw"]).read_bytes()
    from edge.wavio import read_wav
    noisy = read_wav(f"{SHARED}/real48k/noisy_snr0.wav")[:96000]
    native = denoise.denoise(noisy, model=result["pnw"], backend="native")
    ref = denoise.denoise(noisy, model=result["tflite"], backend="tflite")
    assert native.shape == noisy.shape and np.all(np.isfinite(native))
    assert np.corrcoef(native, ref)[0, 1] > 0.9
    from edge.eval.float_model import keras_enhancer  # the float network before quantisation
    flt = keras_enhancer(out / "best.keras")(noisy)
    assert flt.shape == noisy.shape and np.corrcoef(flt, ref)[0, 1] > 0.9


def test_train_refuses_to_run_without_a_budget(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path)]) == 2
    assert "budget" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--p-echo", "--p-reverb"])
def test_train_refuses_a_share_outside_0_to_1(tmp_path, capsys, flag):
    assert main(["train", "--out", str(tmp_path), "--steps", "1", flag, "1.5"]) == 2
    assert "[0, 1]" in capsys.readouterr().err


def test_train_refuses_a_corpus_without_speech(tmp_path, capsys):
    (tmp_path / "corpus" / "noise").mkdir(parents=True)
    assert main(["train", "--data", str(tmp_path / "corpus"), "--out", str(tmp_path / "o"),
                 "--steps", "1"]) == 2
    assert "no clean speech" in capsys.readouterr().err


def test_edge_train_on_a_tiny_plain_corpus_trains_validates_and_exports(tmp_path, capsys):
    """The whole command on a corpus in the plain layout: 16 and 48 kHz speech, noise, a room;
    validation comes from held-out recordings; the export runs in the native engine."""
    from scipy.io import wavfile
    rng = np.random.default_rng(0)
    t16, t48 = np.arange(16000 * 2) / 16000, np.arange(48000 * 2) / 48000
    voiced = lambda t, f0: sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 12)) * (np.sin(2 * np.pi * 3 * t) > 0)  # noqa: E731
    corpus = tmp_path / "corpus"
    for sub in ("clean", "noise", "rir"):
        (corpus / sub).mkdir(parents=True)
    for i, f0 in enumerate((110, 140, 180, 220)):
        wavfile.write(corpus / "clean" / f"s16_{i}.wav", 16000, (3000 * voiced(t16, f0)).astype(np.int16))
    wavfile.write(corpus / "clean" / "s48.wav", 48000, (3000 * voiced(t48, 160)).astype(np.int16))
    for i in range(3):
        wavfile.write(corpus / "noise" / f"n{i}.wav", 16000, (2000 * rng.standard_normal(16000)).astype(np.int16))
    wavfile.write(corpus / "rir" / "r.wav", 48000, (20000 * np.exp(-np.arange(4800) / 500)
                                                   * rng.standard_normal(4800)).astype(np.int16))
    out = tmp_path / "run"
    assert main(["train", "--data", str(corpus), "--out", str(out), "--examples", "2", "--val-examples", "1",
                 "--seconds", "2", "--seq-frames", "100", "--batch", "2", "--steps", "2", "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "held out for validation" in printed
    summary = json.loads(printed.strip().splitlines()[-1])
    assert summary["step"] == 2 and summary["best_val"] is not None
    from edge.model.native_net import NativeNet
    assert NativeNet(summary["pnw"]).info()["name"] == "small"
