"""The discardable attributes the passes record on the IR, and their readers: the one interface between the passes
and every output (targets/emit/*.py read a compiled module through these alone).

| attribute | on | set by |
|---|---|---|
| `cost = {flops, bytes, intensity, latency_ns = {dev = ns}, energy_pj = {dev = pJ}, bound}` | costed ops | annotate-cost |
| `device = #place.device<"name">` (dialects/place.py) | costed ops | partition |
| `pimc.partition = {strategy, optimal_proven, optimal_bound_ns}` | module | partition |
| `start_ns`, `end_ns`, `sub_batch_ns` | costed ops, `place.transfer` | schedule |
| `pimc.schedule = {<phase> = {start_ns, makespan_ns, streams}}` | module | schedule |
| `pimc.memory = {<memory> = {weights_bytes, weights, kv_cache_bytes, activations_bytes, ...}}` | module | check-capacity |
| `pimc.baselines = {<strategy> = {phases, latency_ns, energy_pj} or {error}}` | module | baselines |

`pimc.model`, `pimc.system` and `pimc.dtype` name the model (its importer), the system (annotate-cost) and the
deployment precision (targets/dtypes.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, FloatAttr, IntegerAttr, ModuleOp, StringAttr, TensorType
from xdsl.ir import Attribute, Operation

from pimc.dialects import nn, pim
from pimc.dialects.nn import op_label, phase_of
from pimc.dialects.place import DEVICE_ATTR, DeviceAttr, TransferOp
from pimc.errors import CompileError
from pimc.targets.models.cost import is_costed, matrix_products, op_metrics, pim_weight, tensor_bytes
from pimc.targets.placement.execution import PhaseGraph
from pimc.targets.system import System

COST_ATTR = "cost"


PARTITION_ATTR = "pimc.partition"


COST_TABLES = {"latency_ns": "ns", "energy_pj": "pJ"}
"""The per-device tables of an op's cost attribute that partition and schedule read, with their units."""


def devices_text(system: System) -> str:
    return ", ".join(system.devices)


def op_cost(op: Operation, system: System | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """The per-device latency (ns) and energy (pJ) annotate-cost recorded on `op`, checked as they are read.

    The IR may come from a file, so every figure is validated: the cost attribute is a
    dictionary with both tables, every entry is a finite, non-negative float, both
    tables name the same devices and, when `system` is given, only devices of that
    system. A violation is a CompileError naming the op, the table and the device.
    """
    label = op_label(op)
    cost = op.attributes.get(COST_ATTR)
    if cost is None:
        raise CompileError(f"op '{label}' has no cost: run annotate-cost first")
    if not isinstance(cost, DictionaryAttr):
        raise CompileError(f"op '{label}': its cost attribute is not a dictionary: run annotate-cost again")
    tables: list[dict[str, float]] = []
    for key, unit in COST_TABLES.items():
        table = cost.data.get(key)
        if not isinstance(table, DictionaryAttr):
            what = "has no" if table is None else "has a malformed"
            raise CompileError(f"op '{label}': its cost {what} `{key}` table: run annotate-cost again")
        figures: dict[str, float] = {}
        for device, value in table.data.items():
            if system is not None and device not in system.devices:
                raise CompileError(
                    f"op '{label}': cost {key} names device '{device}', which system '{system.name}' "
                    f"does not have (devices: {devices_text(system)}): run annotate-cost for this "
                    "system"
                )
            if not isinstance(value, FloatAttr):
                raise CompileError(f"op '{label}': cost {key}.{device} is {value}, not a float ({unit})")
            number = value.value.data
            if not (math.isfinite(number) and number >= 0):
                raise CompileError(
                    f"op '{label}': cost {key}.{device} = {number} {unit}: must be finite and non-negative"
                )
            figures[device] = number
        tables.append(figures)
    latency, energy = tables
    for device in [*latency, *energy]:
        if device not in latency or device not in energy:
            has, lacks = ("latency_ns", "energy_pj") if device in latency else ("energy_pj", "latency_ns")
            raise CompileError(
                f"op '{label}': cost {lacks} has no entry for device '{device}', which {has} has: "
                "run annotate-cost again"
            )
    return latency, energy


def placed_device(op: Operation, system: System) -> str | None:
    """The device `op` is placed on, checked against `system` (None when the op is not placed).

    A `device` attribute naming no device of the system, or one that is not a
    `#place.device`, is a CompileError naming the op and the device."""
    attr = op.attributes.get(DEVICE_ATTR)
    if attr is None:
        return None
    if not isinstance(attr, DeviceAttr):
        raise CompileError(f"op '{op_label(op)}': its device attribute is {attr}, not a #place.device")
    if attr.device_name not in system.devices:
        raise CompileError(
            f"op '{op_label(op)}' is placed on device '{attr.device_name}', which system "
            f"'{system.name}' does not have (devices: {devices_text(system)})"
        )
    return attr.device_name


def phase_functions(module: ModuleOp) -> list[func.FuncOp]:
    return [fn for fn in module.ops if isinstance(fn, func.FuncOp)]


def costed_ops(fn: func.FuncOp) -> list[Operation]:
    return [op for op in fn.body.block.ops if is_costed(op)]


def role_of(op: Operation) -> tuple[str, int]:
    """(role, rows) of an op for the seed systems' policies (PhaseGraph.roles)."""
    if isinstance(op, (nn.AttentionOp, pim.AttentionOp)):
        return "attention", 0
    if isinstance(op, nn.KvAppendOp):
        return "kv_append", 0
    if pim_weight(op) is not None:
        ((_, rows, _, _),) = matrix_products(op)
        return "fc", rows
    if op_metrics(op).engine == "matrix":
        return "matrix", 0
    return "vector", 0


def phase_graph(
    fn: func.FuncOp, elem_bytes: int | None, system: System | None = None
) -> tuple[PhaseGraph, list[Operation]]:
    """The costed ops of a function as a PhaseGraph (targets/placement/execution.py), with the ops in graph order.

    The ops' cost attributes are checked as they are read (`op_cost`; against `system` when given)."""
    ops = costed_ops(fn)
    costs = [op_cost(op, system) for op in ops]
    index = {op: i for i, op in enumerate(ops)}
    values: dict[tuple[int, int], int] = {}
    operands: list[list[tuple[int, int]]] = []
    for i, op in enumerate(ops):
        for r, res in enumerate(op.results):
            values[(i, r)] = tensor_bytes(res.type, elem_bytes) if isinstance(res.type, TensorType) else 0
        ins: list[tuple[int, int]] = []
        for operand in op.operands:
            while isinstance(operand.owner, TransferOp):  # a placed graph: see through the copies
                operand = operand.owner.input
            owner = operand.owner
            if isinstance(owner, Operation) and owner in index:
                val = (index[owner], owner.results.index(operand))
                if val not in ins:
                    ins.append(val)
        operands.append(ins)
    roles = [role_of(op) for op in ops]
    graph = PhaseGraph(
        phase=phase_of(ops[0]) or fn.sym_name.data if ops else fn.sym_name.data,
        names=[op_label(op) for op in ops],
        latency=[latency for latency, _ in costs],
        energy=[energy for _, energy in costs],
        operands=operands,
        values=values,
        roles=[r for r, _ in roles],
        rows=[m for _, m in roles],
    )
    return graph, ops


PARALLEL_ATTR = "pimc.parallel"
"""Module attribute: {tp, chips} of a sharded program (the shard pass); absent: one chip."""


def result_attr(value: Any) -> Attribute:
    """A result a pass or the driver records on the module (a dict of dicts, strings, ints, bools, floats) as
    its attribute; targets/emit/report.py `attr_value` reads it back (a bool as an integer 0 or 1)."""
    if isinstance(value, dict):
        return DictionaryAttr({str(k): result_attr(v) for k, v in value.items()})
    if isinstance(value, str):
        return StringAttr(value)
    if isinstance(value, (bool, int)):
        return IntegerAttr(int(value), 64)
    return FloatAttr(float(value), 64)


PARALLEL_SEARCH_ATTR = "pimc.parallel_search"
"""Module attribute: the tensor-parallel degrees the compile tried when `--tp` was not given, one dictionary each
({tp, replicas, ttft_ns, tpot_ns, latency_ns, tokens_per_s, chosen} or {tp, error}); set by the driver."""


def tensor_parallel(module: ModuleOp) -> int:
    """The tensor-parallel degree the shard pass recorded on `module` (1 when it has not run). The chips it
    recorded beside it are the system's (`System.chips`), which is where readers take them from."""
    attr = module.attributes.get(PARALLEL_ATTR)
    if not isinstance(attr, DictionaryAttr):
        return 1
    value = attr.data.get("tp")
    if not isinstance(value, IntegerAttr) or value.value.data < 1:
        raise CompileError(f"the module's `{PARALLEL_ATTR}` has no positive integer `tp`")
    return value.value.data


BASELINES_ATTR = "pimc.baselines"


def chosen_strategy(module: ModuleOp) -> str:
    """The strategy partition placed `module` with (its `pimc.partition` attribute)."""
    attr = module.attributes.get(PARTITION_ATTR)
    strategy = attr.data.get("strategy") if isinstance(attr, DictionaryAttr) else None
    if not isinstance(strategy, StringAttr):
        raise CompileError("the module has no `pimc.partition` strategy: run partition first")
    return strategy.data


MEMORY_ATTR = "pimc.memory"


SCHEDULE_ATTR = "pimc.schedule"


SUB_BATCH_ATTR = "sub_batch_ns"
"""On an op or transfer of a phase interleaving several sub-batches: its [start, end] (ns) in sub-batches 1.. in
order (sub-batch 0's are `start_ns` / `end_ns`)."""


def schedule_streams(module: ModuleOp) -> int:
    """The sub-batch streams `module` was scheduled with (`pimc.schedule`), else a CompileError."""
    attr = module.attributes.get(SCHEDULE_ATTR)
    if not isinstance(attr, DictionaryAttr):
        raise CompileError("the module has no `pimc.schedule`: run schedule first")
    for phase in attr.data.values():
        streams = phase.data.get("streams") if isinstance(phase, DictionaryAttr) else None
        if isinstance(streams, IntegerAttr):
            return streams.value.data
    return 1


@dataclass(frozen=True)
class PhaseTime:
    """When a scheduled phase ran, as the IR records it."""

    phase: str
    function: func.FuncOp
    start_ns: float
    makespan_ns: float
    handoff_end_ns: float
    """End of the phase's last KV hand-off over every sub-batch (start_ns when it has none)."""


def op_times(op: Operation) -> list[tuple[float, float]]:
    """[start, end] (ns) of a scheduled op or transfer in every sub-batch (`start_ns`, `end_ns`, `sub_batch_ns`)."""
    start, end = op.attributes.get("start_ns"), op.attributes.get("end_ns")
    if not (isinstance(start, FloatAttr) and isinstance(end, FloatAttr)):
        return []
    times = [(start.value.data, end.value.data)]
    more = op.attributes.get(SUB_BATCH_ATTR)
    if isinstance(more, ArrayAttr):
        values = [v.value.data for v in more.data if isinstance(v, FloatAttr)]
        times += [(values[k], values[k + 1]) for k in range(0, len(values) - 1, 2)]
    return times


def phase_times(module: ModuleOp) -> list[PhaseTime]:
    """Every scheduled phase's start, makespan and KV hand-off end (`pimc.schedule` and the hand-offs' times),
    in program order; none when the module was not scheduled."""
    attr = module.attributes.get(SCHEDULE_ATTR)
    if not isinstance(attr, DictionaryAttr):
        return []
    out = []
    for (phase, entry), fn in zip(attr.data.items(), phase_functions(module), strict=False):
        assert isinstance(entry, DictionaryAttr)
        start, makespan = entry.data["start_ns"], entry.data["makespan_ns"]
        assert isinstance(start, FloatAttr) and isinstance(makespan, FloatAttr)
        end = start.value.data
        for op in fn.body.block.ops:
            if isinstance(op, TransferOp) and op.kv_handoff is not None:
                end = max([end, *(e for _, e in op_times(op))])
        out.append(PhaseTime(phase, fn, start.value.data, makespan.value.data, end))
    return out


def model_name(module: ModuleOp) -> str:
    """The model's name, as the importer recorded it (`pimc.model`)."""
    attr = module.attributes.get("pimc.model")
    return attr.data if isinstance(attr, StringAttr) else "model"
