"""The placement strategies: for one phase's costed graph (targets/placement/execution.py PhaseGraph), a device per op.

`optimal` (targets/placement/optimal.py) minimises the scheduled makespan exactly where it can prove it; the others are
the heuristics and the seed systems' policies docs/partition.md describes. The partition pass
(passes/partition.py) applies a placement to the IR; the baselines pass compares the chosen one with others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pimc.errors import CompileError
from pimc.targets.dtypes import DTYPE_BYTES
from pimc.targets.models.cost import device_roof
from pimc.targets.placement.execution import PhaseGraph, transfer_ns
from pimc.targets.placement.strategies import STRATEGIES
from pimc.targets.system import System


@dataclass(frozen=True)
class StrategyContext:
    """What a strategy may consult besides the graph."""

    system: System
    dtype: str
    papi_threshold: float | None = None


def _first(system: System, *kinds: str) -> str | None:
    return next((d.name for d in system.devices.values() if d.kind in kinds), None)


def _require(system: System, device: str | None, what: str, strategy: str) -> str:
    if device is None:
        raise CompileError(
            f"partition: strategy '{strategy}' needs {what}, and system '{system.name}' has none "
            f"(devices: {', '.join(f'{d.name} ({d.kind})' for d in system.devices.values())})"
        )
    return device


def _fastest(graph: PhaseGraph, i: int, among: list[str]) -> str | None:
    lat = {d: graph.latency[i][d] for d in among if d in graph.latency[i]}
    return min(lat, key=lat.__getitem__) if lat else None


def _policy(graph: PhaseGraph, system: System, strategy: str, want: list[str | None]) -> list[str]:
    """The policy's device per op; an op its device cannot run goes to its fastest capable device."""
    out = []
    for i, d in enumerate(want):
        if d is None or d not in graph.latency[i]:
            d = _fastest(graph, i, list(system.devices))
            assert d is not None  # place_phase checked that some device runs every op
        out.append(d)
    return out


def _pims(system: System) -> list[str]:
    return [d.name for d in system.devices.values() if d.kind == "pim"]


def _xpu(system: System) -> str | None:
    """The compute-centric processor of a PIM system: its GPU/accelerator, else its NPU."""
    return _first(system, "gpu", "accelerator") or _first(system, "npu")


def _host(system: System) -> str | None:
    """The processor sharing a PIM device's memory (its host), else the xPU."""
    for pim_dev in _pims(system):
        mem = system.devices[pim_dev].memory
        found = next((d.name for d in system.devices.values() if d.memory == mem and d.kind != "pim"), None)
        if found:
            return found
    return _xpu(system)


def strategy_roofline(graph: PhaseGraph, ctx: StrategyContext) -> list[str]:
    """Each op on the device where its own latency is lowest; ties stay with the producer's device (memory)."""
    system = ctx.system
    out: list[str] = []
    for i in range(len(graph)):
        lat = graph.latency[i]
        best = min(lat.values())
        tied = [d for d in system.devices if d in lat and lat[d] == best]
        choice = tied[0]
        for u in graph.preds(i):
            src = out[u]
            if src in tied:
                choice = src
                break
            same = [d for d in tied if system.devices[d].memory == system.devices[src].memory]
            if same:
                choice = same[0]
                break
        out.append(choice)
    return out


def strategy_greedy(graph: PhaseGraph, ctx: StrategyContext) -> list[str]:
    """In program order, each op on the device minimising its latency + the transfers its inputs would need
    (a value already copied to a memory is free there); ties as in roofline."""
    system = ctx.system
    mem = {d: system.devices[d].memory for d in system.devices}
    out: list[str] = []
    present: dict[tuple[int, int], set[str]] = {}
    for i in range(len(graph)):
        lat = graph.latency[i]
        cost: dict[str, float] = {}
        for d in system.devices:
            if d not in lat:
                continue
            t = lat[d]
            for val in graph.operands[i]:
                if mem[d] not in present[val]:
                    t += transfer_ns(system, graph.values[val], mem[out[val[0]]], mem[d])
            cost[d] = t
        best = min(cost.values())
        if not math.isfinite(best):
            raise CompileError(
                f"partition: op '{graph.names[i]}': no device can receive its inputs (no link between the memories)"
            )
        tied = [d for d in cost if cost[d] <= best * (1 + 1e-12)]
        producer_devs = [out[u] for u in graph.preds(i)]
        choice = next((d for d in producer_devs if d in tied), tied[0])
        out.append(choice)
        for val in graph.operands[i]:
            present[val].add(mem[choice])
        for r in range(graph.results(i)):
            present[(i, r)] = {mem[choice]}
    return out


def strategy_gpu_only(graph: PhaseGraph, ctx: StrategyContext) -> list[str]:
    gpu = _require(ctx.system, _first(ctx.system, "gpu", "accelerator"), "a GPU or accelerator", "gpu-only")
    return _policy(graph, ctx.system, "gpu-only", [gpu] * len(graph))


def strategy_npu_only(graph: PhaseGraph, ctx: StrategyContext) -> list[str]:
    npu_dev = _require(ctx.system, _first(ctx.system, "npu"), "an NPU", "npu-only")
    return _policy(graph, ctx.system, "npu-only", [npu_dev] * len(graph))


def strategy_pim_only(graph: PhaseGraph, ctx: StrategyContext) -> list[str]:
    """Every op a PIM device can execute on the fastest PIM device; the rest on the PIM's host."""
    pims = _pims(ctx.system)
    _require(ctx.system, pims[0] if pims else None, "a PIM device", "pim-only")
    host = _require(ctx.system, _host(ctx.system), "a host processor", "pim-only")
    return _policy(graph, ctx.system, "pim-only", [_fastest(graph, i, pims) or host for i in range(len(graph))])


def strategy_attacc(graph: PhaseGraph, ctx: StrategyContext) -> list[str]:
    """AttAcc: the whole decode attention (and the KV cache it appends to) in PIM; FC, the rest and all of
    prefill on the xPU (prefill attention is a GEMM; its KV cache is handed over to PIM for decode)."""
    pims = _pims(ctx.system)
    _require(ctx.system, pims[0] if pims else None, "a PIM device", "attacc")
    xpu = _require(ctx.system, _xpu(ctx.system), "a GPU or NPU", "attacc")
    decode = graph.phase == "decode"
    want = [
        _fastest(graph, i, pims) if decode and graph.roles[i] in ("attention", "kv_append") else xpu
        for i in range(len(graph))
    ]
    return _policy(graph, ctx.system, "attacc", want)


def strategy_neupims(graph: PhaseGraph, ctx: StrategyContext) -> list[str]:
    """NeuPIMs: GEMMs (FC with several rows, prefill attention) on the NPU; GEMVs (one row) and decode
    attention on PIM."""
    pims = _pims(ctx.system)
    _require(ctx.system, pims[0] if pims else None, "a PIM device", "neupims")
    npu_dev = _require(ctx.system, _first(ctx.system, "npu") or _xpu(ctx.system), "an NPU", "neupims")
    want: list[str | None] = []
    for i in range(len(graph)):
        role = graph.roles[i]
        on_pim = (graph.phase == "decode" and role in ("attention", "kv_append")) or (
            role == "fc" and graph.rows[i] == 1
        )
        want.append(_fastest(graph, i, pims) if on_pim else npu_dev)
    return _policy(graph, ctx.system, "neupims", want)


def strategy_ianus(graph: PhaseGraph, ctx: StrategyContext) -> list[str]:
    """IANUS: in decode each FC on whichever of the NPU and PIM is faster; everything else (attention on the
    matrix unit, softmax and norms on the vector unit, all of prefill) on the NPU."""
    pims = _pims(ctx.system)
    _require(ctx.system, pims[0] if pims else None, "a PIM device", "ianus")
    npu_dev = _require(ctx.system, _first(ctx.system, "npu") or _xpu(ctx.system), "an NPU", "ianus")
    want = [
        _fastest(graph, i, [npu_dev, *pims]) if graph.phase == "decode" and graph.roles[i] == "fc" else npu_dev
        for i in range(len(graph))
    ]
    return _policy(graph, ctx.system, "ianus", want)


def papi_threshold(system: System, dtype: str) -> float:
    """PAPI's default FC threshold in tokens: the xPU's ridge point (FLOP/byte) x bytes per element / 2.

    An FC over M tokens has an intensity of about 2M / bytes-per-element FLOP/byte,
    so below this many tokens it is memory-bound on the xPU: PAPI's criterion for
    sending it to FC-PIM (its run-time characterisation compares batch x speculation
    length with a threshold set offline)."""
    xpu = _xpu(system)
    roof = device_roof(system.devices[xpu], system, dtype) if xpu is not None else None
    if roof is None:
        return math.inf
    peak, bw = roof
    return peak / bw * DTYPE_BYTES[dtype] / 2


def check_papi_threshold(tokens: float | None) -> None:
    """A PAPI threshold given by the user (tokens) must be a finite, positive number."""
    if tokens is None:
        return
    if isinstance(tokens, bool) or not isinstance(tokens, (int, float)) or not math.isfinite(tokens) or tokens <= 0:
        raise CompileError(f"partition: papi_threshold must be a finite, positive number of tokens, got {tokens!r}")


def strategy_papi(graph: PhaseGraph, ctx: StrategyContext) -> list[str]:
    """PAPI (decoding): attention on Attn-PIM (the PIM device with the fewest MAC lanes); an FC on FC-PIM (the
    most lanes) when its tokens (batch x speculation length) are below the threshold, else on the xPU; the rest,
    and all of prefill, on the xPU."""
    system = ctx.system
    pims = _pims(system)
    _require(system, pims[0] if pims else None, "a PIM device", "papi")
    xpu = _require(system, _xpu(system), "a GPU or NPU", "papi")
    attn_pim = min(pims, key=lambda d: system.devices[d].pim.mac_lanes)
    fc_pim = max(pims, key=lambda d: system.devices[d].pim.mac_lanes)
    threshold = ctx.papi_threshold if ctx.papi_threshold is not None else papi_threshold(system, ctx.dtype)
    want: list[str | None] = []
    for i in range(len(graph)):
        role = graph.roles[i]
        if graph.phase != "decode":  # PAPI schedules decoding; prefill runs on the xPU
            want.append(xpu)
        elif role in ("attention", "kv_append"):
            want.append(attn_pim)
        elif role == "fc" and graph.rows[i] < threshold:
            want.append(fc_pim)
        else:
            want.append(xpu)
    return _policy(graph, system, "papi", want)


def strategy_hybe(graph: PhaseGraph, ctx: StrategyContext) -> list[str]:
    """Hybe: prefill on the GPU, decode on the NPU (the KV cache is handed over between them)."""
    gpu = _require(ctx.system, _first(ctx.system, "gpu", "accelerator"), "a GPU", "hybe")
    npu_dev = _require(ctx.system, _first(ctx.system, "npu"), "an NPU", "hybe")
    return _policy(graph, ctx.system, "hybe", [npu_dev if graph.phase == "decode" else gpu] * len(graph))


STRATEGY_FUNCS = {
    "roofline": strategy_roofline,
    "greedy": strategy_greedy,
    "gpu-only": strategy_gpu_only,
    "npu-only": strategy_npu_only,
    "pim-only": strategy_pim_only,
    "attacc": strategy_attacc,
    "neupims": strategy_neupims,
    "ianus": strategy_ianus,
    "papi": strategy_papi,
    "hybe": strategy_hybe,
}


if STRATEGIES != ("optimal", *STRATEGY_FUNCS):  # the names the command line lists (targets/placement/strategies.py)
    raise ImportError(
        f"targets/placement/strategies.py lists {STRATEGIES}, placement implements {('optimal', *STRATEGY_FUNCS)}"
    )


@dataclass
class Placement:
    """A strategy's answer for one phase: a device per op and the order each device runs them in."""

    devices: list[str]
    order: list[int] | None = None
    proven_optimal: bool | None = None
    bound_ns: float | None = None
    """`optimal`: a proven lower bound on the phase's makespan (equal to it when proven)."""


def heuristic_placements(graph: PhaseGraph, ctx: StrategyContext) -> list[list[str]]:
    """The placements of every other strategy the system supports: `optimal`'s seeds, so that it is never
    worse than any of them."""
    out = []
    for fn in STRATEGY_FUNCS.values():
        try:
            out.append(fn(graph, ctx))
        except CompileError:
            continue  # the system lacks what the strategy needs
    return out


def place_phase(graph: PhaseGraph, strategy: str, ctx: StrategyContext) -> Placement:
    for i, lat in enumerate(graph.latency):
        if not lat:
            raise CompileError(
                f"op '{graph.names[i]}': no device of system '{ctx.system.name}' can run it at dtype {ctx.dtype}"
                f" (its devices have rates for: {', '.join(ctx.system.dtypes()) or 'none'})"
            )
    if strategy == "optimal":
        from pimc.targets.placement.optimal import solve_optimal

        sol = solve_optimal(graph, ctx.system, heuristic_placements(graph, ctx))
        return Placement(sol.placement, sol.order, sol.proven, sol.bound_ns)
    if strategy not in STRATEGY_FUNCS:
        raise CompileError(f"partition: unknown strategy '{strategy}' (available: {', '.join(STRATEGIES)})")
    return Placement(STRATEGY_FUNCS[strategy](graph, ctx))
