"""End to end: `pimc compile` on the bundled GPT-2-style decode step, checked against hand arithmetic."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pimc.compiler.cli import main
from pimc.targets.system import preset_names

H, FFN, VOCAB, HEADS, HEAD_DIM, PAST, LAYERS = 64, 256, 512, 4, 16, 15, 2
FP16 = 2  # the default deployment precision (targets/dtypes.py): every float tensor costs 2 bytes


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, str]:
    out = tmp_path_factory.mktemp("out")
    example = Path(__file__).resolve().parents[2] / "examples" / "gpt2-tiny-decode.onnx"
    proc = subprocess.run(
        [sys.executable, "-m", "pimc.compiler.cli", "compile", str(example), "--strategy", "roofline", "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads((out / "report.json").read_text()), out, proc.stdout


def _op(report: dict, name: str) -> dict:
    (entry,) = [e for e in report["ops"] if e["name"] == name]
    return entry


def test_writes_the_three_outputs_and_prints_the_table(compiled: tuple[dict, Path, str]) -> None:
    report, out, stdout = compiled
    assert sorted(p.name for p in out.iterdir()) == [
        "pim.aim.trace",
        "plan.mlir",
        "report.json",
        "roofline.png",
        "timeline.json",
    ]
    header = stdout.splitlines()[0].split()
    assert header == ["#", "name", "op", "shapes", "FLOPs", "bytes", "FLOP/B", "device", "latency"]
    assert "/h.0/attn/c_attn/MatMul" in stdout
    assert (out / "plan.mlir").read_text().startswith("builtin.module")
    assert report["model"] == "gpt2-tiny-decode"
    assert report["system"]["name"] == "npu-aim"


def test_matrix_ops_match_hand_computed_flops_and_bytes(compiled: tuple[dict, Path, str]) -> None:
    report, _, _ = compiled
    qkv = _op(report, "/h.0/attn/c_attn/MatMul")  # raised to linear with its bias Add folded in
    assert qkv["flops"] == 2 * H * 3 * H + 3 * H
    assert qkv["bytes"] == (H + H * 3 * H + 3 * H + 3 * H) * FP16
    assert qkv["intensity"] == pytest.approx(qkv["flops"] / qkv["bytes"])
    attn = _op(report, "/h.1/attn/MatMul_pv")  # q [1,4,1,16] against 16 cached keys and values
    # AiM runs the heads one after another (RD_MAC blocks its command engine), so this tiny
    # attention is faster on the NPU
    assert attn["op"] == "nn.attention" and attn["phase"] == "decode" and attn["device"] == "npu"
    scores = HEADS * (PAST + 1)
    assert attn["flops"] == 2 * scores * 2 * HEAD_DIM + 6 * scores  # QK^T, PV, scale + softmax
    assert attn["bytes"] == (2 * HEADS * HEAD_DIM + 2 * HEADS * (PAST + 1) * HEAD_DIM) * FP16
    lm = _op(report, "/lm_head/Gemm")  # tied head: [1,64] x [512,64]^T
    assert lm["flops"] == 2 * H * VOCAB
    assert lm["bytes"] == (H + VOCAB * H + VOCAB) * FP16
    gelu = _op(report, "/h.0/mlp/Gelu")
    assert (gelu["flops"], gelu["bytes"]) == (8 * FFN, 2 * FFN * FP16)
    ln = _op(report, "/h.0/ln_1/LayerNormalization")
    assert (ln["flops"], ln["bytes"]) == (7 * H, (H + H + H + H) * FP16)
    append = _op(report, "/h.0/attn/Concat_k")  # in place: only the new key is read and written
    assert (append["op"], append["bytes"]) == ("nn.kv_append", 2 * HEADS * HEAD_DIM * FP16)


def test_report_states_dtype_energy_and_memory(compiled: tuple[dict, Path, str]) -> None:
    report, _, _ = compiled
    assert report["dtype"] == "fp16"
    assert report["totals"]["energy_pj"] == pytest.approx(
        sum(e["energy_pj"] for e in report["ops"]) + sum(t["energy_pj"] for t in report["transfers"])
    )
    assert {e["bound"] for e in report["ops"]} == {"compute", "memory", "none"}
    gddr6 = report["memory"]["gddr6"]
    assert 0 < gddr6["total_bytes"] < gddr6["capacity_bytes"]
    # the KV cache in the AiM banks (pim.attention): K and V [1, 4, 16, 16] per layer at 2 bytes
    assert gddr6["kv_cache_bytes"] == {"decode": LAYERS * 2 * HEADS * (PAST + 1) * HEAD_DIM * FP16}
    assert report["system"]["memories"]["gddr6"]["devices"] == ["npu", "pim"]


def test_totals_are_the_sum_of_the_model(compiled: tuple[dict, Path, str]) -> None:
    report, _, _ = compiled
    scores = HEADS * (PAST + 1)
    per_layer = (
        2 * H * 3 * H
        + 3 * H  # qkv projection + bias
        + 2 * (2 * scores * HEAD_DIM)
        + 6 * scores  # attention: QK^T, PV, scale, softmax
        + 2 * H * H
        + H
        + H  # output projection + bias + residual
        + 2 * 7 * H  # two LayerNorms
        + 2 * H * FFN
        + FFN
        + 8 * FFN  # fc + bias + GELU (tanh form)
        + 2 * FFN * H
        + H
        + H  # fc-proj + bias + residual
    )
    expected = LAYERS * per_layer + H + 7 * H + 2 * H * VOCAB  # embedding add, final LN, LM head
    assert report["totals"]["flops"] == expected
    assert report["totals"]["flops"] == sum(e["flops"] for e in report["ops"])
    assert report["phases"]["decode"]["flops"] == expected and list(report["phases"]) == ["decode"]
    total = sum(e["latency_ns"] for e in report["ops"]) + sum(t["latency_ns"] for t in report["transfers"])
    assert report["totals"]["latency_ns"] == pytest.approx(total)


def test_pim_gets_the_gemvs_and_the_trace_covers_them(compiled: tuple[dict, Path, str]) -> None:
    report, out, _ = compiled
    on_pim = sorted(e["name"] for e in report["ops"] if e["device"] == "pim")
    # (the 4-head attention over 16 keys goes to the NPU: AiM runs its heads one after another)
    projections = ["attn/c_attn/MatMul", "attn/c_proj/MatMul", "mlp/c_fc/MatMul", "mlp/c_proj/MatMul"]
    assert on_pim == sorted([f"/h.{i}/{p}" for i in range(LAYERS) for p in projections] + ["/lm_head/Gemm"])
    for e in report["ops"]:  # roofline: every op is on its fastest device
        assert e["latency_ns"] == min(e["latency_ns_by_device"].values())
    lines = (out / "pim.aim.trace").read_text().splitlines()
    grammar = re.compile(
        r"#.*|AiM (WR_GB \d+ \d+ 0x[0-9a-f]+|MAC_ABK \d+ 0x[0-9a-f]+ \d+|RD_MAC \d+ 0x[0-9a-f]+"
        r"|WR_BIAS \d+ 0x[0-9a-f]+|SYNC|EOC)"
    )
    assert all(grammar.fullmatch(line) for line in lines), [ln for ln in lines if not grammar.fullmatch(ln)]
    assert lines[-1] == "AiM EOC"
    assert sum(1 for ln in lines if ln == "AiM SYNC") == len(on_pim)
    assert sum(1 for ln in lines if ln.startswith("# /")) == len(on_pim)
    assert report["totals"]["aim_commands"] == sum(1 for ln in lines if ln.startswith("AiM"))


def test_report_pim_latency_is_the_timing_of_the_emitted_trace(compiled: tuple[dict, Path, str]) -> None:
    """The written trace, parsed by the strict parser and timed macro by macro, gives each PIM op the
    latency and energy the report gives it (the report's figures are closed-form estimates)."""
    from pimc.targets.emit.aim_trace import trace_macro_counts
    from pimc.targets.system import load_system

    report, out, _ = compiled
    dev = load_system(report["system"]["name"]).devices["pim"]
    counts = trace_macro_counts((out / "pim.aim.trace").read_text(), dev)
    on_pim = {e["name"]: e for e in report["ops"] if e["device"] == "pim"}
    assert set(counts) == set(on_pim)
    for name, c in counts.items():
        assert c.time_ns(dev) == pytest.approx(on_pim[name]["latency_ns"], rel=1e-12), name
        assert c.energy_pj(dev) == pytest.approx(on_pim[name]["energy_pj"], rel=1e-12), name


def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    out = tmp_path / "out"
    assert main(["compile", str(bad), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("pimc: error: ") and "\n" not in err and "bad.onnx" in err
    assert not out.exists()


def test_invalid_system_file_names_the_key(tmp_path: Path, example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    system = tmp_path / "s.toml"
    system.write_text(
        'name = "s"\n[memories.m]\ncapacity_gb = 1\nbandwidth_gbps = 1\nenergy_pj_per_bit = 1\n[devices.n]\nkind = "npu"\n'
    )
    assert main(["compile", str(example), "--system", str(system), "-o", str(tmp_path / "o")]) == 1
    assert "s.toml: devices.n.memory: missing" in capsys.readouterr().err


def test_systems_lists_the_preset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["systems"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(preset_names()) == 21 and any(line.startswith("npu-aim ") for line in lines)
    assert any(line.startswith("dgx-a100 ") and "[gpu (gpu), nvlink (interconnect)]" in line for line in lines)


def test_systems_name_describes_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["systems", "ianus"]) == 0
    out = capsys.readouterr().out
    assert "unified memory of npu, pim, PIM sharing conflict" in out
    assert "tRCD_MAC = 56" in out and "MAC peak" in out


def test_a_model_that_does_not_fit_names_the_memory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Llama-2-7B's 13.5 GB of fp16 weights on one Groq LPU's 230 MB of SRAM: one line, no outputs."""
    model = Path(__file__).parents[2] / "examples" / "llama2-7b.pim"
    out = tmp_path / "o"
    assert main(["compile", str(model), "--system", "groq-lpu", "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("pimc: error: memory 'sram' of system 'groq-lpu' (0.23 GB) cannot hold") and "\n" not in err
    assert "weights 13.5 GB (291 tensors, largest 'embed_tokens' 0.262 GB)" in err
    assert not out.exists()


def test_dtype_option_changes_bytes(tmp_path: Path, example: Path) -> None:
    assert main(["compile", str(example), "--dtype", "fp32", "-o", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["dtype"] == "fp32"
    assert _op(report, "/h.0/attn/c_attn/MatMul")["bytes"] == (H + H * 3 * H + 3 * H + 3 * H) * 4
    assert report["totals"]["ops_by_device"]["pim"] == 0  # AiM's MAC lanes compute fp16 only


@pytest.mark.parametrize("preset", __import__("pimc.targets.system", fromlist=["x"]).preset_names())
def test_every_preset_compiles_the_example(preset: str, tmp_path: Path, example: Path) -> None:
    from pimc.targets.system import load_system

    dtypes = load_system(preset).dtypes()
    dtype = "fp16" if "fp16" in dtypes else "bf16"  # TPU v4, Gaudi 3, SN40L and PIM-GPT list bf16, not fp16
    assert main(["compile", str(example), "--system", preset, "--dtype", dtype, "-o", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["system"]["name"] == preset and report["totals"]["latency_ns"] > 0


def test_a_dtype_no_device_has_is_one_line(tmp_path: Path, example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", str(example), "--system", "tpu-v4", "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith("no device of system 'tpu-v4' can run it at dtype fp16 (its devices have rates for: bf16)")
