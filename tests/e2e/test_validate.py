"""`pimc validate`: the emitted traces run in the real PIM simulators, per op and whole, within 10%
(AiM; AttAcc's cases are expected failures until its traces and timing follow the simulator).

The tests against the simulators need them: they run when PIMC_AIM_SIM / PIMC_ATTACC_SIM name them
(`.ci/run` sets both when the simulators are built next to the checkout) and are skipped otherwise.
The plumbing (errors, the table, the JSON, --max-error) is tested with stand-in simulators, scripts
that print a cycle count, and always runs.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from pimc.compiler.cli import main
from pimc.compiler.driver import compile_model
from pimc.compiler.validate import validate_module

REPO = Path(__file__).resolve().parents[2]
LLAMA = REPO / "examples" / "llama2-7b.pim"
TINY = REPO / "examples" / "gpt2-tiny-decode.onnx"
AIM_SIM = os.environ.get("PIMC_AIM_SIM")
ATTACC_SIM = os.environ.get("PIMC_ATTACC_SIM")
needs_aim = pytest.mark.skipif(not AIM_SIM, reason="PIMC_AIM_SIM is not set (the AiM trace simulator)")
needs_attacc = pytest.mark.skipif(not ATTACC_SIM, reason="PIMC_ATTACC_SIM is not set (AttAcc's Ramulator 2)")
TOLERANCE = 0.10


def _script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_no_simulator_is_one_line_naming_option_and_variable(monkeypatch, capsys) -> None:
    monkeypatch.delenv("PIMC_AIM_SIM", raising=False)
    assert main(["validate", str(TINY), "--system", "npu-aim"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "no AiM simulator" in err and "--aim-sim" in err and "PIMC_AIM_SIM" in err


def test_failing_simulator_is_named(tmp_path: Path, capsys) -> None:
    sim = _script(tmp_path / "broken", "echo 'segfault near here' >&2; exit 3\n")
    assert main(["validate", str(TINY), "--system", "npu-aim", "--aim-sim", sim]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert f"the AiM simulator '{sim}' failed" in err and "exit status 3" in err and "segfault near here" in err


def test_simulator_without_cycle_count_is_an_error(tmp_path: Path, capsys) -> None:
    sim = _script(tmp_path / "mute", "exit 0\n")
    assert main(["validate", str(TINY), "--system", "npu-aim", "--aim-sim", sim]) == 1
    assert "no memory_system_cycles line" in capsys.readouterr().err


def test_not_executable_is_an_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "plain").write_text("")
    assert main(["validate", str(TINY), "--system", "npu-aim", "--aim-sim", str(tmp_path / "plain")]) == 1
    assert "is not an executable file" in capsys.readouterr().err


def test_table_json_and_max_error_with_a_stand_in(tmp_path: Path, capsys) -> None:
    # the stand-in reports one cycle per trace line: the figures are not timing, only the plumbing's
    sim = _script(tmp_path / "lines", 'echo "memory_system_cycles $(grep -c "^AiM" "$1")"\n')
    out = tmp_path / "out"
    assert main(["validate", str(TINY), "--system", "npu-aim", "--aim-sim", sim, "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "whole trace (pim)" in text and "max |error|" in text
    doc = json.loads((out / "validate.json").read_text())
    assert doc["simulators"]["aim"]["refresh"] is False
    assert doc["ops"] and all(op["simulator_cycles"] > 0 for op in doc["ops"])
    (total,) = doc["totals"]
    # the whole trace's lines are the ops' lines and one EOC; each op's own trace adds one EOC too
    assert total["simulator_cycles"] == sum(op["simulator_cycles"] for op in doc["ops"]) - len(doc["ops"]) + 1
    assert main(["validate", str(TINY), "--system", "npu-aim", "--aim-sim", sim, "--max-error", "0"]) == 1
    assert "exceeds --max-error" in capsys.readouterr().err


def _check(model: Path, system: str, dims: dict[str, str], strategy: str = "optimal", isa: str = "aim") -> None:
    result = compile_model(model, system, strategy, dims=dims, baselines=False, emit=[])
    assert result.system is not None
    checked = validate_module(result.module, result.report["model"], result.system, {isa: None})
    assert checked.rows, "no PIM op to validate"
    bad = [f"{r.name} ({r.kind}): {100 * r.error:+.1f}%" for r in checked.rows if abs(r.error) > TOLERANCE]
    bad += [f"whole trace of {t.device}: {100 * t.error:+.1f}%" for t in checked.totals if abs(t.error) > TOLERANCE]
    assert not bad, "; ".join(bad)


# Llama-2-7B's layer shapes and smaller ones: GEMVs 4096x4096, 4096x11008, 11008x4096, 4096x32000 (the
# logits), a small model's 64-wide projections; attention over 512..4096 keys, 32 heads and fewer, batch 16
DECODE_CASES = {
    "7b-512": {"layers": "1"},
    "7b-4096": {"layers": "1", "past": "4095"},
    "small-b16-1024": {
        "layers": "1",
        "batch": "16",
        "past": "1023",
        "seq": "4",
        "hidden": "512",
        "heads": "8",
        "kv_heads": "8",
        "ffn": "1536",
        "vocab": "4096",
    },
    "small-8heads": {"layers": "1", "hidden": "512", "heads": "8", "kv_heads": "8", "ffn": "1536", "vocab": "4096"},
    "tiny-64": {"layers": "1", "hidden": "64", "heads": "2", "kv_heads": "2", "ffn": "192", "vocab": "512"},
    "gqa-2048": {"layers": "1", "kv_heads": "8", "past": "2047"},
}


def _strategy(case: str) -> str:
    """optimal, but pim-only at batch 16, where optimal puts the projections on the NPU/GPU."""
    return "pim-only" if "b16" in case else "optimal"


@needs_aim
@pytest.mark.parametrize("case", sorted(DECODE_CASES))
def test_aim_decode_within_10_percent(case: str) -> None:
    _check(LLAMA, "npu-aim", DECODE_CASES[case], _strategy(case))


@needs_aim
def test_aim_both_phases_of_a_small_model() -> None:
    # pim-only puts the prefill GEMMs (M = seq rows) on PIM too
    _check(
        LLAMA,
        "npu-aim",
        {
            "layers": "1",
            "seq": "16",
            "past": "15",
            "hidden": "512",
            "heads": "8",
            "kv_heads": "8",
            "ffn": "1536",
            "vocab": "4096",
        },
        strategy="pim-only",
    )


ATTACC_CASES = ["7b-512", "small-8heads", "tiny-64"]
"""A 7B layer takes AttAcc's simulator ~30 s over its 5 stacks; the longer contexts (2048 keys with GQA,
4096 keys, batch 16) are benchmarks/validate_simulators.py's, which prints them."""


@needs_attacc
@pytest.mark.parametrize("case", ATTACC_CASES)
def test_attacc_decode_within_10_percent(case: str) -> None:
    _check(LLAMA, "attacc", DECODE_CASES[case], _strategy(case), isa="attacc")


@needs_attacc
def test_attacc_both_phases_of_a_small_model() -> None:
    _check(
        LLAMA,
        "attacc",
        {
            "layers": "1",
            "seq": "16",
            "past": "15",
            "hidden": "512",
            "heads": "8",
            "kv_heads": "8",
            "ffn": "1536",
            "vocab": "4096",
        },
        strategy="pim-only",
        isa="attacc",
    )
