"""Per-op latency of Llama-2-7B on every device kind, beside the references.

    python benchmarks/cost_models_llama2_7b.py [--system npu-aim] [--gpu-system h100] [--dtype fp16]
                                               [--references]

For decode (batch 1, 512 positions: past 511 + the new token) and prefill (512
tokens), one decoder layer's ops plus the lm_head, each op's latency on the NPU,
the PIM and the GPU of `--system` (default npu-aim: IANUS-like NPU + GDDR6-AiM,
A100) and on the GPU of `--gpu-system` (default h100), as annotate-cost computes
them (targets/models/cost.py), and the bound.

The PIM column has its own reference inside pimc: for every PIM-able op, the
GEMV (or attention over the KV cache) is lowered and its AiM command stream emitted, then
timed command by command (targets/models/pim_timing.py); the column "PIM stream"
must equal the macro estimate.

External references (`--references` runs them after the table):
- GPU: benchmarks/gpu_vs_genz.py, GenZ (genz-llm) on the same H100 numbers,
  per op side by side (needs a GenZ python, see that script).
- NPU: benchmarks/npu_vs_scalesim.py, SCALE-Sim 3.0.0 Total Cycles beside pimc's
  for the same projection GEMMs on a 128x128 array (needs `scalesim`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from xdsl.dialects import func
from xdsl.dialects.builtin import DictionaryAttr, FloatAttr, StringAttr, TensorType
from xdsl.ir import Attribute, Block
from xdsl.utils.hints import isa

from pimc.compiler.driver import import_model
from pimc.dialects import nn, pim
from pimc.passes.annotate_cost import cost_attr
from pimc.passes.convert_pim_to_aim import aim_attention_commands, aim_gemv_commands
from pimc.passes.lower_to_pim import RowAllocator, gemv_layout
from pimc.targets.models.cost import matrix_products, pim_weight
from pimc.targets.models.pim_timing import attention_mapping, block_commands, stream_counts
from pimc.targets.system import load_system

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "examples" / "llama2-7b.pim"


def _layer_ops(module, phase: str) -> list:
    """Costed ops of the first decoder layer plus the ops after the last layer (final norm, lm_head)."""
    fn = next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == phase)
    ops = [
        op for op in fn.body.block.ops if op.dialect_name() == "nn" and not isinstance(op, (nn.WeightOp, nn.ConstantOp))
    ]
    seen: set[str] = set()
    picked = []
    for op in ops:
        label = nn.op_label(op)
        key = label.split("layers.")[-1].split(".", 1)[-1] if "layers." in label else label
        if key in seen:
            continue
        seen.add(key)
        picked.append(op)
    return picked


def _pim_stream_ns(op, dev) -> float:
    """Lower the op to a pim.gemv (or pim.attention), emit its AiM commands and time them one by one."""
    if isinstance(op, nn.AttentionOp):
        mapping = attention_mapping(*op.dims(), dev)
        kg, vg = mapping.k, mapping.v
        macro = pim.AttentionOp(
            op.q,
            op.k,
            op.v,
            op.mask,
            op.result.type,
            pim.GemvLayoutAttr(kg.channels, kg.banks, kg.k_tile, 0),
            pim.GemvLayoutAttr(vg.channels, vg.banks, vg.k_tile, 0),
            mapping.head_channels,
            scale=op.scale.value.data,
        )
        cmds = aim_attention_commands(macro, dev)
        macro.erase(safe_erase=False)
        return stream_counts(block_commands(Block(cmds)), dev).time_ns(dev)
    ((_, _, n, k),) = matrix_products(op)
    w = pim_weight(op)
    assert w is not None
    result_type = op.results[0].type
    assert isa(result_type, TensorType[Attribute])
    layout = gemv_layout(k, n, dev, RowAllocator(1 << 30), "w", False, "bench")
    bias = op.bias if isinstance(op, nn.LinearOp) else None
    gemv = pim.GemvOp(
        op.operands[0], w, bias, result_type, layout, isinstance(op, nn.LinearOp) and op.transpose_w is not None
    )
    cmds = aim_gemv_commands(gemv, dev)
    gemv.erase(safe_erase=False)
    return stream_counts(block_commands(Block(cmds)), dev).time_ns(dev)


def _entries(cost: DictionaryAttr, key: str) -> dict[str, Attribute]:
    """One per-device entry of an op's cost attribute (latency_ns, energy_pj, bound)."""
    entry = cost.data[key]
    assert isinstance(entry, DictionaryAttr)
    return dict(entry.data)


def _float(attr: Attribute) -> float:
    assert isinstance(attr, FloatAttr)
    return attr.value.data


def _str(attr: Attribute) -> str:
    assert isinstance(attr, StringAttr)
    return attr.data


def _ns(x: float | None) -> str:
    return "-" if x is None else f"{x:,.1f}"


def table(phase: str, dims: dict[str, str], system_name: str, gpu_system_name: str, dtype: str) -> None:
    system, gpu_system = load_system(system_name), load_system(gpu_system_name)
    pim_dev = next(d for d in system.devices.values() if d.kind == "pim")
    t0 = time.perf_counter()
    module = import_model(MODEL, dims)
    ops = _layer_ops(module, phase)
    print(
        f"== {phase}: Llama-2-7B {', '.join(f'{k}={v}' for k, v in dims.items())}, dtype {dtype}; "
        f"system {system_name} + GPU of {gpu_system_name} (import {time.perf_counter() - t0:.2f} s) =="
    )
    devs = list(system.devices)
    head = ["op", "kind", *(f"{d} ns" for d in devs), "PIM stream ns", f"{gpu_system_name} ns", "bound"]
    rows = []
    for op in ops:
        cost = cost_attr(op, system, dtype)
        gcost = cost_attr(op, gpu_system, dtype)
        lat = {k: _float(v) for k, v in _entries(cost, "latency_ns").items()}
        glat = _float(next(iter(_entries(gcost, "latency_ns").values())))
        streamed = pim_dev.name in lat and (isinstance(op, nn.AttentionOp) or pim_weight(op) is not None)
        stream = _pim_stream_ns(op, pim_dev) if streamed else None
        if stream is not None:
            assert stream == lat[pim_dev.name], (nn.op_label(op), stream, lat[pim_dev.name])
        bound = ",".join(f"{d[0]}:{_str(v)[0]}" for d, v in _entries(cost, "bound").items())
        rows.append(
            [
                nn.op_label(op)[:44],
                op.name.removeprefix("nn."),
                *(_ns(lat.get(d)) for d in devs),
                _ns(stream),
                _ns(glat),
                bound,
            ]
        )
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, ["-" * w for w in widths], *rows]:
        print("  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    print()


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    ap.add_argument("--system", default="npu-aim")
    ap.add_argument("--gpu-system", default="h100")
    ap.add_argument("--dtype", default="fp16")
    ap.add_argument("--references", action="store_true", help="also run the GenZ and SCALE-Sim comparisons")
    args = ap.parse_args()
    print("$ python benchmarks/cost_models_llama2_7b.py " + " ".join(sys.argv[1:]))
    table("decode", {"batch": "1", "seq": "512", "past": "511"}, args.system, args.gpu_system, args.dtype)
    table("prefill", {"batch": "1", "seq": "512", "past": "511"}, args.system, args.gpu_system, args.dtype)
    print("PIM stream = the emitted AiM command stream timed command by command; equal to the macro estimate.")
    if args.references:
        for script in ("gpu_vs_genz.py", "npu_vs_scalesim.py"):
            print(f"\n$ python benchmarks/{script}", flush=True)
            subprocess.run([sys.executable, str(ROOT / "benchmarks" / script)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
