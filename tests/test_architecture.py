"""The package's structure, checked on its source: every module uses only the public faces
of the others, the imports form no cycle, and the two central classes stay readable.

The rules are the ones docs/architecture.md states. They are checked on the source text
(`ast`), so they cover code paths the other tests do not run.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "riemflow"
CHECKED = [PACKAGE, ROOT / "benchmarks", ROOT / "examples"]


def _modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the package."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()
PRIVATE_MODULES = {name.rsplit(".", 1)[-1] for name in MODULES} | {
    p.stem for d in CHECKED for p in d.rglob("*.py")
}


def _owned(tree: ast.AST) -> set[str]:
    """Names a module defines itself: functions, classes, assigned names and attributes."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _underscore_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    own = _owned(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if _private(alias.name) and alias.name not in PRIVATE_MODULES:
                    found.append(f"{node.lineno}: from {node.module} import {alias.name}")
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            if node.attr not in own and node.attr not in PRIVATE_MODULES:
                found.append(f"{node.lineno}: .{node.attr}")
    return found


SOURCES = sorted(p for d in CHECKED for p in d.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_reads_another_modules_private_members(path):
    """`x._name` and `from m import _name` only for names the module itself defines (a
    private *module*, such as `riemflow._validation`, may be imported by any module)."""
    assert _underscore_uses(path) == []


def _imports(name: str, path: Path) -> set[str]:
    """The package modules `name` imports, at module level or inside functions."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            candidates = [target] + [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        found.update(c for c in candidates if c in MODULES and c != name)
    return found


def test_the_import_graph_has_no_cycle():
    """Layers point one way (errors and validation at the bottom, the command line on
    top); a package `__init__` re-exporting its own modules is not a cycle."""
    graph = {name: _imports(name, path) for name, path in MODULES.items()}
    for name in graph:  # a package's __init__ importing its children is containment
        graph[name] = {t for t in graph[name] if not t.startswith(name + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycle = stack[stack.index(target) :] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


@pytest.mark.parametrize(
    ("module", "cls"),
    [("riemflow/legendre.py", "Legendre"), ("riemflow/parametrization.py", "Parametrization")],
)
def test_central_classes_stay_readable(module, cls):
    """`Legendre` and `Parametrization` hold evaluation and their public methods; the
    Newton solve, derived potentials, curvature, checks, joint flow and the flows'
    right-hand side live in their own modules. Bound: about 450 lines each."""
    tree = ast.parse((ROOT / module).read_text())
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
    assert node.end_lineno - node.lineno + 1 <= 470
