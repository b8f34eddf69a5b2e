"""Emit the full decode-step AiM command stream of Llama-2-7B and time it.

The 32-layer ONNX graph (tests/models/llama2-7b-decode.onnx, weights absent) is
imported, costed and partitioned onto npu-aim with every GEMV-able product on the
AiM device (`--strategy pim-only` by default: all 225 FC GEMVs; attention too).
Then the backend runs, timed: lower-to-pim (bank layout), convert-pim-to-aim
(loop-compressed AiM ISR in the IR) and the trace emitter (the stream unrolled
into the AiM simulator's text format). Prints the time of each step, the IR
command ops against the unrolled trace lines, and the trace size; checks with the
strict parser that the trace is well formed, and that every macro's stream,
timed by pim_timing, equals the latency annotate-cost gave it. Run by hand:

    python benchmarks/aim_stream_llama2_7b.py [--strategy pim-only] [--dim batch=1] [-o pim.aim.trace]

Targets (issue 6): <= 5 s and <= 50 MB for the stream on a 2-core machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from xdsl.dialects.builtin import DictionaryAttr, FloatAttr
from xdsl.ir import Operation

from pimc.compiler.driver import import_model, make_context, parse_dims
from pimc.dialects import pim
from pimc.dialects.place import device_of
from pimc.passes.annotate_cost import COST_ATTR, AnnotateCostPass
from pimc.passes.convert_pim_to_aim import ConvertPimToAimPass
from pimc.passes.lower_to_pim import LowerToPimPass
from pimc.passes.partition import PartitionPass
from pimc.targets.emit.aim_trace import emit_aim_trace
from pimc.targets.models.pim_timing import block_commands, stream_counts
from pimc.targets.parse.trace_parse import parse_aim_trace
from pimc.targets.system import load_system

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "tests" / "models" / "llama2-7b-decode.onnx"


def _estimate_ns(op: Operation, device: str) -> float:
    """annotate-cost's latency of `op` on `device`."""
    cost = op.attributes[COST_ATTR]
    assert isinstance(cost, DictionaryAttr)
    per_device = cost.data["latency_ns"]
    assert isinstance(per_device, DictionaryAttr)
    latency = per_device.data[device]
    assert isinstance(latency, FloatAttr)
    return latency.value.data


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    ap.add_argument("--system", default="npu-aim")
    ap.add_argument("--strategy", default="pim-only")
    ap.add_argument("--dim", action="append", default=[])
    ap.add_argument("-o", "--output", type=Path, default=None, help="also write the trace here")
    args = ap.parse_args()
    system = load_system(args.system)
    ctx = make_context()
    t0 = time.perf_counter()
    module = import_model(MODEL, parse_dims(args.dim))
    AnnotateCostPass(system=args.system).apply(ctx, module)
    PartitionPass(strategy=args.strategy).apply(ctx, module)
    front = time.perf_counter() - t0

    t = time.perf_counter()
    LowerToPimPass().apply(ctx, module)
    t_layout = time.perf_counter() - t
    t = time.perf_counter()
    ConvertPimToAimPass().apply(ctx, module)
    t_commands = time.perf_counter() - t
    t = time.perf_counter()
    trace = emit_aim_trace(module, MODEL.stem, system.name)
    t_emit = time.perf_counter() - t
    size = len(trace.encode())

    macros = [op for op in module.walk() if isinstance(op, pim.PIM_MACROS) and op.commands.blocks]
    gemvs = sum(isinstance(op, pim.GemvOp) for op in macros)
    ir_ops = sum(1 for op in macros for _ in op.commands.walk())
    lines = sum(pim.unrolled_length(op.commands.block) for op in macros) + 1
    print(
        f"{MODEL.name} decode on {args.system}, strategy {args.strategy}: {len(macros)} PIM macros "
        f"({gemvs} GEMVs, {len(macros) - gemvs} attention); import + annotate + partition {front:.2f} s"
    )
    print(f"  lower-to-pim     {t_layout:7.3f} s")
    print(f"  convert-pim-to-aim {t_commands:5.3f} s   {ir_ops} command ops in the IR (pim.repeat loops)")
    print(f"  emit AiM trace   {t_emit:7.3f} s   {lines} commands, {size / 1e6:.2f} MB")
    print(f"  backend total    {t_layout + t_commands + t_emit:7.3f} s   (target <= 5 s, <= 50 MB)")

    t = time.perf_counter()
    parsed = parse_aim_trace(trace)
    print(f"  strict parse     {time.perf_counter() - t:7.3f} s   {len(parsed)} commands accepted")
    worst = 0.0
    for op in macros:
        dev = system.devices[device_of(op) or ""]
        streamed = stream_counts(block_commands(op.commands.block), dev).time_ns(dev)
        estimate = _estimate_ns(op, dev.name)
        worst = max(worst, abs(streamed - estimate) / estimate)
    print(f"  stream timing vs annotate-cost estimate: max relative difference {worst:.2e} over {len(macros)} macros")
    if args.output:
        args.output.write_text(trace)
        print(f"  wrote {args.output}")


if __name__ == "__main__":
    main()
