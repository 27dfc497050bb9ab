"""`edge bench --estimate`: instruction counts under qemu-user (deterministic, pinned by a budget
file so a slower NEON path fails here), llvm-mca cycles and the host error bar."""
import json
import math
import shutil
from pathlib import Path

import pytest

import edge.boards as boards
from edge.bench import estimate as est
from edge.boards import load_board
from edge.cli import main

BUDGET = json.loads((Path(__file__).resolve().parent.parent / "native" / "budget.json").read_text())
LLVM_MCA = f"llvm-mca-{est.LLVM}"
needs_llvm = pytest.mark.skipif(shutil.which(LLVM_MCA) is None,
                                reason=f"{LLVM_MCA} not installed (Debian: apt-get install llvm-19)")


@pytest.mark.parametrize("board", sorted(BUDGET["instructions_per_frame"]))
def test_instructions_per_frame_stay_within_the_committed_budget(board):
    """dsp and network: the model with int8 weights; network_int4: the same with int4 weights
    (`edge export --weights int4`), so a slower int4 kernel fails too."""
    got = est.instruction_counts(board, BUDGET["model"], BUDGET["frames"])
    got["network_int4"] = est.instruction_counts(board, BUDGET["model"], BUDGET["frames"], "int4")["network"]
    want = BUDGET["instructions_per_frame"][board]
    off = {part: got[part] / want[part] - 1 for part in want}
    assert all(abs(x) <= BUDGET["tolerance"] for x in off.values()), (
        f"{board}: instructions per frame {got} vs native/budget.json {want} "
        f"({', '.join(f'{k} {v:+.1%}' for k, v in off.items())}, tolerance "
        f"{BUDGET['tolerance']:.0%}): a slower path, or update the budget in the same change")


def test_extra_hops_cost_the_same_so_start_up_cancels(tmp_path):
    board = load_board("rpi4")
    program = est.build(board)
    audio = est.example_audio(tmp_path / "audio.f32")
    totals = []
    for frames in (10, 30, 50):
        blocks, execs, info = est.run_counted(board, program, "dsp", audio, frames, None)
        assert info["frames"] == frames and info["simd"] == "neon"
        totals.append(est.instructions(blocks, execs))
    first, second = totals[1] - totals[0], totals[2] - totals[1]
    assert totals[0] > 1.1 * first / 2  # 10 hops plus a start-up that the difference cancels
    assert abs(second / first - 1) < 0.02


def test_plugin_output_that_is_cut_short_is_refused():
    est.parse_counts("5500001000 3 2 d503201f d65f03c0\n")
    with pytest.raises(est.EstimateError, match="malformed"):
        est.parse_counts("5500001000 3 2 d503201f\n")


@needs_llvm
def test_estimate_json_has_the_contract_keys_and_adds_up(capsys):
    assert main(["bench", "--estimate", "rpi5", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["board"] == "rpi5" and r["model"] == "small"
    assert r["core"] == {"mca_cpu": "neoverse-n1", "clock_ghz": 2.4, "qemu_cpu": "cortex-a76",
                         "simd": "dotprod"}  # the Pi 5 build counted on its dotprod path
    dsp, net, frame = r["dsp"], r["network"], r["frame"]
    budget = BUDGET["instructions_per_frame"]["rpi5"]
    assert abs(dsp["instructions"] / budget["dsp"] - 1) <= BUDGET["tolerance"]
    assert abs(net["instructions"] / budget["network"] - 1) <= BUDGET["tolerance"]
    assert net["memory"]["bytes"] == r["weight_bytes"]
    assert net["us"] == max(net["compute_us"], net["memory"]["us"])
    assert math.isclose(frame["us"], dsp["us"] + net["us"])
    assert math.isclose(frame["core_pct"], frame["us"] / est.HOP_US * 100)
    assert dsp["unmodelled_share"] < 0.05 and net["unmodelled_share"] < 0.05
    # the hottest network block is in the kernel's own int8 code, named
    assert "shared library" not in net["hot_blocks"][0]["where"]
    cal = r["calibration"]
    assert set(cal["ratio"]) == {"dsp", "network", "frame"}
    assert r["error_bar"] == cal["ratio"]["frame"]
    assert 0.2 < r["error_bar"] < 5, "the method is off by more than 5x on this machine"


def test_unknown_board_is_refused_in_one_line(capsys):
    assert main(["bench", "--estimate", "rpi9", "--no-calibration"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "unknown board 'rpi9'" in err


def test_estimate_does_not_mix_with_other_modes(capsys):
    assert main(["bench", "--estimate", "rpi4", "--dsp"]) == 2
    assert "--estimate BOARD runs alone" in capsys.readouterr().err


def test_board_without_estimate_figures_is_named(tmp_path, monkeypatch):
    text = (boards.BOARDS_DIR / "rpi4.toml").read_text()
    (tmp_path / "rpi4.toml").write_text(text[:text.index("[estimate]")])
    monkeypatch.setattr(boards, "BOARDS_DIR", tmp_path)
    with pytest.raises(est.EstimateError, match=r"rpi4\.toml: no \[estimate\] section"):
        est.estimate("rpi4", calibrate=False)


def test_unknown_model_file_is_refused(tmp_path):
    with pytest.raises(est.EstimateError, match="neither small, paper nor an existing .pnw"):
        est.model_file(str(tmp_path / "missing.pnw"), tmp_path)


def test_int4_weights_make_a_random_model_and_are_refused_with_a_file(tmp_path):
    from edge.model import pnw
    path = est.model_file("small", tmp_path, "int4")
    assert pnw.describe(path.read_bytes())["int4_matrices"] > 0
    with pytest.raises(est.EstimateError, match="has its own encodings"):
        est.model_file(str(path), tmp_path, "int4")


def test_estimate_takes_the_encoding_flash_installs_on_the_board_unless_told(monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(est, "estimate", lambda board, model, calibrate, weights, say:
                        seen.append((board, model, weights)) or {"board": board})
    for argv in (["rpi4"], ["rpi5"], ["rpi4", "--weights", "int8"], ["rpi4", "--model", "x.pnw"]):
        assert main(["bench", "--json", "--no-calibration", "--estimate"] + argv) == 0
    assert seen == [("rpi4", "small", "int4"), ("rpi5", "small", "int8"), ("rpi4", "small", "int8"),
                    ("rpi4", "x.pnw", "int8")]  # a .pnw file has its own encodings


@pytest.mark.parametrize("args, says", [(["--weights", "int2"], "int8, int4 or int8,int4"),
                                        (["--estimate", "rpi4", "--weights", "int8,int4"], "one --weights"),
                                        (["--dsp", "--weights", "int4"], "--weights goes with")])
def test_bad_weights_option_is_refused_in_one_line(capsys, args, says):
    assert main(["bench"] + args) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and "\n" not in err


def test_missing_tools_name_their_debian_package(monkeypatch):
    monkeypatch.setattr(est.shutil, "which", lambda name: None)
    with pytest.raises(est.EstimateError,
                       match=r"qemu-aarch64 not found \(Debian: apt-get install qemu-user\)"):
        est.runner(load_board("rpi4"))
    with pytest.raises(est.EstimateError,
                       match=rf"{LLVM_MCA} not found \(Debian: apt-get install llvm-19\)"):
        est.mca_cycles([], "aarch64", "cortex-a72")
