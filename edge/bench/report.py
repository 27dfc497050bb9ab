"""Human-readable rendering of a benchmark result dict (the JSON is the record)."""
from __future__ import annotations


def _flatten(d: dict, prefix: str = ""):
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            yield from _flatten(v, key + ".")
        else:
            yield key, v


def table(result: dict) -> str:
    rows = list(_flatten(result))
    width = max((len(k) for k, _ in rows), default=0)
    out = []
    for k, v in rows:
        shown = f"{v:.4g}" if isinstance(v, float) else ("n/a" if v is None else str(v))
        out.append(f"{k.ljust(width)}  {shown}")
    return "\n".join(out)
