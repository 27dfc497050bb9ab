"""The .tflite (model of record) -> .pnw export, and agreement of the native int8 engine with
the TFLite interpreter on real audio features with the state carried over 1000+ frames."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.cli import main
from edge.errors import EdgeError
from edge.model import arch, pnw
from edge.model.native_net import NativeNet
from edge.model.tflite_step import TFLiteStep

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "models"
sys.path.insert(0, str(FIXTURES))
from make_fixtures import TINY, example_features  # noqa: E402

TFLITE, PNW, PNW4 = FIXTURES / "tiny.tflite", FIXTURES / "tiny.pnw", FIXTURES / "tiny_int4.pnw"


@pytest.fixture(scope="module")
def features():
    f = example_features()
    assert f.shape[0] >= 1000 and f.shape[1] == 70
    return f


@pytest.fixture(scope="module")
def outputs(features):
    tfl = TFLiteStep(TFLITE)
    nat = NativeNet(PNW)
    return (np.stack([tfl.step(f) for f in features]), nat.run(features),
            np.load(FIXTURES / "tiny_float.npy").astype(np.float32))


def test_export_of_the_committed_tflite_reproduces_the_committed_pnw():
    assert pnw.from_tflite(TFLITE) == PNW.read_bytes()


def test_int4_export_of_the_committed_tflite_reproduces_the_committed_int4_pnw():
    data = pnw.from_tflite(TFLITE, weights="int4")
    assert data == PNW4.read_bytes()
    # format version 3, int4 everywhere but the layer reading the features and the two outputs
    layers, out_src = pnw.layer_graph(TINY)
    want = [enc for i, x in enumerate(layers)
            for enc in ["int8" if -1 in x.src or i in out_src else "int4"] * (2 if x.kind == "gru" else 1)]
    assert pnw.describe(data) == {"version": 3, "encodings": want, "int4_matrices": want.count("int4")}
    assert pnw.describe(PNW.read_bytes()) == {"version": 2, "encodings": ["int8"] * len(want),
                                                 "int4_matrices": 0}  # all-int8 files stay version 2


def test_int4_default_from_the_pnw_in_numpy_is_the_int4_export_of_the_tflite():
    """edge flash's int4 model needs no TFLite interpreter: from_pnw requantises default.pnw's
    int8 weights to the same bytes from_tflite writes from default.tflite (and the fixture's)."""
    from edge.models import MODELS_DIR, native_default
    want = pnw.from_tflite(MODELS_DIR / "default.tflite", weights="int4")
    assert pnw.from_pnw(MODELS_DIR / "default.pnw", "int4") == want == native_default("int4")
    assert pnw.from_pnw(PNW, "int4") == PNW4.read_bytes()
    assert pnw.from_pnw(PNW) == PNW.read_bytes()            # int8 reads back as it was


def test_from_pnw_refuses_an_int4_file_and_what_is_not_a_pnw_in_one_line(tmp_path):
    with pytest.raises(pnw.PnwError, match="already 4-bit: give the int8 export"):
        pnw.from_pnw(PNW4, "int4")
    (tmp_path / "x.pnw").write_bytes(b"\0" * 100)
    with pytest.raises(pnw.PnwError, match="bad magic"):
        pnw.from_pnw(tmp_path / "x.pnw", "int4")
    with pytest.raises(pnw.PnwError, match="No such file"):
        pnw.from_pnw(tmp_path / "missing.pnw", "int4")


def test_int4_engine_stays_close_to_the_float_model(features):
    """The int4 export of the same weights, run by the native engine against the float Keras
    model: measured 0.0069 mean, 0.026 99th percentile, 0.039 max |diff| on this fixture (int8:
    0.0010 / 0.0043 / 0.0086). Bounds with some room, and no drift over the 1000+ frames."""
    flt = np.load(FIXTURES / "tiny_float.npy").astype(np.float32)
    d = np.abs(NativeNet(PNW4).run(features) - flt)
    assert d.mean() < 0.01 and np.percentile(d, 99) < 0.04 and d.max() < 0.08, (d.mean(), d.max())
    third = len(d) // 3
    assert d[-third:].mean() < 1.5 * d[:third].mean() + 0.002


def unpack_int4(data: bytes, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """(q [rows, cols_pad], multipliers [rows, blocks]) from one int4 matrix's payload, read
    as native/src/model.h describes it (nibble (c/4)%2 of byte (r%8)*4 + c%4 of the group at
    (r/8)*4*cols_pad + (c/8)*32; multiplier at (r/8)*8*blocks + (c/32)*8 + r%8)."""
    cp = -(-cols // 32) * 32
    raw = np.frombuffer(data, np.uint8)
    q = np.zeros((rows, cp), np.int8)
    for r in range(rows):
        for c in range(cp):
            byte = raw[(r // 8) * 4 * cp + (c // 8) * 32 + (r % 8) * 4 + c % 4]
            nib = int(byte >> 4 if (c // 4) % 2 else byte & 15)
            q[r, c] = nib - 16 if nib >= 8 else nib
    blocks, base = cp // 32, -(-rows // 8) * 8 * cp // 2
    mul = np.array([[raw[base + (r // 8) * 8 * blocks + b * 8 + r % 8] for b in range(blocks)] for r in range(rows)])
    return q, mul


def test_int4_quantiser_and_packing_follow_the_documented_layout():
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.1, (20, 70))
    w[3, 32:64] = 0.0    # an all-zero block: multiplier 0
    w[5, :] *= 30.0      # a row with a larger range than the others
    q, mul, scale = pnw.quantize_int4(w)
    assert q.shape == (20, 96) and mul.shape == (20, 3) and q.min() >= -8 and q.max() <= 7
    assert mul[3, 1] == 0 and (q[:, 70:] == 0).all()
    real = (q.reshape(20, 3, 32) * mul[:, :, None] * scale[:, None, None].astype(np.float64)).reshape(20, 96)[:, :70]
    assert np.linalg.norm(real - w) / np.linalg.norm(w) < 0.1  # about 0.085 for Gaussian weights
    got_q, got_mul = unpack_int4(pnw.pack_matrix_int4(q, mul, scale, np.zeros(20)), 20, 70)
    assert (got_q == q).all() and (got_mul == mul).all()


def test_int4_multipliers_of_a_very_wide_matrix_stay_within_what_the_loader_admits():
    q, mul, _ = pnw.quantize_int4(np.random.default_rng(1).normal(0, 1, (8, 300 * 32)))
    assert mul.max() <= pnw.INT4_MUL_SUM_MAX // 300 and (mul.sum(axis=1) <= pnw.INT4_MUL_SUM_MAX).all()


def test_native_engine_agrees_with_tflite_interpreter_on_real_features(outputs):
    """Both run the same int8 weights and quantise each layer input per frame, symmetric, the
    same way (the .tflite's hybrid FULLY_CONNECTED ops with symmetric inputs), with float
    activations and GRU states: they differ in the engine's tanh/sigmoid approximations and in
    float rounding. Measured on this fixture: mean |diff| 1e-5, 99th percentile 0.0004, max
    0.0032 over the 1000+ frames (the full-int8 .tflite with calibrated activations it replaced:
    0.0049 / 0.018 / 0.091). Bounds with room, and no growth from the first to the last third."""
    tfl, nat, flt = outputs
    d = np.abs(tfl - nat)
    assert d.mean() < 1e-4, d.mean()
    assert np.percentile(d, 99) < 0.003, np.percentile(d, 99)
    assert d.max() < 0.02, d.max()
    third = len(d) // 3
    assert d[-third:].mean() < 1.5 * d[:third].mean() + 1e-4
    err_native, err_tflite = np.abs(nat - flt).mean(), np.abs(tfl - flt).mean()
    assert abs(err_native - err_tflite) < 1e-4, (err_native, err_tflite)


def test_shipped_tflite_and_native_engine_give_the_same_audio_40_db_down():
    """--backend tflite runs the model of record: default.tflite (int8 weights, float
    activations) against default.pnw on examples/noisy.wav, the difference at the output at
    least 40 dB below the signal. Measured -59.4 dB RMS, 22 LSB at most (the full-int8
    default.tflite before: -26.2 dB, 815 LSB)."""
    from edge import denoise
    from edge.models import shipped
    from edge.wavio import read_wav

    x = read_wav(Path(__file__).resolve().parents[1] / "examples" / "noisy.wav")
    nat = denoise.denoise(x, model=shipped("native"), backend="native").astype(np.float64)
    tfl = denoise.denoise(x, model=shipped("tflite"), backend="tflite").astype(np.float64)
    assert nat.shape == tfl.shape == x.shape
    rel_db = 20 * np.log10(np.sqrt(np.mean((nat - tfl) ** 2)) / np.sqrt(np.mean(nat ** 2)))
    assert rel_db < -40, rel_db


def test_the_tflite_of_record_has_int8_weights_float_biases_and_symmetric_float_inputs():
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils
    from edge.models import shipped

    for path, cfg in ((TFLITE, TINY), (shipped("tflite"), arch.CONFIGS["small"])):
        model = flatbuffer_utils.read_model(str(path))
        g = model.subgraphs[0]
        fcs = [op for op in g.operators if max(model.operatorCodes[op.opcodeIndex].builtinCode,
               model.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode) == schema.BuiltinOperator.FULLY_CONNECTED]
        assert len(fcs) == sum(2 if x.kind == "gru" else 1 for x in arch.topology(cfg))
        for op in fcs:
            x, w, b = (g.tensors[i] for i in op.inputs[:3])
            assert (x.type, w.type, b.type) == (schema.TensorType.FLOAT32, schema.TensorType.INT8,
                                                schema.TensorType.FLOAT32)
            assert len(w.quantization.scale) == w.shape[0] and not any(w.quantization.zeroPoint)
            assert op.builtinOptions.asymmetricQuantizeInputs is False
        assert not any(t.type == schema.TensorType.INT8 for t in g.tensors
                       if t not in [g.tensors[op.inputs[1]] for op in fcs])     # no int8 activations


def test_to_tflite_holds_the_weights_from_keras_gives_the_pnw(tmp_path):
    """A Keras model's .tflite (what edge train writes, no calibration data) exports to the
    .pnw from_keras writes: one quantisation of each matrix. The micro config's small matrices
    (under the converter's 1024 weights) are pinned to int8 too."""
    import keras
    from make_fixtures import MICRO
    from edge.model import tflite_export

    for cfg in (TINY, MICRO):
        keras.utils.set_random_seed(4)
        seq = arch.build_model(cfg)
        for layer in seq.layers:
            layer.set_weights([w + np.random.default_rng(len(layer.name)).uniform(-0.1, 0.1, w.shape)
                               .astype(np.float32) for w in layer.get_weights()])
        (tmp_path / "m.tflite").write_bytes(tflite_export.to_tflite(seq, cfg))
        assert pnw.from_tflite(tmp_path / "m.tflite") == pnw.from_keras(seq, cfg, "custom")
        step, nat = TFLiteStep(tmp_path / "m.tflite"), NativeNet(pnw.from_keras(seq, cfg, "custom"))
        f = np.random.default_rng(5).normal(0, 1, (50, 70)).astype(np.float32)
        assert np.abs(np.stack([step.step(x) for x in f]) - nat.run(f)).max() < 0.01


def test_a_full_int8_tflite_converts_with_its_weights_unchanged(tmp_path):
    """from_tflite_weights on a .tflite of either kind keeps the int8 weights, scales and
    biases: the .pnw is byte for byte the one before (the shipped model was converted so)."""
    from edge.model import tflite_export
    from edge.models import shipped

    assert tflite_export.main([str(TFLITE), str(tmp_path / "again.tflite")]) == 0
    assert pnw.from_tflite(tmp_path / "again.tflite") == PNW.read_bytes()
    assert pnw.from_tflite(shipped("tflite")) == shipped("native").read_bytes()


def test_native_outputs_are_gains_and_strengths_in_unit_range(outputs):
    _, nat, _ = outputs
    assert nat.shape[1] == 68 and np.isfinite(nat).all()
    assert nat.min() >= 0.0 and nat.max() <= 1.0


def test_tflite_step_carries_state_and_reset_restarts_it(features):
    step = TFLiteStep(TFLITE)
    first = np.stack([step.step(f) for f in features[:20]])
    again = np.stack([step.step(f) for f in features[:20]])
    step.reset()
    after_reset = np.stack([step.step(f) for f in features[:20]])
    assert np.array_equal(first, after_reset)
    assert not np.array_equal(first, again)  # the state carried over


def test_tflite_step_refuses_a_wrong_feature_count():
    with pytest.raises(EdgeError, match="70 features"):
        TFLiteStep(TFLITE).step(np.zeros(68, np.float32))


def test_edge_export_writes_a_file_the_native_loader_accepts(tmp_path, capsys):
    out = tmp_path / "m.pnw"
    assert main(["export", str(TFLITE), "--out", str(out)]) == 0
    assert out.read_bytes() == PNW.read_bytes()
    assert f"{arch.count_weights(TINY)} weights" in capsys.readouterr().out


def test_edge_export_int4_from_a_float_checkpoint(tmp_path, capsys):
    """A .keras checkpoint exports as from_keras would: int8 or int4, config read from it."""
    seq = arch.build_model(TINY)
    ckpt = tmp_path / "best.keras"
    seq.save(ckpt)
    out = tmp_path / "m4.pnw"
    assert main(["export", str(ckpt), "--out", str(out), "--weights", "int4", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["encoding"] == "int4" and summary["int4_matrices"] == 10
    assert out.read_bytes() == pnw.from_keras(seq, TINY, "custom", "int4")
    assert main(["export", str(ckpt), "--out", str(tmp_path / "m8.pnw")]) == 0
    assert (tmp_path / "m8.pnw").read_bytes() == pnw.from_keras(seq, TINY, "custom")


@pytest.mark.parametrize("bad", ["missing.tflite", "not_a_model", "not_a_model.keras"])
def test_edge_export_refuses_bad_input_with_one_line(tmp_path, capsys, bad):
    src = tmp_path / bad
    if bad.startswith("not_a_model"):
        src.write_bytes(b"\0" * 64)
    assert main(["export", str(src), "--out", str(tmp_path / "x.pnw")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edge export: ") and "\n" not in err
    assert not (tmp_path / "x.pnw").exists()


def test_one_topology_serves_keras_step_model_weight_count_and_pnw():
    """A config the shipped sizes never use (one GRU, other kernels) goes through every reader
    of arch.topology consistently: nothing else restates the layer list."""
    cfg = {"dense": 8, "conv": 12, "kernels": (3, 2), "gru": 10, "gru_layers": 1,
           "gain_gru": 6, "strength_gru": 4}
    seq = arch.build_model(cfg)
    step = arch.build_step_model(cfg, seq)
    assert [int(t.shape[-1]) for t in step.inputs[1:]] == [n for _, n in arch.state_sizes(cfg)]
    assert arch.state_sizes(cfg)[:2] == [("conv1_state", 2 * 8), ("conv2_state", 1 * 12)]
    assert sum(int(np.prod(w.shape)) for w in seq.weights if "kernel" in w.name) == arch.count_weights(cfg)
    info = NativeNet(pnw.from_keras(seq, cfg, "custom")).info()
    assert info["n_weights"] == arch.count_weights(cfg) and info["n_layers"] == len(arch.topology(cfg))


def test_a_network_the_topology_would_not_build_is_refused():
    n_out = {x.name: x.n_out for x in arch.topology(TINY)}
    kernel = {x.name: x.kernel for x in arch.topology(TINY)}
    assert arch.config_from_layers(n_out, kernel) == {**TINY, "kernels": tuple(TINY["kernels"])}
    with pytest.raises(ValueError, match="gains"):
        arch.config_from_layers({**n_out, "gains": 33}, kernel)
    with pytest.raises(ValueError, match="gru_gain"):
        arch.config_from_layers({k: v for k, v in n_out.items() if k != "gru_gain"}, kernel)
