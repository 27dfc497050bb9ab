"""edge denoise on the files users have: every PCM depth and float, WAVE_FORMAT_EXTENSIBLE, FLAC,
OGG, stereo, rates the kernel does not take; folders, pipes and in-place. Each output keeps the
input's format, subtype, rate, channels and length and is enhanced (neither silence nor a copy)."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from edge import denoise
from edge.audio.pcm import to_s16
from native_build import build

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
N = 48000 // 2          # half a second: 50 hops, quick


@pytest.fixture(scope="module", autouse=True)
def host_library():
    build("host")


@pytest.fixture(scope="module")
def clip():
    x, rate = sf.read(EXAMPLES / "noisy.wav", dtype="float32")
    assert rate == 48000
    return x[48000: 48000 + N]          # speech in babble


def edge(*args, stdin: bytes | None = None, text=True):
    r = subprocess.run([sys.executable, "-m", "edge.cli", "denoise", *map(str, args)],
                       input=stdin, capture_output=True, cwd=ROOT, timeout=120)
    if text:
        r.stdout = r.stdout.decode(errors="replace")
    r.stderr = r.stderr.decode(errors="replace")
    return r


def _enhanced(x: np.ndarray, y: np.ndarray) -> None:
    """y is x enhanced: as long, not silence, not a copy, quieter (noise taken out)."""
    assert y.shape == x.shape
    ex, ey = np.mean(x ** 2), np.mean(y ** 2)
    assert ey > 1e-3 * ex                                      # not silence
    assert np.mean((y - x) ** 2) > 0.01 * ex                   # not a copy
    assert 10 * np.log10(ex / ey) > 1.0                        # the babble partly removed


@pytest.mark.parametrize("fmt, subtype, name", [
    ("WAV", "PCM_16", "in.wav"),
    ("WAV", "PCM_24", "in.wav"),
    ("WAV", "PCM_32", "in.wav"),
    ("WAV", "FLOAT", "in.wav"),
    ("WAVEX", "PCM_16", "in.wav"),         # WAVE_FORMAT_EXTENSIBLE, as sox writes 24-bit
    ("WAVEX", "PCM_24", "in.wav"),
    ("FLAC", "PCM_16", "in.flac"),
    ("FLAC", "PCM_24", "in.flac"),
    ("OGG", "VORBIS", "in.ogg"),
])
def test_the_output_keeps_the_inputs_format_and_subtype_and_is_enhanced(tmp_path, clip, fmt, subtype, name):
    src, out = tmp_path / name, tmp_path / ("out" + Path(name).suffix)
    sf.write(src, clip, 48000, format=fmt, subtype=subtype)
    r = edge(src, out)
    assert r.returncode == 0, r.stderr
    i = sf.info(out)
    assert (i.format, i.subtype, i.samplerate, i.channels, i.frames) == (fmt, subtype, 48000, 1, N)
    x, _ = sf.read(src, dtype="float32")
    y, _ = sf.read(out, dtype="float32")
    _enhanced(x, y)
    if fmt != "OGG":      # lossless: the file holds the enhanced signal at the input's depth
        want = denoise.denoise(x)
        tol = {"PCM_16": 2 ** -15, "PCM_24": 2 ** -23, "PCM_32": 2 ** -24, "FLOAT": 1e-7}[subtype]
        assert np.max(np.abs(y - np.clip(want, -1, 1 - tol))) <= tol


def test_a_16_bit_wav_gives_what_the_library_gives_rounded_to_16_bits(tmp_path, clip):
    """`edge denoise in.wav out.wav` as the README runs it: the same samples as before."""
    sf.write(tmp_path / "in.wav", clip, 48000, subtype="PCM_16")
    assert edge(tmp_path / "in.wav", tmp_path / "out.wav").returncode == 0
    x, _ = sf.read(tmp_path / "in.wav", dtype="float32")
    y, _ = sf.read(tmp_path / "out.wav", dtype="int16")
    assert np.array_equal(y, to_s16(denoise.denoise(x)))
    assert (tmp_path / "out.wav").read_bytes()[:4] == b"RIFF" and sf.info(tmp_path / "out.wav").format == "WAV"


def test_24_bit_pcm_is_written_at_24_bits_not_16(tmp_path, clip):
    sf.write(tmp_path / "in.wav", clip, 48000, subtype="PCM_24")
    assert edge(tmp_path / "in.wav", tmp_path / "out.wav").returncode == 0
    v = sf.read(tmp_path / "out.wav", dtype="int32")[0] >> 8      # the 24-bit values
    assert np.count_nonzero(v & 0xFF) > N // 2                     # low byte used


def test_extensible_header_stays_extensible(tmp_path, clip):
    sf.write(tmp_path / "in.wav", clip, 48000, format="WAVEX", subtype="PCM_16")
    assert edge(tmp_path / "in.wav", tmp_path / "out.wav").returncode == 0
    head = (tmp_path / "out.wav").read_bytes()[:64]
    assert head[20:22] == b"\xfe\xff"                              # WAVE_FORMAT_EXTENSIBLE


def test_each_channel_is_enhanced_with_its_own_state_never_mixed(tmp_path, clip):
    other = np.roll(clip, N // 3) * 0.5
    st = np.stack([clip, other], axis=1)
    sf.write(tmp_path / "st.wav", st, 48000, subtype="PCM_24")
    assert edge(tmp_path / "st.wav", tmp_path / "out.wav").returncode == 0
    x, _ = sf.read(tmp_path / "st.wav", dtype="float32")
    y, _ = sf.read(tmp_path / "out.wav", dtype="float32")
    assert sf.info(tmp_path / "out.wav").subtype == "PCM_24" and y.shape == (N, 2)
    for c in range(2):                      # each as if it were alone in a mono file
        assert np.max(np.abs(y[:, c] - denoise.denoise(x[:, c]))) <= 2 ** -23
        _enhanced(x[:, c], y[:, c])


def test_channel_n_enhances_that_channel_alone_into_a_mono_file(tmp_path, clip):
    st = np.stack([clip, np.roll(clip, 999)], axis=1)
    sf.write(tmp_path / "st.wav", st, 48000, subtype="PCM_16")
    assert edge(tmp_path / "st.wav", tmp_path / "one.wav", "--channel", 1).returncode == 0
    x, _ = sf.read(tmp_path / "st.wav", dtype="float32")
    y, _ = sf.read(tmp_path / "one.wav", dtype="int16")
    assert y.ndim == 1 and np.array_equal(y, to_s16(denoise.denoise(x[:, 1])))


@pytest.mark.parametrize("rate, kernel", [(22050, 24000), (96000, 48000)])
def test_a_rate_the_kernel_does_not_take_is_resampled_there_and_back_and_said(tmp_path, clip, rate, kernel):
    x = resample_poly(clip, rate // 50 if rate == 96000 else 147, 960 if rate == 96000 else 320)
    x = x.astype(np.float32)
    sf.write(tmp_path / "in.wav", x, rate, subtype="PCM_16")
    r = edge(tmp_path / "in.wav", tmp_path / "out.wav")
    assert r.returncode == 0, r.stderr
    assert f"{rate} Hz is resampled to {kernel} Hz for the kernel and back" in r.stderr
    i = sf.info(tmp_path / "out.wav")
    assert (i.samplerate, i.frames, i.subtype) == (rate, len(x), "PCM_16")
    xs, _ = sf.read(tmp_path / "in.wav", dtype="float32")
    y, _ = sf.read(tmp_path / "out.wav", dtype="float32")
    _enhanced(xs, y)
    # aligned: the enhanced speech lines up with the input's (no resampler delay left)
    c = np.correlate(y[:4000], xs[:4000], "full")
    assert abs(int(np.argmax(c)) - 3999) <= 1


def test_subtype_overrides_the_inputs(tmp_path, clip):
    sf.write(tmp_path / "in.wav", clip, 48000, subtype="PCM_16")
    assert edge(tmp_path / "in.wav", tmp_path / "out.wav", "--subtype", "float").returncode == 0
    assert sf.info(tmp_path / "out.wav").subtype == "FLOAT"


def test_the_output_names_extension_picks_its_format(tmp_path, clip):
    sf.write(tmp_path / "in.wav", clip, 48000, subtype="PCM_24")
    assert edge(tmp_path / "in.wav", tmp_path / "out.flac").returncode == 0
    i = sf.info(tmp_path / "out.flac")
    assert (i.format, i.subtype) == ("FLAC", "PCM_24")


def test_stdin_to_stdout_is_a_wav_stream(tmp_path, clip):
    sf.write(tmp_path / "in.wav", clip, 48000, subtype="PCM_24")
    r = edge("-", "-", stdin=(tmp_path / "in.wav").read_bytes(), text=False)
    assert r.returncode == 0, r.stderr
    (tmp_path / "out.wav").write_bytes(r.stdout)
    i = sf.info(tmp_path / "out.wav")
    assert (i.format, i.subtype, i.frames) == ("WAV", "PCM_24", N)
    _enhanced(clip, sf.read(tmp_path / "out.wav", dtype="float32")[0])


def test_stdin_takes_a_stream_whose_header_has_no_length(tmp_path, clip):
    """What sox writes into a pipe: the RIFF and data sizes are placeholders."""
    sf.write(tmp_path / "in.wav", clip, 48000, subtype="PCM_16")
    data = bytearray((tmp_path / "in.wav").read_bytes())
    data[4:8] = data[40:44] = b"\x00\xf0\xff\x7f"
    r = edge("-", tmp_path / "out.wav", stdin=bytes(data))
    assert r.returncode == 0, r.stderr
    assert sf.info(tmp_path / "out.wav").frames == N


def test_a_folder_and_files_into_an_output_folder_with_progress_and_a_summary(tmp_path, clip):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    sf.write(src / "a.wav", clip, 48000, subtype="PCM_16")
    sf.write(src / "sub" / "b.flac", clip, 48000, subtype="PCM_24")
    (src / "notes.txt").write_text("not audio")
    sf.write(tmp_path / "c.wav", np.stack([clip, clip], 1), 48000, subtype="FLOAT")
    r = edge(src, tmp_path / "c.wav", "-o", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == \
        ["a.wav", "c.wav", "sub/b.flac"]
    assert sf.info(out / "sub" / "b.flac").subtype == "PCM_24" and sf.info(out / "c.wav").channels == 2
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 4 and lines[-1].startswith("3 files, 1.50 s of audio in ")
    assert any(f"{src / 'sub' / 'b.flac'} -> {out / 'sub' / 'b.flac'}: 0.50 s, 48000 Hz, 1 ch, FLAC PCM_24" in l
               for l in lines)
    assert "3/3" in r.stderr                               # the bar (tqdm) or the plain lines
    for name in ("a.wav", "sub/b.flac"):
        _enhanced(sf.read(src / name, dtype="float32")[0], sf.read(out / name, dtype="float32")[0])


def test_one_file_says_1_file(tmp_path, clip):
    sf.write(tmp_path / "a.wav", clip, 48000)
    r = edge(tmp_path / "a.wav", "-o", tmp_path / "out")
    assert r.returncode == 0 and r.stdout.strip().splitlines()[-1].startswith("1 file, ")


def test_an_output_that_is_its_input_is_refused_unless_in_place(tmp_path, clip):
    sf.write(tmp_path / "a.wav", clip, 48000, subtype="PCM_24")
    before = (tmp_path / "a.wav").read_bytes()
    for args in ([tmp_path / "a.wav", tmp_path / "a.wav"], [tmp_path / "a.wav", "-o", tmp_path],
                 [tmp_path, "-o", tmp_path]):
        r = edge(*args)
        assert r.returncode == 2 and "is the input; it would be overwritten (--in-place" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
        assert (tmp_path / "a.wav").read_bytes() == before
    r = edge(tmp_path / "a.wav", tmp_path / "a.wav", "--in-place")
    assert r.returncode == 0, r.stderr
    y, _ = sf.read(tmp_path / "a.wav", dtype="float32")
    assert sf.info(tmp_path / "a.wav").subtype == "PCM_24"
    _enhanced(clip, y)
    assert [p.name for p in tmp_path.iterdir()] == ["a.wav"]          # no temporary left


def test_without_soundfile_pcm_wav_still_works_and_other_formats_name_it(tmp_path, clip):
    """A board's release runs on the board's python3 with numpy alone: the wave module reads
    and writes PCM WAV of 16, 24 and 32 bits; anything else says what to install."""
    run = ("import sys; sys.modules['soundfile'] = None; from edge.cli import main; "
           "sys.exit(main(sys.argv[1:]))")

    def bare(*args):
        return subprocess.run([sys.executable, "-c", run, "denoise", *map(str, args)],
                              capture_output=True, text=True, cwd=ROOT, timeout=120)
    for subtype in ("PCM_16", "PCM_24"):
        sf.write(tmp_path / "in.wav", np.stack([clip, clip[::-1]], 1), 48000, subtype=subtype)
        r = bare(tmp_path / "in.wav", tmp_path / "out.wav")
        assert r.returncode == 0, r.stderr
        i = sf.info(tmp_path / "out.wav")
        assert (i.subtype, i.channels, i.frames) == (subtype, 2, N)
        want, got = denoise.denoise(clip), sf.read(tmp_path / "out.wav", dtype="float32")[0][:, 0]
        assert np.max(np.abs(got - want)) <= 2 ** -15
    sf.write(tmp_path / "in.flac", clip, 48000)
    r = bare(tmp_path / "in.flac", tmp_path / "out.flac")
    assert r.returncode == 2 and "needs soundfile" in r.stderr and "python3-soundfile" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
