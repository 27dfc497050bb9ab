"""edge bench: speed of the DSP, of the network sizes, or of the whole kernel on a board."""
from __future__ import annotations

import json

# Audio seconds each benchmark processes unless --seconds says otherwise.
DEFAULT_SECONDS = {"dsp": 60.0, "models": 20.0, "board": 30.0}


def add_parser(sub):
    p = sub.add_parser(
        "bench", help="measure per-frame time, CPU share and power",
        description="Without options: per-frame microseconds of the network alone and of the "
                    "whole frame for each model size, plus peak RSS. --dsp: the DSP alone. "
                    "--board/--seconds/--flat-out: on-device run against the real-time clock "
                    "with CPU, temperature and power telemetry. --estimate BOARD: what a frame "
                    "would cost on a board that is not here (instruction counts under qemu-user, "
                    "llvm-mca cycles, a weight-streaming bound), with this machine's ratio of "
                    "measured to estimated time as the error bar.")
    p.add_argument("--dsp", action="store_true", help="time the DSP alone (no network)")
    p.add_argument("--board", metavar="NAME", help="on-device benchmark with this board's telemetry")
    p.add_argument("--seconds", type=float, default=None, metavar="N",
                   help="audio seconds to process (default: {dsp:g} with --dsp, {board:g} with "
                        "--board, {models:g} per model size otherwise)".format(**DEFAULT_SECONDS))
    p.add_argument("--flat-out", action="store_true", help="do not pace in real time")
    p.add_argument("--model", metavar="PATH",
                   help="model for the on-device benchmark (default: shipped); with --estimate: "
                        "small, paper (those sizes with random weights) or a .pnw file (default: small)")
    p.add_argument("--estimate", metavar="BOARD",
                   help="estimate the per-frame cost on this board from its cross build (needs "
                        "qemu-user and llvm-19)")
    p.add_argument("--weights", metavar="ENC[,ENC]",
                   help="weight encoding of the random-weight model sizes: int8 or int4 (as `edge "
                        "export --weights int4`); with --estimate, default: the encoding `edge flash` "
                        "installs on that board ([deploy].weights), else int8; without --estimate, a "
                        "comma list times each size in each (int4 entries are named small-int4, "
                        "paper-int4)")
    p.add_argument("--no-calibration", action="store_true",
                   help="with --estimate: skip the error bar (the same method against `edge bench` "
                        "on this machine, about 15 s)")
    p.add_argument("--soak", type=float, metavar="MINUTES",
                   help="run the live loop of `edge run` this long on a clocked device (a private "
                        "PulseAudio null sink behind ALSA's pulse plugin) and report hops, misses, "
                        "xruns, bypass, frame times, CPU and RSS, with the machine's own stalls beside "
                        "(each CPU's gaps, a VM host's steal) and what each xrun coincided with")
    p.add_argument("--stress", action="store_true",
                   help="with --soak: load every core with stress-ng meanwhile")
    p.add_argument("--sampler-load-ms", type=float, default=0.0, metavar="MS",
                   help="with --soak: make each telemetry sample also hold the interpreter this "
                        "long (measures what a slow sampler does to the audio thread)")
    p.add_argument("--switch-interval-ms", type=float, metavar="MS",
                   help="with --soak: CPython's thread switch interval for the run (default: "
                        "what `edge run` uses, 0.5)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return p


def _say(msg: str) -> None:
    import sys
    print(f"edge bench: {msg}", file=sys.stderr, flush=True)


def run(args) -> int:
    from edge.bench import report
    from edge.errors import EdgeError
    from edge.model.pnw import WEIGHT_BITS

    if args.seconds is not None and not args.seconds > 0:       # NaN too
        raise EdgeError(f"--seconds must be positive, got {args.seconds:g}")
    if args.soak is not None and not args.soak > 0:
        raise EdgeError(f"--soak must be a positive number of minutes, got {args.soak:g}")
    if args.stress and args.soak is None:
        raise EdgeError("--stress goes with --soak MINUTES")
    if args.no_calibration and not args.estimate:
        raise EdgeError("--no-calibration goes with --estimate BOARD")
    weights = [w.strip() for w in (args.weights or "int8").split(",") if w.strip()]
    if not weights or any(w not in WEIGHT_BITS for w in weights) or len(set(weights)) < len(weights):
        raise EdgeError(f"--weights {args.weights}: int8, int4 or int8,int4")
    if weights != ["int8"] and (args.dsp or args.board or args.soak is not None or args.flat_out):
        raise EdgeError("--weights goes with --estimate or the model benchmark (use a .pnw with --model)")
    if args.estimate:
        if args.dsp or args.board or args.soak is not None or args.flat_out:
            raise EdgeError("--estimate BOARD runs alone (not with --dsp, --board, --soak, --flat-out)")
        from edge.bench.estimate import MODEL_SIZES, estimate
        from edge.boards import load_board
        if len(weights) > 1:
            raise EdgeError("--estimate takes one --weights encoding")
        if args.weights is None and (args.model or "small") in MODEL_SIZES:
            weights = [load_board(args.estimate).deploy.weights]  # what edge flash installs there
        result = estimate(args.estimate, model=args.model or "small", calibrate=not args.no_calibration,
                          weights=weights[0], say=_say)
    elif args.soak is not None:
        from edge.bench.soak import bench_soak
        result = bench_soak(args.soak, stress=args.stress, board=args.board or "host",
                            model=args.model, sampler_load_ms=args.sampler_load_ms,
                            switch_interval_ms=args.switch_interval_ms)
    elif args.dsp:
        from edge.bench.dsp import bench_dsp
        result = bench_dsp(seconds=args.seconds or DEFAULT_SECONDS["dsp"])
    elif args.board or args.flat_out:
        from edge.bench.device import bench_device
        result = bench_device(board=args.board or "host", seconds=args.seconds or DEFAULT_SECONDS["board"],
                              flat_out=args.flat_out, model=args.model)
    else:
        from edge.bench.models import bench_models
        result = bench_models(seconds=args.seconds or DEFAULT_SECONDS["models"], weights=tuple(weights))
    print(json.dumps(result, indent=2) if args.json else report.table(result))
    return 0
