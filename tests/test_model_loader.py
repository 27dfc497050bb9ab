"""The native weight loader refuses bad files with a clear reason and never reads out of
bounds: its C tests (error codes, deterministic mutation fuzzing) also run in the
AddressSanitizer + UBSan build."""
from pathlib import Path

import pytest

from edge.model import arch
from edge.model.native_net import NativeNet
from edge.native import NativeError
from native_build import build, run_program

PNW = Path(__file__).resolve().parent / "fixtures" / "models" / "tiny.pnw"
TINY = {"dense": 32, "conv": 64, "kernels": (5, 3), "gru": 64, "gru_layers": 2, "gain_gru": 64,
        "strength_gru": 32}  # make_fixtures.TINY


@pytest.mark.slow
@pytest.mark.parametrize("program,args", [("test_model_fuzz", ["20000"]), ("test_model_loader", []),
                                          ("test_nnet_simd", [])])
def test_loader_and_engine_are_clean_under_asan(program, args):
    variant = build("host", asan=True)
    r = run_program("host", variant / "tests" / program, *args,
                    env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0", "UBSAN_OPTIONS": "halt_on_error=1"})
    assert r.returncode == 0, f"{program}: exit {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    assert "ERROR: AddressSanitizer" not in r.stderr and "runtime error" not in r.stderr


@pytest.mark.parametrize("cut,reason", [(100, "truncated"), (None, "checksum")])
def test_native_net_refuses_a_damaged_file_with_the_loaders_reason(cut, reason):
    data = bytearray(PNW.read_bytes())
    if cut:
        data = data[:-cut]
    else:
        data[len(data) // 2] ^= 0x40
    with pytest.raises(NativeError) as e:
        NativeNet(bytes(data))
    msg = str(e.value)
    assert reason in msg and "\n" not in msg


def test_native_net_refuses_a_missing_file():
    with pytest.raises(NativeError, match="cannot open"):
        NativeNet("no/such/file.pnw")


def test_model_info_reports_the_exported_network():
    info = NativeNet(PNW).info()
    # dense, 2 conv, 2 stacked GRU, gain GRU + dense, strength GRU + dense
    assert info["n_layers"] == 9 and info["n_weights"] == arch.count_weights(TINY)
