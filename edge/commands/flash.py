"""edge flash (being built)."""
from edge.errors import EdgeError


def add_parser(sub):
    return sub.add_parser("flash", help="(not built yet)")


def run(args) -> int:
    raise EdgeError("flash is not built yet")
