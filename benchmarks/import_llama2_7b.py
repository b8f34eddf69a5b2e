"""Import time of the 32-layer Llama-2-7B ONNX graphs against the onnx.load + shape-inference floor.

    python benchmarks/import_llama2_7b.py [--repeat N]

For each phase (tests/models/llama2-7b-{prefill,decode}.onnx: torch.onnx dynamo
exports, unoptimised, ~5,100 nodes, weights as absent external data) it prints
the median over N runs of:

- floor: onnx.load(load_external_data=False) + onnx.shape_inference.infer_shapes
  (strict, data_prop) -- what any shape-aware tool pays at least;
- pimc import: load + per-node check + fold/resolve every shape + build the nn
  IR + raise-nn + phase (`pimc.compiler.driver.import_model`), split into its stages;
the op counts of the raised IR, and its FLOPs and bytes next to those of the DSL
description examples/llama2-7b.pim (same defaults: 512-token prompt, 511 cached).
Target: pimc import <= 2 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import time
from pathlib import Path

import onnx

from pimc.compiler.driver import import_model, make_context
from pimc.compiler.frontend.onnx.importer import import_resolved, load_onnx
from pimc.compiler.frontend.onnx.shapes import resolve_graph
from pimc.compiler.frontend.phases import assign_phases
from pimc.dialects.nn import phase_of
from pimc.passes.raise_nn import RaiseNnPass
from pimc.targets.models.cost import is_costed, op_metrics

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "tests" / "models"


def flops_bytes(module) -> dict[str, tuple[int, int]]:
    sums: dict[str, tuple[int, int]] = {}
    for op in module.walk():
        if is_costed(op):
            m = op_metrics(op)
            f, b = sums.get(phase_of(op) or "?", (0, 0))
            sums[phase_of(op) or "?"] = (f + m.flops, b + m.bytes)
    return sums


def floor_seconds(path: Path) -> float:
    t0 = time.perf_counter()
    model = onnx.load(str(path), load_external_data=False)
    onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    return time.perf_counter() - t0


def pimc_stages(path: Path) -> tuple[dict[str, float], collections.Counter[str]]:
    t = [time.perf_counter()]
    model = load_onnx(path)
    t.append(time.perf_counter())
    resolved = resolve_graph(model, path)
    t.append(time.perf_counter())
    module = import_resolved(resolved, path)
    t.append(time.perf_counter())
    RaiseNnPass().apply(make_context(), module)
    assign_phases(module)
    t.append(time.perf_counter())
    names = ("load+check", "fold+resolve", "build IR", "raise+phase")
    stages = {n: t[i + 1] - t[i] for i, n in enumerate(names)}
    stages["total"] = t[-1] - t[0]
    counts = collections.Counter(op.name for op in module.walk())
    return stages, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    t0 = time.perf_counter()
    dsl = flops_bytes(import_model(REPO / "examples" / "llama2-7b.pim"))
    print(f"examples/llama2-7b.pim (both phases) imports in {time.perf_counter() - t0:.3f} s")
    for phase in ("prefill", "decode"):
        path = MODELS / f"llama2-7b-{phase}.onnx"
        nodes = len(onnx.load(str(path), load_external_data=False).graph.node)
        floors = [floor_seconds(path) for _ in range(args.repeat)]
        runs = [pimc_stages(path) for _ in range(args.repeat)]
        med = {k: statistics.median(r[0][k] for r in runs) for k in runs[0][0]}
        counts = runs[0][1]
        print(f"llama2-7b {phase}: {nodes} ONNX nodes")
        print(f"  floor  onnx.load + shape_inference: {statistics.median(floors):.3f} s")
        stages = ", ".join(f"{k} {v:.3f}" for k, v in med.items() if k != "total")
        print(f"  pimc   import (ONNX -> raised nn IR): {med['total']:.3f} s  ({stages})")
        semantic = ("nn.linear", "nn.attention", "nn.rms_norm", "nn.rotary", "nn.silu", "nn.kv_append")
        print("  raised ops: " + ", ".join(f"{k.removeprefix('nn.')} {counts[k]}" for k in semantic))
        costed = sum(v for k, v in counts.items() if k.startswith("nn.") and k not in ("nn.weight", "nn.constant"))
        print(f"  nn ops left: {costed} (from {nodes} nodes)")
        module = import_model(path)
        (flops, nbytes), (dflops, dbytes) = flops_bytes(module)[phase], dsl[phase]
        print(f"  FLOPs  onnx {flops:.6e}  dsl {dflops:.6e}  ({100 * (dflops - flops) / flops:+.3f}%)")
        print(f"  bytes  onnx {nbytes:.6e}  dsl {dbytes:.6e}  ({100 * (dbytes - nbytes) / nbytes:+.3f}%)")


if __name__ == "__main__":
    main()
