"""annotate-cost: attach FLOPs, bytes, operational intensity and per-device latency to every op."""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import DictionaryAttr, FloatAttr, IntegerAttr, ModuleOp
from xdsl.ir import Operation
from xdsl.passes import ModulePass

from pimc.targets.cost import is_costed, latency_ns, op_metrics
from pimc.targets.system import System, system_for_module

COST_ATTR = "cost"


def cost_attr(op: Operation, system: System) -> DictionaryAttr:
    """`{flops, bytes, intensity, latency_ns = {<device> = ns, ...}}` for one op.

    Devices that cannot run the op are absent from `latency_ns`.
    """
    m = op_metrics(op)
    per_device: dict[str, FloatAttr] = {}
    for dev in system.devices.values():
        t = latency_ns(op, m, dev, system)
        if t is not None:
            per_device[dev.name] = FloatAttr(t, 64)
    return DictionaryAttr(
        {
            "flops": IntegerAttr(m.flops, 64),
            "bytes": IntegerAttr(m.bytes, 64),
            "intensity": FloatAttr(m.intensity, 64),
            "latency_ns": DictionaryAttr(per_device),
        }
    )


@dataclass(frozen=True)
class AnnotateCostPass(ModulePass):
    """Measure every op: FLOPs, bytes moved, operational intensity (FLOP/byte) and its
    roofline latency in ns on each device of the system (targets/cost.py).

    `system` is a preset name or a TOML path; by default the module's
    `pimc.system` attribute, else `npu-aim`.
    """

    name = "annotate-cost"

    system: str | None = None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        system = system_for_module(op, self.system)
        for inner in op.walk():
            if is_costed(inner):
                inner.attributes[COST_ATTR] = cost_attr(inner, system)
