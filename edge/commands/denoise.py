"""edge denoise: enhance a wav file with the shipped model, another model, or the oracle."""
from __future__ import annotations

ORACLE_MODES = ("band", "band+comb", "band+comb+postfilter")


def add_parser(sub):
    p = sub.add_parser(
        "denoise", help="enhance a mono wav file (8 to 48 kHz)",
        description="Enhance NOISY.wav into OUT.wav (same length and rate, delay compensated). "
                    "Rates: 8000, 16000, 24000, 32000, 44100 or 48000 Hz (the kernel converts "
                    "the others to 48 kHz and back). "
                    "With --oracle, use the ideal gains and strengths computed from CLEAN.wav "
                    "instead of the network: the upper bound of the method.")
    p.add_argument("noisy", metavar="NOISY.wav")
    p.add_argument("out", metavar="OUT.wav")
    p.add_argument("--model", metavar="PATH",
                   help="model file (.pnw for --backend native, .tflite for --backend tflite); "
                        "default: the shipped model")
    p.add_argument("--backend", choices=("native", "tflite"), default="native",
                   help="run the network in the native int8 engine (default) or in the TFLite "
                        "interpreter (the reference)")
    p.add_argument("--oracle", metavar="CLEAN.wav",
                   help="clean reference: apply oracle gains instead of the network")
    p.add_argument("--allow-truncated", action="store_true",
                   help="enhance a wav cut short inside its data chunk (with a warning) "
                        "instead of refusing it")
    p.add_argument("--atten-lim", type=float, metavar="DB",
                   help="remove at most DB dB of each band, keeping some ambience "
                        "(0 or absent: no limit)")
    p.add_argument("--oracle-mode", choices=ORACLE_MODES, default="band+comb+postfilter",
                   help="which parts of the method the oracle uses (default: all)")
    return p


def run(args) -> int:
    import sys

    from edge import denoise
    from edge.native import RATES
    from edge.wavio import TruncatedWav, check_writable, read_wav_rate, write_wav

    def load(path, rates=RATES):
        try:
            return read_wav_rate(path, rates, allow_truncated=args.allow_truncated,
                                 warn=lambda m: print(f"edge denoise: {m}", file=sys.stderr))
        except TruncatedWav as e:
            raise TruncatedWav(f"{e}; --allow-truncated enhances what is there") from None

    check_writable(args.out)
    noisy, rate = load(args.noisy)
    if args.oracle:
        clean = load(args.oracle, (rate,))[0]
        y = denoise.denoise_oracle(noisy, clean, args.oracle_mode, atten_lim=args.atten_lim, rate=rate)
    else:
        y = denoise.denoise(noisy, model=args.model, backend=args.backend, atten_lim=args.atten_lim,
                            rate=rate)
    write_wav(args.out, y, rate)
    return 0
