"""The import graph of the tree: no loop (modules that import each other, directly or
through others, imports inside functions included) and no import from a lower app to a
higher one (webhooks < deadletters < timedify_ops, see docs and DESIGN's layering).

Read from the source with `ast`, so an import hidden in a function counts like any other.
Tests and migrations are left out: they may reach across layers on purpose.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"webhooks": 1, "deadletters": 2, "timedify_ops": 3}
# The project package's own plumbing: settings and the URL and server entry points sit
# above every app by nature (they name all of them), and env is read by settings only.
PROJECT_TOP = {"timedify_ops.settings", "timedify_ops.urls", "timedify_ops.wsgi", "timedify_ops.asgi"}


def module_files() -> dict[str, Path]:
    modules = {}
    for app in LAYERS:
        for path in (ROOT / app).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "tests" in parts or "migrations" in parts:
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def imports_of(path: Path, name: str, modules: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(project module imported, line), for every import statement anywhere in the file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import mod` imports the module pkg.mod; `from mod import name`, mod.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target, node.lineno


def graph() -> tuple[dict[str, set[str]], list[str]]:
    modules = module_files()
    edges: dict[str, set[str]] = {m: set() for m in modules}
    upward = []
    for name, path in modules.items():
        for target, line in imports_of(path, name, modules):
            edges[name].add(target)
            if name in PROJECT_TOP:
                continue
            if LAYERS[name.split(".")[0]] < LAYERS[target.split(".")[0]]:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    return edges, upward


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_it_finds_loops_and_upward_imports_in_a_made_up_graph():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_it_has_no_import_loop():
    assert cycles(graph()[0]) == []


def test_it_has_no_import_from_a_lower_app_to_a_higher_one():
    assert graph()[1] == []
