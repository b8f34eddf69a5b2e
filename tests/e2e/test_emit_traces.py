"""`pimc compile --emit aim,attacc`: traces the strict parsers accept, timed back to the report's figures.

The test system (inputs/npu-aim-attacc.toml) has an AiM part and an AttAcc HBM3-PIM
stack. `optimal` puts the bundled GPT-2's PIM work on the AiM part and `roofline` on
the AttAcc stack, so between the two compiles both traces carry every kind of macro
(GEMVs and attention); the device that gets no PIM op gets no trace file. Each
written trace is parsed by its strict parser (targets/parse/trace_parse.py) and timed
with the timing model; the times and energies equal the report's per-op estimates.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pimc.compiler.cli import main
from pimc.compiler.driver import compile_model, write_outputs
from pimc.dialects import attacc, pim
from pimc.dialects.nn import op_label, phase_of
from pimc.dialects.place import device_of
from pimc.targets.emit.aim_trace import trace_macro_counts
from pimc.targets.emit.attacc_trace import trace_counts
from pimc.targets.models.pim_timing import block_commands, stream_counts
from pimc.targets.parse.trace_parse import parse_aim_trace, parse_attacc_trace
from pimc.targets.system import load_system

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "examples" / "gpt2-tiny-decode.onnx"
MIXED = Path(__file__).parent / "inputs" / "npu-aim-attacc.toml"


@pytest.mark.parametrize("strategy,device", [("optimal", "aim"), ("roofline", "attacc")])
def test_both_traces_parse_and_time_to_the_report(tmp_path: Path, strategy: str, device: str) -> None:
    result = compile_model(MODEL, str(MIXED), strategy, emit=["aim", "attacc"], baselines=False)
    files = write_outputs(result, tmp_path)
    written = {f.name for f in files} & {"pim.aim.trace", "pim.attacc.trace"}
    assert written == {f"pim.{device}.trace"}  # the other PIM device got no op, so no trace
    assert {e["device"] for e in result.report["ops"]} == {"npu", device}
    system = load_system(str(MIXED))
    ops = {e["name"]: e for e in result.report["ops"] if e["device"] == device}
    kinds = {e["op"] for e in ops.values()}
    # AiM runs attention heads one after another (RD_MAC blocks), so the tiny model's attention goes to the NPU
    assert ({"pim.gemv"} if device == "aim" else {"pim.gemv", "pim.attention"}) <= kinds
    dev = system.devices[device]
    if device == "aim":
        aim_text = (tmp_path / "pim.aim.trace").read_text()
        parse_aim_trace(aim_text, channels=2)
        counts = trace_macro_counts(aim_text, dev)
        assert set(counts) == {n for n, e in ops.items() if e["op"].startswith("pim.")}
        for name, c in counts.items():
            assert c.time_ns(dev) == pytest.approx(ops[name]["latency_ns"], rel=1e-12)
            assert c.energy_pj(dev) == pytest.approx(ops[name]["energy_pj"], rel=1e-12)
    else:
        attacc_lines = parse_attacc_trace((tmp_path / "pim.attacc.trace").read_text())
        macros = [op for op in result.module.walk() if isinstance(op, pim.PIM_MACROS) and device_of(op) == device]
        from_ir = [c for op in macros for c in block_commands(op.commands.block)]
        # the trace times and costs as the IR's commands do (its channels run on between ops)
        from_trace = trace_counts(attacc_lines, dev)
        from_stream = stream_counts(from_ir, dev)
        assert from_trace.cycles == from_stream.cycles > 0
        assert from_trace.energy_pj(dev) == pytest.approx(from_stream.energy_pj(dev), rel=1e-12)
        # and every op's stream times to the report's estimate
        for op in macros:
            c = stream_counts(block_commands(op.commands.block), dev)
            assert c.time_ns(dev) == pytest.approx(ops[op_label(op)]["latency_ns"], rel=1e-12)
            assert c.energy_pj(dev) == pytest.approx(ops[op_label(op)]["energy_pj"], rel=1e-9)
        assert {ln.op for ln in attacc_lines} == {
            "PIM_WR_GB",
            "PIM_MAC_AB",
            "PIM_MV_SB",
            "PIM_SFM",
            "PIM_MV_GB",
            "PIM_BARRIER",
        }


def test_attacc_preset_writes_one_trace_per_stack(tmp_path: Path) -> None:
    """The attacc preset's PIM device is 5 HBM3 stacks (80 channels): five traces, each well formed,
    barriers on all 16 channels of each (every op ends with one on every channel)."""
    assert (
        main(
            [
                "compile",
                str(MODEL),
                "--system",
                "attacc",
                "--strategy",
                "pim-only",
                "--no-baselines",
                "-o",
                str(tmp_path),
            ]
        )
        == 0
    )
    stacks = sorted(tmp_path.glob("pim.attacc.stack*.trace"))
    assert [p.name for p in stacks] == [f"pim.attacc.stack{i}.trace" for i in range(5)]
    for p in stacks:
        lines = parse_attacc_trace(p.read_text())
        barriers = [ln for ln in lines if ln.op == "PIM_BARRIER"]
        assert barriers
        assert {ln.fields["channel"] for ln in barriers} == set(range(16))
    assert not (tmp_path / "pim.aim.trace").exists()


def test_emit_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", str(MODEL), "--emit", "attacc", "-o", str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "pimc: error: --emit attacc: system 'npu-aim' has no PIM device of isa 'attacc' "
        "(its PIM devices: pim (isa aim))"
    )
    assert main(["compile", str(MODEL), "--emit", "aim,newton", "-o", str(tmp_path / "b")]) == 1
    assert "unknown trace format 'newton'" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


SMALL_LLAMA = {
    "layers": "2",
    "hidden": "256",
    "heads": "4",
    "kv_heads": "4",
    "ffn": "512",
    "vocab": "1000",
    "seq": "32",
    "past": "31",
}
"""examples/llama2-7b.pim cut down: its prefill runs 32 query rows through every GEMV and attention head."""


def test_fc_pim_macs_several_vectors_and_its_trace_times_to_the_report(tmp_path: Path) -> None:
    """FC-PIM (64 lanes per bank) MACs each column with 4 input vectors at once: the IR says so
    (attacc.mac_ab / attacc.wr_gb with vectors = 4), the trace holds the 4 vectors in 4 global-buffer
    slots per write and one PIM_MAC_AB per column, and parsed back it times and costs as the IR's commands,
    whose timing is the report's estimate."""

    system_file = Path(__file__).parent / "inputs" / "gpu-fc-pim.toml"
    result = compile_model(
        REPO / "examples" / "llama2-7b.pim", str(system_file), "pim-only", dims=SMALL_LLAMA, baselines=False
    )
    write_outputs(result, tmp_path)
    dev = load_system(str(system_file)).devices["fc_pim"]
    macros = [op for op in result.module.walk() if isinstance(op, pim.PIM_MACROS) and device_of(op) == "fc_pim"]
    served = {c.vectors.value.data for op in macros for c in op.commands.walk() if isinstance(c, attacc.MacAbOp)}
    assert served == {1, 4}  # decode's one row per GEMV; prefill's 32 rows in groups of 4
    lines = parse_attacc_trace((tmp_path / "pim.attacc.trace").read_text())
    slots = {ln.fields["bank_group"] * 4 + ln.fields["bank"] for ln in lines if ln.op in ("PIM_WR_GB", "PIM_MV_GB")}
    assert slots == {0, 1, 2, 3}
    from_ir = [c for op in macros for c in block_commands(op.commands.block)]
    from_trace, from_stream = trace_counts(lines, dev), stream_counts(from_ir, dev)
    assert from_trace.cycles == from_stream.cycles > 0
    assert from_trace.energy_pj(dev) == pytest.approx(from_stream.energy_pj(dev), rel=1e-12)
    ops = [e for e in result.report["ops"] if e["device"] == "fc_pim" and e["op"].startswith("pim.")]
    assert {e["op"] for e in ops} == {"pim.gemv", "pim.attention"}
    for phase in ("prefill", "decode"):
        timed = [stream_counts(block_commands(op.commands.block), dev) for op in macros if phase_of(op) == phase]
        estimates = [e for e in ops if e["phase"] == phase]
        assert sum(c.time_ns(dev) for c in timed) == pytest.approx(sum(e["latency_ns"] for e in estimates), rel=1e-12)
        assert sum(c.energy_pj(dev) for c in timed) == pytest.approx(sum(e["energy_pj"] for e in estimates), rel=1e-12)


def test_papi_preset_writes_fc_pim_stacks_only(tmp_path: Path) -> None:
    """papi, pim-only: every PIM op goes to FC-PIM (80 channels, 5 stacks); Attn-PIM gets none and so no
    trace. Each stack's trace holds one PIM_MAC_AB per column of every MAC on its channels."""
    from pimc.targets.emit.attacc_trace import STACK_CHANNELS

    assert (
        main(
            [
                "compile",
                str(REPO / "examples" / "llama2-7b.pim"),
                "--system",
                "papi",
                "--strategy",
                "pim-only",
                "--no-baselines",
                "-o",
                str(tmp_path),
                *(f"--dim={k}={v}" for k, v in SMALL_LLAMA.items()),
            ]
        )
        == 0
    )
    names = sorted(p.name for p in tmp_path.glob("*.trace"))
    assert names == [f"pim.fc_pim.attacc.stack{i}.trace" for i in range(5)]
    result = compile_model(REPO / "examples" / "llama2-7b.pim", "papi", "pim-only", dims=SMALL_LLAMA, baselines=False)
    expected = [0] * 5
    for op in result.module.walk():
        if isinstance(op, pim.PIM_MACROS):
            assert device_of(op) == "fc_pim"
            for c in block_commands(op.commands.block):
                if c.kind == "MAC_ABK":
                    for ch in range(c.first_channel, c.first_channel + c.channels):
                        expected[ch // STACK_CHANNELS] += c.opsize
    got = [sum(ln.op == "PIM_MAC_AB" for ln in parse_attacc_trace((tmp_path / n).read_text())) for n in names]
    assert got == expected and expected[0] > 0


def test_no_trace_for_a_device_without_pim_ops(tmp_path: Path) -> None:
    """npu-only places nothing on AiM: no pim.aim.trace, whether the format is the default or asked for
    with --emit (which still refuses a format the system has no device for)."""
    assert main(["compile", str(MODEL), "--strategy", "npu-only", "--no-baselines", "-o", str(tmp_path / "a")]) == 0
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "plan.mlir",
        "report.json",
        "roofline.png",
        "timeline.json",
    ]
    assert (
        main(
            [
                "compile",
                str(MODEL),
                "--strategy",
                "npu-only",
                "--emit",
                "aim",
                "--no-baselines",
                "-o",
                str(tmp_path / "b"),
            ]
        )
        == 0
    )
    assert not list((tmp_path / "b").glob("*.trace"))
    assert main(["compile", str(MODEL), "--strategy", "pim-only", "--no-baselines", "-o", str(tmp_path / "c")]) == 0
    assert (tmp_path / "c" / "pim.aim.trace").exists()
    assert main(["compile", str(MODEL), "--strategy", "npu-only", "--emit", "attacc", "-o", str(tmp_path / "d")]) == 1
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("system", ["npu-aim", "attacc"])
def test_a_trace_too_long_is_refused_before_it_is_rendered(
    tmp_path: Path, system: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stream that unrolls to more than MAX_TRACE_LINES lines is one error and no file; the report does
    not need the trace, so compile_model itself (a sweep point) still succeeds. The line count the limit
    uses is the written trace's."""
    import pimc.targets.emit.trace_files as trace_files

    args = ["compile", str(MODEL), "--system", system, "--strategy", "pim-only", "--no-baselines"]
    assert main([*args, "-o", str(tmp_path / "full")]) == 0
    lines = sum(len(p.read_text().splitlines()) for p in (tmp_path / "full").glob("*.trace"))
    monkeypatch.setattr(trace_files, "MAX_TRACE_LINES", lines)
    assert main([*args, "-o", str(tmp_path / "exact")]) == 0
    monkeypatch.setattr(trace_files, "MAX_TRACE_LINES", lines - 1)
    capsys.readouterr()
    assert main([*args, "-o", str(tmp_path / "over")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("pimc: error: the ") and f"would be {lines:.3g} lines" in err[-1]
    assert not (tmp_path / "over").exists()
    result = compile_model(MODEL, system, "pim-only", baselines=False)
    assert result.report["ops"]
    with pytest.raises(trace_files.TraceTooLargeError):
        write_outputs(result, tmp_path / "later")
    assert not (tmp_path / "later").exists()


def _unrolled_aim_trace(module, model: str, system: str, device: str) -> str:
    """The AiM trace written command by command (no templates): what emit_aim_trace must equal."""
    from pimc.dialects.aim import trace_line
    from pimc.targets.emit.aim_trace import _macro_comment

    lines = [f"# pimc AiM trace: model {model}, system {system}, device {device}"]
    for op in module.walk():
        if isinstance(op, pim.PIM_MACROS) and op.commands.blocks and device_of(op) == device:
            lines.append(_macro_comment(op))
            lines += [trace_line(cmd) for cmd in block_commands(op.commands.block)]
    return "\n".join([*lines, "AiM EOC"]) + "\n"


def _unrolled_attacc_traces(module, device: str, dev) -> list[str]:
    """The AttAcc traces written command by command (no templates): each macro's channel programs, its
    channels interleaved line by line within each stack."""
    from pimc.targets.emit.attacc_trace import STACK_CHANNELS, _address, stack_count
    from pimc.targets.models import attacc_timing

    stacks: list[list[str]] = [[] for _ in range(stack_count(dev))]
    for op in module.walk():
        if isinstance(op, pim.PIM_MACROS) and op.commands.blocks and device_of(op) == device:
            programs = attacc_timing.channel_programs(list(block_commands(op.commands.block)), dev.pim.channels)
            for stack in range(stack_count(dev)):
                chans = range(stack * STACK_CHANNELS, min((stack + 1) * STACK_CHANNELS, dev.pim.channels))
                per = [attacc_timing.program_lines(programs[c], dev) for c in chans]
                for i, ln in attacc_timing.interleave(per):
                    address = _address(chans[i], max(ln.row, 0), ln.column, ln.bank, ln.bank_group)
                    stacks[stack].append(f"{ln.op} 0x{address:08x}")
    return ["".join(f"{ln}\n" for ln in s) for s in stacks]


@pytest.mark.parametrize("system,device", [("npu-aim", "pim"), ("attacc", "pim"), ("papi", "fc_pim")])
def test_templated_traces_equal_command_by_command_traces(system: str, device: str) -> None:
    """The emitters render each distinct command block once and shift its rows for every other block of
    that shape; the text equals writing every command out one by one. Three layers give blocks of equal
    shape at different rows (GEMVs, attention with its K and V caches), prefill and decode different ones."""
    from pimc.targets.emit.aim_trace import emit_aim_trace
    from pimc.targets.emit.attacc_trace import emit_attacc_traces

    dims = {**SMALL_LLAMA, "layers": "3"}
    result = compile_model(REPO / "examples" / "llama2-7b.pim", system, "pim-only", dims=dims, baselines=False)
    macros = [op for op in result.module.walk() if isinstance(op, pim.PIM_MACROS) and device_of(op) == device]
    signatures = {pim.stream_signature(op.commands.block)[0] for op in macros}
    bases = {pim.stream_signature(op.commands.block)[1] for op in macros}
    assert len(signatures) < len(macros) and len(bases) > len(signatures)  # shapes repeat at other rows
    dev = load_system(system).devices[device]
    if dev.pim.isa == "aim":
        text = emit_aim_trace(result.module, "m", system, device)
        assert text == _unrolled_aim_trace(result.module, "m", system, device)
        parse_aim_trace(text)
    else:
        texts = emit_attacc_traces(result.module, device, dev)
        assert texts == _unrolled_attacc_traces(result.module, device, dev)
        assert sum(len(parse_attacc_trace(t)) for t in texts) > 0
