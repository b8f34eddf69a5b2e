"""Property-based fuzzing of the `pimc` command line with bad inputs (mutators in fuzzlib.py).

Every case runs `pimc.compiler.cli.main` in this process on a mutated ONNX fixture, example DSL
program, system preset or IR file (through `pimc opt`), or on an odd command line, and must end with exit status 0, or with one
`pimc: error:` line, no traceback and no output directory; never with an exception or a hang
(fuzzlib.run_case). Hypothesis is derandomized, so a run is deterministic.

`PIMC_FUZZ_EXAMPLES=N` sets the total number of cases (default 800, in about 20 s); e.g.
`PIMC_FUZZ_EXAMPLES=5000 pytest tests/fuzz` for a long run.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fuzzlib

TOTAL = int(os.environ.get("PIMC_FUZZ_EXAMPLES", "800"))
SHARE = {"onnx": 0.25, "dsl": 0.25, "system": 0.2, "cli": 0.15, "ir": 0.15}
"""Fraction of the cases each family gets."""


def _settings(family: str) -> settings:
    return settings(
        max_examples=max(1, round(TOTAL * SHARE[family])),
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@pytest.fixture(scope="module")
def workdir():
    """A directory of its own (not under pytest's basetemp, which a concurrent pytest run may prune)."""
    with tempfile.TemporaryDirectory(prefix="pimc-fuzz-") as tmp:
        yield Path(tmp) / "case"


def _run(family: str, rnd, workdir: Path) -> None:
    outcome = fuzzlib.fuzz_one(family, rnd, workdir)
    if os.environ.get("PIMC_FUZZ_LOG"):
        with open(os.environ["PIMC_FUZZ_LOG"], "a") as log:
            first = next((ln for ln in outcome.err.splitlines() if ln.startswith("pimc: error:")), "")
            last = (outcome.exception or "").strip().splitlines()[-1:] or [""]
            log.write(f"{family}\t{outcome.status}\t{outcome.seconds:.2f}\t{first[:150]}\t{outcome.argv}\t{last[0]}\n")
    assert not outcome.problems, outcome.report()


@_settings("onnx")
@given(rnd=st.randoms(use_true_random=False))
def test_mutated_onnx_models(rnd, workdir: Path) -> None:
    _run("onnx", rnd, workdir)


@_settings("dsl")
@given(rnd=st.randoms(use_true_random=False))
def test_mutated_dsl_programs(rnd, workdir: Path) -> None:
    _run("dsl", rnd, workdir)


@_settings("system")
@given(rnd=st.randoms(use_true_random=False))
def test_mutated_system_descriptions(rnd, workdir: Path) -> None:
    _run("system", rnd, workdir)


@_settings("cli")
@given(rnd=st.randoms(use_true_random=False))
def test_odd_command_lines(rnd, workdir: Path) -> None:
    _run("cli", rnd, workdir)


@_settings("ir")
@given(rnd=st.randoms(use_true_random=False))
def test_mutated_ir_through_pimc_opt(rnd, workdir: Path) -> None:
    _run("ir", rnd, workdir)


def test_the_property_can_fail(tmp_path: Path) -> None:
    """The checker flags what the property forbids: a traceback, two error lines, an output left behind."""
    out = tmp_path / "out"
    ok = fuzzlib.Outcome(["compile"], 1, "", "pimc: error: x\n", 0.1)
    assert fuzzlib._check(ok, [out]) == []
    assert fuzzlib._check(fuzzlib.Outcome([], 1, "", "pimc: error: a\npimc: error: b\n", 0.1), [])
    assert fuzzlib._check(fuzzlib.Outcome([], 1, "", "Traceback (most recent call last):\n", 0.1), [])
    assert fuzzlib._check(fuzzlib.Outcome([], None, "", "", 0.1, exception="Traceback\nValueError: x"), [])
    assert fuzzlib._check(fuzzlib.Outcome([], 2, "", "usage: pimc\n", 0.1), [])
    out.mkdir()
    assert fuzzlib._check(ok, [out]) == [f"failed, yet the output directory {out.name} was created"]
    (out / "report.json").write_text('{"x": NaN}')
    assert fuzzlib._check(fuzzlib.Outcome([], 0, "", "", 0.1), [out])


def test_a_hanging_case_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    """The watchdog turns a case that runs too long into a failure instead of a hung suite."""
    import time

    import pimc.compiler.cli as cli

    monkeypatch.setattr(fuzzlib, "CASE_SECONDS", 0.2)
    monkeypatch.setattr(cli, "main", lambda argv: time.sleep(5))
    outcome = fuzzlib.run_case(["systems"], [])
    assert outcome.problems and "CaseTimeout" in (outcome.exception or "")
    assert outcome.seconds < 2
