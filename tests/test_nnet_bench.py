"""edge bench (models): the figures' keys and their sanity, on short runs (figures are printed
by `edge bench --json`, never asserted against targets here: the machines are shared)."""
import json

import pytest

from edge.bench.models import bench_models, random_pnw, read_gbps
from edge.cli import main
from edge.model import arch
from edge.model.native_net import NativeNet


def test_random_model_has_the_configs_weight_count():
    for name in ("small", "paper"):
        assert NativeNet(random_pnw(name)).info()["n_weights"] == arch.count_weights(name)


def test_bench_models_reports_network_and_frame_times_per_model():
    r = bench_models(seconds=0.8, configs=("small",))
    m = r["models"]["small"]
    for key in ("network_us", "frame_us"):
        assert set(m[key]) >= {"mean", "p50", "p99"}
        assert 0 < m[key]["p50"] <= m[key]["p99"]
    assert m["frame_us"]["mean"] > m["network_us"]["mean"]  # the frame includes the network
    assert m["weights"] == arch.count_weights("small")
    assert m["gmac_per_s"] == m["weights"] / m["network_us"]["p50"] / 1e3
    assert r["peak_rss_mb"] > 0 and r["simd"] in r["simd_available"].split(",")


def test_each_model_is_set_against_the_lower_of_its_two_limits():
    r = bench_models(seconds=0.8, configs=("small",))
    m = r["models"]["small"]
    lim = m["limits"]
    assert lim["weight_bytes"] == len(random_pnw("small"))  # the file's bytes are read per frame
    assert lim["l1_peak_gmac_per_s"] > 0 and lim["read_gbps"] > 0
    # MACs per frame over the time one frame's weight bytes take at the measured bandwidth
    assert lim["stream_gmac_per_s"] == pytest.approx(m["weights"] / lim["weight_bytes"] * lim["read_gbps"])
    lower = min(lim["l1_peak_gmac_per_s"], lim["stream_gmac_per_s"])
    assert lim["bound"] == ("memory" if lower == lim["stream_gmac_per_s"] else "compute")
    assert m["of_limit"] == pytest.approx(m["gmac_per_s"] / lower)


def test_int4_entries_are_timed_beside_int8_in_the_same_run():
    r = bench_models(seconds=0.8, configs=("small",), weights=("int8", "int4"))
    m8, m4 = r["models"]["small"], r["models"]["small-int4"]
    assert (m8["encoding"], m4["encoding"]) == ("int8", "int4") and m4["weights"] == m8["weights"]
    assert m4["limits"]["weight_bytes"] == len(random_pnw("small", weights="int4"))
    assert m4["limits"]["weight_bytes"] < 0.6 * m8["limits"]["weight_bytes"]  # 4.25 bits a weight
    assert m4["limits"]["l1_peak_gmac_per_s"] > 0 and m4["network_us"]["p50"] > 0


@pytest.mark.parametrize("nbytes, seconds", [(16, 0.1), (1 << 20, 0.0), (1 << 20, float("nan"))])
def test_read_bandwidth_refuses_a_buffer_too_small_or_no_time(nbytes, seconds):
    from edge.native import NativeError
    with pytest.raises(NativeError, match="pn_bench_read_bandwidth"):
        read_gbps(nbytes, seconds)


def test_edge_bench_json_has_both_model_sizes(capsys):
    assert main(["bench", "--json", "--seconds", "0.6"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["models"]) == {"small", "paper"}
    assert out["models"]["paper"]["weights"] > 6 * out["models"]["small"]["weights"]
