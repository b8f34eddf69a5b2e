"""`pimc sweep`: dim-list parsing, the per-point metrics, failed points, and the CSV/PNG outputs."""

from __future__ import annotations

import csv
import functools
from pathlib import Path
from typing import Any

import pytest

from pimc.compiler import driver
from pimc.compiler.cli import main
from pimc.compiler.sweep import (
    METRIC_COLUMNS,
    metrics_row,
    parse_sweep_dims,
    run_sweep,
    sweep_png_bytes,
    write_sweep,
)
from pimc.errors import PimcError

REPO = Path(__file__).resolve().parents[2]
GPT2 = REPO / "examples" / "gpt2-small.pim"
SMALL = ["--dim", "layers=2", "--dim", "seq=16", "--dim", "past=15"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def fake_report(batch: int, system: str) -> dict[str, Any]:
    tpot = 1e4 * (1 + batch / 8) * (2 if system == "attacc" else 1)
    return {
        "dtype": "fp16",
        "schedule": {"ttft_ns": 1e6 * batch, "tpot_ns": tpot, "tokens_per_step": 1},
        "phases": {
            "prefill": {"tokens": 16 * batch, "energy_pj": 1e9 * batch, "latency_ns": 1e6 * batch},
            "decode": {"tokens": batch, "energy_pj": 2e7 * batch, "latency_ns": tpot},
        },
        "totals": {"energy_pj": 1e9 * batch + 2e7 * batch},
    }


class FakeResult:
    def __init__(self, report: dict[str, Any]) -> None:
        self.report = report


def fake_compile(
    path: Any, system: str, strategy: str, dims: dict[str, str], dtype: str | None, **_: Any
) -> FakeResult:
    if system == "npu-aim" and dims["batch"] == "64":
        raise PimcError("memory gddr6: the model does not fit")
    return FakeResult(fake_report(int(dims["batch"]), system))


@pytest.fixture
def rows(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    monkeypatch.setattr(driver, "compile_model", fake_compile)
    return run_sweep(GPT2, ["attacc", "npu-aim"], {"batch": ["1", "4", "64"], "past": ["511", "2047"]})


def test_parse_sweep_dims() -> None:
    assert parse_sweep_dims([]) == {}
    assert parse_sweep_dims(["batch=1,4,16", " past = 511 , 2047 ", "layers=2"]) == {
        "batch": ["1", "4", "16"],
        "past": ["511", "2047"],
        "layers": ["2"],
    }


@pytest.mark.parametrize(
    "specs, message",
    [
        (["batch"], "expected NAME=V1,V2"),
        (["batch="], "expected NAME=V1,V2"),
        (["=1,2"], "expected NAME=V1,V2"),
        (["batch=1,,4"], "empty value"),
        (["batch=1,4,"], "empty value"),
        (["batch=1", "batch=2"], "given twice"),
        (["dtype=f16,f32"], "sweep column"),
    ],
)
def test_parse_sweep_dims_errors(specs: list[str], message: str) -> None:
    with pytest.raises(PimcError, match=message) as e:
        parse_sweep_dims(specs)
    assert "\n" not in str(e.value)


def test_metrics_row() -> None:
    row = metrics_row(fake_report(4, "npu-aim"))
    assert row["decode_tokens"] == 4
    assert row["decode_tokens_per_s"] == pytest.approx(4 / 1.5e4 * 1e9)
    assert row["decode_energy_per_token_uj"] == pytest.approx(20.0)
    assert row["prefill_tokens_per_s"] == pytest.approx(64 / 4e6 * 1e9)
    assert row["prefill_energy_per_token_uj"] == pytest.approx(1e9 * 4 / 64 / 1e6)
    assert set(row) == set(METRIC_COLUMNS)


def test_metrics_row_without_schedule_or_decode() -> None:
    row = metrics_row({"phases": {"prefill": {"ops": 3, "energy_pj": 5.0}}, "totals": {"energy_pj": 5.0}})
    assert row["energy_pj"] == 5.0
    assert all(row[c] is None for c in METRIC_COLUMNS if c != "energy_pj")


def test_failed_point_is_an_error_row(rows: list[dict[str, Any]]) -> None:
    assert [(r["system"], r["batch"], r["past"]) for r in rows][:3] == [
        ("attacc", "1", "511"),
        ("attacc", "1", "2047"),
        ("attacc", "4", "511"),
    ]
    assert len(rows) == 12
    failed = [r for r in rows if r["error"]]
    assert [(r["system"], r["batch"]) for r in failed] == [("npu-aim", "64")] * 2
    assert failed[0]["error"] == "memory gddr6: the model does not fit"
    assert all(failed[0][c] is None for c in METRIC_COLUMNS)
    assert all(r["decode_tokens_per_s"] > 0 for r in rows if not r["error"])


def test_any_failing_point_is_an_error_row_and_the_sweep_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """A PimcError's row holds its message (first line: a DSL error's context lines are left out); any other
    exception, a bug, is `internal error: <type>: <message>` on one line; the points after it still compile,
    and a report the metrics cannot be read from is a failed point too."""
    failures: dict[str, BaseException] = {
        "2": PimcError("model.pim:3:7: unknown name 'x'\n  h = x\n      ^"),
        "3": KeyError("nope"),
        "4": ValueError("first line\nsecond line"),
        "5": RecursionError(),
    }

    def failing(path: Any, system: str, strategy: str, dims: dict[str, str], dtype: str | None, **_: Any) -> FakeResult:
        if dims["batch"] in failures:
            raise failures[dims["batch"]]
        if dims["batch"] == "6":
            return FakeResult({"phases": {"decode": {"tokens": "many", "latency_ns": 5.0}}})
        return FakeResult(fake_report(int(dims["batch"]), system))

    monkeypatch.setattr(driver, "compile_model", failing)
    rows = run_sweep(GPT2, ["attacc"], {"batch": ["1", "2", "3", "4", "5", "6", "7"]})
    assert [r["error"] for r in rows] == [
        None,
        "model.pim:3:7: unknown name 'x'",
        "internal error: KeyError: 'nope'",
        "internal error: ValueError: first line second line",
        "internal error: RecursionError",
        "internal error: TypeError: unsupported operand type(s) for /: 'str' and 'float'",
        None,
    ]
    assert all(r[c] is None for r in rows if r["error"] for c in METRIC_COLUMNS)
    assert rows[-1]["decode_tokens_per_s"] > 0


def test_unknown_system_fails_up_front(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(driver, "compile_model", fake_compile)
    with pytest.raises(PimcError):
        run_sweep(GPT2, ["attacc", "no-such-system"], {"batch": ["1"]})


def test_speculate_is_passed_only_when_given(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []

    def recording(path: Any, **kwargs: Any) -> FakeResult:
        seen.append(kwargs)
        return FakeResult(fake_report(1, kwargs["system"]))

    monkeypatch.setattr(driver, "compile_model", recording)
    run_sweep(GPT2, ["attacc"], {"batch": ["1"]})
    run_sweep(GPT2, ["attacc"], {"batch": ["1"]}, speculate=4)
    assert "speculate" not in seen[0] and seen[1]["speculate"] == 4


def test_write_sweep_round_trips(rows: list[dict[str, Any]], tmp_path: Path) -> None:
    files = write_sweep(rows, tmp_path / "out")
    assert [f.name for f in files] == ["sweep.csv", "sweep.png"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["sweep.csv", "sweep.png"]  # no temp files
    with open(files[0], newline="") as f:
        read = list(csv.DictReader(f))
    assert list(read[0]) == ["system", "strategy", "dtype", "batch", "past", *METRIC_COLUMNS, "error"]
    assert len(read) == len(rows)
    for got, want in zip(read, rows):
        for column, value in got.items():
            if want[column] is None:
                assert value == ""
            elif isinstance(want[column], float):
                assert float(value) == want[column]
            else:
                assert value == str(want[column])
    assert files[1].read_bytes().startswith(PNG_SIGNATURE)


def test_write_sweep_failure_leaves_nothing(rows: list[dict[str, Any]], tmp_path: Path) -> None:
    (tmp_path / "sweep.png").mkdir()
    with pytest.raises(PimcError, match="cannot write the outputs"):
        write_sweep(rows, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["sweep.png"]


def test_png_prefill_only_and_categorical_x() -> None:
    rows = [
        {
            "system": "npu",
            "strategy": "optimal",
            "dtype": "fp16",
            "model": m,
            **metrics_row({"schedule": {"ttft_ns": 1e6}, "phases": {"prefill": {"tokens": 16, "energy_pj": 1e8}}}),
            "error": None,
        }
        for m in ("small", "large")
    ]
    assert sweep_png_bytes(rows, "model").startswith(PNG_SIGNATURE)


@functools.cache
def has_schedule() -> bool:
    dims = {"layers": "2", "seq": "16", "past": "15"}
    return "schedule" in driver.compile_model(GPT2, system="npu-aim", dims=dims).report


@pytest.mark.skipif(not has_schedule(), reason="needs report['schedule'] (schema v3)")
def test_cli_sweep_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sweep"
    assert main(["sweep", str(GPT2), "--system", "npu-aim", "--dim", "batch=1,2", *SMALL, "-o", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "tokens/s" in stdout and "wrote" in stdout
    with open(out / "sweep.csv", newline="") as f:
        read = list(csv.DictReader(f))
    assert [r["batch"] for r in read] == ["1", "2"]
    assert all(not r["error"] and float(r["decode_tokens_per_s"]) > 0 for r in read)
    assert (out / "sweep.png").read_bytes().startswith(PNG_SIGNATURE)


def test_cli_sweep_needs_a_dim(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", str(GPT2), "--system", "npu-aim"]) == 1
    assert "at least one --dim" in capsys.readouterr().err
