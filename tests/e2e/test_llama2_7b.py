"""Llama-2-7B: the 32-layer torch.onnx export (weights absent) and the DSL description agree.

tests/models/llama2-7b-{prefill,decode}.onnx were exported on the meta device by
tests/models/make_llama2_7b.py (prefill: 512 tokens; decode: 1 token after 511
cached); examples/llama2-7b.pim describes the same model with the same defaults.
"""

from __future__ import annotations

import collections
import math
from pathlib import Path

import pytest
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, TensorType

from pimc.compiler.driver import import_model
from pimc.dialects import nn
from pimc.dialects.nn import phase_of
from pimc.targets.models.cost import is_costed, op_metrics

REPO = Path(__file__).resolve().parents[2]
PARAMS = 6_738_415_616  # Llama-2-7B parameter count


def per_phase(module: ModuleOp) -> dict[str, tuple[int, int]]:
    sums: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for op in module.walk():
        if is_costed(op):
            m = op_metrics(op)
            phase = phase_of(op)
            assert phase is not None
            sums[phase][0] += m.flops
            sums[phase][1] += m.bytes
    return {p: (f, b) for p, (f, b) in sums.items()}


@pytest.fixture(scope="module")
def dsl() -> dict[str, tuple[int, int]]:
    return per_phase(import_model(REPO / "examples" / "llama2-7b.pim"))


@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_onnx_export_imports_concrete_and_matches_the_dsl(phase: str, dsl: dict[str, tuple[int, int]]) -> None:
    module = import_model(REPO / "tests" / "models" / f"llama2-7b-{phase}.onnx")
    (fn,) = module.ops
    assert isinstance(fn, func.FuncOp) and fn.sym_name.data == phase
    counts = collections.Counter(op.name for op in module.walk())
    assert counts["nn.linear"] == 32 * 7 + 1 and counts["nn.attention"] == 32 and counts["nn.rms_norm"] == 65
    assert counts["nn.kv_append"] == (64 if phase == "decode" else 0)
    for op in module.walk():
        for v in [*op.operands, *op.results]:
            if isinstance(v.type, TensorType):
                assert nn.is_static(nn.tensor_shape(v.type))
    weights = {op.sym_name.data: nn.tensor_shape(op.result.type) for op in module.walk() if isinstance(op, nn.WeightOp)}
    assert sum(math.prod(s) for name, s in weights.items() if not name.endswith("inv_freq")) == PARAMS
    flops, bytes_ = per_phase(module)[phase]
    tokens = 512 if phase == "prefill" else 1
    assert flops == pytest.approx(2 * PARAMS * tokens, rel=0.05)  # the 2 x params x tokens rule of thumb
    dsl_flops, dsl_bytes = dsl[phase]
    assert dsl_flops == pytest.approx(flops, rel=0.01)
    assert dsl_bytes == pytest.approx(bytes_, rel=0.01)
