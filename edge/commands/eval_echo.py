"""edge eval-echo: echo cancellation measured on a speakerphone scene built from given speech."""
from __future__ import annotations

import json
from pathlib import Path

from edge.errors import EdgeError

NEEDS = ("pesq", "scipy")       # the eval extra's: PESQ-WB, resampling, the room's convolution


def add_parser(sub):
    from edge.eval.echo_chains import CHAINS

    p = sub.add_parser(
        "eval-echo", help="ERLE, convergence and near-end PESQ-WB of echo cancelling chains",
        description="Builds a speakerphone scene at 48 kHz: the far end talks alone (--far-only "
                    "seconds), then the near end alone, then both (double talk); the microphone "
                    "hears the far end through the room response (RIR), --delay-ms late and "
                    "--loss-db down, plus the near-end talker and optional noise. Runs each chain "
                    "on it and prints, as JSON: the echo return loss enhancement (ERLE: the "
                    "microphone's energy over the output's, in far-end-only speech after "
                    "--settle seconds), the convergence time (from the far end's first word to "
                    "the first --window after which every window's ERLE is at least "
                    "--erle-target; null: never) and PESQ-WB of the near-end talker in double "
                    "talk, beside the same chain's on the scene without echo. Chains: "
                    + "; ".join(f"{k}: {v[1]}" for k, v in CHAINS.items()) + ".")
    p.add_argument("--far", required=True, nargs="+", metavar="WAV",
                   help="far-end speech (any rate, mono or its first channel; several files are "
                        "played one after the other, repeated to fill the segments)")
    p.add_argument("--near", required=True, nargs="+", metavar="WAV", help="near-end speech, as --far")
    p.add_argument("--rir", required=True, metavar="WAV",
                   help="room impulse response, loudspeaker to microphone (e.g. "
                        "shared/data/train/rir/mitir_h010_Livingroom_31txts.flac)")
    p.add_argument("--delay-ms", type=float, default=50.0,
                   help="silence put ahead of the room response (default 50)")
    p.add_argument("--loss-db", type=float, default=5.0,
                   help="the echo at the microphone this far below the loudspeaker (default 5)")
    p.add_argument("--noise", metavar="WAV", help="noise the microphone hears throughout (repeated)")
    p.add_argument("--snr", type=float, metavar="DB", help="the noise this far below the near-end speech")
    p.add_argument("--far-only", type=float, default=6.0, metavar="S", help="seconds (default 6)")
    p.add_argument("--near-only", type=float, default=3.0, metavar="S", help="seconds (default 3)")
    p.add_argument("--double-talk", type=float, default=6.0, metavar="S", help="seconds (default 6)")
    p.add_argument("--settle", type=float, default=2.0, metavar="S",
                   help="ERLE counts far-end-only speech from this long after the far end's first "
                        "word (default 2)")
    p.add_argument("--erle-target", type=float, default=25.0, metavar="DB",
                   help="the ERLE a chain has converged to (default 25)")
    p.add_argument("--window", type=float, default=0.5, metavar="S",
                   help="the windows of the ERLE curve (default 0.5)")
    p.add_argument("--chains", default="network,pipewire", metavar="LIST",
                   help=f"comma-separated, of {', '.join(CHAINS)} (default network,pipewire)")
    p.add_argument("--model", metavar="PNW", help="the network's model (default: the shipped one)")
    p.add_argument("--json", metavar="OUT", help="also write the JSON to this file")
    return p


def _speech(paths, what):
    import numpy as np

    from edge.data.audio import load
    return np.concatenate([load(_exists(p, what)) for p in paths])


def _exists(path, what) -> str:
    if not Path(path).is_file():
        raise EdgeError(f"{what} {path}: no such file")
    return str(path)


def run(args) -> int:
    from edge import extras
    from edge.data.audio import load
    from edge.eval import echo, echo_chains
    from edge.wavio import check_writable

    try:
        chains = echo_chains.check_chains([c.strip() for c in args.chains.split(",") if c.strip()])
    except EdgeError as e:
        raise EdgeError(f"--chains: {e}") from None
    extras.require("eval-echo", "eval", NEEDS)
    if args.json:
        check_writable(args.json)
    if args.model is not None:
        _exists(args.model, "--model")
    if (args.noise is None) != (args.snr is None):
        raise EdgeError("--noise and --snr go together: give both or neither")
    if not 0 <= args.settle < args.far_only:
        raise EdgeError(f"--settle must be at least 0 and under --far-only ({args.far_only:g} s)")
    if not 0.1 <= args.window <= args.far_only:
        raise EdgeError(f"--window must be between 0.1 s and --far-only ({args.far_only:g} s)")
    scene = echo.build_scene(
        _speech(args.far, "--far"), _speech(args.near, "--near"), load(_exists(args.rir, "--rir")),
        delay_ms=args.delay_ms, loss_db=args.loss_db,
        noise=None if args.noise is None else load(_exists(args.noise, "--noise")), snr_db=args.snr,
        far_only_s=args.far_only, near_only_s=args.near_only, double_talk_s=args.double_talk)
    result = {
        "scene": {"far": args.far, "near": args.near, "rir": args.rir, "delay_ms": args.delay_ms,
                  "loss_db": args.loss_db, "noise": args.noise, "snr_db": args.snr,
                  "segments_s": {k: [a / echo.RATE, b / echo.RATE] for k, (a, b) in scene.segments.items()},
                  "settle_s": args.settle, "erle_target_db": args.erle_target, "window_s": args.window},
        "chains": echo_chains.evaluate(scene, chains, args.model, settle_s=args.settle,
                                       target_db=args.erle_target, window_s=args.window)}
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        try:
            Path(args.json).write_text(text + "\n")
        except OSError as e:
            raise EdgeError(f"{args.json}: cannot be written ({e.strerror or e})") from None
    return 0
