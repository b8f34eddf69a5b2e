"""partition: choose a device for every costed op and make data movement between memories explicit."""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import DictionaryAttr, FloatAttr, IntegerAttr, ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from pimc.compiler.errors import CompileError
from pimc.dialects.nn import op_label
from pimc.dialects.place import DeviceAttr, TransferOp
from pimc.passes.annotate_cost import COST_ATTR, dtype_for_module
from pimc.targets.cost import is_costed, tensor_bytes, transfer_energy_pj, transfer_latency_ns
from pimc.targets.dtypes import DTYPE_BYTES
from pimc.targets.system import System, system_for_module

DEVICE_ATTR = "device"
STRATEGIES = ("roofline",)


def latencies(op: Operation) -> dict[str, float]:
    """The per-device latencies annotate-cost recorded on `op`."""
    cost = op.attributes.get(COST_ATTR)
    if not isinstance(cost, DictionaryAttr):
        raise CompileError(f"op '{op_label(op)}' has no cost: run annotate-cost before partition")
    per_device = cost.data["latency_ns"]
    assert isinstance(per_device, DictionaryAttr)
    return {k: v.value.data for k, v in per_device.data.items() if isinstance(v, FloatAttr)}


def device_of(op: Operation) -> str | None:
    attr = op.attributes.get(DEVICE_ATTR)
    return attr.device_name if isinstance(attr, DeviceAttr) else None


def choose_roofline(op: Operation, system: System, dtype: str) -> str:
    """The device on which `op` alone is fastest.

    Ties (e.g. a reshape, which costs 0 ns everywhere) go where the data already
    is: the device of the op's first placed producer, else a tied device on that
    producer's memory, else the device listed first in the system.
    """
    lat = {d: t for d, t in latencies(op).items() if d in system.devices}
    if not lat:
        raise CompileError(
            f"op '{op_label(op)}': no device of system '{system.name}' can run it at dtype {dtype}"
            f" (its devices have rates for: {', '.join(system.dtypes()) or 'none'})"
        )
    best = min(lat.values())
    tied = [d for d in system.devices if d in lat and lat[d] == best]
    for operand in op.operands:
        producer = operand.owner
        src = device_of(producer) if isinstance(producer, Operation) else None
        if src is None:
            continue
        if src in tied:
            return src
        same_memory = [d for d in tied if system.devices[d].memory == system.devices[src].memory]
        if same_memory:
            return same_memory[0]
    return tied[0]


def insert_transfers(module: ModuleOp, system: System, elem_bytes: int | None = None) -> None:
    """Insert `place.transfer` where a placed op reads a value produced on a device with another memory.

    One transfer per (value, destination memory), placed right after the producer
    and reused by every consumer on that memory. Function arguments and weights are
    taken to be resident wherever they are read (inputs arrive with the request;
    weights are loaded before inference). Floating-point values cost `elem_bytes`
    per element (the deployment precision).
    """
    rewriter = Rewriter()
    for op in list(module.walk()):
        dst = device_of(op)
        if dst is None or isinstance(op, TransferOp):
            continue
        for index, operand in enumerate(op.operands):
            src_op = operand.owner
            if not isinstance(src_op, Operation):
                continue
            src = device_of(src_op)
            if src is None or system.devices[src].memory == system.devices[dst].memory:
                continue
            op.operands[index] = _transfer_for(operand, src, dst, system, rewriter, elem_bytes)


def _transfer_for(value: SSAValue, src: str, dst: str, system: System, rewriter: Rewriter,
                  elem_bytes: int | None) -> SSAValue:
    dst_memory = system.devices[dst].memory
    for use in value.uses:
        user = use.operation
        if isinstance(user, TransferOp) and system.devices[user.dst.device_name].memory == dst_memory:
            return user.result
    transfer = TransferOp(value, src, dst)
    n_bytes = tensor_bytes(value.type, elem_bytes)
    transfer.attributes["bytes"] = IntegerAttr(n_bytes, 64)
    transfer.attributes["latency_ns"] = FloatAttr(transfer_latency_ns(n_bytes, system, src, dst), 64)
    transfer.attributes["energy_pj"] = FloatAttr(transfer_energy_pj(n_bytes, system, src, dst), 64)
    assert isinstance(value.owner, Operation)
    rewriter.insert_op(transfer, InsertPoint.after(value.owner))
    return transfer.result


@dataclass(frozen=True)
class PartitionPass(ModulePass):
    """Place every costed op on a device of the system and insert the transfers this implies.

    Strategies: `roofline` puts each op on the device where its own roofline
    latency (from annotate-cost) is lowest, ignoring transfer costs. The chosen
    device is the discardable attribute `device = #place.device<"name">`.
    """

    name = "partition"

    strategy: str = "roofline"
    system: str | None = None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.strategy not in STRATEGIES:
            raise CompileError(f"partition: unknown strategy '{self.strategy}' (available: {', '.join(STRATEGIES)})")
        system = system_for_module(op, self.system)
        dtype = dtype_for_module(op, None)
        for inner in op.walk():
            if is_costed(inner):
                inner.attributes[DEVICE_ATTR] = DeviceAttr(choose_roofline(inner, system, dtype))
        insert_transfers(op, system, DTYPE_BYTES[dtype])
