"""The `attacc` dialect: AttAcc HBM3-PIM commands (scale-snu/attacc_simulator), one op per all-bank command.

A channel's PIM commands in AttAcc's trace each name one 32-byte column of one
channel (`OP ADDRESS`, shared REFERENCE.md section 2, targets/trace_parse.py).
An op here is one all-bank command over a channel mask and several columns, as the
`aim` ops are; targets/attacc_trace.py writes it as one trace line per channel
and column:

- attacc.wr_gb: the host writes `opsize` columns of the input vector into the
  global buffer of each masked channel (PIM_WR_GB per column);
- attacc.mv_gb: the buffer die's softmax unit moves `opsize` columns of
  probabilities into the global buffers (PIM_MV_GB per column);
- attacc.mac_ab: every bank of the masked channels MACs `opsize` columns of its
  open `row` with the global buffer (PIM_MAC_AB per column; the simulator opens the
  row with ACTAB and closes it with PREA);
- attacc.mv_sb: each bank's `outputs` MAC results move to the buffer die
  (PIM_MV_SB per result);
- attacc.sfm: the buffer die's softmax over the scores it holds (PIM_SFM per channel);
- attacc.barrier: every channel waits for all earlier commands (PIM_BARRIER on every channel).

channel_mask: bit c set = channel c of the device (channels beyond one stack's 16
go to further stacks' traces).
"""

from __future__ import annotations

from typing import ClassVar

from xdsl.dialects.builtin import I64, IntegerAttr
from xdsl.ir import Dialect
from xdsl.irdl import IRDLOperation, ParsePropInAttrDict, irdl_op_definition, prop_def
from xdsl.utils.exceptions import VerifyException

ATTACC_COLUMNS_PER_ROW = 32
"""1 KB rows of 32-byte columns (HBM3_8Gb_2R)."""


def _int(value: int) -> IntegerAttr:
    return IntegerAttr(value, 64)


class AttaccCommandOp(IRDLOperation):
    """Base of every AttAcc command op."""

    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "attr-dict"
    KIND: ClassVar[str] = ""
    """The timing class (pim_timing.command_counts)."""
    TRACE_OP: ClassVar[str] = ""
    """The trace mnemonic."""

    def field(self, name: str, default: int = 0) -> int:
        attr = self.properties.get(name)
        return attr.value.data if isinstance(attr, IntegerAttr) else default

    def verify_(self) -> None:
        for name, attr in self.properties.items():
            if isinstance(attr, IntegerAttr) and attr.value.data < 0:
                raise VerifyException(f"{self.name}: {name} must be non-negative")
        if "channel_mask" in self.properties and self.field("channel_mask") == 0:
            raise VerifyException(f"{self.name}: channel_mask selects no channel")
        if "opsize" in self.properties and not 1 <= self.field("opsize"):
            raise VerifyException(f"{self.name}: opsize must be at least 1")


@irdl_op_definition
class WrGbOp(AttaccCommandOp):
    """Host -> the global buffers of the masked channels: `opsize` columns of the input vector."""

    name = "attacc.wr_gb"
    KIND: ClassVar[str] = "WR_GB"
    TRACE_OP: ClassVar[str] = "PIM_WR_GB"
    opsize = prop_def(IntegerAttr[I64])
    channel_mask = prop_def(IntegerAttr[I64])

    def __init__(self, opsize: int, channel_mask: int):
        super().__init__(properties={"opsize": _int(opsize), "channel_mask": _int(channel_mask)})


@irdl_op_definition
class MvGbOp(AttaccCommandOp):
    """The buffer die's softmax unit -> the global buffers of the masked channels: `opsize` columns."""

    name = "attacc.mv_gb"
    KIND: ClassVar[str] = "WR_GB"
    TRACE_OP: ClassVar[str] = "PIM_MV_GB"
    opsize = prop_def(IntegerAttr[I64])
    channel_mask = prop_def(IntegerAttr[I64])

    def __init__(self, opsize: int, channel_mask: int):
        super().__init__(properties={"opsize": _int(opsize), "channel_mask": _int(channel_mask)})


@irdl_op_definition
class MacAbOp(AttaccCommandOp):
    """All-bank MAC of `opsize` columns of `row` with the global buffer, in every bank of the masked channels."""

    name = "attacc.mac_ab"
    KIND: ClassVar[str] = "MAC_ABK"
    TRACE_OP: ClassVar[str] = "PIM_MAC_AB"
    opsize = prop_def(IntegerAttr[I64])
    channel_mask = prop_def(IntegerAttr[I64])
    row = prop_def(IntegerAttr[I64])

    def __init__(self, opsize: int, channel_mask: int, row: int):
        super().__init__(properties={"opsize": _int(opsize), "channel_mask": _int(channel_mask), "row": _int(row)})

    def verify_(self) -> None:
        super().verify_()
        if self.field("opsize") > ATTACC_COLUMNS_PER_ROW:
            raise VerifyException(f"attacc.mac_ab: opsize {self.field('opsize')} exceeds the "
                                  f"{ATTACC_COLUMNS_PER_ROW} columns of a row")


@irdl_op_definition
class MvSbOp(AttaccCommandOp):
    """Every bank of the masked channels moves `outputs` MAC results (per bank) to the buffer die."""

    name = "attacc.mv_sb"
    KIND: ClassVar[str] = "RD_MAC"
    TRACE_OP: ClassVar[str] = "PIM_MV_SB"
    outputs = prop_def(IntegerAttr[I64])
    channel_mask = prop_def(IntegerAttr[I64])
    row = prop_def(IntegerAttr[I64])

    def __init__(self, outputs: int, channel_mask: int, row: int):
        super().__init__(properties={"outputs": _int(outputs), "channel_mask": _int(channel_mask), "row": _int(row)})


@irdl_op_definition
class SfmOp(AttaccCommandOp):
    """Softmax in the buffer die of the masked channels (not timed: AttAcc overlaps it with the MACs)."""

    name = "attacc.sfm"
    KIND: ClassVar[str] = "SFM"
    TRACE_OP: ClassVar[str] = "PIM_SFM"
    channel_mask = prop_def(IntegerAttr[I64])

    def __init__(self, channel_mask: int):
        super().__init__(properties={"channel_mask": _int(channel_mask)})


@irdl_op_definition
class BarrierOp(AttaccCommandOp):
    """Every channel waits until all earlier commands have finished."""

    name = "attacc.barrier"
    KIND: ClassVar[str] = "SYNC"
    TRACE_OP: ClassVar[str] = "PIM_BARRIER"

    def __init__(self):
        super().__init__()


ATTACC = Dialect("attacc", [WrGbOp, MvGbOp, MacAbOp, MvSbOp, SfmOp, BarrierOp], [])
