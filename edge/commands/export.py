"""edge export (being built)."""
from edge.errors import EdgeError


def add_parser(sub):
    return sub.add_parser("export", help="(not built yet)")


def run(args) -> int:
    raise EdgeError("export is not built yet")
