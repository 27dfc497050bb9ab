"""edge boards (being built)."""
from edge.errors import EdgeError


def add_parser(sub):
    return sub.add_parser("boards", help="(not built yet)")


def run(args) -> int:
    raise EdgeError("boards is not built yet")
