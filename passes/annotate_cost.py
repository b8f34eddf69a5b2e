"""annotate-cost: attach FLOPs, bytes, operational intensity and per-device latency and energy to every op."""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import DictionaryAttr, FloatAttr, IntegerAttr, ModuleOp, StringAttr, TensorType
from xdsl.ir import Attribute, Operation
from xdsl.passes import ModulePass
from xdsl.utils.hints import isa

from pimc.errors import CompileError
from pimc.targets.annotations import COST_ATTR
from pimc.targets.dtypes import DTYPE_BYTES, dtype_for_module
from pimc.targets.models.cost import device_cost, is_costed, op_metrics
from pimc.targets.system import System, system_for_module

I64_MAX = 2**63 - 1


def _label(op: Operation) -> str:
    name = op.attributes.get("name")
    return name.data if isinstance(name, StringAttr) else op.name


def cost_attr(op: Operation, system: System, dtype: str) -> DictionaryAttr:
    """`{flops, bytes, intensity, latency_ns = {<device> = ns}, energy_pj = {...}, bound = {...}}` for one op.

    FLOPs and bytes are at the deployment precision `dtype`. Devices that cannot
    run the op are absent from the per-device tables. `bound` is "compute",
    "memory", or "none" for an op that costs nothing (a reshape).
    """
    m = op_metrics(op, DTYPE_BYTES[dtype])
    if max(m.flops, m.bytes) > I64_MAX:
        raise CompileError(
            f"op '{_label(op)}' ({op.name}): {m.flops:.3g} FLOPs, {m.bytes:.3g} bytes: more than "
            "pimc costs (the counts are 64-bit)"
        )
    latency: dict[str, FloatAttr] = {}
    energy: dict[str, FloatAttr] = {}
    bound: dict[str, StringAttr] = {}
    for dev in system.devices.values():
        c = device_cost(op, m, dev, system, dtype)
        if c is not None:
            latency[dev.name] = FloatAttr(c.latency_ns, 64)
            energy[dev.name] = FloatAttr(c.energy_pj, 64)
            bound[dev.name] = StringAttr(c.bound if c.latency_ns else "none")
    return DictionaryAttr(
        {
            "flops": IntegerAttr(m.flops, 64),
            "bytes": IntegerAttr(m.bytes, 64),
            "intensity": FloatAttr(m.intensity, 64),
            "latency_ns": DictionaryAttr(latency),
            "energy_pj": DictionaryAttr(energy),
            "bound": DictionaryAttr(bound),
        }
    )


def _check_placement(op: Operation, system: System, dtype: str) -> None:
    """An op that is already placed (IR re-costed after partition) must be on a device that can run it."""
    from pimc.dialects.place import device_of

    device = device_of(op)
    if device is None:
        return
    if device not in system.devices:
        raise CompileError(
            f"op '{_label(op)}' is placed on device '{device}', which system '{system.name}' does not have"
        )
    latency = op.attributes[COST_ATTR]
    assert isinstance(latency, DictionaryAttr)
    table = latency.data["latency_ns"]
    if isinstance(table, DictionaryAttr) and device not in table.data and op.dialect_name() == "nn":
        raise CompileError(
            f"op '{_label(op)}' is placed on '{device}', which cannot run it at dtype {dtype}: "
            "run partition again after annotate-cost"
        )


def check_static(module: ModuleOp) -> None:
    """Every tensor an op to cost reads or writes has a static shape (no `?` dim, as .mlir input may have)."""
    for op in module.walk():
        if not is_costed(op):
            continue
        for what, values in (("operand", op.operands), ("result", op.results)):
            for i, v in enumerate(values):
                if isa(v.type, TensorType[Attribute]) and any(d < 0 for d in v.type.get_shape()):
                    raise CompileError(
                        f"op '{_label(op)}' ({op.name}): {what} {i} is {v.type}: pimc costs static shapes only"
                    )


@dataclass(frozen=True)
class AnnotateCostPass(ModulePass):
    """Measure every op: FLOPs, bytes moved, operational intensity (FLOP/byte), and its
    latency (ns), energy (pJ) and bound on each device of the system (targets/models/cost.py).

    `system` is a preset name or a TOML path; by default the module's
    `pimc.system` attribute, else `npu-aim`. `dtype` is the deployment precision
    every floating-point tensor and FLOP is costed at (fp32, fp16, bf16, fp8,
    int8); by default the module's `pimc.dtype`, else fp16.
    """

    name = "annotate-cost"

    system: str | None = None
    dtype: str | None = None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        from pimc.targets.placement.capacity import check_fits

        system = system_for_module(op, self.system, recost=True)
        dtype = dtype_for_module(op, self.dtype)
        check_static(op)
        check_fits(op, system, DTYPE_BYTES[dtype])  # a model no memory can hold is not costed
        for inner in op.walk():
            if is_costed(inner):
                inner.attributes[COST_ATTR] = cost_attr(inner, system, dtype)
                _check_placement(inner, system, dtype)
