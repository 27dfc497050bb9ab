"""edge run (being built)."""
from edge.errors import EdgeError


def add_parser(sub):
    return sub.add_parser("run", help="(not built yet)")


def run(args) -> int:
    raise EdgeError("run is not built yet")
