"""The package's layout keeps its promises: no import cycle between modules (imports inside functions count too:
a cycle hidden in a function body is still a cycle, it only fails later), a short top level, small files, and the
library never importing the experiments built on it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "omnivec"
MAX_TOP_LEVEL = 15
"""Modules and packages directly under ``omnivec/`` (``__init__`` and ``__main__`` aside)."""
MAX_LINES = 400

ALLOWED_CYCLES: list[set[str]] = []
"""Import cycles that exist today and are still to be broken; the set may only shrink. Empty: there are none."""


def modules() -> dict[str, Path]:
    """Every module of the package by its dotted name (a package by its own name, for its ``__init__``)."""
    out: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports, anywhere in its body (top level, functions, TYPE_CHECKING
    blocks). ``from a.b import c`` points at ``a.b.c`` when that is a module, else at ``a.b``."""
    mods = modules()

    def known(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: up from this module's package
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in mods else base for alias in node.names]
            else:
                continue
            deps.update(t for t in map(known, (t for t in targets if t.startswith("omnivec"))) if t)
        deps.discard(name)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan): each is one or more cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_imports_inside_functions(tmp_path: Path) -> None:
    # omnivec.nn.model imports the input readers only inside a method: the graph must still hold the edge
    assert "omnivec.data.readers.inputs" in import_graph()["omnivec.nn.model"]


def test_cycles_finds_a_cycle_and_nothing_else() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [{"a", "b", "c"}]


def test_no_import_cycle_beyond_the_allowed_ones() -> None:
    found = cycles(import_graph())
    new = [sorted(c) for c in found if not any(c <= allowed for allowed in ALLOWED_CYCLES)]
    assert not new, f"import cycles: {new}"


def test_the_allowed_cycles_still_exist() -> None:
    # a cycle that was broken comes off ALLOWED_CYCLES, so the list only shrinks
    found = cycles(import_graph())
    gone = [sorted(a) for a in ALLOWED_CYCLES if not any(c & a for c in found)]
    assert not gone, f"these cycles are broken now; remove them from ALLOWED_CYCLES: {gone}"


def test_the_top_level_is_short() -> None:
    files = [p.stem for p in PACKAGE.glob("*.py") if not p.name.startswith("_")]
    packages = [p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()]
    top = sorted(files + packages)
    assert len(top) <= MAX_TOP_LEVEL, f"{len(top)} modules at omnivec's top level: {top}"


def test_no_file_is_over_the_line_limit() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"files over {MAX_LINES} lines (split them by role): {long}"


def test_the_library_does_not_import_the_experiments() -> None:
    graph = import_graph()
    users = {
        m: sorted(d for d in deps if d.startswith("omnivec.experiments"))
        for m, deps in graph.items()
        if not m.startswith(("omnivec.experiments", "omnivec.cli"))
    }
    assert not {m: d for m, d in users.items() if d}


LOWER = ("omnivec.nn", "omnivec.tasks", "omnivec.training")
"""The layers both model families are built from: modules, task kinds, the objective and the training loop."""
UPPER = ("omnivec.families", "omnivec.api", "omnivec.cli")
"""What is built on them: the families' registrations, the Python API and the command line."""


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_the_lower_layers_import_nothing_from_above() -> None:
    # a family, the API or the CLI may use nn/, tasks/ and training/, never the other way round: a task kind or
    # an objective that imports a family is no longer one both families share
    upward = {
        m: sorted(d for d in deps if _within(d, UPPER)) for m, deps in import_graph().items() if _within(m, LOWER)
    }
    assert not {m: d for m, d in upward.items() if d}
