"""What `pimc compile` prints and renders: the table's default size, --top, --quiet, and a roofline.png
rendered in a forked child that equals the one rendered in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from pimc.compiler.cli import main
from pimc.compiler.driver import compile_model

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "examples" / "gpt2-tiny-decode.onnx"
SEVEN_B = ROOT / "tests" / "models" / "llama2-7b-decode.onnx"


def _rows(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    end = next(i for i, line in enumerate(lines) if line == "")
    return lines[2:end]


def test_small_model_table_has_every_op(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", str(TINY), "-o", str(tmp_path / "o")]) == 0
    assert len(_rows(capsys.readouterr().out)) == 49


def test_large_model_table_has_the_slowest_ops(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", str(SEVEN_B), "-o", str(tmp_path / "o"), "--no-baselines", "--emit", ""]) == 0
    rows = _rows(capsys.readouterr().out)
    assert len(rows) == 26 and rows[-1].startswith("(the 25 slowest of 835 ops")
    assert main(["compile", str(SEVEN_B), "-o", str(tmp_path / "o"), "--no-baselines", "--emit", "", "--top", "3"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert len(rows) == 4 and "node_linear_224" in rows[-2]  # the LM head, 47 us, is the slowest


def test_quiet_prints_only_the_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", str(TINY), "-o", str(tmp_path / "o"), "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("wrote ")


@pytest.mark.parametrize("model", [TINY, ROOT / "tests" / "models" / "gptj-prefill-noopt.onnx"])
def test_background_roofline_equals_the_foreground_one(model: Path) -> None:
    background = compile_model(model, baselines=False, background=True)
    foreground = compile_model(model, baselines=False)
    assert background.roofline is not None and foreground.roofline is None
    assert background.files()["roofline.png"] == foreground.files()["roofline.png"]
