"""Imports go one way: dialects <- targets <- passes <- compiler (the root modules errors.py and limits.py below all).

Every `import` and `from ... import` of a pimc module in the package, at module level or inside a function, is
checked: a module may import its own layer and the layers below, never one above."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = {"dialects": 1, "targets": 2, "passes": 3, "compiler": 4}
"""Each top-level folder's rank; the root modules (errors.py, limits.py) rank 0."""


def _rank(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "pimc":
        return None
    return LAYERS.get(parts[1], 0) if len(parts) > 1 else 0


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
    return out


SOURCES = sorted([*ROOT.glob("*.py"), *(p for layer in LAYERS for p in (ROOT / layer).rglob("*.py"))])


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_go_one_way(path: Path) -> None:
    rel = path.relative_to(ROOT)
    own = LAYERS.get(rel.parts[0], 0) if len(rel.parts) > 1 else 0
    upward = [
        f"{rel}:{line}: imports {module}"
        for line, module in _imports(path)
        if (rank := _rank(module)) is not None and rank > own
    ]
    assert not upward, "\n".join(upward)


def test_every_layer_is_checked() -> None:
    assert {p.relative_to(ROOT).parts[0] for p in SOURCES} >= set(LAYERS)
    assert len(SOURCES) > 50
