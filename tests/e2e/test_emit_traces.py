"""`pimc compile --emit aim,attacc`: traces the strict parsers accept, timed back to the report's figures.

The test system (inputs/npu-aim-attacc.toml) has an AiM part and an AttAcc HBM3-PIM
stack. `optimal` puts the bundled GPT-2's PIM work on the AiM part and `roofline` on
the AttAcc stack, so between the two compiles both traces carry every kind of macro
(GEMVs and attention). Each written trace is parsed by its strict parser
(targets/trace_parse.py) and timed with the timing model; the times and energies
equal the report's per-op estimates.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pimc.compiler.cli import main
from pimc.compiler.driver import compile_model, write_outputs
from pimc.dialects import pim
from pimc.passes.partition import device_of
from pimc.targets.aim_trace import trace_macro_counts
from pimc.targets.attacc_trace import trace_commands
from pimc.targets.pim_timing import block_commands, stream_counts
from pimc.targets.system import load_system
from pimc.targets.trace_parse import parse_aim_trace, parse_attacc_trace

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "examples" / "gpt2-tiny-decode.onnx"
MIXED = Path(__file__).parent / "inputs" / "npu-aim-attacc.toml"


@pytest.mark.parametrize("strategy,device", [("optimal", "aim"), ("roofline", "attacc")])
def test_both_traces_parse_and_time_to_the_report(tmp_path: Path, strategy: str, device: str) -> None:
    result = compile_model(MODEL, str(MIXED), strategy, emit=["aim", "attacc"], baselines=False)
    files = write_outputs(result, tmp_path)
    assert {"pim.aim.trace", "pim.attacc.trace"} <= {f.name for f in files}
    system = load_system(str(MIXED))
    aim_text = (tmp_path / "pim.aim.trace").read_text()
    attacc_text = (tmp_path / "pim.attacc.trace").read_text()
    parse_aim_trace(aim_text, channels=2)
    attacc_lines = parse_attacc_trace(attacc_text)
    ops = {e["name"]: e for e in result.report["ops"] if e["device"] == device}
    kinds = {e["op"] for e in ops.values()}
    assert {"pim.gemv", "pim.attention"} <= kinds
    dev = system.devices[device]
    if device == "aim":
        counts = trace_macro_counts(aim_text, dev)
        assert set(counts) == {n for n, e in ops.items() if e["op"].startswith("pim.")}
        for name, c in counts.items():
            assert c.time_ns(dev) == pytest.approx(ops[name]["latency_ns"], rel=1e-12)
            assert c.energy_pj(dev) == pytest.approx(ops[name]["energy_pj"], rel=1e-12)
        assert attacc_lines == []
    else:
        macros = [op for op in result.module.walk() if isinstance(op, pim.PIM_MACROS) and device_of(op) == device]
        from_ir = [c for op in macros for c in block_commands(op.commands.block)]
        from_trace = trace_commands(attacc_lines)
        assert from_trace == from_ir  # the trace regroups into exactly the IR's commands
        timed = stream_counts(from_trace, dev)
        pim_ops = [e for e in ops.values() if e["op"].startswith("pim.")]
        assert timed.time_ns(dev) == pytest.approx(sum(e["latency_ns"] for e in pim_ops), rel=1e-9)
        assert timed.energy_pj(dev) == pytest.approx(sum(e["energy_pj"] for e in pim_ops), rel=1e-9)
        assert {ln.op for ln in attacc_lines} == {"PIM_WR_GB", "PIM_MAC_AB", "PIM_MV_SB", "PIM_SFM", "PIM_MV_GB",
                                                  "PIM_BARRIER"}


def test_attacc_preset_writes_one_trace_per_stack(tmp_path: Path) -> None:
    """The attacc preset's PIM device is 5 HBM3 stacks (80 channels): five traces, each well formed,
    barriers on all 16 channels of each."""
    assert main(["compile", str(MODEL), "--system", "attacc", "--strategy", "pim-only", "--no-baselines",
                 "-o", str(tmp_path)]) == 0
    stacks = sorted(tmp_path.glob("pim.attacc.stack*.trace"))
    assert [p.name for p in stacks] == [f"pim.attacc.stack{i}.trace" for i in range(5)]
    for p in stacks:
        lines = parse_attacc_trace(p.read_text())
        barriers = [ln for ln in lines if ln.op == "PIM_BARRIER"]
        assert barriers and len(barriers) % 16 == 0
        assert {ln.fields["channel"] for ln in barriers} == set(range(16))
    assert not (tmp_path / "pim.aim.trace").exists()


def test_emit_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", str(MODEL), "--emit", "attacc", "-o", str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == ("pimc: error: --emit attacc: system 'npu-aim' has no PIM device of isa 'attacc' "
                   "(its PIM devices: pim (isa aim))")
    assert main(["compile", str(MODEL), "--emit", "aim,newton", "-o", str(tmp_path / "b")]) == 1
    assert "unknown trace format 'newton'" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
