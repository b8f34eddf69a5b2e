"""The `optimal` partitioner on the structures real exports have: hoisted values (rotary tables and masks
computed once and read by every layer), parallel-residual layers, multi-query attention; its bound, its
determinism and its silence."""

from __future__ import annotations

import importlib.util
import multiprocessing
import random
import time
from pathlib import Path

import pytest

import pimc.targets.placement.optimal as optimal
from pimc.compiler.driver import compile_model, import_model, make_context
from pimc.dialects import nn
from pimc.errors import PimcError
from pimc.passes.annotate_cost import AnnotateCostPass
from pimc.targets.annotations import phase_functions, phase_graph
from pimc.targets.placement.execution import PhaseGraph, schedule_phase
from pimc.targets.placement.placement import StrategyContext, place_phase
from pimc.targets.placement.strategies import STRATEGIES
from pimc.targets.system import load_system

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "tests" / "models"
TOL = 1e-6

_spec = importlib.util.spec_from_file_location("test_partition_helpers", Path(__file__).with_name("test_partition.py"))
assert _spec is not None and _spec.loader is not None
_tp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_tp)


def graph_of(model: Path, system: str) -> PhaseGraph:
    module = import_model(model)
    AnnotateCostPass(system=system).apply(make_context(), module)
    (fn,) = phase_functions(module)
    return phase_graph(fn, 2)[0]


@pytest.mark.parametrize("seed", range(24))
def test_hoisted_decomposition_bound_is_valid(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """With values hoisted even where the plain barriers would do, the proven bound never exceeds the
    exhaustive optimum, the placement is never better than it, and a proof means equality."""
    monkeypatch.setattr(optimal, "HOIST_AT", 0)
    rng = random.Random(1000 + seed)
    n = rng.choice([4, 5, 6])
    graph = _tp.random_graph(rng, n, edge_p=rng.choice([0.2, 0.45]))
    graph.roles = [rng.choice(["fc", "vector", "vector", "attention"]) for _ in range(n)]
    system = _tp.toy(rng.choice(["conflict", "concurrent"]))
    sol = optimal.solve_optimal(graph, system)
    brute = _tp.exhaustive(graph, system)
    assert sol.bound_ns <= brute + TOL
    assert sol.makespan_ns >= brute - TOL
    if sol.proven:
        assert sol.makespan_ns == pytest.approx(brute, rel=1e-9, abs=TOL)


def test_broadcast_rotary_and_mask_do_not_merge_the_layers() -> None:
    """Generate-style Llama-2-7B (rotary tables and mask computed once from position_ids / attention_mask and
    read by all 32 layers): the plain barriers leave one segment of the whole phase; hoisting cuts it into
    half-layers, and the placement is proven least."""
    graph = graph_of(MODELS / "llama2-7b-decode-gen.onnx", "npu-aim")
    system = load_system("npu-aim")
    plain, _ = optimal._segments(graph, [False] * len(graph))
    assert max(len(s.ops) for s in plain) > 0.9 * len(graph)
    hoisted, _ = optimal._segments(graph, optimal.hoisted(graph))
    assert len(hoisted) >= 64 and max(len(s.ops) for s in hoisted) <= 32
    sol = optimal.solve_optimal(graph, system, [[min(lat, key=lat.__getitem__) for lat in graph.latency]])
    assert sol.proven and sol.makespan_ns == pytest.approx(sol.bound_ns)


FIXTURES = ["gptneox", "phi", "falcon", "gptbigcode", "llama_gen"]
"""Parallel residual (GPT-NeoX, Phi, Falcon), multi-query attention (Falcon, GPTBigCode), generate-style
inputs (llama_gen)."""


@pytest.mark.parametrize("model", FIXTURES)
@pytest.mark.parametrize("phase", ["prefill", "decode"])
def test_fixtures_compile_by_default_proven(model: str, phase: str) -> None:
    result = compile_model(MODELS / f"{model}-{phase}-noopt.onnx", baselines=False, emit=[])
    assert result.report["schedule"]["optimal_proven"] == {phase: True}
    assert not [w for w in result.warnings if w.startswith("optimal")]


def test_gptj_interleaved_rotary_is_raised_and_nearly_proven() -> None:
    """GPT-J's rotate_every_two becomes nn.rotary {interleaved}; its per-layer repeat_interleave of the
    hoisted sin/cos floats, so the bound is a relaxation within 0.1% of the placement."""
    module = import_model(MODELS / "gptj-decode-noopt.onnx")
    rotaries = [op for op in module.walk() if isinstance(op, nn.RotaryOp)]
    assert len(rotaries) == 4 and all(op.interleaved is not None for op in rotaries)
    assert not [
        op
        for op in module.walk()
        if isinstance(op, nn.OnnxOp) and op.op_type.data in ("Neg", "Slice") and "rotate" in nn.op_label(op)
    ]
    result = compile_model(MODELS / "gptj-decode-noopt.onnx", baselines=False, emit=[])
    assert result.report["schedule"]["optimal_gap"]["decode"] < 1e-3
    assert not [w for w in result.warnings if w.startswith("optimal")]


def test_boolean_mask_made_additive_is_absorbed_into_attention() -> None:
    module = import_model(MODELS / "llama_gen-decode-noopt.onnx")
    attention = [op for op in module.walk() if isinstance(op, nn.AttentionOp)]
    assert len(attention) == 2 and all(op.mask_fill is not None for op in attention)
    assert not [op for op in module.walk() if isinstance(op, nn.OnnxOp) and op.op_type.data == "Where"]


@pytest.mark.parametrize(
    "model,system",
    [
        ("gptneox-decode-noopt", "npu-aim"),
        ("gptneox-decode-noopt", "hybe"),
        ("gptneox-prefill-noopt", "ianus"),
        ("falcon-prefill-noopt", "attacc"),
        ("phi-decode-noopt", "neupims"),
        ("llama_gen-decode-noopt", "npu-aim"),
    ],
)
def test_optimal_never_worse_than_any_strategy_on_fixtures(model: str, system: str) -> None:
    sys_desc = load_system(system)
    graph = graph_of(MODELS / f"{model}.onnx", system)
    ctx = StrategyContext(sys_desc, "fp16")
    best = place_phase(graph, "optimal", ctx)
    t_best = schedule_phase(graph, best.devices, sys_desc, best.order).makespan_ns
    assert best.bound_ns is not None and best.bound_ns <= t_best + TOL
    for strategy in STRATEGIES:
        try:
            p = place_phase(graph, strategy, ctx)
        except PimcError:
            continue
        assert t_best <= schedule_phase(graph, p.devices, sys_desc, p.order).makespan_ns * (1 + 1e-9) + TOL, strategy


def _busy(stop: float) -> None:
    while time.time() < stop:
        pass


def test_same_placement_on_a_loaded_machine() -> None:
    """No wall-clock limit decides anything: the plan is byte-identical with both cores kept busy."""
    model = MODELS / "phi-decode-noopt.onnx"
    quiet = compile_model(model, system="neupims", baselines=False, emit=[]).plan_mlir
    ctx = multiprocessing.get_context("spawn")
    burners = [ctx.Process(target=_busy, args=(time.time() + 60,)) for _ in range(2)]
    for p in burners:
        p.start()
    try:
        loaded = compile_model(model, system="neupims", baselines=False, emit=[]).plan_mlir
    finally:
        for p in burners:
            p.terminate()
            p.join()
    assert loaded == quiet


def test_solver_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    h = optimal.new_highs()
    h.addVar(0.0, 1.0)
    h.run()
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_falcon_attention_with_its_scale_computed_in_the_graph_is_raised() -> None:
    """Falcon's export computes 1/sqrt(head_dim) from a CastLike of a constant to the query's type: still a
    constant, so the attention is raised (and lowered to PIM in decode)."""
    for phase in ("prefill", "decode"):
        module = import_model(MODELS / f"falcon-{phase}-noopt.onnx")
        attention = [op for op in module.walk() if isinstance(op, nn.AttentionOp)]
        assert len(attention) == 2
        assert all(op.scale.value.data == pytest.approx(16**-0.5) for op in attention)
