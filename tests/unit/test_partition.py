"""Partition strategies and the schedule: `optimal` against exhaustive search, policies, overlap rules."""

from __future__ import annotations

import dataclasses
import itertools
import random
from pathlib import Path

import pytest

from pimc.compiler.driver import compile_model, import_model, make_context
from pimc.errors import PimcError
from pimc.passes.annotate_cost import AnnotateCostPass
from pimc.targets.annotations import phase_functions, phase_graph
from pimc.targets.placement.execution import PhaseGraph, schedule_phase
from pimc.targets.placement.optimal import barriers, solve_optimal
from pimc.targets.placement.placement import StrategyContext, papi_threshold, place_phase
from pimc.targets.placement.strategies import STRATEGIES
from pimc.targets.system import System, load_system

ROOT = Path(__file__).resolve().parents[2]
TOY = str(ROOT / "tests" / "filecheck" / "inputs" / "test-system.toml")
TOL = 1e-6


def toy(sharing: str = "conflict") -> System:
    """npu + pim on `dram` (shared under `sharing`), gpu on `hbm`, one link between them."""
    system = load_system(TOY)
    memories = dict(system.memories)
    memories["dram"] = dataclasses.replace(memories["dram"], pim_sharing=sharing)
    return dataclasses.replace(system, memories=memories)


def random_graph(rng: random.Random, n: int, edge_p: float = 0.45) -> PhaseGraph:
    latency, energy, operands = [], [], []
    for v in range(n):
        devices = ["npu", "gpu"] + (["pim"] if rng.random() < 0.6 else [])
        lat = {
            d: float(rng.choice([0, rng.randint(1, 40)])) if rng.random() < 0.15 else float(rng.randint(1, 60))
            for d in devices
        }
        latency.append(lat)
        energy.append({d: float(rng.randint(1, 100)) for d in devices})
        operands.append([(u, 0) for u in range(v) if rng.random() < edge_p])
    values = {(v, 0): rng.choice([4, 64, 400, 2000]) for v in range(n)}
    return PhaseGraph("decode", [f"op{v}" for v in range(n)], latency, energy, operands, values)


def topological_orders(graph: PhaseGraph) -> list[list[int]]:
    n = len(graph)
    preds = [set(graph.preds(v)) for v in range(n)]
    out: list[list[int]] = []

    def extend(order: list[int], done: set[int]) -> None:
        if len(order) == n:
            out.append(list(order))
            return
        for v in range(n):
            if v not in done and preds[v] <= done:
                order.append(v)
                done.add(v)
                extend(order, done)
                order.pop()
                done.remove(v)

    extend([], set())
    return out


def exhaustive(graph: PhaseGraph, system: System) -> float:
    """The least makespan over every placement and every per-resource order (via every topological order)."""
    orders = topological_orders(graph)
    best = float("inf")
    choices = [sorted(lat) for lat in graph.latency]
    for placement in itertools.product(*choices):
        for order in orders:
            best = min(best, schedule_phase(graph, list(placement), system, order).makespan_ns)
    return best


@pytest.mark.parametrize("sharing", ["conflict", "concurrent"])
@pytest.mark.parametrize("seed", range(8))
def test_optimal_equals_exhaustive_search(seed: int, sharing: str) -> None:
    rng = random.Random(seed * 7 + (sharing == "concurrent"))
    graph = random_graph(rng, 5)
    system = toy(sharing)
    sol = solve_optimal(graph, system)
    brute = exhaustive(graph, system)
    assert sol.proven
    assert sol.makespan_ns == pytest.approx(brute, rel=1e-9, abs=TOL)
    # the list schedule in the solved order reproduces what the solver computed
    assert sol.solver_ns == pytest.approx(sol.makespan_ns, rel=1e-6, abs=TOL)


@pytest.mark.parametrize("seed", range(4))
def test_optimal_equals_exhaustive_search_across_barriers(seed: int) -> None:
    """Two diamond blocks joined at single ops: the segment DP must still find the global optimum."""
    rng = random.Random(100 + seed)
    base = random_graph(rng, 7, edge_p=0.0)
    # 0 -> {1, 2} -> 3 -> {4, 5} -> 6
    base.operands = [[], [(0, 0)], [(0, 0)], [(1, 0), (2, 0)], [(3, 0)], [(3, 0)], [(4, 0), (5, 0)]]
    assert barriers(base) == [0, 3, 6]
    system = toy("conflict")
    sol = solve_optimal(base, system)
    assert sol.segments == 3  # [0], [0..3], [3..6]
    assert sol.makespan_ns == pytest.approx(exhaustive(base, system), rel=1e-9, abs=TOL)
    assert sol.solver_ns == pytest.approx(sol.makespan_ns, rel=1e-6, abs=TOL)


def test_barriers_need_no_jumping_edge() -> None:
    g = random_graph(random.Random(1), 4, edge_p=0.0)
    g.operands = [[], [(0, 0)], [(1, 0)], [(2, 0), (0, 0)]]  # 0 -> 3 jumps over 1 and 2
    assert barriers(g) == [0, 3]


def test_conflict_serialises_pim_and_npu_concurrent_overlaps() -> None:
    g = PhaseGraph(
        "decode",
        ["a", "b"],
        [{"npu": 10.0}, {"pim": 7.0}],
        [{"npu": 1.0}, {"pim": 1.0}],
        [[], []],
        {(0, 0): 8, (1, 0): 8},
    )
    assert schedule_phase(g, ["npu", "pim"], toy("conflict")).makespan_ns == 17.0
    assert schedule_phase(g, ["npu", "pim"], toy("concurrent")).makespan_ns == 10.0


def test_transfer_delays_consumer_on_other_memory() -> None:
    system = toy()
    link = system.links[0]
    g = PhaseGraph(
        "decode",
        ["a", "b"],
        [{"npu": 10.0}, {"gpu": 5.0}],
        [{"npu": 1.0}, {"gpu": 1.0}],
        [[], [(0, 0)]],
        {(0, 0): 1000, (1, 0): 8},
    )
    sched = schedule_phase(g, ["npu", "gpu"], system)
    assert sched.makespan_ns == pytest.approx(10 + link.latency_ns + 1000 / link.bandwidth_gbps + 5)
    assert [e.kind for e in sched.events] == ["op", "transfer", "op"]


def test_sub_batches_interleave() -> None:
    """Two sub-batches of a chain npu -> pim overlap: one's PIM op runs under the other's NPU op."""
    g = PhaseGraph(
        "decode",
        ["fc", "attn"],
        [{"npu": 10.0}, {"pim": 10.0}],
        [{"npu": 1.0}, {"pim": 1.0}],
        [[], [(0, 0)]],
        {(0, 0): 8, (1, 0): 8},
    )
    assert schedule_phase(g, ["npu", "pim"], toy("concurrent"), streams=2).makespan_ns == 30.0
    assert schedule_phase(g, ["npu", "pim"], toy("conflict"), streams=2).makespan_ns == 40.0


# -- on the examples --------------------------------------------------------------

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


def graphs(model: Path, system: str, dims: dict[str, str] | None = None, dtype: str = "fp16") -> list[PhaseGraph]:
    module = import_model(model, dims)
    AnnotateCostPass(system=system, dtype=dtype).apply(make_context(), module)
    return [phase_graph(fn, 2)[0] for fn in phase_functions(module)]


@pytest.mark.parametrize("system", ["npu-aim", "attacc", "neupims", "ianus", "papi", "hybe", "pim-gpt"])
def test_optimal_never_worse_than_any_strategy(system: str) -> None:
    sys_desc = load_system(system)
    dtype = "fp16" if "fp16" in sys_desc.dtypes() else "bf16"
    ctx = StrategyContext(sys_desc, dtype)
    for model, dims in (
        (ROOT / "examples" / "llama2-7b.pim", SMALL_LLAMA),
        (ROOT / "examples" / "gpt2-tiny-decode.onnx", None),
    ):
        for graph in graphs(model, system, dims, dtype):
            best = place_phase(graph, "optimal", ctx)
            assert best.proven_optimal
            t_best = schedule_phase(graph, best.devices, sys_desc, best.order).makespan_ns
            for strategy in STRATEGIES:
                try:
                    p = place_phase(graph, strategy, ctx)
                except PimcError:
                    continue  # the system lacks what the strategy needs
                t = schedule_phase(graph, p.devices, sys_desc, p.order).makespan_ns
                assert t_best <= t * (1 + 1e-9) + TOL, (model.name, graph.phase, strategy, t_best, t)


def _placed(system: str, strategy: str, dims: dict[str, str]) -> dict[str, list[tuple[str, str, str]]]:
    graphs_ = graphs(ROOT / "examples" / "llama2-7b.pim", system, dims)
    ctx = StrategyContext(load_system(system), "fp16")
    return {g.phase: list(zip(g.names, g.roles, place_phase(g, strategy, ctx).devices)) for g in graphs_}


def test_attacc_policy() -> None:
    for phase, ops in _placed("attacc", "attacc", SMALL_LLAMA).items():
        for name, role, device in ops:
            on_pim = phase == "decode" and role in ("attention", "kv_append")
            assert device == ("pim" if on_pim else "gpu"), (phase, name)


def test_neupims_policy_follows_rows() -> None:
    for batch, fc_device in (("1", "pim"), ("4", "npu")):
        decode = _placed("neupims", "neupims", {**SMALL_LLAMA, "batch": batch})["decode"]
        assert {d for _, role, d in decode if role == "fc"} == {fc_device}
        assert {d for _, role, d in decode if role == "attention"} == {"pim"}


def test_papi_threshold_and_attention_on_attn_pim() -> None:
    system = load_system("papi")
    attn_pim = min((d for d in system.devices.values() if d.kind == "pim"), key=lambda d: d.pim.mac_lanes).name
    gpu = system.devices["gpu"]
    ridge = (
        gpu.gpu.peak_tflops["fp16"]
        * 1e3
        * gpu.gpu.compute_efficiency
        / (system.memory_of("gpu").bandwidth_gbps * gpu.gpu.memory_efficiency)
    )
    fp16_bytes = 2
    # an FC over M tokens does 2M FLOP per weight element of 2 bytes: intensity M, the ridge at M = ridge
    assert papi_threshold(system, "fp16") == pytest.approx(ridge * fp16_bytes / 2)
    for threshold in (None, 16.0):
        ctx = StrategyContext(system, "fp16", threshold)
        for g in graphs(ROOT / "examples" / "llama2-7b.pim", "papi", SMALL_LLAMA):
            devices = place_phase(g, "papi", ctx).devices
            limit = threshold if threshold is not None else ridge
            for role, rows, d in zip(g.roles, g.rows, devices):
                if g.phase == "prefill":
                    assert d == "gpu"
                elif role == "attention":
                    assert d == attn_pim
                elif role == "fc":
                    assert rows == 1
                    assert d == ("fc_pim" if rows < limit else "gpu"), (rows, limit)
    decode16 = graphs(ROOT / "examples" / "llama2-7b.pim", "papi", {**SMALL_LLAMA, "batch": "16"})[1]
    fc16 = place_phase(decode16, "papi", StrategyContext(system, "fp16", 8.0)).devices
    assert {d for role, d in zip(decode16.roles, fc16) if role == "fc"} == {"gpu"}  # 16 tokens >= 8


def test_hybe_hands_the_kv_cache_over(tmp_path: Path) -> None:
    result = compile_model(
        ROOT / "examples" / "llama2-7b.pim", system="hybe", strategy="hybe", dims=SMALL_LLAMA, baselines=False
    )
    report = result.report
    assert {e["device"] for e in report["ops"] if e["phase"] == "prefill"} == {"gpu"}
    assert {e["device"] for e in report["ops"] if e["phase"] == "decode"} == {"npu"}
    handoffs = [t for t in report["transfers"] if t["kv_handoff"]]
    assert len(handoffs) == 2 * int(SMALL_LLAMA["layers"])  # k and v of every layer
    prefill_end = report["phases"]["prefill"]["start_ns"] + report["phases"]["prefill"]["latency_ns"]
    assert all(t["start_ns"] <= prefill_end for t in handoffs)  # sent while prefill proceeds
    assert report["phases"]["decode"]["start_ns"] >= max(t["end_ns"] for t in handoffs) - TOL


def test_handed_off_kv_cache_is_held_where_decode_reads_it() -> None:
    """attacc: prefill attention runs on the GPU and hands K/V to the PIM stacks as produced, so the
    prefill cache counts in the PIM memory, not in the GPU's HBM; gpu-only keeps it in the HBM."""
    dims = {**SMALL_LLAMA, "dtype": "f16"}
    kv = 2 * 2 * 1 * 4 * 32 * 64 * 2  # k and v x layers x [batch, kv_heads, seq, head_dim] x 2 B
    attacc = compile_model(
        ROOT / "examples" / "llama2-7b.pim", system="attacc", strategy="attacc", dims=dims, baselines=False
    ).report["memory"]
    assert attacc["pim_hbm"]["kv_cache_bytes"]["prefill"] == kv
    assert attacc["hbm"]["kv_cache_bytes"].get("prefill", 0) == 0
    # decode reads the past cache (31 positions) plus the new token's K/V from the PIM stacks
    assert attacc["pim_hbm"]["kv_cache_bytes"]["decode"] == kv
    gpu = compile_model(
        ROOT / "examples" / "llama2-7b.pim", system="attacc", strategy="gpu-only", dims=dims, baselines=False
    ).report["memory"]
    assert gpu["hbm"]["kv_cache_bytes"]["prefill"] == kv
    assert attacc["hbm"]["total_bytes"] < gpu["hbm"]["total_bytes"]


def test_pim_only_and_missing_device_errors() -> None:
    decode = _placed("npu-aim", "pim-only", SMALL_LLAMA)["decode"]
    assert {d for _, role, d in decode if role in ("fc", "attention")} == {"pim"}
    assert {d for _, role, d in decode if role == "vector"} == {"npu"}  # the PIM's host
    with pytest.raises(
        PimcError, match="strategy 'gpu-only' needs a GPU or accelerator, and system 'neupims' has none"
    ):
        _placed("neupims", "gpu-only", SMALL_LLAMA)


def test_report_has_schedule_devices_and_baselines() -> None:
    report = compile_model(ROOT / "examples" / "llama2-7b.pim", system="npu-aim", dims=SMALL_LLAMA).report
    assert report["schema_version"] == 3 and report["strategy"] == "optimal"
    sched = report["schedule"]
    assert sched["ttft_ns"] == report["phases"]["prefill"]["latency_ns"]
    assert sched["tpot_ns"] == report["phases"]["decode"]["latency_ns"]
    assert sched["optimal_proven"] == {"prefill": True, "decode": True}
    for phase in ("prefill", "decode"):
        p = report["phases"][phase]
        assert p["latency_ns"] <= p["serial_ns"] + TOL  # overlap can only help
    assert report["phases"]["decode"]["tokens"] == 1 and report["phases"]["prefill"]["tokens"] == 32
    strategies = report["baselines"]["strategies"]
    assert set(strategies) == {"optimal", "gpu-only", "npu-only", "pim-only"}
    for name, b in strategies.items():
        assert b["latency_ns"] >= strategies["optimal"]["latency_ns"] - TOL, name
        if name != "optimal":
            assert report["baselines"]["speedup"][name]["latency"] >= 1 - 1e-9
    busy = sum(d["busy_ns"] for d in report["devices"].values())
    assert busy == pytest.approx(sum(e["latency_ns"] for e in report["ops"]))
    for e in report["ops"]:
        assert e["end_ns"] - e["start_ns"] == pytest.approx(e["latency_ns"])


def test_speculate_sets_decode_tokens() -> None:
    report = compile_model(
        ROOT / "examples" / "llama2-7b.pim",
        system="npu-aim",
        strategy="roofline",
        dims=SMALL_LLAMA,
        speculate=4,
        baselines=False,
    ).report
    assert report["phases"]["decode"]["tokens"] == 4
    assert report["schedule"]["tpot_ns"] == pytest.approx(report["schedule"]["decode_step_ns"] / 4)
    with pytest.raises(PimcError, match="--speculate"):
        compile_model(ROOT / "examples" / "gpt2-tiny-decode.onnx", speculate=2)
