"""The DSP through the Python binding: the Kernel, analyze_pair for training, and the DSP
benchmark's figures."""
import numpy as np
import pytest

from edge.errors import EdgeError
from edge.kernel import Kernel, analyze_pair, latency_samples
from edge.native import HOP, NB_BANDS, NB_FEATURES
from native_build import build


@pytest.fixture(scope="module", autouse=True)
def host_library():
    build("host")


def _voice(seconds=1.0, f0=140.0, noise=0.02, seed=0):
    t = np.arange(int(48000 * seconds)) / 48000
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 40))
    return (0.1 * x + noise * np.random.default_rng(seed).standard_normal(len(t))).astype(np.float32)


def test_latency_is_30_ms():
    assert latency_samples() == 1440


def test_kernel_without_model_passes_audio_through_delayed_by_latency():
    x = _voice()
    with Kernel() as k:
        y = np.concatenate([k.process(h) for h in x.reshape(-1, HOP)])
        L = k.latency
    np.testing.assert_allclose(y[L:], x[: len(x) - L], atol=1e-5)


def test_process_returns_a_new_array_each_hop_or_fills_the_callers():
    x = _voice()
    with Kernel() as k:
        a = k.process(x[:HOP])
        b = k.process(x[HOP:2 * HOP])
        assert a is not b
        buf = np.zeros(HOP, np.float32)
        for h in x[2 * HOP:].reshape(-1, HOP):
            assert k.process(h, out=buf) is buf
    np.testing.assert_allclose(buf, x[-HOP - k.latency:-k.latency], atol=1e-5)


def test_features_are_finite_and_follow_level_and_pitch():
    quiet, loud = _voice(noise=0.0) * 0.01, _voice(noise=0.0)
    with Kernel() as k:
        fq = [k.analyze(h) for h in quiet.reshape(-1, HOP)][-1]
        k.reset()
        fl = [k.analyze(h) for h in loud.reshape(-1, HOP)][-1]
    assert fq.shape == (NB_FEATURES,) and np.all(np.isfinite(fl))
    # 40 dB louder: band log10-energies about 4 higher where the voice has energy
    assert np.median(fl[:10] - fq[:10]) == pytest.approx(4.0, abs=0.3)
    assert fl[68] * 800 == pytest.approx(48000 / 140, rel=0.02)  # pitch period feature
    assert fl[69] > 0.8
    assert np.mean(fl[34:44]) > 0.8  # harmonic low bands: high pitch coherence


def test_analyze_pair_features_are_the_streaming_kernel_features():
    noisy = _voice(noise=0.05, seed=1)
    clean = _voice(noise=0.0)
    feats, gains, strengths = analyze_pair(noisy, clean)
    assert feats.shape == (len(noisy) // HOP, NB_FEATURES)
    assert gains.shape == strengths.shape == (len(noisy) // HOP, NB_BANDS)
    with Kernel() as k:
        streamed = np.stack([k.analyze(h) for h in noisy.reshape(-1, HOP)])
    np.testing.assert_array_equal(feats, streamed)
    assert gains.min() >= 0 and gains.max() <= 1 and strengths.min() >= 0 and strengths.max() <= 1


def test_oracle_gains_are_one_for_a_clean_signal_and_low_for_noise_only():
    clean = _voice()
    _, g_same, _ = analyze_pair(clean, clean)
    np.testing.assert_allclose(g_same[3:], 1.0, atol=1e-3)
    noise = np.random.default_rng(2).standard_normal(len(clean)).astype(np.float32) * 0.1
    _, g_noise, _ = analyze_pair(noise, np.zeros_like(noise))
    assert g_noise[3:].max() < 0.01


def test_oracle_strengths_rise_on_a_voice_in_noise():
    clean = _voice(noise=0.0)
    noisy = clean + np.random.default_rng(3).standard_normal(len(clean)).astype(np.float32) * 0.1
    _, _, r = analyze_pair(noisy, clean)
    assert r[5:, :8].mean() > 0.3  # harmonics under noise: the comb is wanted


def test_oracle_targets_stay_finite_through_near_silence():
    """A mixture that fades to ~1e-20 (a room's tail, a crossfade) before speech starts again:
    the coherences there are too small to square, and the comb strength's root was 0/0, a NaN
    target that stopped a training run."""
    i = np.arange(4 * HOP)
    for seed in range(5):
        rng = np.random.default_rng(seed)
        sig = (0.3 * np.sin(0.031 * i) * np.sin(0.0007 * i) + 0.05 * (rng.random(len(i)) - 0.5)).astype(np.float32)
        noise = 0.3 * (rng.random(len(i)) - 0.5)
        scale = np.repeat(np.array([1e-20, 1e-20, 1e-20, 1e-4], np.float32), HOP)
        clean = (sig * scale).astype(np.float32)
        noisy = (clean + noise * scale * (i < 3 * HOP)).astype(np.float32)
        _, g, s = analyze_pair(noisy, clean)
        assert np.all((g >= 0) & (g <= 1)) and np.all((s >= 0) & (s <= 1))


def test_analyze_pair_refuses_mismatched_lengths():
    with pytest.raises(EdgeError, match="length"):
        analyze_pair(np.zeros(960, np.float32), np.zeros(961, np.float32))


def test_kernel_refuses_a_wrong_hop_size():
    with Kernel() as k, pytest.raises(EdgeError, match="480"):
        k.process(np.zeros(100, np.float32))


def test_kernel_refuses_gains_of_the_wrong_size():
    with Kernel() as k, pytest.raises(EdgeError, match="34 band values"):
        k.synthesize(np.ones(33, np.float32), np.zeros(34, np.float32))


def test_kernel_refuses_nan_gains():
    with Kernel() as k:
        k.analyze(np.zeros(HOP, np.float32))
        g = np.ones(NB_BANDS, np.float32)
        g[0] = np.nan
        with pytest.raises(EdgeError, match="invalid argument"):
            k.synthesize(g, np.zeros(NB_BANDS, np.float32))


def test_kernel_with_a_missing_model_file_says_why(tmp_path):
    with pytest.raises(EdgeError, match="nope.pnw"):
        Kernel(tmp_path / "nope.pnw")


def test_closed_kernel_refuses_calls():
    k = Kernel()
    k.close()
    with pytest.raises(EdgeError, match="closed"):
        k.analyze(np.zeros(HOP, np.float32))


def test_stats_report_pitch_and_time():
    with Kernel() as k:
        for h in _voice().reshape(-1, HOP):
            k.process(h)
        s = k.stats()
    assert s["frames"] == 100
    assert s["dsp_us"] > 0
    assert s["pitch_period"] == pytest.approx(48000 / 140, rel=0.02)


def test_bench_dsp_reports_per_frame_figures():
    from edge.bench.dsp import bench_dsp

    r = bench_dsp(seconds=1.5)
    t = r["dsp_us_per_frame"]
    assert 0 < t["p50"] <= t["p99"] <= t["max"]
    assert r["frames"] > 0 and r["simd"] in ("scalar", "avx2", "avxvnni", "neon", "dotprod")


def test_kernel_with_a_model_runs_the_network_every_hop():
    from native_build import ROOT

    x = _voice(noise=0.05)
    with Kernel(ROOT / "tests" / "fixtures" / "models" / "tiny.pnw") as k:
        y = np.concatenate([k.process(h) for h in x.reshape(-1, HOP)])
        s = k.stats()
    assert s["frames"] == len(x) // HOP and s["nnet_us"] > 0
    L = latency_samples()
    assert not np.allclose(y[L:], x[:-L], atol=1e-3)  # not a passthrough


def test_a_hop_with_nan_is_refused_and_the_stream_survives():
    x = _voice()
    with Kernel() as k:
        bad = np.zeros(HOP, np.float32)
        bad[7] = np.nan
        k.process(x[:HOP])
        with pytest.raises(EdgeError, match="invalid argument"):
            k.process(bad)
        assert np.all(np.isfinite(k.process(x[HOP:2 * HOP])))
