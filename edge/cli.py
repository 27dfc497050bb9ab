"""The `edge` command: parses, dispatches to a command module, prints. It decides nothing."""
from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

from edge import __version__
from edge.errors import EdgeError, MissingExtra

# Each module has add_parser(subparsers) and run(args) -> int.
COMMANDS = ["denoise", "bench", "eval", "eval_echo", "run", "train", "export", "boards", "flash",
            "install_pipewire"]


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
        code = args._run(args) or 0
        sys.stdout.flush()          # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        return _reader_went_away()
    except MissingExtra as e:
        print(e, file=sys.stderr)
        return 2
    except EdgeError as e:
        print(f"edge {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _reader_went_away() -> int:
    """stdout's reader closed the pipe (`edge boards --json | head -1`): stop quietly with the
    status a Unix tool killed by SIGPIPE has, and keep the exit-time flush from complaining."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
