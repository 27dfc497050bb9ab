"""edge train (being built)."""
from edge.errors import EdgeError


def add_parser(sub):
    return sub.add_parser("train", help="(not built yet)")


def run(args) -> int:
    raise EdgeError("train is not built yet")
