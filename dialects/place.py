"""The `place` dialect: where each op runs, and the data moves between memories.

This is the placement level of the design (called `hw` in early drafts; xDSL
already ships a CIRCT dialect named `hw`, and the xdsl.universe refuses two
dialects of one name). The partition pass attaches a `device` attribute
(`#place.device<"npu">`) to every costed op and inserts `place.transfer` where a
value produced in one memory is consumed by a device that reads another.
"""

from __future__ import annotations

from xdsl.dialects.builtin import StringAttr, TensorType, UnitAttr
from xdsl.ir import Dialect, Operation, ParametrizedAttribute, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    result_def,
)
from xdsl.utils.exceptions import VerifyException


@irdl_attr_definition
class DeviceAttr(ParametrizedAttribute):
    """A device of the system description, by its name (its `[devices.<name>]` table)."""

    name = "place.device"

    device: StringAttr

    def __init__(self, device: str | StringAttr):
        super().__init__(StringAttr(device) if isinstance(device, str) else device)

    @property
    def device_name(self) -> str:
        return self.device.data


@irdl_op_definition
class TransferOp(IRDLOperation):
    """Copy a tensor from the memory of device `src` to the memory of device `dst`.

    Latency = link latency + bytes / link bandwidth (see targets/models/cost.py); the
    value is unchanged, so the result type equals the operand type.
    """

    name = "place.transfer"

    input = operand_def(TensorType)
    result = result_def(TensorType)
    src = prop_def(DeviceAttr)
    dst = prop_def(DeviceAttr)
    kv_handoff = opt_prop_def(UnitAttr)
    """Set on a KV hand-off: the copy of a prefill value that decode attention reads as its KV cache
    into the memory decode reads it from, made while prefill runs (inserted by partition). schedule
    starts it when its producer ends, lets it run past the end of prefill and starts decode when it
    lands; its input must be the result of a costed op of its function."""

    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue, src: str, dst: str, *, kv_handoff: bool = False):
        super().__init__(
            operands=[input],
            result_types=[input.type],
            properties={
                "src": DeviceAttr(src),
                "dst": DeviceAttr(dst),
                "kv_handoff": UnitAttr() if kv_handoff else None,
            },
        )

    def verify_(self) -> None:
        if self.input.type != self.result.type:
            raise VerifyException("transfer result type must equal its input type")
        if self.src == self.dst:
            raise VerifyException(f"transfer from device '{self.src.device_name}' to itself")


DEVICE_ATTR = "device"


def device_of(op: Operation) -> str | None:
    """The device name of `op`'s `device` attribute, unchecked (None when it has none)."""
    attr = op.attributes.get(DEVICE_ATTR)
    return attr.device_name if isinstance(attr, DeviceAttr) else None


Place = Dialect("place", [TransferOp], [DeviceAttr])
