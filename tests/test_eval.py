"""edge eval: metrics, delay estimation, reference suppressors and the command on two files."""
import json

import numpy as np
import pytest

from edge.cli import main
from edge.eval import METRICS, evaluate_dir
from edge.eval.align import compensate, estimate_delay
from edge.eval.metrics import si_sdr
from edge.wavio import read_wav, write_wav
from shared_data import DEV, dev_files

FILES = dev_files(2)

SECONDS = 3


@pytest.fixture(scope="module")
def two_files(tmp_path_factory):
    """Two dry dev pairs at 0 dB SNR or below, cut to a few seconds."""
    root = tmp_path_factory.mktemp("evaldir")
    for sub in ("clean", "noisy"):
        (root / sub).mkdir()
        for name in FILES:
            x = read_wav(f"{DEV}/{sub}/{name}")[:SECONDS * 48000]
            write_wav(root / sub / name, x)
    return root


@pytest.fixture(scope="module")
def compared(two_files):
    return evaluate_dir(two_files, lambda noisy, clean: noisy, compare=["rnnoise", "gtcrn", "deepfilternet"])


def test_si_sdr_is_scale_invariant_and_drops_with_noise():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal(48000)
    assert si_sdr(0.3 * ref, ref) > 100
    assert abs(si_sdr(ref + 0.1 * rng.standard_normal(48000), ref) - 20) < 0.5


def test_estimate_delay_recovers_a_known_shift():
    x = np.random.default_rng(1).standard_normal(48000).astype(np.float32)
    delayed = np.concatenate([np.zeros(1234, np.float32), x])[:48000]
    assert estimate_delay(delayed, x) == 1234
    assert np.allclose(compensate(delayed, x)[:40000], x[:40000])


def test_passthrough_scores_exactly_like_noisy_input(compared):
    assert set(compared["mean"]) == set(METRICS)
    for m in METRICS:
        assert compared["mean"][m] == pytest.approx(compared["noisy"]["mean"][m])
    assert [f["file"] for f in compared["files"]] == sorted(FILES)


def test_reference_suppressors_beat_noisy_input_after_delay_compensation(compared):
    noisy = compared["noisy"]["mean"]
    for name in ("rnnoise", "gtcrn", "deepfilternet"):
        mean = compared["compare"][name]["mean"]
        assert mean["pesq_wb"] > noisy["pesq_wb"] + 0.1, name
        assert mean["dnsmos_bak"] > noisy["dnsmos_bak"] + 0.5, name
        assert mean["si_sdr"] > noisy["si_sdr"] + 3, name
        # a wrong delay would wreck SI-SDR; the found delays are whole 10 ms frames here
        assert all(f["compare"][name]["delay_samples"] % 480 == 0 for f in compared["files"])


def test_gtcrn_harness_reproduces_its_recorded_output():
    """tests/fixtures/gtcrn_p360_aero_2s.npy: gtcrn_16k on the first 2 s of dev/noisy/p360_aero.wav
    resampled to 16 kHz, when the harness was checked against the peer's streaming I/O."""
    from pathlib import Path
    from edge.data.audio import resample
    from edge.eval.suppressors import gtcrn_16k
    fixed = np.load(Path(__file__).parent / "fixtures" / "gtcrn_p360_aero_2s.npy").astype(np.float32)
    x = resample(read_wav(DEV / "noisy" / "p360_aero.wav"), 48000, 16000)[:len(fixed)]
    y = gtcrn_16k(x)
    assert len(y) == len(x) and np.corrcoef(y, fixed)[0, 1] > 0.99999
    assert np.std(y) < 0.6 * np.std(x)  # it removes something


def test_gtcrn_refuses_a_missing_model_with_the_path(tmp_path):
    from edge.errors import EdgeError
    from edge.eval.suppressors import gtcrn_16k
    with pytest.raises(EdgeError, match="PERCEPNET_PEERS"):
        gtcrn_16k(np.zeros(1600, np.float32), model=tmp_path / "none.onnx")


def test_eval_without_the_eval_extra_names_the_pip_command(two_files, capsys, monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pesq" else real(name, *a))
    assert main(["eval", str(two_files)]) == 2
    err = capsys.readouterr().err.strip()
    assert "pesq" in err and "pip install 'percepnet-edge[eval]'" in err and "\n" not in err


def test_eval_splits_the_means_by_snr_and_room_from_the_manifest(tmp_path):
    rows = (DEV / "MANIFEST.tsv").read_text().splitlines()
    dry = next(r for r in rows[1:] if r.split("\t")[0] == FILES[0])
    wet = next(r for r in rows[1:] if "direct+early" in r)
    for sub in ("clean", "noisy"):
        (tmp_path / sub).mkdir()
        for r in (dry, wet):
            name = r.split("\t")[0]
            write_wav(tmp_path / sub / name, read_wav(DEV / sub / name)[:48000 * 2])
    (tmp_path / "MANIFEST.tsv").write_text("\n".join([rows[0], dry, wet]) + "\n")
    r = evaluate_dir(tmp_path, lambda noisy, clean: noisy)
    snrs = {f"snr {float(x.split(chr(9))[7]):g} dB" for x in (dry, wet)}
    assert set(r["groups"]) == snrs | {"dry", "reverberant"}
    assert r["groups"]["dry"]["n_files"] == 1 and r["groups"]["reverberant"]["n_files"] == 1
    wet_name = wet.split("\t")[0]
    assert r["groups"]["reverberant"]["mean"]["pesq_wb"] == pytest.approx(
        next(f["pesq_wb"] for f in r["files"] if f["file"] == wet_name))
    from edge.eval import format_table
    assert "pesq_wb by condition" in format_table(r) and "reverberant" in format_table(r)


def test_eval_refuses_a_folder_without_noisy_subfolder(tmp_path, capsys):
    (tmp_path / "clean").mkdir()
    assert main(["eval", str(tmp_path)]) == 2
    assert "noisy/" in capsys.readouterr().err


def test_eval_refuses_an_unknown_suppressor(two_files, capsys):
    assert main(["eval", str(two_files), "--compare", "speexdsp", "--oracle-mode", "band"]) == 2
    assert "speexdsp" in capsys.readouterr().err


def test_eval_command_scores_the_oracle_writes_json_and_a_plot(two_files, tmp_path):
    out, png = tmp_path / "r.json", tmp_path / "s.png"
    assert main(["eval", str(two_files), "--oracle-mode", "band+comb+postfilter",
                 "--json", str(out), "--plot", str(png)]) == 0
    r = json.loads(out.read_text())
    assert set(r["mean"]) == set(METRICS) and len(r["files"]) == 2 and r["compare"] == {}
    assert r["mean"]["pesq_wb"] > r["noisy"]["mean"]["pesq_wb"] + 0.5
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
