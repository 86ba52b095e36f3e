"""The package's shape: no import circle, and no module imports from a layer above its own."""

from __future__ import annotations

import ast
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"
# Lowest first: a module may import from its own layer and the layers below it.
LAYERS = {
    "bench.errors": 0,
    "bench.config": 0,
    "bench.files": 0,
    "bench.registry": 0,
    "bench.metrics": 0,
    "bench.nextitem_metrics": 0,
    "bench.data": 1,
    "bench.store": 2,
    "bench.tasks": 3,
    "bench.grid": 4,
    "bench.report": 4,
    "bench.cli": 5,
    "bench.api": 5,
    "bench.__main__": 5,
    "bench": 5,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(BENCH.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return LAYERS[prefix]
    raise AssertionError(f"{module} has no layer in tests/test_imports.py")


def imports(path: Path) -> set[str]:
    """Every bench module ``path`` imports, at any depth, outside ``if TYPE_CHECKING``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {
        id(node)
        for branch in ast.walk(tree)
        if isinstance(branch, ast.If) and "TYPE_CHECKING" in ast.unparse(branch.test)
        for node in ast.walk(branch)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "bench":
            for alias in node.names:  # ``from bench.cli import run`` imports bench.cli.run
                folder = BENCH.parent.joinpath(*node.module.split("."))
                is_module = (folder / f"{alias.name}.py").exists()
                found.add(f"{node.module}.{alias.name}" if is_module else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("bench")}
    return found


GRAPH = {module_name(path): imports(path) for path in BENCH.rglob("*.py")}


def test_every_module_has_a_layer_and_imports_none_above_it() -> None:
    upward = [
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if layer(target) > layer(module)
    ]
    assert upward == []


def test_no_import_circle() -> None:
    def visit(module: str, path: tuple[str, ...]) -> None:
        for target in GRAPH.get(module, ()):
            if target in path:
                raise AssertionError(" -> ".join((*path[path.index(target) :], target)))
            if target not in done:
                visit(target, (*path, target))
        done.add(module)

    done: set[str] = set()
    for module in GRAPH:
        visit(module, (module,))
