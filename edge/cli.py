"""The `edge` command: parses, dispatches to a command module, prints. It decides nothing."""
from __future__ import annotations

import argparse
import importlib
import sys

from edge import __version__
from edge.errors import EdgeError

# Each module has add_parser(subparsers) and run(args) -> int.
COMMANDS = ["denoise", "bench", "eval", "run", "train", "export", "boards", "flash"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge",
        description="PercepNet-style speech enhancement for Raspberry Pi-class boards.")
    parser.add_argument("--version", action="version", version=f"percepnet-edge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"edge.commands.{name}")
        module.add_parser(sub).set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args._run(args) or 0
    except EdgeError as e:
        print(f"edge {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
