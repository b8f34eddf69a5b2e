"""Partition and schedule Llama-2-7B (the full 32-layer ONNX graph and the DSL model) under every strategy.

Prints, per model and phase: the time each strategy takes to place the graph, the
scheduled latency it reaches, and for `optimal` the segments and distinct MIPs
solved. Run by hand:

    python benchmarks/partition_llama2_7b.py [--system npu-aim] [--dim batch=1]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from pimc.compiler.driver import import_model, make_context, parse_dims
from pimc.errors import PimcError
from pimc.passes.annotate_cost import AnnotateCostPass
from pimc.targets.annotations import phase_functions, phase_graph
from pimc.targets.placement.execution import schedule_phase
from pimc.targets.placement.optimal import solve_optimal
from pimc.targets.placement.placement import StrategyContext, heuristic_placements, place_phase
from pimc.targets.placement.strategies import STRATEGIES
from pimc.targets.system import load_system

ROOT = Path(__file__).resolve().parents[1]
MODELS = [
    ROOT / "tests" / "models" / "llama2-7b-decode.onnx",
    ROOT / "tests" / "models" / "llama2-7b-decode-gen.onnx",
    ROOT / "examples" / "llama2-7b.pim",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    ap.add_argument("--system", default="npu-aim")
    ap.add_argument("--dim", action="append", default=[])
    args = ap.parse_args()
    system = load_system(args.system)
    ctx = StrategyContext(system, "fp16")
    for model in MODELS:
        dims = parse_dims(args.dim) if model.suffix == ".pim" else {}
        t0 = time.perf_counter()
        module = import_model(model, dims)
        AnnotateCostPass(system=args.system).apply(make_context(), module)
        print(f"\n{model.name} on {args.system}: import + annotate-cost {time.perf_counter() - t0:.2f} s")
        for fn in phase_functions(module):
            graph, _ = phase_graph(fn, 2)
            print(f"  phase {graph.phase}: {len(graph)} costed ops")
            print(f"    {'strategy':10s} {'place s':>8s} {'latency':>14s}")
            for strategy in STRATEGIES:
                t = time.perf_counter()
                try:
                    placement = place_phase(graph, strategy, ctx)
                except PimcError as e:
                    print(f"    {strategy:10s} {'-':>8s} {'n/a':>14s}  ({str(e)[:60]})")
                    continue
                dt = time.perf_counter() - t
                sched = schedule_phase(graph, placement.devices, system, placement.order)
                print(f"    {strategy:10s} {dt:8.2f} {sched.makespan_ns:11.0f} ns")
            t = time.perf_counter()
            sol = solve_optimal(graph, system, heuristic_placements(graph, ctx))
            print(
                f"    optimal: {sol.segments} segments, {sol.solved} distinct segment problems, proven {sol.proven} "
                f"(bound {sol.bound_ns:.0f} ns), "
                f"{time.perf_counter() - t:.2f} s (again, for the count)"
            )


if __name__ == "__main__":
    main()
