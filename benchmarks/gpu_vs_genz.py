"""pimc's GPU per-op cost model (targets/models/gpu.py) against GenZ's, op by op, for Llama-2-7B on an H100.

    python benchmarks/gpu_vs_genz.py [--genz-python PATH] [--genz-h100-preset]

GenZ (PyPI genz-llm, tested with 0.0.16) is not a pimc dependency: it runs in its
own interpreter, `--genz-python` (default: $GENZ_PYTHON; e.g. `python3 -m venv genz &&
genz/bin/pip install genz-llm==0.0.16`, then `--genz-python genz/bin/python`), through a
small script that prints its per-op table (`model_df`) as JSON. pimc's
side runs here: examples/llama2-7b.pim imported with dims batch=1, seq=512,
past=511, dtype=bf16 (every activation and weight 2 bytes/element, GenZ's
bits='bf16'; only the token ids stay i64), FLOPs and bytes from
pimc.targets.models.cost.op_metrics, latency from pimc.targets.models.gpu.gpu_op_time.

Workloads: prefill of 512 tokens, batch 1; one decode step, batch 1, attending
over 512 keys: GenZ decode_moddeling(input_tokens=512, output_tokens=0, Bb=1)
(its Logit/Attend Pre rows read a 512-entry KV cache; output_tokens=0 leaves the
Suf rows empty; Bb=1 turns off its default 4-beam batch), and pimc past=511
(pimc's decode attends past + 1 = 512 keys).

Machine, identical on both sides (H100 SXM data sheet): 989 TFLOP/s dense bf16,
3.35 TB/s HBM3, 80 GB; efficiencies 1.0 (GenZ's default system_eff = 1), no launch
overhead (GenZ has none). GenZ's Memory_BW is binary (GiB/s, GenZ/unit.py), so it
gets 3350e9 / 2**30 = 3119.9; its FLOPS unit is decimal, so Flops = 989.
`--genz-h100-preset` instead uses GenZ's built-in 'H100_GPU' (Memory_BW 3400
GiB/s) and gives pimc 3400 * 2**30 / 1e9 = 3650.7 GB/s.

Per phase it prints, per row, pimc and GenZ FLOPs, bytes and ns and the latency
difference. Rows: "1:1" (one pimc op, one GenZ op), "sum" (pimc's separate q/k/v
or gate/up linears against GenZ's single fused GEMM: sums compared), and rows
where the two tools model the work differently (attention, the embedding) or
only pimc models it (norms, rotary, silu, residual adds, head transposes,
kv_append). Layer rows are per layer (x 32 in the model). Target: |diff| <= 2%
on every 1:1 and sum row; exit status 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pimc.compiler.driver import import_model
from pimc.dialects import nn
from pimc.dialects.nn import phase_of
from pimc.targets.models.cost import is_costed, op_metrics
from pimc.targets.models.gpu import gbps_from_genz, genz_memory_bw, gpu_op_time
from pimc.targets.system import load_system

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "examples" / "llama2-7b.pim"
DIMS = {"batch": "1", "seq": "512", "past": "511", "dtype": "bf16"}
DTYPE = "bf16"
TOKENS = 512
TARGET_PCT = 2.0

GENZ_SCRIPT = r"""
import contextlib, json, sys
from importlib.metadata import version
cfg = json.loads(sys.argv[1])
from GenZ import prefill_moddeling, decode_moddeling
from GenZ.system import System
from GenZ.LLM_inference.utils import get_inference_system

def table(df):
    rows, mult = [], 1
    for _, r in df.iterrows():
        kind = r['Op Type']
        if kind == 'Repeat':
            mult *= int(r['Dimension']); continue
        if kind == 'EndRepeat':
            mult //= int(r['Dimension']); continue
        mib = 2 ** 20   # GenZ 'MB' is binary (GenZ/unit.py)
        rows.append({
            'name': r['Layer Name'], 'op_type': kind, 'dims': str(r['Dimension']), 'bound': r['Bound'],
            'repeat': mult,
            'flops': float(r['Num ops (MFLOP)']) * 1e6,
            'bytes': float(r['Total Data (MB)']) * mib,
            'tensor_bytes': [float(r['Input_a (MB)']) * mib, float(r['Input_w (MB)']) * mib, float(r['Output (MB)']) * mib],
            'compute_ns': float(r['Compute time (msec)']) * 1e6,
            'memory_ns': float(r['Memory time (msec)']) * 1e6,
            'latency_ns': float(r['Latency (msec)']) * 1e6,
        })
    return rows

def system(onchip_free):
    if cfg['preset']:
        spec = {'Flops': 989, 'Memory_size': 80, 'Memory_BW': 3400, 'ICN': 450}
        name = 'H100_GPU'
    else:
        spec = cfg['system']
        name = dict(spec, real_values=True)
    if not onchip_free:
        return name
    # same numbers as a System object, whose on-chip (SRAM) bandwidth can be set: infinite
    return System(flops=spec['Flops'], offchip_mem_bw=spec['Memory_BW'], off_chip_mem_size=spec['Memory_size'] * 1024,
                  onchip_mem_bw=float('inf'), frequency=1000, bits='bf16', external_mem_bw=128,
                  interchip_link_bw=spec['ICN'])

out = {'version': version('genz-llm')}
s = get_inference_system(system_name=system(False), bits='bf16')
out['seen'] = {'flops_per_s': s.flops, 'hbm_bytes_per_s': s.offchip_mem_bw, 'onchip_bytes_per_s': s.onchip_mem_bw,
               'memory_bytes': s.off_chip_mem_size, 'compute_efficiency': s.compute_efficiency,
               'memory_efficiency': s.memory_efficiency}
with contextlib.redirect_stdout(sys.stderr):
    for free in (False, True):
        tag = '_onchip_free' if free else ''
        r = prefill_moddeling(model='llama2_7b', batch_size=1, input_tokens=cfg['tokens'],
                              system_name=system(free), bits='bf16')
        out['prefill' + tag] = table(r['model_df'])
        r = decode_moddeling(model='llama2_7b', batch_size=1, input_tokens=cfg['tokens'], output_tokens=0, Bb=1,
                             system_name=system(free), bits='bf16')
        out['decode' + tag] = table(r['model_df'])
print(json.dumps(out))
"""


@dataclass
class Cost:
    """Summed FLOPs, bytes and ns of a group of ops (one layer's instance)."""

    flops: float = 0.0
    bytes: float = 0.0
    ns: float = 0.0
    onchip_bytes: float = 0.0
    n_ops: int = 0
    bounds: list[str] = field(default_factory=list)

    def add(self, flops: float, n_bytes: float, ns: float, bound: str, onchip: float = 0.0) -> None:
        self.flops += flops
        self.bytes += n_bytes
        self.ns += ns
        self.onchip_bytes += onchip
        self.n_ops += 1
        self.bounds.append(bound)


# (row, kind, pimc ops as (scope, label without "layers.N.", op name), GenZ layer names per phase)
MAPPING = [
    ("embedding", "differs", [("top", "h", "nn.gather")], {"prefill": ["embeddings"], "decode": []}),
    (
        "QKV projection",
        "sum",
        [("layer", "q.q_proj", "nn.linear"), ("layer", "k.k_proj", "nn.linear"), ("layer", "v.v_proj", "nn.linear")],
        {"prefill": ["QKV"], "decode": ["QKV"]},
    ),
    (
        "attention",
        "differs",
        [("layer", "attn", "nn.attention")],
        {"prefill": ["Logit", "Attend"], "decode": ["Logit Pre", "Logit Suf", "Attend Pre", "Attend Suf"]},
    ),
    ("out proj", "1:1", [("layer", "o", "nn.linear")], {"prefill": ["Out Proj"], "decode": ["Out Proj"]}),
    (
        "gate + up proj",
        "sum",
        [("layer", "mlp.gate_proj", "nn.linear"), ("layer", "mlp.up_proj", "nn.linear")],
        {"prefill": ["up+gate"], "decode": ["up+gate"]},
    ),
    ("down proj", "1:1", [("layer", "mlp", "nn.linear")], {"prefill": ["down"], "decode": ["down"]}),
    ("lm_head", "1:1", [("top", "logits", "nn.linear")], {"prefill": ["classifier"], "decode": ["classifier"]}),
]


def run_genz(python: str, cfg: dict) -> dict:
    cmd = [python, "-c", GENZ_SCRIPT, json.dumps(cfg)]
    with tempfile.TemporaryDirectory() as scratch:  # GenZ writes files into its working directory
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=scratch)
    if done.returncode != 0:
        sys.exit(f"GenZ run failed ({python}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def pimc_costs(machine: dict) -> tuple[dict[str, dict[tuple[str, str, str], Cost]], dict[str, float], int]:
    """Per phase: op key -> per-layer-instance Cost; per phase total ns; number of layers."""
    module = import_model(MODEL, DIMS)
    per: dict[str, dict[tuple[str, str, str], list]] = {}
    totals: dict[str, float] = {}
    layers: set[int] = set()
    for op in module.walk():
        if not is_costed(op):
            continue
        phase = phase_of(op) or "?"
        label = nn.op_label(op)
        m = op_metrics(op)
        t = gpu_op_time(m.flops, m.bytes, m.engine, dtype=DTYPE, **machine)
        match = re.match(r"layers\.(\d+)\.(.*)$", label)
        if match:
            layers.add(int(match.group(1)))
            key = ("layer", match.group(2), op.name)
        else:
            key = ("top", label, op.name)
        per.setdefault(phase, {}).setdefault(key, []).append((m.flops, m.bytes, t.total_ns, t.bound))
        totals[phase] = totals.get(phase, 0.0) + t.total_ns
    out: dict[str, dict[tuple[str, str, str], Cost]] = {}
    for phase, ops in per.items():
        out[phase] = {}
        for key, inst in ops.items():
            if len(set(inst)) != 1:
                sys.exit(
                    f"pimc {phase} {key}: the layers differ ({len(set(inst))} variants); per-layer rows assume one"
                )
            c = Cost()
            c.add(*inst[0])
            out[phase][key] = c
    return out, totals, len(layers)


def genz_group(rows: list[dict], names: list[str], free: list[dict], hbm_bytes_per_ns: float) -> tuple[Cost, Cost]:
    """GenZ's sum over `names` (as reported) and the same with on-chip traffic free."""
    c, cf = Cost(), Cost()
    for name in names:
        (row,) = [r for r in rows if r["name"] == name]
        (frow,) = [r for r in free if r["name"] == name]
        # HBM bytes = memory time with infinite on-chip bandwidth x HBM bandwidth
        # (rounded to whole bytes: the float round trip leaves ~1e-8 residues)
        hbm = frow["memory_ns"] * hbm_bytes_per_ns
        onchip = float(round(row["bytes"] - hbm)) if row["flops"] else 0.0
        # a zero-FLOP row (the empty Logit/Attend Suf) costs 0 in GenZ and has no bound
        c.add(row["flops"], row["bytes"], row["latency_ns"], row["bound"].lower() if row["flops"] else "", onchip)
        cf.add(frow["flops"], frow["bytes"], frow["latency_ns"], frow["bound"].lower() if frow["flops"] else "")
    return c, cf


def pct(a: float, b: float) -> float | None:
    return 100.0 * (a - b) / b if b else None


def fmt_pct(p: float | None) -> str:
    return "—" if p is None else f"{p:+.3f}%"


def fmt_num(x: float | None) -> str:
    return "—" if x is None else f"{x:.4e}"


def fmt_ns(x: float | None) -> str:
    return "—" if x is None else f"{x:,.1f}"


HEADER = (
    "op",
    "map",
    "pimc FLOPs",
    "GenZ FLOPs",
    "pimc bytes",
    "GenZ bytes",
    "(on-chip)",
    "pimc ns",
    "GenZ ns",
    "diff %",
    "bound p/G",
)


def print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]

    def line(r: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    print(line(HEADER))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))


def short(bounds: list[str]) -> str:
    kinds = sorted({b[0] for b in bounds if b})
    return "/".join(kinds) if kinds else "—"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument(
        "--genz-python",
        default=os.environ.get("GENZ_PYTHON"),
        help="a Python with genz-llm installed (default: $GENZ_PYTHON)",
    )
    parser.add_argument("--genz-h100-preset", action="store_true", help="GenZ's own 'H100_GPU' (3400 GiB/s)")
    args = parser.parse_args()
    if not args.genz_python:
        parser.error(
            "name a Python with genz-llm installed: --genz-python PATH or GENZ_PYTHON "
            "(python3 -m venv genz && genz/bin/pip install genz-llm==0.0.16)"
        )

    h100 = load_system("h100")  # the preset's data-sheet numbers; GenZ has no launch overhead, so 0 here
    gpu = h100.devices["gpu"]
    bw_gbps = gbps_from_genz(3400) if args.genz_h100_preset else h100.memory_of("gpu").bandwidth_gbps
    genz_system = {
        "Flops": gpu.gpu.peak_tflops["bf16"],
        "Memory_size": 80,
        "Memory_BW": genz_memory_bw(bw_gbps),
        "ICN": 450,
    }
    machine = {
        "peak_tflops": gpu.gpu.peak_tflops,
        "vector_tflops": gpu.gpu.vector_tflops,
        "compute_efficiency": gpu.gpu.compute_efficiency,
        "memory_efficiency": gpu.gpu.memory_efficiency,
        "launch_overhead_ns": 0.0,
        "bandwidth_gbps": bw_gbps,
    }
    print("$ " + shlex.join(["python", "benchmarks/gpu_vs_genz.py", *sys.argv[1:]]))
    sysarg = "'H100_GPU'" if args.genz_h100_preset else repr(dict(genz_system, real_values=True))
    print(f"GenZ ({args.genz_python}):")
    print(
        f"  prefill_moddeling(model='llama2_7b', batch_size=1, input_tokens={TOKENS}, system_name={sysarg}, bits='bf16')"
    )
    print(
        f"  decode_moddeling(model='llama2_7b', batch_size=1, input_tokens={TOKENS}, output_tokens=0, Bb=1, "
        f"system_name=..., bits='bf16')"
    )
    genz = run_genz(args.genz_python, {"tokens": TOKENS, "system": genz_system, "preset": args.genz_h100_preset})
    seen = genz["seen"]
    print(
        f"  genz-llm {genz['version']} sees: {seen['flops_per_s'] / 1e12:g} TFLOP/s, "
        f"HBM {seen['hbm_bytes_per_s'] / 1e9:.1f} GB/s, "
        f"on-chip {seen['onchip_bytes_per_s'] / 1e9:.1f} GB/s (GenZ default 18000 GiB/s), "
        f"memory {seen['memory_bytes'] / 2**30:g} GiB, ceff {seen['compute_efficiency']}, meff {seen['memory_efficiency']}"
    )
    dims = " ".join(f"{k}={v}" for k, v in DIMS.items())
    print(
        f"pimc: import_model(examples/llama2-7b.pim, {dims}); op_metrics; targets/models/gpu.py gpu_op_time with "
        f"peak_tflops.bf16 {machine['peak_tflops']['bf16']:g}, vector_tflops.bf16 {machine['vector_tflops']['bf16']:g}, "
        f"bandwidth {bw_gbps:.1f} GB/s, efficiencies 1.0, launch 0 ns"
    )
    hbm_bytes_per_ns = seen["hbm_bytes_per_s"] / 1e9
    if abs(hbm_bytes_per_ns - bw_gbps) > 1e-6 * bw_gbps or abs(seen["flops_per_s"] - 1e12 * 989) > 1:
        sys.exit("GenZ and pimc do not see the same machine")

    costs, pimc_totals, n_layers = pimc_costs(machine)
    worst: dict[str, tuple[float, str]] = {"1:1": (0.0, ""), "sum": (0.0, "")}
    for phase in ("prefill", "decode"):
        rows_g, rows_free = genz[phase], genz[phase + "_onchip_free"]
        mine = dict(costs[phase])
        out: list[tuple[str, ...]] = []
        notes: list[str] = []
        mapped_p = mapped_g = 0.0
        for name, kind, keys, genz_names in MAPPING:
            p = Cost()
            for key in keys:
                c = mine.pop(key)
                p.add(c.flops, c.bytes, c.ns, c.bounds[0])
            g, gf = genz_group(rows_g, genz_names[phase], rows_free, hbm_bytes_per_ns)
            per_model = n_layers if keys[0][0] == "layer" else 1
            mapped_p += p.ns * per_model
            mapped_g += g.ns * per_model
            label = f"{name} ({'per layer' if keys[0][0] == 'layer' else 'once'})"
            if not genz_names[phase]:
                out.append(
                    (
                        label,
                        "pimc only",
                        fmt_num(p.flops),
                        "—",
                        fmt_num(p.bytes),
                        "—",
                        "—",
                        fmt_ns(p.ns),
                        "—",
                        "—",
                        short(p.bounds),
                    )
                )
                notes.append(f"{name}: GenZ's decode model has no input embedding; pimc gathers one row")
                continue
            d = pct(p.ns, g.ns)
            if kind == "sum":
                how = f"sum {p.n_ops}:{g.n_ops}"
            elif kind == "1:1":
                how = "1:1"
            else:
                how = "differs" if p.n_ops == g.n_ops == 1 else f"differs {p.n_ops}:{g.n_ops}"
            out.append(
                (
                    label,
                    how,
                    fmt_num(p.flops),
                    fmt_num(g.flops),
                    fmt_num(p.bytes),
                    fmt_num(g.bytes),
                    fmt_num(g.onchip_bytes) if g.onchip_bytes else "0",
                    fmt_ns(p.ns),
                    fmt_ns(g.ns),
                    fmt_pct(d),
                    f"{short(p.bounds)}/{short(g.bounds)}",
                )
            )
            if kind in worst and d is not None and abs(d) >= abs(worst[kind][0]):
                worst[kind] = (d, f"{phase} {name}")
            if kind == "sum":
                notes.append(
                    f"{name}: pimc's {p.n_ops} separate linears each read the activation (+{fmt_num(p.bytes - g.bytes)} "
                    f"bytes vs GenZ's one fused GEMM); same FLOPs"
                )
            if name == "attention":
                df = pct(p.ns, gf.ns)
                out.append(
                    (
                        "  attention, GenZ on-chip free",
                        f"differs {p.n_ops}:{gf.n_ops}",
                        fmt_num(p.flops),
                        fmt_num(gf.flops),
                        fmt_num(p.bytes),
                        fmt_num(gf.bytes),
                        "free",
                        fmt_ns(p.ns),
                        fmt_ns(gf.ns),
                        fmt_pct(df),
                        f"{short(p.bounds)}/{short(gf.bounds)}",
                    )
                )
                notes.append(
                    f"attention: pimc = one fused op (FlashAttention: scores stay on chip and cost no bytes; FLOPs include "
                    f"scale+softmax, 6/score); GenZ = {'+'.join(genz_names[phase])} (mha_flash_attention_{phase}: "
                    f"scores pinned on chip but charged {g.onchip_bytes / 2**20:.2f} MiB at its 18000 GiB/s on-chip "
                    f"bandwidth, no softmax FLOPs, each op its own roofline max). With GenZ's on-chip bandwidth "
                    f"infinite (a System object) the two agree to {fmt_pct(df)}."
                )
            if name == "embedding":
                notes.append(
                    "embedding: pimc reads the 512 gathered rows (+ ids) and writes them; GenZ costs a one-hot "
                    "[512 x 32000] x [32000 x 4096] GEMM that reads the whole table (not comparable)"
                )
        for key, c in sorted(mine.items(), key=lambda kv: (kv[0][0], kv[0][2], kv[0][1])):
            if c.flops == 0 and c.bytes == 0:
                continue
            scope, label, opname = key
            out.append(
                (
                    f"{label} ({opname.removeprefix('nn.')}, {'per layer' if scope == 'layer' else 'once'})",
                    "pimc only",
                    fmt_num(c.flops),
                    "—",
                    fmt_num(c.bytes),
                    "—",
                    "—",
                    fmt_ns(c.ns),
                    "—",
                    "—",
                    short(c.bounds),
                )
            )
        if phase == "decode":
            notes.append(
                "decode GEMVs: GenZ pins their input and output on chip (ResidencyInfo.AC_onchip, the '(on-chip)' "
                "column) and streams only the weight from HBM; pimc reads and writes them in HBM too"
            )
        genz_total = sum(r["latency_ns"] * r["repeat"] for r in rows_g)
        print()
        what = f"{TOKENS} tokens" if phase == "prefill" else f"1 token, {TOKENS} keys"
        print(f"== {phase} (Llama-2-7B, batch 1, {what}, bf16, H100 {bw_gbps:.1f} GB/s, 989 TFLOP/s) ==")
        print_table(out)
        for n in notes:
            print(f"  note: {n}")
        print(
            f"  model total: GenZ {genz_total / 1e6:.4f} ms; pimc, the same rows: {mapped_p / 1e6:.4f} ms "
            f"({fmt_pct(pct(mapped_p, mapped_g))}); pimc, every op (incl. pimc-only rows, {n_layers} layers): "
            f"{pimc_totals[phase] / 1e6:.4f} ms"
        )
    print()
    ok = True
    for kind, title in (("1:1", "ops that map 1:1"), ("sum", "fused-vs-split sums (QKV, gate+up)")):
        d, where = worst[kind]
        ok &= abs(d) <= TARGET_PCT
        print(f"worst |diff|, {title}: {abs(d):.3f}% ({where}); target {TARGET_PCT:g}%")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
