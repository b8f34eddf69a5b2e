"""schedule: time every op and transfer of a partitioned module (targets/placement/execution.py) and record it in the IR.

Sets `start_ns` / `end_ns` on every costed op and `place.transfer` (sub-batch 0
when interleaving; sub-batches 1.. in `sub_batch_ns = [start1, end1, start2,
end2, ...]`), and on the module `pimc.schedule = {<phase> = {start_ns,
makespan_ns, streams}, ...}`. The timeline (targets/emit/timeline.py) and the report
read these. Phases run one after another (prefill, then one decode
step); a KV hand-off (a transfer marked `kv_handoff`, see partition) may run past
the end of prefill, and decode then starts when it lands.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, FloatAttr, IntegerAttr, ModuleOp
from xdsl.ir import Operation
from xdsl.passes import ModulePass

from pimc.dialects.place import TransferOp
from pimc.errors import CompileError
from pimc.limits import MAX_SUB_BATCHES
from pimc.passes.annotate_cost import check_static
from pimc.passes.partition import check_transfers
from pimc.targets.annotations import SCHEDULE_ATTR, SUB_BATCH_ATTR, phase_functions, phase_graph, placed_device
from pimc.targets.dtypes import DTYPE_BYTES, dtype_for_module
from pimc.targets.models.cost import tensor_bytes
from pimc.targets.placement.execution import (
    Event,
    PhaseGraph,
    PhaseSchedule,
    check_placement,
    schedule_phase,
    transfer_ns,
)
from pimc.targets.system import System, system_for_module


@dataclass
class PhaseTiming:
    graph: PhaseGraph
    schedule: PhaseSchedule
    start_ns: float
    handoff_end_ns: float  # end of the last KV hand-off (start_ns when none)
    handoffs: list[Event] = field(default_factory=list[Event])


def schedule_module(module: ModuleOp, system: System, streams: int = 1) -> list[PhaseTiming]:
    """Schedule every phase of a partitioned module in program order; phases run back to back."""
    eb = DTYPE_BYTES[dtype_for_module(module, None)]
    check_transfers(module, system)
    out: list[PhaseTiming] = []
    clock = 0.0
    for fn in phase_functions(module):
        graph, ops = phase_graph(fn, eb, system)
        placement: list[str] = []
        for op in ops:
            device = placed_device(op, system)
            if device is None:
                raise CompileError(f"schedule: op '{graph.names[len(placement)]}' has no device: run partition first")
            placement.append(device)
        try:
            check_placement(graph, placement, system)
        except CompileError as e:
            raise CompileError(f"schedule: {e}") from None
        sched = schedule_phase(graph, placement, system, streams=streams, start_ns=clock)
        timing = PhaseTiming(graph, sched, clock, clock)
        _handoffs(fn, ops, placement, sched, timing, streams, system, eb)
        _annotate(ops, fn, sched, system)
        out.append(timing)
        clock = max(clock + sched.makespan_ns, timing.handoff_end_ns)
    module.attributes[SCHEDULE_ATTR] = DictionaryAttr(
        {
            t.graph.phase: DictionaryAttr(
                {
                    "start_ns": FloatAttr(t.start_ns, 64),
                    "makespan_ns": FloatAttr(t.schedule.makespan_ns, 64),
                    "streams": IntegerAttr(streams, 64),
                }
            )
            for t in out
        }
    )
    return out


def _handoffs(
    fn: func.FuncOp,
    ops: list[Operation],
    placement: list[str],
    sched: PhaseSchedule,
    timing: PhaseTiming,
    streams: int,
    system: System,
    elem_bytes: int,
) -> None:
    """Time the KV hand-off transfers of a phase: each leaves when its producer ends and takes the link's
    latency + bytes / bandwidth from its producer's memory to its destination's (bytes at `elem_bytes` per
    floating-point element, as every transfer; the IR's own figures are not trusted)."""
    index = {op: i for i, op in enumerate(ops)}
    ends = {(e.stream, e.index): e.end_ns for e in sched.events if e.kind == "op"}
    for op in fn.body.block.ops:
        if not (isinstance(op, TransferOp) and op.kv_handoff is not None):
            continue
        producer = op.input.owner
        if not (isinstance(producer, Operation) and producer in index):
            value = f"%{op.input.name_hint or '?'}"
            raise CompileError(
                f"schedule: a KV hand-off (place.transfer {{kv_handoff}}) of {value} in "
                f"@{fn.sym_name.data} does not copy the result of a costed op of that function"
            )
        u = index[producer]
        src, dst = system.devices[placement[u]].memory, system.devices[op.dst.device_name].memory
        n_bytes = tensor_bytes(op.input.type, elem_bytes)
        latency = transfer_ns(system, n_bytes, src, dst)
        if src == dst or not math.isfinite(latency):
            why = "is already there" if src == dst else "has no link to it"
            raise CompileError(
                f"schedule: the KV hand-off of op '{timing.graph.names[u]}' goes to memory {dst}, and "
                f"the op's memory {src} {why}"
            )
        a, b = sorted((src, dst))
        for s in range(streams):
            begin = ends[(s, u)]
            event = Event(
                f"kv handoff {timing.graph.names[u]}",
                "transfer",
                f"link {a}-{b}",
                timing.graph.phase,
                s,
                begin,
                begin + latency,
                u,
                {"bytes": n_bytes, "src": src, "dst": dst, "kv_handoff": True},
            )
            timing.handoffs.append(event)
            timing.handoff_end_ns = max(timing.handoff_end_ns, event.end_ns)
        _set_times(op, [(e.start_ns, e.end_ns) for e in timing.handoffs[-streams:]])


def _set_times(op: Operation, times: list[tuple[float, float]]) -> None:
    """`start_ns` / `end_ns` of sub-batch 0 and, with more sub-batches, `sub_batch_ns` of the others."""
    op.attributes["start_ns"] = FloatAttr(times[0][0], 64)
    op.attributes["end_ns"] = FloatAttr(times[0][1], 64)
    if len(times) > 1:
        op.attributes[SUB_BATCH_ATTR] = ArrayAttr([FloatAttr(t, 64) for pair in times[1:] for t in pair])


def _annotate(ops: list[Operation], fn: func.FuncOp, sched: PhaseSchedule, system: System) -> None:
    op_times: dict[int, list[tuple[float, float]]] = {}
    transfer_times: dict[tuple[int, int, str], list[tuple[float, float]]] = {}
    for e in sched.events:
        if e.kind == "op":
            op_times.setdefault(e.index, []).append((e.start_ns, e.end_ns))
        else:
            transfer_times.setdefault((e.index, e.result, e.args["dst"]), []).append((e.start_ns, e.end_ns))
    for i, times in op_times.items():
        _set_times(ops[i], times)
    index = {op: i for i, op in enumerate(ops)}
    for op in fn.body.block.ops:
        if isinstance(op, TransferOp) and op.kv_handoff is None:
            producer = op.input.owner
            if isinstance(producer, Operation) and producer in index:
                key = (index[producer], producer.results.index(op.input), system.devices[op.dst.device_name].memory)
                if key in transfer_times:
                    _set_times(op, transfer_times[key])


@dataclass(frozen=True)
class SchedulePass(ModulePass):
    """Time every op and transfer of a partitioned module (targets/placement/execution.py: devices run one op at a time,
    transfers on links, NPU||PIM overlap where the memory allows it); `sub_batches` > 1 interleaves that many
    independent copies of each phase (NeuPIMs), the IR being costed at the sub-batch size.

    Nothing read from the IR is trusted: every op's device must be a device of the system with a cost for
    the op, every transfer must name devices of the system, a value read across memories needs a link
    (targets/placement/execution.py check_placement), and KV hand-offs are timed from the system's links."""

    name = "schedule"

    system: str | None = None
    sub_batches: int = 1

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if not 1 <= self.sub_batches <= MAX_SUB_BATCHES:
            raise CompileError(f"schedule: sub_batches must be 1..{MAX_SUB_BATCHES}, got {self.sub_batches}")
        check_static(op)
        schedule_module(op, system_for_module(op, self.system), self.sub_batches)
