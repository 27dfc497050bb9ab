"""The training recipe: corpus audio of any format, source shares, the frozen validation set,
the loss's compression and weights, standardised inputs folded at export, warm starts from
an exported model, the rate schedule and exact resume."""
import json

import numpy as np
import pytest
import soundfile as sf

from edge.data import dataset, examples, sources
from edge.data.mix import MixConfig
from edge.errors import EdgeError
from edge.model.loss import MASKED, LossConfig, custom_objects
from shared_data import SHARED_DATA

RATE = 48000
TINY = {"dense": 16, "conv": 16, "kernels": [5, 3], "gru": 16, "gru_layers": 1,
        "gain_gru": 16, "strength_gru": 8}


def _voice(n, rate, f0=140.0):
    t = np.arange(n) / rate
    return (0.1 * sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 12))
            * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)


def _corpus(root, fmt="FLAC", subtype="PCM_16"):
    """A plain corpus: speech from two sources and noise, written by libsndfile."""
    ext = {"FLAC": "flac", "WAV": "wav", "OGG": "ogg"}[fmt]
    rng = np.random.default_rng(0)
    for d in ("clean", "noise"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for i in range(4):
        sf.write(root / "clean" / f"aaa16k_{i}.{ext}", _voice(16000, 16000, 120 + 10 * i), 16000,
                 format=fmt, subtype=subtype)
        sf.write(root / "clean" / f"bbb48k_{i}.{ext}", _voice(48000, 48000, 180 + 10 * i), 48000,
                 format=fmt, subtype=subtype)
        sf.write(root / "noise" / f"nnn_{i}.{ext}", 0.05 * rng.standard_normal(16000).astype(np.float32),
                 16000, format=fmt, subtype=subtype)
    return root


@pytest.mark.parametrize("fmt, subtype", [("FLAC", "PCM_16"), ("FLAC", "PCM_24"), ("WAV", "FLOAT"),
                                          ("WAV", "PCM_24"), ("OGG", "VORBIS")])
def test_corpus_audio_in_any_libsndfile_format_is_found_and_read_at_48k(tmp_path, fmt, subtype):
    from edge.data.audio import native_rate, read
    src = sources.corpus(_corpus(tmp_path, fmt, subtype))
    assert len(src.speech) == 8 and len(src.noise) == 4
    x, rate = read(src.speech[0])
    assert rate == 16000 and native_rate(src.speech[0]) == 16000
    assert len(x) == RATE and x.dtype == np.float32
    # the same samples as written, resampled: a 120 Hz voice keeps its pitch
    peak = np.argmax(np.abs(np.fft.rfft(x))) * RATE / len(x)
    assert peak == pytest.approx(120, abs=2)


def test_the_new_flac_material_of_the_training_pool_is_read():
    src = sources.builtin(str(SHARED_DATA), None)
    flac = [p for p in src.speech + src.noise + src.rirs if str(p).endswith(".flac")]
    assert len(flac) > 900  # 731 speech, 271 noise, 8 rooms
    kinds = {sources.source_of(p) for p in flac}
    assert {"libri16k", "ravdess48k", "so762", "esc50"} <= kinds


def test_a_corrupt_corpus_file_is_refused_by_name(tmp_path):
    from edge.data.audio import read
    bad = tmp_path / "x_1.flac"
    bad.write_bytes(b"fLaC" + b"\0" * 40)
    with pytest.raises(EdgeError, match="x_1.flac: cannot read as audio"):
        read(bad)


def test_each_source_speaks_its_share_whatever_its_number_of_files():
    files = [f"/c/big_{i}.flac" for i in range(90)] + [f"/c/small_{i}.flac" for i in range(10)] + \
        ["/c/other.flac"]
    src = sources.Sources(speech=files, speech_shares={"big": 0.2, "small": 0.5, "*": 0.3})
    rng, drawn = np.random.default_rng(0), []
    for _ in range(3000):
        drawn.append(sources.source_of(examples._speech_pool(src, MixConfig(), rng)[0]))
    share = {k: drawn.count(k) / len(drawn) for k in set(drawn)}
    assert share["big"] == pytest.approx(0.2, abs=0.03) and share["small"] == pytest.approx(0.5, abs=0.03)
    assert share["other"] == pytest.approx(0.3, abs=0.03)  # an unlisted prefix takes "*"


def test_builtin_sources_carry_shares_through_the_validation_split():
    trn, val = sources.split(sources.builtin(str(SHARED_DATA), None))
    for s in (trn, val):
        assert s.speech_shares == sources.SPEECH_SHARES and s.noise_shares == sources.NOISE_SHARES
    groups, weights = sources.grouped(trn.speech, trn.speech_shares)
    assert sum(weights) == pytest.approx(1) and len(groups) >= 8


def test_skewed_snr_puts_more_mixtures_under_5_db():
    cfg = MixConfig()
    rng = np.random.default_rng(0)
    lo, hi = cfg.snr_db
    snr = lo + (hi - lo) * rng.random(20000) ** cfg.snr_skew
    assert lo <= snr.min() and snr.max() <= hi
    assert 0.5 < np.mean(snr < 5) < 0.6 and np.mean(snr < 0) > 0.3


def test_narrowband_mixtures_hold_nothing_above_8_khz():
    x = np.random.default_rng(1).standard_normal(RATE).astype(np.float32)
    y = examples.narrowband(x)
    p = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(len(y), 1 / RATE)
    assert len(y) == len(x)
    assert 10 * np.log10(p[f > 8500].mean() / p[(f > 500) & (f < 7000)].mean()) < -40


def _tiny_sources(tmp_path):
    return sources.split(sources.corpus(_corpus(tmp_path / "corpus")))


def test_the_frozen_validation_set_is_reused_unchanged_when_the_mixing_code_changes(tmp_path, monkeypatch):
    _, val = _tiny_sources(tmp_path)
    cfg = MixConfig(seconds=1.0)
    paths = dataset.frozen(val, tmp_path / "val", 4, cfg, workers=1, progress=False, log=lambda *_: None)
    before = [p.read_bytes() for p in paths]
    monkeypatch.setattr(dataset, "_mixing_code", lambda: "another mixer")
    monkeypatch.setattr(dataset, "build", lambda *a, **k: pytest.fail("a frozen set is not rebuilt"))
    again = dataset.frozen(val, tmp_path / "val", 4, cfg, workers=1, progress=False, log=lambda *_: None)
    assert again == paths and [p.read_bytes() for p in again] == before
    m = json.loads((tmp_path / "val" / "manifest.json").read_text())
    assert m["examples"] >= 4 and len(m["sha1"]) == len(paths)
    with pytest.raises(EdgeError, match="frozen with"):
        dataset.frozen(val, tmp_path / "val", 10 ** 4, cfg, workers=1, progress=False)
    paths[0].write_bytes(paths[0].read_bytes()[:-1] + b"x")
    with pytest.raises(EdgeError, match="changed since the validation set was frozen"):
        dataset.frozen(val, tmp_path / "val", 4, cfg, workers=1, progress=False)


def _keras_loss(fn, g, p):
    from keras import ops
    return float(np.mean(ops.convert_to_numpy(fn(np.array(g, "f4"), np.array(p, "f4")))))


def test_a_lower_gamma_pays_more_for_noise_left_in():
    from edge.model.loss import losses
    noise_err = lambda cfg: _keras_loss(losses(cfg)[0], [[0.01]], [[0.1]])    # noqa: E731 (20 dB left)
    speech_err = lambda cfg: _keras_loss(losses(cfg)[0], [[1.0]], [[0.79]])  # noqa: E731 (2 dB lost)
    paper, low = LossConfig(gamma=0.5), LossConfig(gamma=0.3)
    assert noise_err(low) / speech_err(low) > 2 * noise_err(paper) / speech_err(paper)
    assert _keras_loss(losses(low)[0], [[MASKED]], [[0.9]]) == 0  # masked bins still count for nothing


def test_validation_figures_measure_noise_left_and_speech_kept():
    from edge.model.train import measure
    g = np.full((1, 4, 34), 0.5, np.float32)
    g[0, :, :10] = 0.01         # noise bins
    g[0, :, 10:20] = 1.0        # speech bins
    g[0, :, 33] = MASKED
    pred = g.copy()
    pred[0, :, :10] = 0.1       # -20 dB where the target is -40
    pred[0, :, 10:20] = 0.5     # -6 dB of speech lost
    pred[0, :, 33] = 0.7
    s = np.zeros_like(g)
    m = measure(pred, s, g, s, LossConfig())
    assert m["noise_db"] == pytest.approx(-20, abs=0.01) and m["speech_db"] == pytest.approx(-6.02, abs=0.01)
    assert m["speech_loss"] > 0 and m["loss"] == pytest.approx(m["paper_loss"])
    exact = measure(g.clip(0, 1), s, g, s, LossConfig())
    assert exact["speech_loss"] == pytest.approx(0, abs=1e-6) and exact["noise_db"] == pytest.approx(-40, abs=0.01)


def test_standardisation_is_folded_into_the_step_model_with_the_same_outputs():
    from edge.model import arch, standardize
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((1, 30, 70)) * np.linspace(0.2, 3, 70) + np.linspace(-5, 1, 70)).astype(np.float32)
    norm = standardize.statistics(x)
    seq = arch.build_model(TINY, norm=norm)
    assert np.allclose(np.asarray(seq.get_layer("standardize")(x)).std(axis=(0, 1)), 1, atol=1e-3)
    want = [np.asarray(o)[0] for o in seq(x, training=False)]
    step = arch.build_step_model(TINY, seq)  # has no standardize layer: dense_in takes raw features
    assert "standardize" not in [layer.name for layer in step.layers]
    states = [np.zeros((1, int(t.shape[-1])), np.float32) for t in step.inputs[1:]]
    for t in range(30):
        outs = step([x[0, t][None]] + states, training=False)
        states = [np.asarray(o) for o in outs[2:]]
        assert np.allclose(np.asarray(outs[0])[0], want[0][t], atol=1e-5)
        assert np.allclose(np.asarray(outs[1])[0], want[1][t], atol=1e-5)


def test_a_run_started_from_the_shipped_model_computes_what_it_computes():
    from edge.model import arch, standardize, warm_start
    from edge.model.tflite_step import TFLiteStep
    tflite = "edge/models/default.tflite"
    feats = np.random.default_rng(4).standard_normal((1, 20, 70)).astype(np.float32) - 2
    ref = TFLiteStep(tflite)
    want = np.stack([ref.step(f) for f in feats[0]])
    for norm in (None, standardize.statistics(feats)):
        seq = arch.build_model("small", norm=norm)
        warm_start.load_into(seq, tflite, "small")
        g, s = (np.asarray(o)[0] for o in seq(feats, training=False))
        got = np.concatenate([g, s], axis=-1)
        assert np.abs(got - want).max() < 0.05  # the .tflite quantises layer inputs to int8, float here
    with pytest.raises(EdgeError, match="config"):
        warm_start.load_into(arch.build_model(TINY), tflite, TINY)


def test_the_rate_warms_up_then_decays_to_its_floor():
    from edge.model.train import TrainConfig, learning_rate
    cfg = TrainConfig(warmup_steps=10, decay_steps=100, decay_to=0.1)
    rates = [learning_rate(cfg, 1e-3, s) for s in range(120)]
    assert rates[0] == pytest.approx(1e-4) and rates[9] == pytest.approx(1e-3, rel=0.03)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:]))
    assert rates[100] == pytest.approx(1e-4) and rates[119] == pytest.approx(1e-4)
    assert learning_rate(TrainConfig(), 3e-4, 500) == 3e-4


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    trn, _ = sources.split(sources.corpus(_corpus(root)))
    paths = dataset.build(trn, root / "feat", 8, MixConfig(seconds=2.0), per_shard=4, workers=1, progress=False)
    return dataset.load_shards(paths)


def test_a_resumed_run_draws_the_batches_and_reaches_the_weights_of_an_unbroken_one(data, tmp_path):
    import keras
    from edge.model import train
    kw = dict(config=TINY, batch=4, seq_frames=50, lr=1e-3, checkpoint_s=1e9, weight_decay=1e-4,
              warmup_steps=2, decay_steps=8, decay_to=0.5, standardize=True,
              loss=LossConfig(gamma=0.3, strength_weight=0.5))
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    train.train(*data, whole, train.TrainConfig(steps=8, **kw), log=lambda *_: None)
    train.train(*data, parts, train.TrainConfig(steps=4, **kw), log=lambda *_: None)
    logs = []
    train.train(*data, parts, train.TrainConfig(steps=8, **{**kw, "lr": None}), log=logs.append)
    assert any("resumed" in m for m in logs)
    a, b = (json.loads((d / "state.json").read_text()) for d in (whole, parts))
    assert a["sampler"] == b["sampler"] and a["step"] == b["step"] == 8
    wa, wb = (keras.models.load_model(d / "checkpoint.keras", custom_objects=custom_objects(kw["loss"]))
              for d in (whole, parts))
    assert type(wa.optimizer).__name__ == "AdamW"
    for x, y in zip(wa.get_weights(), wb.get_weights()):
        assert np.allclose(x, y, atol=1e-4)
    assert {"noise_db", "speech_db", "speech_loss", "paper_loss", "gap"} <= set(a["history"][-1])
    last = a["history"][-1]
    assert last["gap"] == pytest.approx(last["gain_loss"] / last["seen_gain_loss"] - 1)


def test_a_run_refuses_to_resume_with_another_recipe(data, tmp_path):
    from edge.model import train
    kw = dict(config=TINY, batch=4, seq_frames=50, checkpoint_s=1e9)
    train.train(*data, tmp_path, train.TrainConfig(steps=1, **kw), log=lambda *_: None)
    with pytest.raises(EdgeError, match="resume it as it was"):
        train.train(*data, tmp_path, train.TrainConfig(steps=2, loss=LossConfig(gamma=0.3), **kw),
                    log=lambda *_: None)
