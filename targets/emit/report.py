"""The cost report: `report.json` and the per-op table printed by `pimc compile`.

Schema: docs/report.md. Every number is read from the IR the passes produced
(the `cost`, `device`, `bytes` and `latency_ns` attributes), so the report shows
exactly what the compiler decided.

Latencies come from the schedule (targets/placement/execution.py, passes/schedule.py): each
phase's makespan with devices overlapping where dependencies and memories allow;
`serial_ns` is the sum of the same op and transfer latencies, for comparison.
The `baselines` section is the baselines pass's `pimc.baselines`: the same costed graph
placed and scheduled under gpu-only, npu-only, pim-only and the seed systems' policies
(and optimal, when another strategy was chosen).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import IO, Any

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import DictionaryAttr, FloatAttr, IntegerAttr, IntegerType, ModuleOp, StringAttr, TensorType
from xdsl.ir import Attribute, Operation
from xdsl.utils.target import Target

from pimc.dialects import nn, pim
from pimc.dialects.nn import phase_of
from pimc.dialects.place import TransferOp, device_of
from pimc.errors import CompileError
from pimc.targets.annotations import (
    BASELINES_ATTR,
    COST_ATTR,
    MEMORY_ATTR,
    PARALLEL_SEARCH_ATTR,
    PARTITION_ATTR,
    chosen_strategy,
    model_name,
    phase_functions,
    phase_times,
    schedule_streams,
    tensor_parallel,
)
from pimc.targets.dtypes import dtype_for_module
from pimc.targets.emit.aim_trace import is_aim_stream
from pimc.targets.models.collective import COLLECTIVE_OPS
from pimc.targets.system import System, recorded_system

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
    if device is not None and not (device in by_device and device in energy_by_device and device in bound.data):
        raise CompileError(
            f"op '{nn.op_label(op)}' is placed on device '{device}', which has no cost for it "
            f"(devices with a cost: {', '.join(by_device) or 'none'})"
        )
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
        "kv_handoff": op.kv_handoff is not None,
    }


def system_entry(system: System) -> dict[str, Any]:
    """The system as the report shows it: devices with their memory, memories, links."""
    return {
        "name": system.name,
        "source": system.source,
        "devices": {d.name: d.kind for d in system.devices.values()},
        "device_memory": {d.name: d.memory for d in system.devices.values()},
        "memories": {
            m.name: {
                "capacity_gb": m.capacity_gb,
                "bandwidth_gbps": m.bandwidth_gbps,
                "energy_pj_per_bit": m.energy_pj_per_bit,
                "pim_sharing": m.pim_sharing,
                "devices": [d.name for d in system.devices.values() if d.memory == m.name],
            }
            for m in system.memories.values()
        },
        "links": [
            {
                "between": [link.a, link.b],
                "bandwidth_gbps": link.bandwidth_gbps,
                "latency_ns": link.latency_ns,
                "energy_pj_per_bit": link.energy_pj_per_bit,
            }
            for link in system.links
        ],
    }


def memory_entry(system: System, memory: DictionaryAttr | None) -> dict[str, Any]:
    """Per memory: capacity, and the bytes of weights, KV cache and peak activations it holds (check-capacity's
    `pimc.memory`)."""
    out: dict[str, Any] = {}
    for name, use in (attr_value(memory) if memory is not None else {}).items():
        capacity = system.memories[name].capacity_gb * 1e9
        out[name] = {
            "capacity_bytes": int(capacity),
            "weights_bytes": use["weights_bytes"],
            "weights": use["weights"],
            "kv_cache_bytes": use["kv_cache_bytes"],
            "activations_bytes": use["activations_bytes"],
            "total_bytes": use["total_bytes"],
            "utilisation": use["total_bytes"] / capacity,
        }
    return out


def attr_value(attr: Attribute) -> Any:
    """A dictionary attribute of numbers and strings as plain Python values (ints stay ints, floats floats)."""
    if isinstance(attr, DictionaryAttr):
        return {k: attr_value(v) for k, v in attr.data.items()}
    if isinstance(attr, StringAttr):
        return attr.data
    if isinstance(attr, (IntegerAttr, FloatAttr)):
        return attr.value.data
    raise CompileError(f"unexpected attribute {attr} in a pimc result attribute")


def phase_tokens(fn: func.FuncOp) -> int | None:
    """Tokens a phase processes: the elements of its first integer input (the token ids, batch x new tokens)."""
    for arg in fn.body.block.args:
        t = arg.type
        if isinstance(t, TensorType) and isinstance(t.element_type, IntegerType):
            return math.prod(t.get_shape())
    return None


def roofline_view(module: ModuleOp) -> dict[str, Any]:
    """What the roofline plot reads of the report (targets/emit/roofline.py), taken from a placed module: the same
    op entries as the report's (the PIM lowering keeps every op's cost and device)."""
    return {
        "model": model_name(module),
        "strategy": chosen_strategy(module),
        "dtype": dtype_for_module(module, None),
        "ops": [op_entry(op) for op in module.walk() if COST_ATTR in op.attributes],
    }


def build_report(module: ModuleOp, tokens_per_step: int = 1) -> dict[str, Any]:
    """report.json of a compiled module (docs/report.md), read from the IR alone: the ops' costs, devices and
    times, `pimc.schedule`, `pimc.partition`, `pimc.memory` (check-capacity) and `pimc.baselines` (baselines).
    `tokens_per_step` is the tokens a decode step verifies (speculative decoding): TPOT = step / tokens."""
    system = recorded_system(module)
    model, strategy, dtype = model_name(module), chosen_strategy(module), dtype_for_module(module, None)
    if tokens_per_step < 1:
        raise CompileError(f"tokens_per_step={tokens_per_step}: a decode step verifies at least one token")
    streams = schedule_streams(module)  # a CompileError if the module was not scheduled
    memories = module.attributes.get(MEMORY_ATTR)
    assert memories is None or isinstance(memories, DictionaryAttr)
    baselines_attr = module.attributes.get(BASELINES_ATTR)
    baselines = attr_value(baselines_attr) if baselines_attr is not None else {}
    timings = phase_times(module)
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
    for entry in ops:
        if entry["device"] is not None and entry["device"] not in system.devices:
            raise CompileError(
                f"op '{entry['name']}' is placed on device '{entry['device']}', which system "
                f"'{system.name}' does not have (devices: {', '.join(system.devices)})"
            )
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
        p = phases.setdefault(
            entry["phase"] or "unknown",
            {
                "ops": 0,
                "flops": 0,
                "bytes": 0,
                "latency_ns": 0.0,
                "serial_ns": 0.0,
                "energy_pj": 0.0,
                "start_ns": 0.0,
                "tokens": None,
            },
        )
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
        if t.phase in phases:
            phases[t.phase]["latency_ns"] = t.makespan_ns
            phases[t.phase]["start_ns"] = t.start_ns
        handoff_ns += max(0.0, t.handoff_end_ns - t.start_ns - t.makespan_ns)
    for name, p in phases.items():
        n = tokens.get(name)
        p["tokens"] = n * streams if n is not None else None
    makespan = math.fsum(t.makespan_ns for t in timings) + handoff_ns
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
        "optimal_gap": {
            p: (
                max(0.0, (phases[p]["latency_ns"] - b) / phases[p]["latency_ns"])
                if phases.get(p) and phases[p]["latency_ns"]
                else 0.0
            )
            for p, b in bounds.items()
        },
    }
    chosen = {
        "phases": {p: {"latency_ns": v["latency_ns"], "energy_pj": v["energy_pj"]} for p, v in phases.items()},
        "latency_ns": math.fsum(v["latency_ns"] for v in phases.values()),
        "energy_pj": math.fsum(v["energy_pj"] for v in phases.values()),
    }
    strategies = {strategy: chosen, **(baselines or {})}
    speedups = {}
    for name, b in strategies.items():
        if "error" in b or name == strategy:
            continue
        speedups[name] = {
            "latency": b["latency_ns"] / chosen["latency_ns"] if chosen["latency_ns"] else None,
            "energy": b["energy_pj"] / chosen["energy_pj"] if chosen["energy_pj"] else None,
            **{
                p: b["phases"][p]["latency_ns"] / v["latency_ns"] if v["latency_ns"] else None
                for p, v in chosen["phases"].items()
                if p in b["phases"]
            },
        }
    devices = {
        d: {
            "busy_ns": per_device[d],
            "utilisation": per_device[d] / makespan if makespan else 0.0,
            "energy_pj": energy_by_device[d],
            "ops": sum(1 for e in ops if e["device"] == d),
        }
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
        "memory": memory_entry(system, memories),
        "parallel": parallel_entry(module, system, ops),
    }


def parallel_entry(module: ModuleOp, system: System, ops: list[dict[str, Any]]) -> dict[str, Any]:
    """How the program spreads over chips: the tensor-parallel degree `tp` (the shard pass), the system's
    `chips`, the data-parallel `replicas` (chips / tp, each serving its own batch), and the collectives per
    phase (count, time on the interconnect, kinds). Every other figure of the report is one chip's: the
    chips of a group run the same program at the same time, so latency is the group's and energy is x tp."""
    par = {"tp": tensor_parallel(module), "chips": system.chips}
    collectives: dict[str, dict[str, Any]] = {}
    for e in ops:
        kind = COLLECTIVE_OPS.get(e["op"])
        if kind is None:
            continue
        c = collectives.setdefault(e["phase"] or "unknown", {"count": 0, "latency_ns": 0.0, "kinds": {}})
        c["count"] += 1
        c["latency_ns"] += e["latency_ns"] or 0.0
        c["kinds"][kind] = c["kinds"].get(kind, 0) + 1
    attr = module.attributes.get(PARALLEL_SEARCH_ATTR)
    rows = attr_value(attr) if attr is not None else {}
    search = [rows[k] for k in sorted(rows, key=int)]
    return {**par, "replicas": par["chips"] // par["tp"], "collectives": collectives, "search": search}


@dataclass(frozen=True)
class ReportTarget(Target):
    """report.json (docs/report.md): costs, placement, schedule, memory and baselines, read from the compiled IR;
    `tokens_per_step` is the tokens a decode step verifies (`pimc compile --speculate`)."""

    name = "pimc-report"

    tokens_per_step: int = 1

    def emit(self, ctx: Context, module: ModuleOp, output: IO[str]) -> None:
        output.write(report_json(build_report(module, self.tokens_per_step)))


def report_json(report: dict[str, Any]) -> str:
    """report.json's text: strict JSON (a NaN or infinity in it is an internal error)."""
    try:
        return json.dumps(report, indent=2, allow_nan=False) + "\n"
    except ValueError as e:
        raise CompileError(f"internal error: report.json would hold a non-finite number ({e})") from None
