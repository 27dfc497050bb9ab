"""edge boards [--json]: the board descriptors in boards/, validated."""
from __future__ import annotations

import json


def add_parser(sub):
    p = sub.add_parser("boards", help="list the boards this kit builds and deploys for",
                       description="List boards/*.toml with CPU, audio, telemetry and deploy "
                                   "settings (flash: what `edge flash` installs, the alsa service "
                                   "or the pipewire filter); a broken descriptor is an error "
                                   "naming its field.")
    p.add_argument("--json", action="store_true", help="print every field as JSON")
    return p


def run(args) -> int:
    from edge.boards import load_boards

    boards = load_boards()
    if args.json:
        print(json.dumps({"boards": [b.summary() for b in boards]}, indent=2))
        return 0
    print(f"{'board':<17} {'arch':<8} {'simd':<13} {'power':<6} {'flash':<9} {'capture':<26} description")
    for b in boards:
        print(f"{b.name:<17} {b.arch:<8} {','.join(b.simd) or '-':<13} {b.telemetry.power:<6} "
              f"{b.deploy.integration:<9} {b.audio.capture:<26} {b.description}")
    return 0
