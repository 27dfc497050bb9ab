"""The package's optional parts (pyproject's extras): a one-line refusal that names the extra
and its pip command, made before any work, where a module one needs is not installed."""
from __future__ import annotations

import importlib.util

from edge.errors import MissingExtra


def _present(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing(modules) -> list[str]:
    """The modules not installed; an entry may be a tuple of alternatives (any one will do)."""
    out = []
    for m in modules:
        alternatives = (m,) if isinstance(m, str) else tuple(m)
        if not any(_present(a) for a in alternatives):
            out.append(" or ".join(alternatives))
    return sorted(set(out))


def require(command: str, extra: str, modules) -> None:
    """Refuse `edge COMMAND` where a module of `modules` is missing: it needs that extra."""
    gone = missing(modules)
    if gone:
        raise MissingExtra(f"edge {command} needs the {extra} extra (missing: {', '.join(gone)}): "
                           f"pip install 'percepnet-edge[{extra}]' (from the source tree: "
                           f".venv/bin/pip install -e '.[{extra}]')")
