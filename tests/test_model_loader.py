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


def _with_header(field_offset: int, value: int) -> bytes:
    """The fixture with one u32 header field replaced and its checksum made right again."""
    import struct
    import zlib
    data = bytearray(PNW.read_bytes())
    struct.pack_into("<I", data, field_offset, value)
    struct.pack_into("<I", data, 24, zlib.crc32(bytes(data[28:])))
    return bytes(data)


@pytest.mark.parametrize("offset,value,says", [(72, 2, "feature version 2"), (76, 16000, "16000 Hz")])
def test_denoise_refuses_a_model_trained_for_other_features_in_one_line(tmp_path, capsys, offset, value, says):
    from edge.cli import main
    from edge.wavio import write_wav
    import numpy as np
    model = tmp_path / "other.pnw"
    model.write_bytes(_with_header(offset, value))
    write_wav(tmp_path / "in.wav", np.zeros(48000, np.float32))
    assert main(["denoise", str(tmp_path / "in.wav"), str(tmp_path / "out.wav"), "--model", str(model)]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and "this kernel computes version 1" in err and "\n" not in err
    assert not (tmp_path / "out.wav").exists()


def test_int4_matrix_whose_multipliers_could_overflow_is_refused():
    """A conv over 16 frames of 600 inputs: 9600 columns, 300 blocks of 32. The exporter keeps
    each row's multipliers within PN_Q4_MUL_SUM_MAX, so the file loads; raised to 255 in one
    row (a sum of 76500, where a block product times it could leave int32) it is refused."""
    import struct
    import zlib

    from edge.model import pnw
    from edge.bench.models import random_pnw
    wide = {"dense": 600, "conv": 16, "kernels": (16, 2), "gru": 16, "gru_layers": 1,
            "gain_gru": 16, "strength_gru": 8}
    data = bytearray(random_pnw(wide, weights="int4"))
    assert pnw.describe(bytes(data))["encodings"][:2] == ["int8", "int4"]  # dense_in, conv1
    assert NativeNet(bytes(data)).info()["n_weights"] == arch.count_weights(wide)
    n_layers = struct.unpack_from("<I", data, 16)[0]
    dense_in = 600 * 72 + 8 * 600                  # int8, 70 columns padded to 72
    muls = 80 + 40 * n_layers + dense_in + 16 * 9600 // 2
    for b in range(300):                           # row 0's multiplier in every block
        data[muls + b * 8] = 255
    struct.pack_into("<I", data, 24, zlib.crc32(bytes(data[28:])))
    with pytest.raises(NativeError, match="int4 block multipliers too large"):
        NativeNet(bytes(data))
