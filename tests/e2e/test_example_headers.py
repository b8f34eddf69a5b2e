"""The command in the header comment of every example program compiles it (on the system it names)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from pimc.compiler.cli import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.pim"))


def header_commands(path: Path) -> list[list[str]]:
    """The `pimc ...` command lines of a program's leading comment block, as argument lists."""
    commands = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip()
        if text.startswith("pimc "):
            commands.append(shlex.split(text)[1:])
    return commands


def test_every_example_has_a_header_command() -> None:
    assert EXAMPLES and all(header_commands(p) for p in EXAMPLES)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_header_command_runs(
    example: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)  # the commands name the examples from the repository root
    for argv in header_commands(example):
        out = tmp_path / "out"
        assert main([*argv, "-o", str(out)]) == 0, capsys.readouterr().err
        assert (out / "report.json").is_file()
