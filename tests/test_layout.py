"""The layout holds: plain packages never import Dagster or the resources, no module imports run in a circle,
and the tree passes ruff."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("learning_assets", "resources", "schemas")
# Where Dagster definitions live; everything else under learning_assets is plain logic.
DAGSTER_MODULES = ("learning_assets.defs", "learning_assets.definitions", "learning_assets.cli")


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
            out[name] = path
    return out


MODULES = _modules()


def _top_level_imports(path: Path) -> set[str]:
    """Modules imported at import time (not inside functions, not only for type checking)."""
    found: set[str] = set()
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for sub in ast.walk(node):
            if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                break
            if isinstance(sub, ast.Import):
                found.update(alias.name for alias in sub.names)
            elif isinstance(sub, ast.ImportFrom) and sub.module and sub.level == 0:
                found.add(sub.module)
                found.update(f"{sub.module}.{alias.name}" for alias in sub.names)
    return found


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("learning_assets.")
                                          and not m.startswith(DAGSTER_MODULES)))
def test_plain_modules_never_import_dagster_or_the_resources(module):
    imported = _top_level_imports(MODULES[module])
    assert not {m for m in imported if m.split(".")[0] in ("dagster", "dagster_pandera", "resources")}, module


def test_no_import_cycles():
    graph = {m: {i for i in _top_level_imports(p) if i in MODULES and i != m} for m, p in MODULES.items()}
    visiting, done, cycles = [], set(), []

    def visit(module: str) -> None:
        if module in done:
            return
        if module in visiting:
            cycles.append(visiting[visiting.index(module):] + [module])
            return
        visiting.append(module)
        for target in sorted(graph[module]):
            visit(target)
        visiting.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
    assert not cycles, " ; ".join(" -> ".join(c) for c in cycles)


def test_the_tree_passes_ruff():
    """Unused imports and names, undefined names, import order and whitespace (`[tool.ruff]` in pyproject)."""
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run([str(ruff), "check", "--no-cache", "--output-format", "concise", str(REPO)],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]
