"""The house rules, read from the sources: no import circles, no module importing another's
underscore names, library files of about 300 lines at most."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import ROOT

PACKAGE = ROOT / "seqkit"
SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "bundled" not in p.parts)
MAX_LINES = 300


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in SOURCES}


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """Every seqkit import of a file, at any depth (functions too): (module, names imported from it)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("seqkit") and not node.level:
            found.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.startswith("seqkit")]
    return found


def graph() -> dict[str, set[str]]:
    """Module -> the seqkit modules it imports (``from pkg import submodule`` counts as the submodule)."""
    edges = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for module, names in imports(path):
            targets = [f"{module}.{n}" for n in names if f"{module}.{n}" in MODULES] or [module]
            edges[name] |= {t for t in targets if t in MODULES and t != name}
    return edges


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle of `edges`, as the list of its modules, or None."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_checker_finds_a_circle_and_ignores_a_chain():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_circles():
    edges = graph()
    assert sum(map(len, edges.values())) > 50  # the graph is read: seqkit's modules import each other
    assert cycle(edges) is None, " -> ".join(cycle(edges))


def test_no_module_imports_another_modules_underscore_names():
    offences = [f"{module_name(path)} imports {name} from {module}"
                for path in SOURCES for module, names in imports(path) for name in names
                if name.startswith("_") and not name.startswith("__") and module != module_name(path)]
    assert not offences, offences


def test_no_module_reaches_into_another_modules_underscore_attributes():
    offences = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                   for a in node.names if a.name.startswith("seqkit")}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and node.value.id in aliases):
                offences.append(f"{module_name(path)}: {node.value.id}.{node.attr}")
    assert not offences, offences


def test_library_files_stay_small():
    long = {module_name(p): n for p in SOURCES if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"over {MAX_LINES} lines: {long}"
