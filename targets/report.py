"""The cost report: `report.json` and the per-op table printed by `pimc compile`.

Schema: docs/report.md. Every number is read from the IR the passes produced
(the `cost`, `device`, `bytes` and `latency_ns` attributes), so the report shows
exactly what the compiler decided.

Latencies come from the schedule (targets/schedule.py, passes/schedule.py): each
phase's makespan with devices overlapping where dependencies and memories allow;
`serial_ns` is the sum of the same op and transfer latencies, for comparison.
The `baselines` section re-places and re-schedules the same costed graph under
gpu-only, npu-only, pim-only (and optimal, when another strategy was chosen).
"""

from __future__ import annotations

import math
from typing import Any

from xdsl.dialects import func
from xdsl.dialects.builtin import DictionaryAttr, FloatAttr, IntegerAttr, IntegerType, ModuleOp, StringAttr, TensorType
from xdsl.ir import Attribute, Operation

from pimc.compiler.errors import PimcError
from pimc.compiler.frontend.phases import phase_of
from pimc.dialects import nn, pim
from pimc.dialects.place import TransferOp
from pimc.passes.annotate_cost import COST_ATTR
from pimc.passes.partition import PARTITION_ATTR, StrategyContext, device_of, phase_functions, place_phase
from pimc.passes.schedule import PhaseTiming
from pimc.passes.strategies import BASELINES
from pimc.targets.aim_trace import is_aim_stream
from pimc.targets.capacity import MemoryUse
from pimc.targets.schedule import schedule_energy_pj, schedule_phase
from pimc.targets.system import System

SCHEMA_VERSION = 3


def _shape(t: Attribute) -> str:
    if isinstance(t, TensorType):
        dims = "x".join(str(d) for d in t.get_shape())
        return f"{dims}x{t.element_type}" if dims else str(t.element_type)
    return str(t)


def _op_kind(op: Operation) -> str:
    if isinstance(op, nn.OnnxOp):
        return op.op_type.data
    return op.name


def _num(attr: Attribute) -> float | int:
    assert isinstance(attr, (IntegerAttr, FloatAttr))
    return attr.value.data


def _str(attr: Attribute) -> str:
    assert isinstance(attr, StringAttr)
    return attr.data


def op_entry(op: Operation) -> dict[str, Any]:
    cost = op.attributes[COST_ATTR]
    assert isinstance(cost, DictionaryAttr)
    per_device = cost.data["latency_ns"]
    assert isinstance(per_device, DictionaryAttr)
    device = device_of(op)
    by_device = {k: _num(v) for k, v in per_device.data.items()}
    energy = cost.data["energy_pj"]
    bound = cost.data["bound"]
    assert isinstance(energy, DictionaryAttr) and isinstance(bound, DictionaryAttr)
    energy_by_device = {k: _num(v) for k, v in energy.data.items()}
    return {
        "name": nn.op_label(op),
        "op": _op_kind(op),
        "phase": phase_of(op),
        "inputs": [_shape(v.type) for v in op.operands],
        "outputs": [_shape(r.type) for r in op.results],
        "device": device,
        "flops": _num(cost.data["flops"]),
        "bytes": _num(cost.data["bytes"]),
        "intensity": _num(cost.data["intensity"]),
        "latency_ns": by_device[device] if device is not None else None,
        "energy_pj": energy_by_device[device] if device is not None else None,
        "bound": _str(bound.data[device]) if device is not None else None,
        "latency_ns_by_device": by_device,
        "energy_pj_by_device": energy_by_device,
        "start_ns": _time(op, "start_ns"),
        "end_ns": _time(op, "end_ns"),
    }


def _time(op: Operation, key: str) -> float | None:
    """`start_ns` / `end_ns` the schedule set on `op`, if it ran."""
    return _num(op.attributes[key]) if key in op.attributes else None


def transfer_entry(op: TransferOp) -> dict[str, Any]:
    producer = op.input.owner
    return {
        "value": op.input.name_hint or "",
        "phase": phase_of(producer) if isinstance(producer, Operation) else None,
        "src": op.src.device_name,
        "dst": op.dst.device_name,
        "bytes": _num(op.attributes["bytes"]),
        "latency_ns": _num(op.attributes["latency_ns"]),
        "energy_pj": _num(op.attributes["energy_pj"]),
        "start_ns": _time(op, "start_ns"),
        "end_ns": _time(op, "end_ns"),
        "kv_handoff": "kv_handoff" in op.attributes,
    }


def system_entry(system: System) -> dict[str, Any]:
    """The system as the report shows it: devices with their memory, memories, links."""
    return {
        "name": system.name,
        "source": system.source,
        "devices": {d.name: d.kind for d in system.devices.values()},
        "device_memory": {d.name: d.memory for d in system.devices.values()},
        "memories": {
            m.name: {"capacity_gb": m.capacity_gb, "bandwidth_gbps": m.bandwidth_gbps,
                     "energy_pj_per_bit": m.energy_pj_per_bit, "pim_sharing": m.pim_sharing,
                     "devices": [d.name for d in system.devices.values() if d.memory == m.name]}
            for m in system.memories.values()
        },
        "links": [{"between": [link.a, link.b], "bandwidth_gbps": link.bandwidth_gbps, "latency_ns": link.latency_ns,
                   "energy_pj_per_bit": link.energy_pj_per_bit} for link in system.links],
    }


def memory_entry(system: System, memories: dict[str, MemoryUse]) -> dict[str, Any]:
    """Per memory: capacity, and the bytes of weights, KV cache and peak activations it holds."""
    out: dict[str, Any] = {}
    for name, use in memories.items():
        capacity = system.memories[name].capacity_gb * 1e9
        out[name] = {
            "capacity_bytes": int(capacity),
            "weights_bytes": use.weight_bytes,
            "weights": len(use.weights),
            "kv_cache_bytes": dict(use.kv_cache),
            "activations_bytes": dict(use.activations),
            "total_bytes": use.total_bytes,
            "utilisation": use.total_bytes / capacity,
        }
    return out


def phase_tokens(fn: func.FuncOp) -> int | None:
    """Tokens a phase processes: the elements of its first integer input (the token ids, batch x new tokens)."""
    for arg in fn.body.block.args:
        t = arg.type
        if isinstance(t, TensorType) and isinstance(t.element_type, IntegerType):
            return math.prod(t.get_shape())
    return None


def compute_baselines(timings: list[PhaseTiming], system: System, dtype: str, chosen: str, streams: int = 1,
                      papi_threshold: float | None = None) -> dict[str, dict[str, Any]]:
    """The same costed phases placed by the baseline strategies (and optimal), each scheduled alike.

    Per strategy: {"phases": {phase: {"latency_ns", "energy_pj"}}, "latency_ns", "energy_pj"}, or
    {"error": why} when the system lacks what the strategy needs (e.g. gpu-only without a GPU).
    KV hand-offs between phases are not part of these figures.
    """
    names = [b for b in BASELINES if b != chosen] + (["optimal"] if chosen != "optimal" else [])
    ctx = StrategyContext(system, dtype, papi_threshold)
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        try:
            phases = {}
            for t in timings:
                placement = place_phase(t.graph, name, ctx)
                sched = schedule_phase(t.graph, placement.devices, system, placement.order, streams)
                phases[t.graph.phase] = {
                    "latency_ns": sched.makespan_ns,
                    "energy_pj": schedule_energy_pj(t.graph, placement.devices, sched, system, streams),
                }
        except PimcError as e:
            out[name] = {"error": str(e)}
            continue
        out[name] = {"phases": phases, "latency_ns": math.fsum(p["latency_ns"] for p in phases.values()),
                     "energy_pj": math.fsum(p["energy_pj"] for p in phases.values())}
    return out


def roofline_view(module: ModuleOp, model: str, strategy: str, dtype: str) -> dict[str, Any]:
    """What the roofline plot reads of the report (targets/plots.py), taken from a placed module: the same
    op entries as the report's (the PIM lowering keeps every op's cost and device)."""
    return {"model": model, "strategy": strategy, "dtype": dtype,
            "ops": [op_entry(op) for op in module.walk() if COST_ATTR in op.attributes]}


def build_report(module: ModuleOp, model: str, system: System, strategy: str, dtype: str = "fp16",
                 memories: dict[str, MemoryUse] | None = None, timings: list[PhaseTiming] | None = None,
                 baselines: dict[str, dict[str, Any]] | None = None, streams: int = 1,
                 tokens_per_step: int = 1) -> dict[str, Any]:
    ops: list[dict[str, Any]] = []
    transfers: list[dict[str, Any]] = []
    aim_commands = 0
    for op in module.walk():
        if isinstance(op, TransferOp):
            transfers.append(transfer_entry(op))
        elif COST_ATTR in op.attributes:
            ops.append(op_entry(op))
        if isinstance(op, pim.PIM_MACROS) and op.commands.blocks and is_aim_stream(op.commands.block):
            aim_commands += pim.unrolled_length(op.commands.block)
    timings = timings or []
    per_device = {name: 0.0 for name in system.devices}
    energy_by_device = {name: 0.0 for name in system.devices}
    for entry in ops:
        if entry["device"] is not None:
            per_device[entry["device"]] += entry["latency_ns"] * streams
            energy_by_device[entry["device"]] += entry["energy_pj"] * streams
    transfer_ns = math.fsum(t["latency_ns"] for t in transfers) * streams
    transfer_pj = math.fsum(t["energy_pj"] for t in transfers) * streams
    tokens = {fn.sym_name.data: phase_tokens(fn) for fn in phase_functions(module)}
    phases: dict[str, dict[str, Any]] = {}
    for entry in ops:
        p = phases.setdefault(entry["phase"] or "unknown",
                              {"ops": 0, "flops": 0, "bytes": 0, "latency_ns": 0.0, "serial_ns": 0.0,
                               "energy_pj": 0.0, "start_ns": 0.0, "tokens": None})
        p["ops"] += 1
        p["flops"] += entry["flops"] * streams
        p["bytes"] += entry["bytes"] * streams
        p["serial_ns"] += (entry["latency_ns"] or 0.0) * streams
        p["energy_pj"] += (entry["energy_pj"] or 0.0) * streams
    for t in transfers:
        if t["phase"] in phases:
            phases[t["phase"]]["serial_ns"] += t["latency_ns"] * streams
            phases[t["phase"]]["energy_pj"] += t["energy_pj"] * streams
    handoff_ns = 0.0
    for t in timings:
        if t.graph.phase in phases:
            phases[t.graph.phase]["latency_ns"] = t.schedule.makespan_ns
            phases[t.graph.phase]["start_ns"] = t.start_ns
        handoff_ns += max(0.0, t.handoff_end_ns - t.start_ns - t.schedule.makespan_ns)
    for name, p in phases.items():
        n = tokens.get(name)
        p["tokens"] = n * streams if n is not None else None
    makespan = math.fsum(t.schedule.makespan_ns for t in timings) + handoff_ns
    partition = module.attributes.get(PARTITION_ATTR)
    proven: dict[str, bool] = {}
    bounds: dict[str, float] = {}
    if isinstance(partition, DictionaryAttr):
        flags = partition.data["optimal_proven"]
        assert isinstance(flags, DictionaryAttr)
        proven = {k: bool(_num(v)) for k, v in flags.data.items()}
        bound_attr = partition.data.get("optimal_bound_ns")
        if isinstance(bound_attr, DictionaryAttr):
            bounds = {k: float(_num(v)) for k, v in bound_attr.data.items()}
    decode = phases.get("decode")
    prefill = phases.get("prefill")
    schedule = {
        "ttft_ns": prefill["latency_ns"] if prefill else None,
        "decode_step_ns": decode["latency_ns"] if decode else None,
        "tpot_ns": decode["latency_ns"] / tokens_per_step if decode else None,
        "tokens_per_step": tokens_per_step,
        "sub_batches": streams,
        "kv_handoff_ns": handoff_ns,
        "optimal_proven": proven,
        "optimal_bound_ns": bounds,
        "optimal_gap": {p: (max(0.0, (phases[p]["latency_ns"] - b) / phases[p]["latency_ns"])
                            if phases.get(p) and phases[p]["latency_ns"] else 0.0)
                        for p, b in bounds.items()},
    }
    chosen = {"phases": {p: {"latency_ns": v["latency_ns"], "energy_pj": v["energy_pj"]} for p, v in phases.items()},
              "latency_ns": math.fsum(v["latency_ns"] for v in phases.values()),
              "energy_pj": math.fsum(v["energy_pj"] for v in phases.values())}
    strategies = {strategy: chosen, **(baselines or {})}
    speedups = {}
    for name, b in strategies.items():
        if "error" in b or name == strategy:
            continue
        speedups[name] = {
            "latency": b["latency_ns"] / chosen["latency_ns"] if chosen["latency_ns"] else None,
            "energy": b["energy_pj"] / chosen["energy_pj"] if chosen["energy_pj"] else None,
            **{p: b["phases"][p]["latency_ns"] / v["latency_ns"] if v["latency_ns"] else None
               for p, v in chosen["phases"].items() if p in b["phases"]},
        }
    devices = {
        d: {"busy_ns": per_device[d], "utilisation": per_device[d] / makespan if makespan else 0.0,
            "energy_pj": energy_by_device[d], "ops": sum(1 for e in ops if e["device"] == d)}
        for d in system.devices
    }
    return {
        "schema_version": SCHEMA_VERSION,
        "model": model,
        "system": system_entry(system),
        "dtype": dtype,
        "strategy": strategy,
        "execution_model": "scheduled",
        "ops": ops,
        "transfers": transfers,
        "totals": {
            "latency_ns": makespan,
            "serial_ns": math.fsum(per_device.values()) + transfer_ns,
            "flops": sum(e["flops"] for e in ops) * streams,
            "bytes": sum(e["bytes"] for e in ops) * streams,
            "latency_ns_by_device": per_device,
            "energy_pj": math.fsum(energy_by_device.values()) + transfer_pj,
            "energy_pj_by_device": energy_by_device,
            "transfer_latency_ns": transfer_ns,
            "transfer_energy_pj": transfer_pj,
            "transfer_bytes": sum(t["bytes"] for t in transfers) * streams,
            "ops": len(ops),
            "ops_by_device": {d: sum(1 for e in ops if e["device"] == d) for d in system.devices},
            "aim_commands": aim_commands + 1,  # + the closing EOC
        },
        "devices": devices,
        "phases": phases,
        "schedule": schedule,
        "baselines": {"strategies": strategies, "speedup": speedups},
        "memory": memory_entry(system, memories) if memories is not None else {},
    }


def _si(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.2f}{unit}"
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.2f}"


TABLE_ALL_UP_TO = 100
"""Models with more ops than this show only the TABLE_TOP slowest in the table by default."""
TABLE_TOP = 25


def format_table(report: dict[str, Any], max_name: int = 34, top: int | None = None) -> str:
    """A fixed-width table: one row per op (or, with `top` N > 0, the N slowest, in program order; by default
    every op of a model of up to TABLE_ALL_UP_TO ops, else the TABLE_TOP slowest), then transfers and totals."""
    head = ("#", "name", "op", "shapes", "FLOPs", "bytes", "FLOP/B", "device", "latency")
    rows: list[tuple[str, ...]] = []
    ops = report["ops"]
    if top is None:
        top = 0 if len(ops) <= TABLE_ALL_UP_TO else TABLE_TOP
    shown = set(range(len(ops)))
    if 0 < top < len(ops):
        shown = set(sorted(range(len(ops)), key=lambda i: (-(ops[i]["latency_ns"] or 0.0), i))[:top])
    for i, e in enumerate(ops):
        if i not in shown:
            continue
        name = e["name"] if len(e["name"]) <= max_name else "…" + e["name"][-(max_name - 1) :]
        shapes = ",".join(s.rsplit("x", 1)[0] for s in e["inputs"]) + "->" + ",".join(
            s.rsplit("x", 1)[0] for s in e["outputs"]
        )
        rows.append(
            (
                str(i),
                name,
                e["op"],
                shapes,
                _si(e["flops"]),
                _si(e["bytes"]),
                f"{e['intensity']:.2f}",
                e["device"] or "-",
                f"{e['latency_ns']:.1f} ns",
            )
        )
    widths = [max(len(h), *(len(r[c]) for r in rows)) if rows else len(h) for c, h in enumerate(head)]
    right = {0, 4, 5, 6, 8}

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    out = [fmt(head), fmt(tuple("-" * w for w in widths))]
    out += [fmt(r) for r in rows]
    t = report["totals"]
    if len(shown) < len(ops):
        out.append(f"(the {len(shown)} slowest of {len(ops)} ops; --top 0 shows every op, report.json has them all)")
    out.append("")
    out.append(
        f"transfers: {len(report['transfers'])}, {_si(t['transfer_bytes'])}B, {t['transfer_latency_ns']:.1f} ns"
    )
    split = ", ".join(
        f"{d} {t['ops_by_device'][d]} ops {t['latency_ns_by_device'][d]:.1f} ns" for d in t["latency_ns_by_device"]
    )
    out.append(f"devices: {split}")
    out.append(
        f"total ({report['execution_model']}): {t['latency_ns']:.1f} ns (serial {t['serial_ns']:.1f} ns), "
        f"{_si(t['flops'])} FLOPs, {_si(t['bytes'])}B over {t['ops']} ops, {t['energy_pj'] / 1e6:.3f} uJ; "
        f"system {report['system']['name']}, strategy {report['strategy']}, dtype {report['dtype']}"
    )
    out += summary_lines(report)
    for name, m in report["memory"].items():
        phase_bytes = [m["kv_cache_bytes"].get(p, 0) + m["activations_bytes"].get(p, 0) for p in report["phases"]]
        out.append(
            f"memory {name}: {_si(m['total_bytes'])}B of {_si(m['capacity_bytes'])}B ({100 * m['utilisation']:.2f}%): "
            f"weights {_si(m['weights_bytes'])}B, KV cache + activations {_si(max([0, *phase_bytes]))}B"
        )
    return "\n".join(out)


def _ns(x: float | None) -> str:
    if x is None:
        return "-"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x:.3g} ns"


def summary_lines(report: dict[str, Any], top: int = 5) -> list[str]:
    """The readable summary: latency per phase, device split, top ops, speedups against the baselines."""
    sched = report.get("schedule", {})
    out = []
    phases = ", ".join(f"{p} {_ns(v['latency_ns'])}" + (f" ({v['tokens']} tokens)" if v.get("tokens") else "")
                       for p, v in report["phases"].items())
    line = f"phases: {phases}"
    if sched.get("ttft_ns") is not None:
        line += f"; TTFT {_ns(sched['ttft_ns'])}"
    if sched.get("tpot_ns") is not None:
        line += f", TPOT {_ns(sched['tpot_ns'])}"
    if sched.get("kv_handoff_ns"):
        line += f", KV hand-off exposed {_ns(sched['kv_handoff_ns'])}"
    if sched.get("sub_batches", 1) > 1:
        line += f"; {sched['sub_batches']} interleaved sub-batches"
    out.append(line)
    devices = ", ".join(f"{d} {v['ops']} ops busy {_ns(v['busy_ns'])} ({100 * v['utilisation']:.0f}%)"
                        for d, v in report.get("devices", {}).items() if v["ops"])
    out.append(f"utilisation: {devices}")
    ranked = sorted(report["ops"], key=lambda e: -(e["latency_ns"] or 0.0))[:top]
    total = sum(e["latency_ns"] or 0.0 for e in report["ops"]) or 1.0
    out.append("top ops: " + "; ".join(f"{e['name']} on {e['device']} {_ns(e['latency_ns'])} "
                                       f"({100 * (e['latency_ns'] or 0) / total:.1f}%)" for e in ranked))
    proofs = []
    for phase, ok in sched.get("optimal_proven", {}).items():
        bound = sched.get("optimal_bound_ns", {}).get(phase)
        gap = sched.get("optimal_gap", {}).get(phase, 0.0)
        proofs.append(f"{phase} proven least" if ok else
                      f"{phase} within {100 * gap:.3g}% of the proven lower bound {_ns(bound)}")
    if proofs:
        out.append("optimal: " + "; ".join(proofs))
    baselines = report.get("baselines", {})
    parts = []
    for name, b in baselines.get("strategies", {}).items():
        if name == report["strategy"]:
            continue
        speedup = None if "error" in b else baselines["speedup"][name]["latency"]
        parts.append(f"{name} n/a" if speedup is None else f"{name} {speedup:.2f}x")
    if parts:
        out.append(f"speedup of {report['strategy']} over: " + ", ".join(parts))
    return out
