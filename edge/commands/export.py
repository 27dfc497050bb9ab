"""edge export: the native weight file (.pnw) of an int8 .tflite model (or of a checkpoint)."""
from __future__ import annotations

import json


def add_parser(sub):
    p = sub.add_parser(
        "export", help="write the native weight file of an int8 .tflite",
        description="Reads an int8 step-model .tflite (the model of record, as written by "
                    "`edge train`) and writes its .pnw for the native engine: the same int8 "
                    "weights and per-channel scales, in the kernel's block layout, with a "
                    "checksum. The written file is loaded back by the native loader to check it. "
                    "--weights int4 quantises the hidden layers' matrices to 4 bits after "
                    "training (a scale per row and 32-column block; the input and output layers "
                    "stay int8): half the weight bytes a frame reads. A training checkpoint "
                    "(.keras, float) may be given instead of the .tflite: it is quantised once, "
                    "not requantised from int8.")
    p.add_argument("model", metavar="MODEL.tflite", help="int8 .tflite, or a float .keras checkpoint")
    p.add_argument("--out", required=True, metavar="MODEL.pnw",
                   help="the native weight file to write (its folder must exist)")
    p.add_argument("--weights", choices=("int8", "int4"), default="int8",
                   help="weight encoding of the hidden layers (default int8)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    return p


# What edge export imports beyond the base package (the `train` extra has both).
NEEDS_TFLITE = (("ai_edge_litert", "tflite_runtime"),)
NEEDS_KERAS = ("tensorflow", "keras")


def run(args) -> int:
    from edge import extras
    extras.require("export", "train", NEEDS_KERAS if str(args.model).endswith(".keras") else NEEDS_TFLITE)

    from edge.model import pnw

    summary = pnw.export(args.model, args.out, weights=args.weights)
    print(json.dumps(summary) if args.json else
          f"wrote {summary['out']}: {summary['name']}, {summary['layers']} layers, "
          f"{summary['weights']} weights ({summary['int4_matrices']} matrices int4), "
          f"{summary['bytes']} bytes")
    return 0
