"""baselines: the same costed phases placed by every other strategy, each scheduled as the chosen one was.

For the strategy partition chose (`pimc.partition`'s `strategy`), places each phase's costed graph
again under gpu-only, npu-only, pim-only and the seed systems' policies (targets/placement/strategies.py
BASELINES, and optimal when another strategy was chosen), schedules each with the same sub-batch
streams (`pimc.schedule`), and records on the module

    pimc.baselines = {<strategy> = {phases = {<phase> = {latency_ns, energy_pj}}, latency_ns, energy_pj}
                      or {error = "why"}, ...}

An error entry says what the system lacks for that strategy (e.g. gpu-only without a GPU). KV
hand-offs between phases are not part of these figures. The IR itself is not changed otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from pimc.errors import PimcError
from pimc.targets.annotations import (
    BASELINES_ATTR,
    chosen_strategy,
    phase_functions,
    phase_graph,
    result_attr,
    schedule_streams,
)
from pimc.targets.dtypes import DTYPE_BYTES, dtype_for_module
from pimc.targets.placement.execution import PhaseGraph, schedule_energy_pj, schedule_phase
from pimc.targets.placement.placement import StrategyContext, check_papi_threshold, place_phase
from pimc.targets.placement.strategies import BASELINES
from pimc.targets.system import System, system_for_module


def baseline_results(
    graphs: list[PhaseGraph],
    system: System,
    dtype: str,
    chosen: str,
    streams: int = 1,
    papi_threshold: float | None = None,
) -> dict[str, dict[str, Any]]:
    """Per strategy other than `chosen`: each phase's makespan and energy (module docstring), or {"error": why}."""
    names = [b for b in BASELINES if b != chosen] + (["optimal"] if chosen != "optimal" else [])
    ctx = StrategyContext(system, dtype, papi_threshold)
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        try:
            phases: dict[str, dict[str, float]] = {}
            for graph in graphs:
                placement = place_phase(graph, name, ctx)
                sched = schedule_phase(graph, placement.devices, system, placement.order, streams)
                phases[graph.phase] = {
                    "latency_ns": sched.makespan_ns,
                    "energy_pj": schedule_energy_pj(graph, placement.devices, sched, system, streams),
                }
        except PimcError as e:
            out[name] = {"error": str(e)}
            continue
        out[name] = {
            "phases": phases,
            "latency_ns": math.fsum(p["latency_ns"] for p in phases.values()),
            "energy_pj": math.fsum(p["energy_pj"] for p in phases.values()),
        }
    return out


@dataclass(frozen=True)
class BaselinesPass(ModulePass):
    """Place and schedule the costed phases under every other strategy and record each one's latency and energy
    per phase as `pimc.baselines` (module docstring); `papi_threshold` is PAPI's FC intensity threshold, as
    partition takes it."""

    name = "baselines"

    system: str | None = None
    papi_threshold: float | None = None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        check_papi_threshold(self.papi_threshold)
        system = system_for_module(op, self.system)
        dtype = dtype_for_module(op, None)
        chosen = chosen_strategy(op)
        graphs = [phase_graph(fn, DTYPE_BYTES[dtype], system)[0] for fn in phase_functions(op)]
        results = baseline_results(graphs, system, dtype, chosen, schedule_streams(op), self.papi_threshold)
        op.attributes[BASELINES_ATTR] = result_attr(results)
