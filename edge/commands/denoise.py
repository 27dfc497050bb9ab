"""edge denoise: enhance audio files, folders or a pipe with the shipped model, another model,
or the oracle."""
from __future__ import annotations

import sys

ORACLE_MODES = ("band", "band+comb", "band+comb+postfilter")


def add_parser(sub):
    from edge.native import SAMPLE_RATE, rates_text

    p = sub.add_parser(
        "denoise", help="enhance audio files, folders or a pipe (any format libsndfile reads)",
        usage="edge denoise [options] IN OUT\n       edge denoise [options] IN... -o DIR",
        description="Enhance IN into OUT (same length, rate, channels, format and subtype; delay "
                    "compensated), or each input file and each audio file in each input folder "
                    "into DIR. Reads WAV of any PCM depth or float (also WAVE_FORMAT_EXTENSIBLE), "
                    "FLAC, OGG and the other formats of libsndfile; `-` is stdin or stdout. The "
                    f"kernel runs at {rates_text()} Hz (the others than {SAMPLE_RATE} Hz converted "
                    f"inside it); a file at another rate is resampled to the next of those above it "
                    f"(or to the highest) and back, which is said on stderr. Each "
                    "channel is enhanced on its own; --channel N enhances one into a mono file. "
                    "With --oracle, use the ideal gains and strengths computed from CLEAN instead "
                    "of the network: the upper bound of the method.")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="IN OUT (a file each, - for stdin or stdout), or with -o the inputs: files "
                        "and folders")
    p.add_argument("-o", "--output-dir", metavar="DIR",
                   help="write each input to DIR/<its name> (a folder's files to DIR/<path inside "
                        "it>), with a progress bar and a summary per file; DIR is created if "
                        "missing")
    p.add_argument("--in-place", action="store_true",
                   help="allow an output that is its own input (replaced once the result is "
                        "complete); without it that is refused")
    p.add_argument("--subtype", metavar="NAME",
                   help="sample encoding of the output, as libsndfile names it: PCM_16, PCM_24, "
                        "PCM_32, FLOAT, ... (default: the input's, where the output's format takes "
                        "it)")
    p.add_argument("--channel", type=int, metavar="N",
                   help="enhance only channel N (0 is the first) into a mono output (default: "
                        "every channel, each with its own kernel state)")
    p.add_argument("--model", metavar="PATH",
                   help="model file (.pnw for --backend native, .tflite for --backend tflite); "
                        "default: the shipped model")
    p.add_argument("--backend", choices=("native", "tflite"), default="native",
                   help="run the network in the native int8 engine (default) or in the TFLite "
                        "interpreter (the reference)")
    p.add_argument("--oracle", metavar="CLEAN",
                   help="clean reference (same rate and length; mono or one channel per input "
                        "channel): apply oracle gains instead of the network")
    p.add_argument("--reference", metavar="FAR",
                   help="what the loudspeaker played (mono, any rate: resampled to the kernel's; "
                        "padded with silence or cut to IN's length, which is said on stderr): "
                        "speexdsp's echo canceller removes its echo from IN ahead of the network, "
                        "hop by hop (one IN OUT pair, native backend, not with --oracle)")
    p.add_argument("--allow-truncated", action="store_true",
                   help="enhance a wav cut short inside its data chunk (with a warning) "
                        "instead of refusing it")
    p.add_argument("--atten-lim", type=float, metavar="DB",
                   help="remove at most DB dB of each band, keeping some ambience "
                        "(0 to 100; 0 or absent: no limit)")
    p.add_argument("--oracle-mode", choices=ORACLE_MODES, default="band+comb+postfilter",
                   help="which parts of the method the oracle uses (default: all)")
    return p


def _say(msg: str) -> None:
    print(f"edge denoise: {msg}", file=sys.stderr)


def _check_reference(args) -> None:
    """--reference's combinations, and the canceller built in, before any file is read."""
    from edge import aec
    from edge.errors import EdgeError

    if args.oracle or args.output_dir or args.backend != "native":
        raise EdgeError("--reference goes with one IN OUT pair and the native backend, not with "
                        "--oracle, -o or --backend tflite")
    aec.lib()


def _reference(path, job, say, allow_truncated: bool):
    """far(rate, n): the loudspeaker's signal at rate, n samples. A rate or length other than
    IN's is said once (IN's header is known at plan, stdin's only once read: then it is not)."""
    import numpy as np

    from edge import wavio
    from edge.data.audio import resample
    from edge.errors import EdgeError

    try:
        ref = wavio.read(path, allow_truncated=allow_truncated, warn=say)
    except EdgeError as e:
        raise EdgeError(f"--reference {e}") from None
    if ref.info.channels != 1:
        raise EdgeError(f"{path}: the reference has {ref.info.channels} channels; give what the "
                        "loudspeaker played, mono")
    mic = job.info
    if mic is not None and ref.info.rate != mic.rate:
        say(f"{path}: {ref.info.rate} Hz, resampled to {job.src}'s {mic.rate} Hz")
    n = round(ref.info.frames * mic.rate / ref.info.rate) if mic is not None else None
    if mic is not None and n != mic.frames:
        say(f"{path}: {n} samples at {mic.rate} Hz, {job.src} {mic.frames}: the reference is "
            f"{'padded with silence' if n < mic.frames else 'cut'} to its length")

    def far(rate, n):
        y = resample(ref.samples[:, 0], ref.info.rate, rate)[:n]
        return np.pad(y, (0, n - len(y)))

    return far


def run(args) -> int:
    from edge import batch, denoise, models, wavio
    from edge.errors import EdgeError
    from edge.kernel import check_atten_lim

    check_atten_lim(args.atten_lim)
    if args.channel is not None and args.channel < 0:
        raise EdgeError(f"--channel {args.channel}: channels count from 0")
    if args.oracle and args.output_dir:
        raise EdgeError("--oracle goes with one IN OUT pair, not with -o DIR")
    if not args.oracle:
        models.check_file(args.model or denoise.default_model(args.backend), args.backend)
    if args.reference:
        _check_reference(args)
    say = _say
    try:
        jobs = batch.plan(args.paths, args.output_dir, in_place=args.in_place,
                          allow_truncated=args.allow_truncated, subtype=args.subtype,
                          channel=args.channel, warn=say)
    except wavio.TruncatedWav as e:
        raise wavio.TruncatedWav(f"{e}; --allow-truncated enhances what is there") from None
    clean = None
    if args.oracle:
        clean = wavio.read(args.oracle, allow_truncated=args.allow_truncated, warn=say)
    far = None
    if args.reference:
        far = _reference(args.reference, jobs[0], say, allow_truncated=args.allow_truncated)

    def enhance(x, rate, ref):
        if args.oracle:
            return denoise.denoise_oracle(x, ref, args.oracle_mode, atten_lim=args.atten_lim, rate=rate)
        return denoise.denoise(x, model=args.model, backend=args.backend, atten_lim=args.atten_lim,
                               rate=rate, reference=None if far is None else far(rate, len(x)))

    def one(job):
        try:
            return batch.enhance_file(job, enhance, clean=clean, channel=args.channel,
                                      subtype=args.subtype, allow_truncated=args.allow_truncated,
                                      warn=say, say=say)
        except wavio.TruncatedWav as e:
            raise wavio.TruncatedWav(f"{e}; --allow-truncated enhances what is there") from None

    if args.output_dir is None:      # IN OUT: quiet, as a filter is
        one(jobs[0])
        return 0
    rows = []
    with _progress(len(jobs)) as bar:
        say = bar.write
        for job in jobs:
            bar.describe(str(job.src))
            rows.append(one(job))
            bar.advance()
    print("\n".join(batch.summary_lines(rows)))
    return 0


class _progress:
    """tqdm's bar on stderr where tqdm is installed, else a line per file."""

    def __init__(self, total: int):
        self.total, self.done = total, 0
        try:
            from tqdm import tqdm
        except ImportError:
            self.bar = None
        else:
            self.bar = tqdm(total=total, unit="file", desc="edge denoise", file=sys.stderr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()

    def describe(self, name: str) -> None:
        if self.bar is None:
            print(f"edge denoise: [{self.done + 1}/{self.total}] {name}", file=sys.stderr)
        else:
            self.bar.set_postfix_str(name, refresh=True)

    def advance(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)

    def write(self, msg: str) -> None:
        if self.bar is None:
            _say(msg)
        else:
            self.bar.write(f"edge denoise: {msg}", file=sys.stderr)
