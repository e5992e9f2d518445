"""The tree tells the flow: the core's own imports sit at the top of each module, form no cycle,
and never reach for another module's private names (the layers themselves: lint-imports)."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2] / "curator"


def _modules(*parts: str) -> list[Path]:
    return sorted(p for part in parts for p in (ROOT / part).rglob("*.py"))


def _own_imports(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] == "curator"):
            yield node
        elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == "curator" for a in node.names):
            yield node


def test_core_and_lab_import_their_own_modules_at_the_top():
    late = []
    for path in _modules("core", "lab"):
        tree = ast.parse(path.read_text())
        top = {id(n) for n in tree.body}
        late += [f"{path.relative_to(ROOT)}:{n.lineno}" for n in _own_imports(tree) if id(n) not in top]
    assert not late, f"imports of the project's own modules inside functions: {late}"


def test_no_private_name_is_imported_across_modules():
    private = []
    for path in ROOT.rglob("*.py"):
        for node in _own_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                private += [f"{path.relative_to(ROOT)}:{node.lineno} {a.name}" for a in node.names
                            if a.name.startswith("_") and not a.name.startswith("__")]
    assert not private, f"private names imported from another module: {private}"


def test_the_core_and_the_lab_have_no_import_cycles():
    graph = grimp.build_graph("curator", cache_dir=None)
    mods = sorted(m for m in graph.modules if m.startswith(("curator.core", "curator.lab")))
    edges = {m: {d for d in graph.find_modules_directly_imported_by(m) if d in set(mods)} for m in mods}
    # Tarjan's strongly connected components: any component of two or more modules is a cycle
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for m in mods:
        if m not in index:
            visit(m)
    assert not cycles, f"import cycles: {cycles}"
