"""edge train: make features with the C kernel, train the network, export int8 TFLite + .pnw."""
from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DATA_ROOT = Path(__file__).resolve().parents[3] / "shared" / "data"


def add_parser(sub):
    from edge.data.sources import LAYOUTS
    import argparse
    p = sub.add_parser(
        "train", help="train a model (resumable) and export it",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Mix speech and noise at random SNRs, levels, tilts and rooms; compute "
                    "features and ideal gains/strengths with the C kernel (cached shards under "
                    "OUT/features); train; export OUT/model.tflite (int8) and OUT/model.pnw. "
                    "Run again with the same OUT to resume from its checkpoint.",
        epilog=LAYOUTS + "\nwithout --data: the built-in material (shared speech and noise, "
                         "synthetic TTS speech, generated noise and rooms)")
    p.add_argument("--config", choices=("small", "paper"), default="small")
    p.add_argument("--data", metavar="DIR", help="a speech/noise corpus (layouts below)")
    p.add_argument("--data-root", metavar="DIR",
                   default=os.environ.get("PERCEPNET_DATA", str(DEFAULT_DATA_ROOT)),
                   help="the built-in development material (default: $PERCEPNET_DATA or "
                        "shared/data beside the repo); its dev/ is never trained on")
    p.add_argument("--out", metavar="DIR", required=True)
    p.add_argument("--hours", type=float, help="time budget of this run")
    p.add_argument("--steps", type=int, help="total optimizer steps (across resumes)")
    p.add_argument("--examples", type=int, default=2000, help="training mixtures (default 2000)")
    p.add_argument("--seconds", type=float, default=4.0, help="length of each mixture")
    p.add_argument("--tts", type=int, default=400, help="synthetic TTS utterances (built-in data)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq-frames", type=int, default=200)
    p.add_argument("--lr", type=float, default=None,
                   help="Adam learning rate (default 1e-3); on resume, replaces the checkpoint's rate")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    p.add_argument("--workers", type=int, help="feature processes (default: all cores)")
    p.add_argument("--no-export", action="store_true", help="stop after training")
    return p


def run(args) -> int:
    import json

    from edge.data import dataset, sources
    from edge.data.mix import MixConfig
    from edge.errors import EdgeError
    from edge.model import train

    if args.hours is None and args.steps is None:
        raise EdgeError("give a budget: --steps N and/or --hours H")
    if args.examples < 1 or args.seconds < 1:
        raise EdgeError("--examples must be >= 1 and --seconds >= 1")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train.write_config(out, args.config)
    src = sources.corpus(args.data) if args.data else \
        sources.builtin(args.data_root, out / "tts", args.tts)
    print(f"sources: {len(src.speech)} recorded and {len(src.synthetic)} synthetic speech, "
          f"{len(src.noise)} noise, {len(src.rirs)} room files")
    shards = dataset.build(src, out / "features", args.examples, MixConfig(seconds=args.seconds),
                           workers=args.workers)
    feats, gains, strengths = dataset.load_shards(shards)
    cfg = train.TrainConfig(config=args.config, steps=args.steps, hours=args.hours, batch=args.batch,
                            seq_frames=args.seq_frames, lr=args.lr,
                            checkpoint_s=args.checkpoint_minutes * 60)
    state = train.train(feats, gains, strengths, out, cfg)
    summary = {"step": state["step"], "best_val": state["best_val"]}
    if not args.no_export:
        summary.update(train.export(out, feats))
    print(json.dumps(summary))
    return 0
