"""HuggingFace models as torch.onnx (dynamo) exports them: every shape concrete, layers recognised, phase found.

The committed fixtures in tests/models/ are real exports of random-initialised tiny
GPT-2, Llama (GQA: 4 query heads over 2 K/V heads), OPT and BERT, made by
tests/models/export_hf.py. When torch and transformers are installed (the `hf`
extra), `test_live_export` exports the same models afresh and checks them the same way, and
`pimc run` executes the fresh GPT-2 and Llama exports (PIM ops from their AiM command streams on
the functional emulator) and matches onnxruntime.
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path

import pytest
from xdsl.dialects import func
from xdsl.dialects.builtin import StringAttr, TensorType

from pimc.compiler.driver import import_model, unmodelled_warning
from pimc.dialects import nn

MODELS = Path(__file__).resolve().parents[1] / "models"
LAYERS = 2

# What one tiny model raises to, per phase: HF structure x 2 layers (+ final norm, lm head / pooler).
EXPECTED: dict[str, dict[str, int]] = {
    "gpt2": {"nn.linear": 4 * LAYERS + 1, "nn.attention": LAYERS, "nn.layer_norm": 2 * LAYERS + 1, "nn.gelu": LAYERS},
    "llama": {
        "nn.linear": 7 * LAYERS + 1,
        "nn.attention": LAYERS,
        "nn.rms_norm": 2 * LAYERS + 1,
        "nn.rotary": 2 * LAYERS,
        "nn.silu": LAYERS,
    },
    "opt": {"nn.linear": 6 * LAYERS + 1, "nn.attention": LAYERS, "nn.layer_norm": 2 * LAYERS + 1},
    "bert": {"nn.linear": 6 * LAYERS + 1, "nn.attention": LAYERS, "nn.layer_norm": 2 * LAYERS + 1, "nn.gelu": LAYERS},
}
KV_HEADS = {"gpt2": 4, "llama": 2, "opt": 4, "bert": 4}
SEMANTIC = (
    "nn.linear",
    "nn.attention",
    "nn.layer_norm",
    "nn.rms_norm",
    "nn.gelu",
    "nn.silu",
    "nn.rotary",
    "nn.kv_append",
)

FIXTURES = sorted(p.name for p in MODELS.glob("*.onnx") if p.name.split("-")[0] in EXPECTED and "dynamic" not in p.name)


def check_model(path: Path, model: str, phase: str, dims: dict[str, str] | None = None) -> None:
    module = import_model(path, dims)
    (fn,) = module.ops
    assert isinstance(fn, func.FuncOp) and fn.sym_name.data == phase
    counts = collections.Counter(op.name for op in module.walk() if op.name in SEMANTIC)
    expected = dict(EXPECTED[model])
    if phase == "decode":
        expected["nn.kv_append"] = 2 * LAYERS
    assert dict(counts) == expected
    for op in module.walk():
        for value in [*op.operands, *op.results]:
            if isinstance(value.type, TensorType):
                assert nn.is_static(nn.tensor_shape(value.type)), (nn.op_label(op), value.type)
        if op.dialect_name() == "nn":
            attr = op.attributes["phase"]
            assert isinstance(attr, StringAttr) and attr.data == phase
    for att in (op for op in module.walk() if isinstance(op, nn.AttentionOp)):
        _, hq, hkv, s, t, d, _ = att.dims()
        assert (hq, hkv, d) == (4, KV_HEADS[model], 16)
        assert (att.causal is not None) == (model != "bert")
        assert s == (1 if phase == "decode" else 8) and t == 8  # decode: 7 cached + 1 new
    assert unmodelled_warning(module) is None


@pytest.mark.parametrize("fixture", FIXTURES)
def test_exported_fixture(fixture: str) -> None:
    model, phase, _ = fixture.removesuffix(".onnx").split("-")
    check_model(MODELS / fixture, model, phase)


def test_fixtures_cover_every_model_phase_and_mode() -> None:
    expected = {
        f"{m}-{p}-{o}.onnx" for m in ("gpt2", "llama", "opt") for p in ("prefill", "decode") for o in ("opt", "noopt")
    }
    expected |= {"bert-prefill-opt.onnx", "bert-prefill-noopt.onnx"}
    assert set(FIXTURES) == expected


@pytest.mark.parametrize("model", ["gpt2", "llama"])
def test_dynamic_export_binds_dims(model: str) -> None:
    path = MODELS / f"{model}-decode-dynamic.onnx"
    module = import_model(path, {"batch": "3", "seq": "1", "past": "7"})
    (att, *_) = [op for op in module.walk() if isinstance(op, nn.AttentionOp)]
    assert att.dims()[0] == 3 and att.dims()[4] == 8
    check_model(path, model, "decode", {"batch": "1", "seq": "1", "past": "7"})
    prefill = import_model(path, {"batch": "1", "seq": "8", "past": "0"})  # an empty past is a prefill
    assert [f.sym_name.data for f in prefill.ops if isinstance(f, func.FuncOp)] == ["prefill"]
    assert len(prefill.ops) == 1


@pytest.mark.parametrize("model", ["gpt2", "llama", "opt", "bert"])
def test_live_export(model: str, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("onnxscript")
    import importlib.util

    spec = importlib.util.spec_from_file_location("export_hf", MODELS / "export_hf.py")
    assert spec is not None and spec.loader is not None
    export_hf = importlib.util.module_from_spec(spec)
    sys.modules["export_hf"] = export_hf  # its dataclasses look their module up
    spec.loader.exec_module(export_hf)
    hf = export_hf.build_model(model)
    phases = ["prefill"] if model == "bert" else ["prefill", "decode"]
    for phase in phases:
        spec_ = export_hf.encoder_spec(hf) if model == "bert" else export_hf.causal_spec(hf, phase)
        program, _ = export_hf.export(spec_, optimize=False)
        path = tmp_path / f"{model}-{phase}.onnx"
        export_hf.save_inline(program, path)
        check_model(path, model, phase)
        if model in ("gpt2", "llama"):  # the fresh export runs with its PIM ops from their command streams
            from pimc.compiler.run import format_run, run_model

            result = run_model(path, "npu-aim", "pim-only")
            assert result.macros.get("pim", 0) > 0
            assert result.max_error() < 2e-3, format_run(result)
