"""Training data: mixing, rooms, noise generators, corpus layouts, cached kernel shards."""
import numpy as np
import pytest
from scipy.io import wavfile

from edge.data import dataset, examples, noise, rooms, sources, tts
from edge.data.mix import SPEEDS, MixConfig, active_rms, mix, speed
from edge.errors import EdgeError
from edge.kernel import analyze_pair
from edge.model.loss import MASKED
from shared_data import SHARED_DATA

RATE = 48000
SHARED = str(SHARED_DATA)


def _speechlike(n):
    """Voiced-ish bursts with pauses: a 150 Hz harmonic series gated at 4 Hz."""
    t = np.arange(n) / RATE
    x = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 20))
    return (x * (np.sin(2 * np.pi * 4 * t) > 0)).astype(np.float32)


def test_mix_sets_the_requested_snr_on_active_speech():
    rng = np.random.default_rng(0)
    speech, n = _speechlike(RATE * 2), noise.coloured(RATE * 2, rng, 0.0)
    cfg = MixConfig(snr_db=(7.0, 7.0), p_clean_only=0, p_noise_only=0, tilt=False, p_lowcut=0, p_clip=0)
    noisy, target = mix(speech, n, None, rng, cfg)
    snr = 20 * np.log10(active_rms(target) / np.sqrt(np.mean((noisy - target) ** 2)))
    assert snr == pytest.approx(7.0, abs=0.05)
    assert np.max(np.abs(noisy)) < 1.0


def test_noise_only_mixtures_have_a_silent_target():
    rng = np.random.default_rng(1)
    noisy, target = mix(_speechlike(RATE), noise.hum(RATE, rng), None, rng,
                        MixConfig(p_noise_only=1.0))
    assert np.all(target == 0) and np.std(noisy) > 1e-4


def test_reverb_target_keeps_the_direct_path_and_drops_the_late_tail():
    rng = np.random.default_rng(2)
    rir = rooms.simulated_rir(rng)
    early = rooms.early_part(rir)
    assert len(early) <= int(np.argmax(np.abs(rir))) + int(0.05 * RATE)
    x = _speechlike(RATE)
    wet, target = rooms.reverberate(x, rir)
    assert np.sum((target - x) ** 2) < np.sum((wet - x) ** 2)
    assert np.corrcoef(target, x)[0, 1] > np.corrcoef(wet, x)[0, 1]


def test_coloured_noise_follows_its_slope():
    rng = np.random.default_rng(3)
    for slope, sign in ((-6.0, 1), (0.0, 0)):
        x = noise.coloured(RATE, rng, slope)
        p = np.abs(np.fft.rfft(x)) ** 2
        f = np.fft.rfftfreq(RATE, 1 / RATE)
        ratio_db = 10 * np.log10(p[(f > 500) & (f < 1000)].mean() / p[(f > 8000) & (f < 16000)].mean())
        assert ratio_db == pytest.approx(-slope * 4, abs=1.5)  # 4 octaves between the bands


def test_wind_is_gusty_rumble_far_below_the_voice_band():
    for seed in range(3):
        x = noise.wind(4 * RATE, np.random.default_rng(seed))
        p = np.abs(np.fft.rfft(x)) ** 2
        f = np.fft.rfftfreq(len(x), 1 / RATE)
        assert 10 * np.log10(p[f < 500].sum() / p[(f > 1000) & (f < 4000)].sum()) > 15
        frame_db = 10 * np.log10(np.mean(x.reshape(-1, 480) ** 2, axis=1))
        assert np.percentile(frame_db, 95) - np.percentile(frame_db, 5) > 20   # gusts
        assert np.sqrt(np.mean(x ** 2)) == pytest.approx(1.0, rel=0.01)


def test_recording_lowpass_cuts_between_11_and_22_khz():
    for seed in range(4):
        x = noise.recording_lowpass(noise.coloured(RATE, np.random.default_rng(seed), 0.0),
                                    np.random.default_rng(seed))
        p = np.abs(np.fft.rfft(x)) ** 2
        f = np.fft.rfftfreq(len(x), 1 / RATE)
        assert 10 * np.log10(p[f > 23500].mean() / p[(f > 2000) & (f < 10000)].mean()) < -35
        assert 10 * np.log10(p[(f > 9000) & (f < 10500)].mean() / p[(f > 2000) & (f < 8000)].mean()) > -1
        assert np.sqrt(np.mean(x ** 2)) == pytest.approx(1.0, rel=0.01)


def test_generated_noise_is_sometimes_low_passed_as_if_recorded():
    rng = np.random.default_rng(5)
    top = []
    for _ in range(20):
        p = np.abs(np.fft.rfft(noise.random_noise(RATE, rng, [], []))) ** 2
        f = np.fft.rfftfreq(RATE, 1 / RATE)
        top.append(10 * np.log10(p[f > 23000].mean() / p[(f > 1000) & (f < 10000)].mean()))
    assert min(top) < -35 and max(top) > -15   # some cut, some fullband


def test_every_generator_gives_finite_unit_level_noise():
    rng = np.random.default_rng(4)
    speech = [_speechlike(RATE)]
    for _ in range(12):
        x = noise.random_noise(RATE, rng, speech, [])
        assert np.all(np.isfinite(x)) and np.sqrt(np.mean(x ** 2)) == pytest.approx(1.0, rel=0.01)


def _wav(path, x, rate=16000):
    path.parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(path, rate, (np.asarray(x) * 20000).astype(np.int16))


def test_corpus_layouts_are_recognised(tmp_path):
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal(1600) * 0.1, rng.standard_normal(1600) * 0.1
    _wav(tmp_path / "plain/clean/s1.wav", a)
    _wav(tmp_path / "plain/noise/n1.wav", b)
    _wav(tmp_path / "plain/rir/r1.wav", b[:100])
    _wav(tmp_path / "dns/datasets/clean/x/s1.wav", a)
    _wav(tmp_path / "dns/datasets/noise/n1.wav", b)
    _wav(tmp_path / "dns/datasets/impulse_responses/r.wav", b)
    _wav(tmp_path / "vb/clean_trainset_28spk_wav/p1.wav", a)
    _wav(tmp_path / "vb/noisy_trainset_28spk_wav/p1.wav", a + b)
    _wav(tmp_path / "vb/DEMAND/DKITCHEN/ch01.wav", b)
    plain, dns, vb = (sources.corpus(tmp_path / d) for d in ("plain", "dns", "vb"))
    assert (len(plain.speech), len(plain.noise), len(plain.rirs)) == (1, 1, 1)
    assert (len(dns.speech), len(dns.noise), len(dns.rirs)) == (1, 1, 1)
    assert len(vb.speech) == 1 and len(vb.noise) == 2
    pair = next(n for n in vb.noise if isinstance(n, tuple))
    diff = examples._load(pair)  # noisy - clean, resampled to 48 kHz
    assert len(diff) == 3 * 1600
    assert np.std(diff) == pytest.approx(np.std(b) * 20000 / 32768, rel=0.05)


def test_corpus_without_speech_is_refused_with_the_layouts(tmp_path):
    (tmp_path / "noise").mkdir()
    with pytest.raises(EdgeError, match="clean_trainset"):
        sources.corpus(tmp_path)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    out = tmp_path_factory.mktemp("shards")
    src = sources.builtin(SHARED, None)
    cfg = MixConfig(seconds=1.0)
    return src, cfg, out, dataset.build(src, out, 3, cfg, per_shard=2, workers=1, progress=False)


def test_shards_hold_kernel_features_and_targets_in_range(shards):
    src, cfg, out, paths = shards
    f, g, s = dataset.load_shards(paths)
    assert f.shape == (4, 100, 70) and g.shape == (4, 100, 34) and s.shape == (4, 100, 34)
    for t in (g, s):
        assert np.all(((t >= 0) & (t <= 1)) | (t == MASKED))
    noisy, target, band_hz = examples.make_example(src, cfg, np.random.default_rng([0, 0]))
    f0, g0, _ = analyze_pair(noisy, target)  # the shard is exactly the kernel's output
    keep = g[0] != MASKED
    assert np.allclose(f[0], f0, atol=2e-2) and np.allclose(g[0][keep], g0[keep], atol=2e-3)
    # every band the example's speech holds counts, but where the noisy band is under the floor
    at_floor = np.zeros_like(keep)
    at_floor[2:] = f0[:-2, :34] < dataset.FLOOR_FEATURE
    assert not keep[:2].any() and (keep[2:, :20] | at_floor[2:, :20]).all()
    assert band_hz >= RATE / 2 or not keep[:, -1].any()


def test_shards_are_cached_and_only_missing_ones_computed(shards):
    src, cfg, out, paths = shards
    stamps = [p.stat().st_mtime_ns for p in paths]
    more = dataset.build(src, out, 5, cfg, per_shard=2, workers=1, progress=False)
    assert more[:2] == paths and [p.stat().st_mtime_ns for p in paths] == stamps
    assert len(more) == 3 and more[2].is_file()


@pytest.fixture
def loaded(monkeypatch):
    """Corpus reads replaced by a second of random audio at the rate the name says ("...48k"
    is a 48 kHz recording, anything else 16 kHz); the items asked for, in order."""
    items = []

    def rate(item):
        return 48000 if str(item).endswith("48k") else 16000

    def fake_read(item):
        items.append(item)
        return np.random.default_rng(len(items)).standard_normal(RATE).astype(np.float32) * 0.1, rate(item)

    monkeypatch.setattr(examples, "_read", fake_read)
    monkeypatch.setattr(examples, "_rate", rate)
    return items


@pytest.mark.parametrize("share, expect", [(1.0, {"recorded"}), (0.0, {"tts"}), (0.5, {"recorded", "tts"})])
def test_recorded_speech_gets_its_share_of_examples_beside_tts(loaded, share, expect):
    src = sources.Sources(speech=["recorded"], synthetic=["tts"])
    rng, target_voices, babble_voices = np.random.default_rng(0), set(), set()
    for _ in range(12):
        loaded.clear()
        examples.make_example(src, MixConfig(seconds=1.0, p_recorded=share, p_reverb=0.0), rng)
        target_voices |= set(loaded[:6])  # the target's six utterances load first, babble after
        babble_voices |= set(loaded[6:])
    assert target_voices == expect
    assert babble_voices == expect  # babble talkers come from the target's pool, its band


def test_a_band_limited_recorded_noise_limits_the_band_of_fullband_speech(loaded):
    src = sources.Sources(speech=["d48k"], noise=[f"noise{i}" for i in range(10)])
    rng, seen = np.random.default_rng(3), set()
    for _ in range(40):
        loaded.clear()
        _, target, band_hz = examples.make_example(src, MixConfig(seconds=0.5, p_reverb=0.0, p_speed=0.0, p_narrowband=0.0), rng)
        recorded = any(str(x).startswith("noise") for x in loaded)  # 16 kHz noise
        assert band_hz == (8000 if recorded else 24000)
        seen.add(recorded)
    assert seen == {True, False}


def test_one_recorded_noise_clip_does_not_outweigh_the_generators(loaded):
    def share_of_recorded_noise(n_files):
        src = sources.Sources(speech=["speech"], noise=[f"noise{i}" for i in range(n_files)])
        rng, hits = np.random.default_rng(1), 0
        for _ in range(150):
            loaded.clear()
            examples.make_example(src, MixConfig(seconds=0.5, p_reverb=0.0), rng)
            hits += any(str(x).startswith("noise") for x in loaded)
        return hits / 150

    assert 0.03 < share_of_recorded_noise(1) < 0.2    # a tenth for a single clip
    assert 0.38 < share_of_recorded_noise(10) < 0.62  # half once there are several


def test_residual_echo_is_the_far_end_through_a_nonlinear_speaker_and_the_room():
    rng = np.random.default_rng(4)
    echo = noise.residual_echo(_speechlike(RATE), rooms.simulated_rir(rng), rng)
    assert np.sqrt(np.mean(echo ** 2)) == pytest.approx(1.0, rel=0.01)
    spec, hz = np.abs(np.fft.rfft(echo)) ** 2, np.fft.rfftfreq(RATE, 1 / RATE)
    assert spec[hz < 100].sum() < 0.01 * spec.sum()  # the small loudspeaker's high-pass
    # a 1 kHz tone comes back with odd harmonics: a distortion no linear canceller removes
    tone = np.sin(2 * np.pi * 1000 * np.arange(RATE) / RATE).astype(np.float32)
    spec = np.abs(np.fft.rfft(noise.residual_echo(tone, np.ones(1, np.float32), rng))) ** 2
    assert spec[3000] > 1e-4 * spec[1000]


def test_speakerphone_mixtures_put_the_residual_echo_under_the_near_end_and_silence_it(loaded):
    src = sources.Sources(speech=["speech48k"])
    cfg = MixConfig(seconds=2.0, p_echo=1.0, p_noise_only=0.0, p_clean_only=0.0, p_reverb=0.0,
                    tilt=False, p_lowcut=0.0, p_clip=0.0, p_narrowband=0.0)
    for seed in range(4):
        noisy, target, _ = examples.make_example(src, cfg, np.random.default_rng(seed))
        frames = np.abs(target[:len(target) // 480 * 480]).reshape(-1, 480).max(axis=1)
        assert 0.2 <= np.mean(frames == 0) <= 0.6  # the near end silent while the far end talks
        residual = noisy - target
        under = 20 * np.log10(active_rms(target) / np.sqrt(np.mean(residual ** 2)))
        assert 8.0 < under < 32.0
        assert np.std(residual[frames.repeat(480)[:len(residual)] == 0]) > 0  # echo in the pause


def test_dev_set_is_never_a_training_source():
    src = sources.builtin(SHARED, None)
    used = src.speech + src.noise + src.synthetic + src.rirs
    assert src.speech and src.noise and not any("/dev/" in str(p) for p in used)
    assert not any(p.name.startswith("noise_") for p in src.noise)  # real48k's noise is mixed into dev/


def test_builtin_training_material_is_the_real_recordings_without_tts():
    src = sources.builtin(SHARED, None)
    assert not src.synthetic and all("/train/" in str(p) or "/real48k/" in str(p) for p in src.speech)
    assert len(src.speech) > 300 and len(src.noise) > 100 and len(src.rirs) >= 2


def test_validation_split_shares_no_speech_or_noise_recording():
    trn, val = sources.split(sources.builtin(SHARED, None))
    for kind in ("speech", "noise"):
        a, b = getattr(trn, kind), getattr(val, kind)
        assert b and not set(a) & set(b), kind
        assert 0.05 < len(b) / (len(a) + len(b)) < 0.15, kind  # about a tenth
    assert sources.split(sources.builtin(SHARED, None)) == (trn, val)  # the same split every run


def test_fullband_recordings_speak_their_share_and_set_the_band(loaded):
    src = sources.Sources(speech=["a16k", "b16k", "c16k", "d48k"])
    rng, bands = np.random.default_rng(2), []
    for _ in range(200):
        loaded.clear()
        _, target, band_hz = examples.make_example(
            src, MixConfig(seconds=0.5, p_reverb=0.0, p_fullband=0.4, p_speed=0.0, p_narrowband=0.0), rng)
        talkers = set(loaded[:6])
        assert band_hz == (RATE / 2 if not target.any() else 24000 if talkers == {"d48k"} else 8000)
        bands.append(band_hz)
    assert 0.3 < np.mean(np.array(bands) == 24000) < 0.55  # 40% fullband (plus noise-only)


def test_speed_moves_pitch_and_band_together(loaded):
    t = np.arange(RATE) / RATE
    tone = np.sin(2 * np.pi * 200 * t).astype(np.float32)
    for factor in SPEEDS:
        y = speed(tone, factor)
        assert len(y) == pytest.approx(RATE / factor, abs=1)
        peak = np.argmax(np.abs(np.fft.rfft(y))) * RATE / len(y)
        assert peak == pytest.approx(200 * factor, abs=2)
    src = sources.Sources(speech=["a16k"])
    rng, bands = np.random.default_rng(6), set()
    for _ in range(40):
        _, target, band_hz = examples.make_example(src, MixConfig(seconds=0.5, p_reverb=0.0, p_speed=0.5, p_narrowband=0.0), rng)
        if target.any():
            bands.add(band_hz)
    assert bands == {8000.0} | {8000.0 * float(f) for f in SPEEDS}  # a 16 kHz talker, sped or not


def test_targets_above_an_examples_band_are_masked_for_the_loss(tmp_path):
    from edge.kernel import band_centres_hz
    z = np.full((2, 5, 34), 0.5, np.float16)
    np.savez(tmp_path / "s.npz", features=np.zeros((2, 5, 70), np.float16), gains=z, strengths=z,
             band_hz=np.array([8000, 24000], np.float32))
    _, g, s = dataset.load_shards([tmp_path / "s.npz"])
    g, s = g[:, 2:], s[:, 2:]  # the first two rows are frames before the first
    upper = np.append(band_centres_hz()[1:], RATE / 2)
    assert np.all(g[1] == 0.5) and np.all(s[1] == 0.5)  # fullband: every band counts
    assert np.all(g[0][:, upper <= 7700] == 0.5) and np.all(g[0][:, upper > 8000] == MASKED)
    assert np.all(s[0][:, upper > 8000] == MASKED)


def test_targets_of_bands_under_the_feature_floor_are_masked(tmp_path):
    f = np.zeros((1, 6, 70), np.float16)
    f[0, 1, 3] = np.log10(1e-5)          # band 3 of frame 1 silent: row 1 + 2 holds its target
    f[0, 2, 4] = np.log10(3e-5)          # band 4 of frame 2 just above the floor: kept
    z = np.full((1, 6, 34), 0.5, np.float16)
    np.savez(tmp_path / "s.npz", features=f, gains=z, strengths=z, band_hz=np.array([24000], np.float32))
    _, g, s = dataset.load_shards([tmp_path / "s.npz"])
    assert np.all(g[0, :2] == MASKED) and np.all(s[0, :2] == MASKED)
    masked = np.argwhere(g[0, 2:] == MASKED)
    assert masked.tolist() == [[1, 3]] and s[0, 3, 3] == MASKED and g[0, 4, 4] == 0.5


def test_masked_bands_do_not_count_in_the_loss():
    from keras import ops
    from edge.model.loss import gain_loss, strength_loss
    pred = np.array([[0.5, 0.9, 0.1]], np.float32)
    full = np.array([[0.5, 0.0, 0.1]], np.float32)
    masked = np.array([[0.5, MASKED, 0.1]], np.float32)
    for loss in (gain_loss, strength_loss):
        assert float(ops.convert_to_numpy(loss(full, pred))[0]) > 0.01
        assert float(ops.convert_to_numpy(loss(masked, pred))[0]) == pytest.approx(0, abs=1e-6)


def test_clipping_reaches_the_input_not_the_target_and_low_cut_removes_rumble():
    rng = np.random.default_rng(6)
    speech, n = _speechlike(RATE), noise.coloured(RATE, rng, 0.0)
    cfg = MixConfig(p_clean_only=0, p_noise_only=0, tilt=False, p_lowcut=1.0, p_clip=1.0)
    noisy, target = mix(speech, n, None, rng, cfg)
    peak = np.max(np.abs(noisy))
    assert 0.001 <= np.mean(np.abs(noisy) >= peak * 0.9999) <= 0.011  # the top 0.1-1% clipped
    assert np.max(np.abs(target)) > peak  # the target keeps its peaks
    from scipy.signal import freqz
    from edge.data.mix import low_cut
    for _ in range(10):  # every corner (40-250 Hz) takes 20 Hz down by 10 dB or more, not 1 kHz
        _, h = freqz(*low_cut(rng), worN=[20.0, 1000.0], fs=RATE)
        assert 20 * np.log10(abs(h[0])) < -10 and abs(20 * np.log10(abs(h[1]))) < 0.5


@pytest.mark.skipif(not tts.available(), reason="needs apt espeak-ng or festival")
def test_tts_writes_speech_and_reuses_it(tmp_path):
    paths = tts.generate(tmp_path, 2, seed=1)
    x = [examples._load(p) for p in paths]
    assert all(len(a) > RATE // 2 and np.std(a) > 1e-3 for a in x)
    stamp = paths[0].stat().st_mtime_ns
    assert tts.generate(tmp_path, 2, seed=1) == paths and paths[0].stat().st_mtime_ns == stamp
