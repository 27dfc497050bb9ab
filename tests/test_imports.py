"""The edge package has no import circle: every import of one edge module by another, at the
top of a file or inside a function (where a circle hides until a call runs into it), read
with ast, gives a graph without cycles."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def modules() -> dict[str, Path]:
    """edge module name -> its file (a package by its __init__.py)."""
    out = {}
    for p in (ROOT / "edge").rglob("*.py"):
        parts = p.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def imports(name: str, path: Path, known) -> set[str]:
    """The modules of `known` a module imports anywhere in its file: `from pkg import mod`
    names the module mod, `from mod import thing` the module mod."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names}
    return (found & set(known)) - {name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path (first node repeated at its end), or None."""
    state, stack = {}, []

    def visit(v):
        state[v] = "open"
        stack.append(v)
        for w in sorted(graph[v]):
            if state.get(w) == "open":
                return stack[stack.index(w):] + [w]
            if w not in state and (cycle := visit(w)):
                return cycle
        state[v] = "done"
        stack.pop()
        return None

    for v in sorted(graph):
        if v not in state and (cycle := visit(v)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_circle_through_a_function_level_import(tmp_path):
    graph = {"edge.a": {"edge.b"}, "edge.b": {"edge.c"}, "edge.c": {"edge.a"}, "edge.d": set()}
    assert find_cycle(graph) == ["edge.a", "edge.b", "edge.c", "edge.a"]
    (tmp_path / "m.py").write_text("def f():\n    from edge.model import pnw\n")
    known = {"edge.model", "edge.model.pnw", "edge.m"}
    assert imports("edge.m", tmp_path / "m.py", known) == {"edge.model.pnw"}


def test_edge_has_no_import_circle():
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}
    assert "edge.model.pnw" in graph["edge.model.train"]      # function-level imports are seen
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))
