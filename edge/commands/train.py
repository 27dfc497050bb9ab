"""edge train: make features with the C kernel, train the network, export int8 TFLite + .pnw."""
from __future__ import annotations

import os
from pathlib import Path

VAL_SEED = 1  # the validation mixtures: one fixed set, whatever --seed the training ones have

DEFAULT_DATA_ROOT = Path(__file__).resolve().parents[3] / "shared" / "data"


def add_parser(sub):
    from edge.data.mix import MixConfig
    from edge.data.sources import LAYOUTS
    import argparse
    MIX = MixConfig()
    p = sub.add_parser(
        "train", help="train a model (resumable) and export it",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Mix speech and noise at random SNRs, levels, tilts, low-cuts, clipping and "
                    "rooms; compute features and ideal gains/strengths with the C kernel (cached "
                    "shards under OUT/features); train; export OUT/model.tflite (int8) and "
                    "OUT/model.pnw. A tenth of the speech and noise recordings (by file name) "
                    "make a separate validation set that chooses the exported checkpoint. "
                    "Run again with the same OUT to resume from its checkpoint.",
        epilog=LAYOUTS + "\nwithout --data: the real recordings of DATA_ROOT/train (plain layout) "
                         "and real48k/ clean speech, plus generated noise and simulated rooms")
    p.add_argument("--config", choices=("small", "paper"), default="small",
                   help="network size: small (1.2M weights, the shipped model's; the default) or "
                        "paper (7.9M)")
    p.add_argument("--data", metavar="DIR", help="a speech/noise corpus (layouts below)")
    p.add_argument("--data-root", metavar="DIR",
                   default=os.environ.get("PERCEPNET_DATA", str(DEFAULT_DATA_ROOT)),
                   help="the built-in development material (default: $PERCEPNET_DATA or "
                        "shared/data beside the repo); its dev/ is never trained on")
    p.add_argument("--out", metavar="DIR", required=True,
                   help="run folder: features cache, checkpoints, exported model (reused on resume)")
    p.add_argument("--hours", type=float, metavar="H",
                   help="time budget of this run in hours (no default: give --hours and/or "
                        "--steps; with both, whichever ends first)")
    p.add_argument("--steps", type=int, metavar="N",
                   help="total optimizer steps, counted across resumes (no default: give --steps "
                        "and/or --hours)")
    p.add_argument("--examples", type=int, default=2000, help="training mixtures (default 2000)")
    p.add_argument("--val-examples", type=int,
                   help="validation mixtures from the held-out recordings (default: a tenth of --examples)")
    p.add_argument("--seconds", type=float, default=4.0, help="length of each mixture in s (default 4)")
    p.add_argument("--p-reverb", type=float, default=MIX.p_reverb, metavar="P",
                   help=f"share of mixtures spoken in a room (default {MIX.p_reverb})")
    p.add_argument("--p-echo", type=float, default=MIX.p_echo, metavar="P",
                   help="share of mixtures from a speakerphone: the noise is a far-end talker's "
                        f"residual echo {MIX.echo_db[0]:g}-{MIX.echo_db[1]:g} dB under the near "
                        f"end, which falls silent for a while (default {MIX.p_echo})")
    p.add_argument("--tts", type=int, default=0,
                   help="synthetic TTS utterances added to the built-in speech (default 0: "
                        "real recordings only)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the training mixtures, the initial weights and the batch order: "
                        "another seed, other mixtures from the same recordings (default 0; "
                        "validation mixtures stay the same)")
    p.add_argument("--batch", type=int, default=32, help="sequences per optimizer step (default 32)")
    p.add_argument("--seq-frames", type=int, default=200,
                   help="10 ms frames per training sequence (default 200 = 2 s)")
    p.add_argument("--lr", type=float, default=None,
                   help="Adam learning rate (default 1e-3); on resume, replaces the checkpoint's rate")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0,
                   help="validate and save a checkpoint this often (default 5)")
    p.add_argument("--workers", type=int, help="feature processes (default: all cores)")
    p.add_argument("--features-dir", metavar="DIR",
                   help="cache of feature shards, shared between runs (default: OUT/features)")
    p.add_argument("--val-dir", metavar="DIR",
                   help="the frozen validation set: built there once, then reused unchanged by "
                        "every run that names it (default: OUT/validation)")
    r = p.add_argument_group("recipe")
    r.add_argument("--gamma", type=float, default=0.5,
                   help="loss compression exponent (default 0.5, the paper's; lower pays more "
                        "for removing noise)")
    r.add_argument("--strength-weight", type=float, default=1.0,
                   help="weight of the comb-strength loss beside the gain loss (default 1)")
    r.add_argument("--weight-decay", type=float, default=0.0,
                   help="AdamW weight decay (default 0: Adam)")
    r.add_argument("--warmup-steps", type=int, default=0, help="linear warm-up of the rate (default 0)")
    r.add_argument("--decay-to", type=float, default=1.0,
                   help="cosine decay of the rate over --steps down to this fraction of it "
                        "(default 1: constant)")
    r.add_argument("--standardize", action="store_true",
                   help="standardise the inputs by the training set's mean and std (folded "
                        "into the first layer at export)")
    r.add_argument("--init", metavar="MODEL.tflite",
                   help="start a new run from this model's weights (e.g. edge/models/default.tflite)")
    p.add_argument("--no-export", action="store_true", help="stop after training")
    return p


# What edge train imports beyond the base package: all of it comes with the `train` extra
# (the interpreter only for the export at the end).
NEEDS = ("tensorflow", "keras", "tqdm", "scipy")
NEEDS_EXPORT = (("ai_edge_litert", "tflite_runtime"),)


def run(args) -> int:
    import json

    from edge import extras
    extras.require("train", "train", NEEDS + (() if args.no_export else NEEDS_EXPORT))

    from edge.data import dataset, sources
    from edge.data.mix import MixConfig
    from edge.errors import EdgeError
    from edge.model import train
    from edge.model.loss import LossConfig

    if args.hours is None and args.steps is None:
        raise EdgeError("give a budget: --steps N and/or --hours H")
    if not (0 <= args.p_reverb <= 1 and 0 <= args.p_echo <= 1):
        raise EdgeError("--p-reverb and --p-echo are shares: give them in [0, 1]")
    if args.examples < 1 or args.seconds < 1 or (args.val_examples is not None and args.val_examples < 1):
        raise EdgeError("--examples and --val-examples must be >= 1 and --seconds >= 1")
    if not 0 < args.gamma <= 1 or args.strength_weight < 0 or not 0 <= args.decay_to <= 1:
        raise EdgeError("--gamma must be in (0, 1], --strength-weight >= 0, --decay-to in [0, 1]")
    if args.decay_to < 1 and args.steps is None:
        raise EdgeError("--decay-to decays the rate over --steps: give --steps")
    if args.init and not Path(args.init).is_file():
        raise EdgeError(f"{args.init}: no such model file")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train.write_config(out, args.config)
    src = sources.corpus(args.data) if args.data else \
        sources.builtin(args.data_root, out / "tts", args.tts)
    trn, val = sources.split(src)
    print(f"sources: {len(src.speech)} recorded and {len(src.synthetic)} synthetic speech, "
          f"{len(src.noise)} noise, {len(src.rirs)} room files; held out for validation: "
          f"{len(val.speech) + len(val.synthetic)} speech, {len(val.noise)} noise")
    mix_cfg = MixConfig(seconds=args.seconds, p_reverb=args.p_reverb, p_echo=args.p_echo)
    n_val = args.val_examples or max(1, args.examples // 10)
    features_dir = Path(args.features_dir) if args.features_dir else out / "features"
    val_set = dataset.load_shards(dataset.frozen(val, args.val_dir or out / "validation", n_val, mix_cfg,
                                                 seed=VAL_SEED, workers=args.workers))
    feats, gains, strengths = dataset.load_shards(
        dataset.build(trn, features_dir, args.examples, mix_cfg, seed=args.seed, workers=args.workers))
    cfg = train.TrainConfig(config=args.config, steps=args.steps, hours=args.hours, batch=args.batch,
                            seq_frames=args.seq_frames, lr=args.lr,
                            checkpoint_s=args.checkpoint_minutes * 60, seed=args.seed,
                            loss=LossConfig(gamma=args.gamma, strength_weight=args.strength_weight),
                            weight_decay=args.weight_decay, warmup_steps=args.warmup_steps,
                            decay_steps=args.steps if args.decay_to < 1 else None,
                            decay_to=args.decay_to, standardize=args.standardize, init=args.init)
    state = train.train(feats, gains, strengths, out, cfg, val=val_set)
    summary = {"step": state["step"], "best_val": state["best_val"]}
    if not args.no_export:
        summary.update(train.export(out))
    print(json.dumps(summary))
    return 0
