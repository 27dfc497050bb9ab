"""edge eval (being built)."""
from edge.errors import EdgeError


def add_parser(sub):
    return sub.add_parser("eval", help="(not built yet)")


def run(args) -> int:
    raise EdgeError("eval is not built yet")
