"""The README's command-output excerpts equal what their commands print now (docs/excerpts.py --check).

Slow blocks (benchmarks with wall-clock times, the sweep) are not run here; `python docs/excerpts.py --all`
regenerates them. A failure prints the diff; `python docs/excerpts.py` rewrites the stale blocks."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docs" / "excerpts.py"


def _excerpts():
    spec = importlib.util.spec_from_file_location("pimc_docs_excerpts", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_readme_excerpts_are_fresh() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, (
        f"README excerpts differ from fresh runs (regenerate: python docs/excerpts.py)\n{done.stdout}{done.stderr}"
    )


def test_the_readme_has_checked_and_slow_blocks() -> None:
    ex = _excerpts()
    blocks = ex.find_blocks(ex.ROOT / "README.md", (ex.ROOT / "README.md").read_text(encoding="utf-8").split("\n"))
    assert any(not b.slow for b in blocks) and any(b.slow for b in blocks)


@pytest.mark.parametrize(
    ("picks", "expected"),
    [
        ("lines 1-2, /c/, -1:", ["a", "b", "c", "...", "f"]),
        ("lines 2, /^e/-", ["...", "b", "...", "e", "f"]),
        ("lines /b/-/d/", ["...", "b", "c", "d", "..."]),
        ("lines 3-", ["...", "c", "d", "e", "f"]),
    ],
)
def test_line_picks(picks: str, expected: list[str]) -> None:
    ex = _excerpts()
    _, _, stages = ex.parse_marker(f"<!-- excerpt: true | {picks} -->")
    assert ex.select(list("abcdef"), stages[0][1]) == expected


def test_elide_and_bad_picks() -> None:
    ex = _excerpts()
    _, command, stages = ex.parse_marker("<!-- excerpt slow: pimc x | elide /: (.*) = / -->")
    assert command == "pimc x" and ex.elide(["error: too big: 1 + 2 = 3"], stages[0][1]) == ["error: ... = 3"]
    with pytest.raises(ex.ExcerptError):
        ex.select(list("abc"), ex.parse_marker("<!-- excerpt: true | lines /c/, /a/ -->")[2][0][1])
