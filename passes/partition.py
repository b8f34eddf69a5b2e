"""partition: choose a device for every costed op and make data movement between memories explicit."""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    DictionaryAttr,
    FloatAttr,
    IntegerAttr,
    ModuleOp,
    StringAttr,
)
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from pimc.dialects import nn
from pimc.dialects.nn import op_label
from pimc.dialects.place import DEVICE_ATTR, DeviceAttr, TransferOp
from pimc.errors import CompileError
from pimc.passes.annotate_cost import check_static
from pimc.targets.annotations import (
    PARTITION_ATTR,
    devices_text,
    phase_functions,
    phase_graph,
    placed_device,
)
from pimc.targets.dtypes import DTYPE_BYTES, dtype_for_module
from pimc.targets.models.cost import tensor_bytes, transfer_energy_pj, transfer_latency_ns
from pimc.targets.placement.execution import PhaseGraph
from pimc.targets.placement.placement import Placement, StrategyContext, check_papi_threshold, place_phase
from pimc.targets.placement.strategies import STRATEGIES
from pimc.targets.system import System, system_for_module


def check_transfers(module: ModuleOp, system: System) -> None:
    """Every `place.transfer` of `module` names devices of `system` as its source and destination."""
    for op in module.walk():
        if not isinstance(op, TransferOp):
            continue
        for end in ("src", "dst"):
            device = getattr(op, end).device_name
            if device not in system.devices:
                producer = op.input.owner
                of = f" of op '{op_label(producer)}'" if isinstance(producer, Operation) else ""
                raise CompileError(
                    f"place.transfer of %{op.input.name_hint or '?'}{of}: {end} device '{device}' "
                    f"is not a device of system '{system.name}' (devices: {devices_text(system)})"
                )


def insert_transfers(module: ModuleOp, system: System, elem_bytes: int | None = None) -> None:
    """Insert `place.transfer` where a placed op reads a value produced on a device with another memory.

    One transfer per (value, destination memory), placed right after the producer
    and reused by every consumer on that memory. Function arguments and weights are
    taken to be resident wherever they are read (inputs arrive with the request;
    weights are loaded before inference). Floating-point values cost `elem_bytes`
    per element (the deployment precision).
    """
    rewriter = Rewriter()
    check_transfers(module, system)
    for op in list(module.walk()):
        dst = placed_device(op, system)
        if dst is None or isinstance(op, TransferOp):
            continue
        for index, operand in enumerate(op.operands):
            src_op = operand.owner
            if not isinstance(src_op, Operation):
                continue
            src = placed_device(src_op, system)
            if src is None or system.devices[src].memory == system.devices[dst].memory:
                continue
            op.operands[index] = _transfer_for(operand, src, dst, system, rewriter, elem_bytes)


def _transfer_for(
    value: SSAValue, src: str, dst: str, system: System, rewriter: Rewriter, elem_bytes: int | None
) -> SSAValue:
    dst_memory = system.devices[dst].memory
    for use in value.uses:
        user = use.operation
        if isinstance(user, TransferOp) and system.devices[user.dst.device_name].memory == dst_memory:
            return user.result
    return make_transfer(value, src, dst, system, rewriter, elem_bytes).result


def make_transfer(
    value: SSAValue,
    src: str,
    dst: str,
    system: System,
    rewriter: Rewriter,
    elem_bytes: int | None,
    kv_handoff: bool = False,
) -> TransferOp:
    """A `place.transfer` of `value` from `src`'s memory to `dst`'s, with its bytes, latency and energy,
    inserted right after the value's producer (a KV hand-off when `kv_handoff`)."""
    transfer = TransferOp(value, src, dst, kv_handoff=kv_handoff)
    n_bytes = tensor_bytes(value.type, elem_bytes)
    transfer.attributes["bytes"] = IntegerAttr(n_bytes, 64)
    transfer.attributes["latency_ns"] = FloatAttr(transfer_latency_ns(n_bytes, system, src, dst), 64)
    transfer.attributes["energy_pj"] = FloatAttr(transfer_energy_pj(n_bytes, system, src, dst), 64)
    assert isinstance(value.owner, Operation)
    rewriter.insert_op(transfer, InsertPoint.after(value.owner))
    return transfer


# -- applying a placement to the IR ------------------------------------------------


def apply_placement(fn: func.FuncOp, ops: list[Operation], placement: Placement) -> None:
    """Set `device` on every costed op and, when the strategy chose an order, move the ops into it."""
    for op, device in zip(ops, placement.devices):
        op.attributes[DEVICE_ATTR] = DeviceAttr(device)
    order = placement.order
    if order is None or order == list(range(len(ops))):
        return
    block = fn.body.block
    terminator = block.last_op
    for i in order:
        ops[i].detach()
    for i in order:  # weights and constants (no operands) stay first; the costed ops follow in the solved order
        if isinstance(terminator, func.ReturnOp):
            block.insert_op_before(ops[i], terminator)
        else:
            block.add_op(ops[i])


def kv_handoffs(
    graphs: dict[str, tuple[PhaseGraph, list[Operation]]], placements: dict[str, Placement], system: System
) -> list[tuple[int, int, str]]:
    """Prefill values that carry the KV cache into decode on another memory: (op, result, decode memory).

    The k and v operands of the n-th prefill attention are the cache the n-th decode
    attention reads; when decode runs it on a device of another memory, the cache is
    copied there as prefill produces it (Hybe's fine-grained KV transfer)."""
    if "prefill" not in graphs or "decode" not in graphs:
        return []
    pre_ops = graphs["prefill"][1]
    dec_ops = graphs["decode"][1]
    index = {op: i for i, op in enumerate(pre_ops)}
    pre_attn = [i for i, op in enumerate(pre_ops) if isinstance(op, nn.AttentionOp)]
    dec_attn = [i for i, op in enumerate(dec_ops) if isinstance(op, nn.AttentionOp)]
    out: list[tuple[int, int, str]] = []
    for p_i, d_i in zip(pre_attn, dec_attn):
        dst = system.devices[placements["decode"].devices[d_i]].memory
        for operand in list(pre_ops[p_i].operands)[1:3]:
            owner = operand.owner
            if isinstance(owner, Operation) and owner in index:
                u = index[owner]
                if system.devices[placements["prefill"].devices[u]].memory != dst:
                    val = (u, owner.results.index(operand), dst)
                    if val not in out:
                        out.append(val)
    return out


def insert_kv_handoffs(
    handoffs: list[tuple[int, int, str]],
    pre_ops: list[Operation],
    placement: Placement,
    system: System,
    elem_bytes: int,
) -> None:
    rewriter = Rewriter()
    for u, r, dst_memory in handoffs:
        dst = next(d.name for d in system.devices.values() if d.memory == dst_memory)
        make_transfer(pre_ops[u].results[r], placement.devices[u], dst, system, rewriter, elem_bytes, kv_handoff=True)


def partition_module(
    module: ModuleOp, system: System, strategy: str, dtype: str, papi_threshold_tokens: float | None = None
) -> dict[str, Placement]:
    """Place every costed op of every phase by `strategy`; returns each phase's placement (graph order).

    `papi_threshold_tokens` (PAPI's FC threshold, tokens) must be finite and positive when given."""
    check_papi_threshold(papi_threshold_tokens)
    ctx = StrategyContext(system, dtype, papi_threshold_tokens)
    eb = DTYPE_BYTES[dtype]
    check_transfers(module, system)
    graphs: dict[str, tuple[PhaseGraph, list[Operation]]] = {}
    placements: dict[str, Placement] = {}
    for fn in phase_functions(module):
        graph, ops = phase_graph(fn, eb, system)
        if graph.phase in graphs:  # the schedule, the report and the KV hand-offs key on the phase
            raise CompileError(
                f"partition: @{fn.sym_name.data} is phase '{graph.phase}', as an earlier function is: "
                "each function of a module is one phase"
            )
        graphs[graph.phase] = (graph, ops)
        placements[graph.phase] = place_phase(graph, strategy, ctx)
        apply_placement(fn, ops, placements[graph.phase])
    insert_transfers(module, system, eb)
    module.attributes[PARTITION_ATTR] = DictionaryAttr(
        {
            "strategy": StringAttr(strategy),
            "optimal_proven": DictionaryAttr(
                {
                    p: IntegerAttr.from_bool(pl.proven_optimal)
                    for p, pl in placements.items()
                    if pl.proven_optimal is not None
                }
            ),
            "optimal_bound_ns": DictionaryAttr(
                {p: FloatAttr(pl.bound_ns, 64) for p, pl in placements.items() if pl.bound_ns is not None}
            ),
        }
    )
    handoffs = kv_handoffs(graphs, placements, system)
    if handoffs:
        insert_kv_handoffs(handoffs, graphs["prefill"][1], placements["prefill"], system, eb)
    return placements


@dataclass(frozen=True)
class PartitionPass(ModulePass):
    """Place every costed op on a device of the system and insert the transfers this implies.

    Strategies (docs/partition.md): `optimal` (least phase latency under the
    schedule's execution model, solved exactly, targets/placement/optimal.py; the ops are
    reordered into the solved per-device order), `roofline` (each op alone on its
    fastest device), `greedy` (adds the transfers an op's inputs need), the seed
    systems' policies `attacc`, `neupims`, `ianus`, `papi`, `hybe`, and the
    baselines `gpu-only`, `npu-only`, `pim-only`. The chosen device is the
    discardable attribute `device = #place.device<"name">`. `papi_threshold`
    overrides PAPI's FC threshold (tokens; finite and positive). The cost attributes and any placement
    already in the IR are checked as they are read (`op_cost`, `placed_device`, `check_transfers`).
    """

    name = "partition"

    strategy: str = "optimal"
    system: str | None = None
    papi_threshold: float | None = None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.strategy not in STRATEGIES:
            raise CompileError(f"partition: unknown strategy '{self.strategy}' (available: {', '.join(STRATEGIES)})")
        check_papi_threshold(self.papi_threshold)
        if any(isinstance(o, TransferOp) for o in op.walk()):  # a second placement would keep the first's copies
            raise CompileError(
                "partition: the module is already partitioned (it holds place.transfer ops); "
                "partition the module as annotate-cost left it"
            )
        system = system_for_module(op, self.system)
        check_static(op)
        partition_module(op, system, self.strategy, dtype_for_module(op, None), self.papi_threshold)
