"""What a new user trips on (issue 23's table), each answered by one line and exit 2 before any
work: output folders checked first, missing extras named with their pip command, out-of-range
values refused, paths of the wrong kind said in words; plus the progress and help they read."""
import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge import extras
from edge.cli import build_parser, main
from edge.wavio import write_wav
from native_build import build

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "edge" / "models"


@pytest.fixture(scope="module", autouse=True)
def host_library():
    build("host")


def edge(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "edge.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=timeout)


def one_line(r, *says, code=2):
    assert r.returncode == code, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for s in says:
        assert s in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def wav(tmp_path):
    write_wav(tmp_path / "in.wav", np.zeros(4800, np.float32))
    return tmp_path / "in.wav"


# -- edge denoise ---------------------------------------------------------------------------

@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="no /proc")
def test_an_output_under_proc_is_one_line_not_a_traceback(wav):
    one_line(edge("denoise", wav, "/proc/out.wav"), "/proc/out.wav: cannot be written in /proc")


def test_an_input_directory_is_said_to_be_one(tmp_path):
    (tmp_path / "d").mkdir()
    one_line(edge("denoise", tmp_path / "d", tmp_path / "o.wav"), "is a directory", "-o DIR")


def test_a_model_directory_is_said_to_be_one(wav, tmp_path):
    one_line(edge("denoise", wav, tmp_path / "o.wav", "--model", tmp_path),
             f"{tmp_path}: is a directory; give a model file")


def test_a_tflite_given_to_the_native_engine_says_use_backend_tflite(wav, tmp_path):
    line = one_line(edge("denoise", wav, tmp_path / "o.wav", "--model", MODELS / "default.tflite"),
                    "is a TFLite model", "--backend tflite")
    assert "bad magic" not in line and not (tmp_path / "o.wav").exists()


def test_a_pnw_given_to_the_interpreter_says_use_backend_native(wav, tmp_path):
    one_line(edge("denoise", wav, tmp_path / "o.wav", "--backend", "tflite", "--model",
                  MODELS / "default.pnw"), "is a native weight file", "--backend native")


def test_edge_run_says_what_a_tflite_is_before_opening_devices():
    one_line(edge("run", "--capture", "no-such-pcm", "--playback", "no-such-pcm", "--duration", 1,
                  "--no-realtime", "--model", MODELS / "default.tflite"), "is a TFLite model")


@pytest.mark.parametrize("limit", ["inf", "1e9", "100.5", "nan", "-1"])
def test_denoise_refuses_an_attenuation_limit_out_of_range(wav, tmp_path, limit):
    one_line(edge("denoise", wav, tmp_path / "o.wav", f"--atten-lim={limit}"),
             "attenuation limit must be 0 (off) or a positive number of dB up to 100")
    assert not (tmp_path / "o.wav").exists()


@pytest.mark.parametrize("limit", ["inf", "1e9", "nan"])
def test_run_refuses_an_attenuation_limit_out_of_range_before_opening_devices(limit):
    one_line(edge("run", "--capture", "no-such-pcm", "--playback", "no-such-pcm", "--duration", 1,
                  "--no-realtime", f"--atten-lim={limit}"), "attenuation limit must be 0")


@pytest.mark.parametrize("limit", ["inf", "1e9", "nan"])
def test_install_pipewire_refuses_an_attenuation_limit_out_of_range(tmp_path, limit):
    one_line(edge("install-pipewire", "--prefix", tmp_path / "p", "--dest", tmp_path / "d",
                  f"--atten-lim={limit}"), "attenuation limit must be between 0")
    assert not (tmp_path / "p").exists() and not (tmp_path / "d").exists()


def test_dash_as_output_is_stdout_not_a_file_named_dash(wav, tmp_path):
    r = subprocess.run([sys.executable, "-m", "edge.cli", "denoise", str(wav), "-"],
                       capture_output=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 0 and r.stdout[:4] == b"RIFF" and not (tmp_path / "-").exists()


@pytest.mark.parametrize("args, says", [
    (["{wav}"], "give IN OUT, or IN... -o DIR"),
    (["{wav}", "{wav}"], "is the input; it would be overwritten (--in-place"),
    (["{wav}", "{tmp}/missing/o.wav"], "directory {tmp}/missing does not exist"),
    (["{wav}", "-o", "{tmp}/no/such/dir"], "-o {tmp}/no/such/dir: directory {tmp}/no/such does not exist"),
    (["{wav}", "-o", "{wav}"], "is not a directory"),
    (["-", "-o", "{tmp}/out"], "stdin goes with one output"),
    (["{wav}", "{tmp}/o.wav", "--channel", "1"], "--channel 1: {wav} has 1 channel (0)"),
    (["{wav}", "{tmp}/o.wav", "--subtype", "VORBIS"], "--subtype VORBIS: WAV takes"),
    (["{wav}", "{tmp}/o.wav", "--oracle", "{tmp}"], "is a directory"),
])
def test_denoise_refuses_in_one_line_before_any_work(wav, tmp_path, args, says):
    fill = lambda s: s.format(wav=wav, tmp=tmp_path)
    one_line(edge("denoise", *map(fill, args)), fill(says))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav"]


# -- edge bench, edge run -------------------------------------------------------------------

@pytest.mark.parametrize("seconds", ["0", "-5", "nan"])
def test_bench_refuses_seconds_at_or_under_zero(seconds):
    one_line(edge("bench", "--dsp", f"--seconds={seconds}"), "--seconds must be positive")


def test_run_refuses_a_cpu_the_machine_does_not_have():
    import os
    n = os.cpu_count()
    one_line(edge("run", "--duration", 1, "--no-realtime", "--cpu", n + 97),
             f"--cpu {n + 97}: this machine has CPUs 0-{n - 1}")


def test_bench_estimate_reports_its_stages_as_they_start(monkeypatch):
    from edge.bench import estimate as est
    from edge.boards import load_board
    said = []

    def stop(board):
        raise est.EstimateError("stopped here")
    monkeypatch.setattr(est, "build", stop)
    with pytest.raises(est.EstimateError):
        est.count(load_board("rpi4"), Path("m.pnw"), Path("a.f32"), say=said.append)
    assert said == ["rpi4: building pn_framecost (scons)"]


# -- missing extras -------------------------------------------------------------------------

def _without(monkeypatch, *modules):
    real = extras._present
    monkeypatch.setattr(extras, "_present", lambda m: m not in modules and real(m))


@pytest.mark.parametrize("argv, extra, missing", [
    (["train", "--out", "{tmp}/run", "--steps", "1"], "train", "tqdm"),
    (["export", "{models}/default.tflite", "--out", "{tmp}/m.pnw"], "train", "ai_edge_litert or tflite_runtime"),
    (["export", "{tmp}/best.keras", "--out", "{tmp}/m.pnw"], "train", "keras"),
    (["eval", "{tmp}"], "eval", "pesq"),
    (["eval-echo", "--far", "{tmp}/f.wav", "--near", "{tmp}/n.wav", "--rir", "{tmp}/r.wav"], "eval", "pesq"),
])
def test_a_missing_extra_is_named_with_its_pip_command_before_any_work(monkeypatch, capsys, tmp_path,
                                                                       argv, extra, missing):
    _without(monkeypatch, "tqdm", "ai_edge_litert", "tflite_runtime", "keras", "pesq")
    argv = [a.format(tmp=tmp_path, models=MODELS) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"edge {argv[0]} needs the {extra} extra (missing: ") and missing in err
    assert f"pip install 'percepnet-edge[{extra}]'" in err and len(err.splitlines()) == 1
    assert f"edge {argv[0]}: edge" not in err                      # no doubled prefix
    assert list(tmp_path.iterdir()) == []                          # nothing made: refused first


# -- edge eval ------------------------------------------------------------------------------

def _evaldir(root: Path, names=("a.wav",), alone=()):
    for sub in ("clean", "noisy"):
        (root / sub).mkdir(parents=True)
    x = (np.random.default_rng(0).standard_normal(4800) * 0.1).astype(np.float32)
    for n in names:
        write_wav(root / "clean" / n, x)
        write_wav(root / "noisy" / n, x)
    for n in alone:
        write_wav(root / "noisy" / n, x)
    return root


@pytest.mark.parametrize("flag", ["--json", "--plot"])
def test_eval_refuses_an_output_in_a_missing_folder_before_scoring(tmp_path, flag):
    root = _evaldir(tmp_path / "set")
    line = one_line(edge("eval", root, flag, tmp_path / "missing" / "out"), "does not exist")
    assert line.startswith("edge eval: ") and "edge eval: edge eval" not in line


def test_eval_names_the_noisy_files_it_skips(tmp_path):
    from edge.eval.runner import find_pairs
    root = _evaldir(tmp_path / "set", names=("a.wav",), alone=("b.wav", "c.wav"))
    said = []
    assert [n for n, _, _ in find_pairs(root, warn=said.append)] == ["a.wav"]
    assert said == [f"skipped 2 noisy files with no clean twin in {root / 'clean'}: b.wav, c.wav"]


def test_eval_with_no_pair_at_all_says_which_it_skipped(tmp_path):
    root = _evaldir(tmp_path / "set", names=(), alone=("b.wav",))
    one_line(edge("eval", root), "no wav file name appears in both",
             "skipped 1 noisy file with no clean twin", "b.wav")


def test_eval_table_says_1_file():
    from edge.eval.runner import METRICS, format_table
    m = {k: 0.0 for k in METRICS}
    table = format_table({"n_files": 1, "mean": m, "noisy": {"mean": m}, "compare": {}})
    assert table.splitlines()[0] == "1 file"


# -- help -----------------------------------------------------------------------------------

def test_every_option_of_every_command_has_help():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    bare = [f"{name} {a.option_strings or a.dest}" for name, p in sub.choices.items()
            for a in p._actions if not isinstance(a, argparse._HelpAction) and not a.help]
    assert bare == []


@pytest.mark.parametrize("command, option, says", [
    ("train", "--hours", "no default"), ("train", "--steps", "no default"),
    ("train", "--config", "the default"), ("run", "--channels", "default: the board's"),
    ("run", "--capture-channel", "default: the board's"), ("run", "--duration", "default: run until"),
    ("export", "--out", "native weight file"), ("eval", "--backend", "default"),
])
def test_help_states_what_and_the_default(command, option, says):
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    action = next(a for a in sub.choices[command]._actions if option in a.option_strings)
    assert says in action.help
