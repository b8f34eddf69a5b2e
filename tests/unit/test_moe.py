"""Mixture of experts: the expert-load model, the DSL's route statement, the ops' semantics and costs, placement."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from xdsl.dialects import func

from pimc.compiler.cli import main
from pimc.compiler.driver import import_model
from pimc.compiler.frontend.dsl.importer import import_dsl_text
from pimc.dialects import nn
from pimc.errors import ModelImportError, PimcError
from pimc.targets.interp.reference import run_function
from pimc.targets.models.cost import op_metrics
from pimc.targets.models.expert_load import ExpertLoad, parse_expert_load

REPO = Path(__file__).resolve().parents[2]

TINY = """
model "tiny-moe"
param batch = 2
param seq = 8
param hidden = 16
param ffn = 32
param experts = 4
param top_k = 2
phase prefill { tokens = seq }
phase decode { tokens = 1 }
input x[batch, tokens, hidden]
weight router[experts, hidden]
g, idx = moe_gate(linear(x, router.T), top_k=top_k, normalize=true)
moe = route(x, g, idx, experts) as e, xe {
  weight w1[ffn, hidden], w3[ffn, hidden], w2[hidden, ffn]
  yield linear(silu(linear(xe, w1.T)) * linear(xe, w3.T), w2.T)
}
y = x + moe
output y
"""


def _fn(module, name: str) -> func.FuncOp:
    return next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == name)


# -- the load model ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("load", [ExpertLoad(), ExpertLoad(0.8), ExpertLoad(1.5), ExpertLoad(6.0)])
@pytest.mark.parametrize(("tokens", "experts", "top_k"), [(1, 8, 2), (3, 8, 2), (16, 8, 2), (7, 256, 8), (512, 64, 6)])
def test_loads_are_integers_summing_to_the_routed_slots(
    load: ExpertLoad, tokens: int, experts: int, top_k: int
) -> None:
    loads = load.tokens(tokens, experts, top_k)
    assert len(loads) == experts and sum(loads) == tokens * top_k
    assert all(0 <= x <= tokens for x in loads)
    assert loads == sorted(loads, reverse=True) or load.skew == 0  # zipf: expert 0 the hottest


def test_uniform_loads_by_hand() -> None:
    u = ExpertLoad()
    assert u.tokens(1, 8, 2) == [1, 1, 0, 0, 0, 0, 0, 0]  # one decode token reads two experts
    assert u.tokens(8, 8, 2) == [2] * 8
    assert u.tokens(3, 4, 1) == [1, 1, 1, 0]


def test_skewed_loads_are_capped_at_every_token() -> None:
    # zipf:6 puts almost every slot on expert 0; a token picks distinct experts, so expert 0 takes at most T
    loads = ExpertLoad(6.0).tokens(10, 8, 2)
    assert loads[0] == 10 and sum(loads) == 20
    # p = (1, 1/4, 1/9, 1/16) / 1.4236: k = 2 caps expert 0 at 1, the others share the second pick
    p = ExpertLoad(2.0).probabilities(4)
    assert math.isclose(sum(p), 1.0) and math.isclose(p[0] / p[1], 4.0)
    rest = 1 / 4 + 1 / 9 + 1 / 16
    expected = [100, 100 * (1 / 4) / rest, 100 * (1 / 9) / rest, 100 * (1 / 16) / rest]
    loads = ExpertLoad(2.0).tokens(100, 4, 2)
    assert loads[0] == 100 and all(abs(a - b) < 1 for a, b in zip(loads[1:], expected[1:], strict=True))


@pytest.mark.parametrize("text", ["zipf", "zipf:", "zipf:-1", "zipf:nan", "zipf:inf", "pareto:1", "Uniform"])
def test_bad_expert_load_is_one_line(text: str) -> None:
    with pytest.raises(PimcError, match="--expert-load"):
        parse_expert_load(text)


# -- the DSL and the IR -----------------------------------------------------------------------------------------


def test_route_builds_an_expert_per_expert_at_its_load() -> None:
    module = import_dsl_text(TINY, "tiny.pim", expert_load=ExpertLoad(1.0))
    prefill, decode = _fn(module, "prefill"), _fn(module, "decode")
    caps = [op.capacity() for op in prefill.walk() if isinstance(op, nn.MoeDispatchOp)]
    assert caps == ExpertLoad(1.0).tokens(16, 4, 2)
    # decode, T = 2: p = (1, 1/2, 1/3, 1/4) / 2.083; expected loads 2 x 2p = 1.92, 0.96, 0.64, 0.48; floors
    # 1, 0, 0, 0 and the three slots left to the largest remainders (0.96, 0.92, 0.64)
    caps = [op.capacity() for op in decode.walk() if isinstance(op, nn.MoeDispatchOp)]
    assert caps == [2, 1, 1, 0]
    weights = {op.sym_name.data for op in decode.walk() if isinstance(op, nn.WeightOp)}
    assert {f"experts.{e}.{w}" for e in range(4) for w in ("w1", "w3", "w2")} <= weights  # idle ones too
    (combine,) = [op for op in decode.walk() if isinstance(op, nn.MoeCombineOp)]
    assert combine.expert_ids() == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("route(x, g, idx, experts)", "route(x, idx, g, experts)"),
        ("top_k=top_k", "top_k=5"),
        ("yield linear(silu(linear(xe, w1.T)) * linear(xe, w3.T), w2.T)", "yield linear(xe, w1.T)"),
    ],
)
def test_route_errors_name_the_place(edit: str, message: str) -> None:
    old, new = edit, message
    with pytest.raises(ModelImportError, match=r"tiny\.pim:\d+:\d+: "):
        import_dsl_text(TINY.replace(old, new), "tiny.pim")


def test_expert_load_without_a_route_is_refused() -> None:
    with pytest.raises(ModelImportError, match="no route"):
        import_model(REPO / "examples" / "gpt2-small.pim", {"expert_load": "zipf:1"})


def test_reference_equals_a_numpy_mixture_when_no_token_is_dropped() -> None:
    """Four tokens routed two each to four experts (token t to experts t and t + 1 mod 4, by construction of the
    router), uniform capacities of 2: the capacity-limited semantics is the plain top-k mixture, gates
    renormalised over the two picks."""
    rng = np.random.default_rng(7)
    text = TINY.replace("param batch = 2", "param batch = 1").replace("param seq = 8", "param seq = 4")
    fn = _fn(import_dsl_text(text, "tiny.pim"), "prefill")
    assert [op.capacity() for op in fn.walk() if isinstance(op, nn.MoeDispatchOp)] == [2, 2, 2, 2]
    weights = {
        op.sym_name.data: rng.standard_normal(nn.tensor_shape(op.result.type)).astype(np.float32) * 0.3
        for op in fn.walk()
        if isinstance(op, nn.WeightOp)
    }
    router = np.zeros((4, 16), np.float32)
    for t in range(4):
        router[t, t], router[(t + 1) % 4, t] = 3.0, 2.0
    weights["router"] = router
    x = np.zeros((1, 4, 16), np.float32)
    x[0, range(4), range(4)] = 1.0
    x[0, :, 4:] = rng.standard_normal((4, 12)).astype(np.float32)
    (y,) = run_function(fn, weights, [x])
    tokens = x.reshape(4, 16).astype(np.float64)
    expected = tokens.copy()
    gate = np.exp([3.0, 2.0]) / np.exp([3.0, 2.0]).sum()
    for t in range(4):
        for j, e in enumerate((t, (t + 1) % 4)):
            w1, w3, w2 = (weights[f"experts.{e}.{n}"].astype(np.float64) for n in ("w1", "w3", "w2"))
            a, b = tokens[t] @ w1.T, tokens[t] @ w3.T
            expected[t] += gate[j] * ((a / (1 + np.exp(-a))) * b) @ w2.T
    np.testing.assert_allclose(y.reshape(4, 16), expected, rtol=1e-4, atol=1e-5)


def test_tokens_past_a_capacity_are_dropped() -> None:
    """Every token routed to experts 0 and 1 while the uniform load gives each expert 2 of the 4: tokens 2
    and 3 exceed both capacities and add nothing (their output is the residual alone)."""
    rng = np.random.default_rng(3)
    text = TINY.replace("param batch = 2", "param batch = 1").replace("param seq = 8", "param seq = 4")
    fn = _fn(import_dsl_text(text, "tiny.pim"), "prefill")
    weights = {
        op.sym_name.data: rng.standard_normal(nn.tensor_shape(op.result.type)).astype(np.float32)
        for op in fn.walk()
        if isinstance(op, nn.WeightOp)
    }
    router = np.zeros((4, 16), np.float32)
    router[0, 0], router[1, 0] = 3.0, 2.0
    weights["router"] = router
    x = rng.standard_normal((1, 4, 16)).astype(np.float32)
    x[0, :, 0] = 1.0
    (y,) = run_function(fn, weights, [x])
    np.testing.assert_allclose(y[0, 2:], x[0, 2:], rtol=0, atol=0)
    assert not np.allclose(y[0, :2], x[0, :2])


def test_flops_and_bytes_by_hand() -> None:
    """One MoE layer at decode batch 2 (T = 2 tokens, k = 2, uniform: experts 0..3 one token each of E = 4),
    H = 16, F = 32, fp16."""
    fn = _fn(import_dsl_text(TINY, "tiny.pim"), "decode")
    flops = bytes_ = 0
    per_expert: dict[int, tuple[int, int]] = {}
    for op in fn.walk():
        if op.dialect_name() != "nn" or isinstance(op, (nn.WeightOp, nn.ConstantOp)):
            continue
        m = op_metrics(op, 2)
        flops, bytes_ = flops + m.flops, bytes_ + m.bytes
        label = nn.op_label(op)
        if label.startswith("experts."):
            e = int(label.split(".")[1])
            f, b = per_expert.get(e, (0, 0))
            per_expert[e] = (f + m.flops, b + m.bytes)
    t, h, f, k, e = 2, 16, 32, 2, 4
    # each active expert, 1 token: dispatch (2 x 1 x H x 2 B + indices T x k x 8 B), w1 and w3 (2 H F FLOPs,
    # weights F x H x 2 B + in H + out F), silu (4 F, 2 F elements), mul (F, 3 F), w2 (2 F H, F H + F + H)
    dispatch_b = 2 * h * 2 + t * k * 8
    linear_up_b = (f * h + h + f) * 2
    expert_flops = 2 * (2 * h * f) + 4 * f + f + 2 * f * h
    expert_bytes = dispatch_b + 2 * linear_up_b + 2 * f * 2 + 3 * f * 2 + (f * h + f + h) * 2
    assert per_expert == {i: (expert_flops, expert_bytes) for i in range(e)}
    router = (2 * h * e * t, (t * h + e * h + t * e) * 2)
    gate = ((5 + k) * t * e, (t * e + t * k) * 2 + t * k * 8)
    combine = (2 * 4 * h, (t * k * 2 + t * k * 8 + 4 * h * 2 + t * h * 2))
    residual = (t * h, 3 * t * h * 2)
    assert flops == router[0] + gate[0] + e * expert_flops + combine[0] + residual[0]
    assert bytes_ == router[1] + gate[1] + e * expert_bytes + combine[1] + residual[1]


def test_idle_experts_cost_nothing() -> None:
    text = TINY.replace("param batch = 2", "param batch = 1")
    fn = _fn(import_dsl_text(text, "tiny.pim"), "decode")
    idle = [
        op
        for op in fn.walk()
        if nn.op_label(op).startswith(("experts.2.", "experts.3.")) and not isinstance(op, nn.WeightOp)
    ]
    assert idle and all(op_metrics(op, 2).flops == op_metrics(op, 2).bytes == 0 for op in idle)


def test_experts_go_where_their_load_runs_fastest(tmp_path: Path) -> None:
    """A skewed router: the hottest expert's products run on the NPU or GPU, the coldest ones on PIM (AiM), under
    the roofline partition (each op on its fastest device; `optimal` places them alike, in 26 s here)."""
    src = tmp_path / "moe.pim"
    text = TINY.replace("param hidden = 16", "param hidden = 1024").replace("param ffn = 32", "param ffn = 2048")
    src.write_text(text.replace("param experts = 4", "param experts = 8"))
    out = tmp_path / "out"
    argv = [
        str(src),
        "--system",
        "npu-aim",
        "--dim",
        "batch=64",
        "--dim",
        "seq=1",
        "--expert-load",
        "zipf:1.5",
        "--strategy",
        "roofline",
        "-o",
        str(out),
    ]
    assert main(["compile", *argv, "--quiet", "--no-baselines"]) == 0
    ops = json.loads((out / "report.json").read_text())["ops"]
    w1 = {o["name"]: o["device"] for o in ops if o["name"].endswith(".w1") and o.get("phase") == "decode"}
    assert w1["experts.0.out.w1"] != "pim" and w1["experts.7.out.w1"] == "pim", w1
