"""The `attacc` dialect: AttAcc HBM3-PIM commands (scale-snu/attacc_simulator), one op per all-bank command.

A channel's PIM commands in AttAcc's trace each name one 32-byte column of one
channel (`OP ADDRESS`, as scale-snu/attacc_simulator's pim_ramulator_src/trace_gen/gen_trace_attacc_*.py
write it and pim_ramulator_src/pim_loadstore_trace.cpp reads it; targets/parse/trace_parse.py).
An op here is one all-bank command over a set of channels and several columns, as
the `aim` ops are; targets/emit/attacc_trace.py writes it as one trace line per channel
and column:

- attacc.wr_gb: the host writes `vectors` input vectors of `opsize` columns each
  into the global buffer of each channel of the set (PIM_WR_GB per column;
  vector j fills the buffer's 32-column slot j);
- attacc.mv_gb: the buffer die's softmax unit moves `vectors` probability vectors
  of `opsize` columns each into the global buffers (PIM_MV_GB per column);
- attacc.mac_ab: every bank of the channels MACs `opsize` columns of its open
  `row` with each of the `vectors` input vectors in the global buffer: one column
  read feeds vectors x 16 FP16 products, which needs vectors x 16 MAC lanes per
  bank (PAPI's FC-PIM has 64: 4 vectors; AttAcc's HBM3-PIM 16: 1). PIM_MAC_AB per
  column; the simulator opens the row with ACTAB and closes it with PREA;
- attacc.mv_sb: each bank's `outputs` MAC results (every output it computed from
  the row, for every vector) move to the buffer die (PIM_MV_SB per result);
- attacc.sfm: the buffer die's softmax over the scores it holds (PIM_SFM per channel);
- attacc.barrier: every channel waits for all earlier commands (PIM_BARRIER on every channel).

channel_mask: the `#pim.channels<...>` set of device channels the command runs on,
of any size (channels beyond one stack's 16 go to further stacks' traces).
"""

from __future__ import annotations

from typing import ClassVar

from xdsl.dialects.builtin import I64, IntegerAttr
from xdsl.ir import Dialect
from xdsl.irdl import IRDLOperation, ParsePropInAttrDict, irdl_op_definition, prop_def
from xdsl.utils.exceptions import VerifyException

from pimc.dialects.pim import ChannelsAttr, CommandKind, PimCommand, channels_attr, i64

ATTACC_COLUMNS_PER_ROW = 32
"""1 KB rows of 32-byte columns (HBM3_8Gb_2R)."""


class AttaccCommandOp(IRDLOperation):
    """Base of every AttAcc command op."""

    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "attr-dict"
    KIND: ClassVar[CommandKind]
    """The command the op stands for."""
    TRACE_OP: ClassVar[str] = ""
    """The trace mnemonic."""

    def field(self, name: str, default: int = 0) -> int:
        """An integer property's value, or the channel set's bit mask for `channel_mask` (bit c = channel c)."""
        attr = self.properties.get(name)
        if isinstance(attr, IntegerAttr):
            return attr.value.data
        return attr.data if isinstance(attr, ChannelsAttr) else default

    def command(self, row: int = 0, channel: int = 0) -> PimCommand:
        """The command with `row` added to its row and its channel set shifted `channel` channels up
        (what the enclosing `pim.repeat` loops make of it): a global-buffer write of v vectors covers
        v x opsize columns, a MAC serves its v vectors, MV_SB moves `outputs` results per bank."""
        mask = self.field("channel_mask") << channel
        at = self.properties.get("row")
        at_row = at.value.data + row if isinstance(at, IntegerAttr) else None
        if self.KIND == CommandKind.RD_MAC:
            return PimCommand(self.KIND, 0, mask, self.field("outputs"), at_row)
        vectors = self.field("vectors", 1)
        opsize = self.field("opsize") * (vectors if self.KIND in (CommandKind.WR_GB, CommandKind.MV_GB) else 1)
        return PimCommand(self.KIND, opsize, mask, vectors, at_row)

    def verify_(self) -> None:
        for name, attr in self.properties.items():
            if isinstance(attr, IntegerAttr) and attr.value.data < 0:
                raise VerifyException(f"{self.name}: {name} must be non-negative")
        if "channel_mask" in self.properties and self.field("channel_mask") == 0:
            raise VerifyException(f"{self.name}: channel_mask selects no channel")
        for name in ("opsize", "vectors"):
            if name in self.properties and not 1 <= self.field(name):
                raise VerifyException(f"{self.name}: {name} must be at least 1")


@irdl_op_definition
class WrGbOp(AttaccCommandOp):
    """Host -> the global buffers of the channels: `vectors` input vectors of `opsize` 32-byte columns each
    (vectors x opsize columns written; vector j in the buffer's 32-column slot j)."""

    name = "attacc.wr_gb"
    KIND: ClassVar[CommandKind] = CommandKind.WR_GB
    TRACE_OP: ClassVar[str] = "PIM_WR_GB"
    opsize = prop_def(IntegerAttr[I64])
    vectors = prop_def(IntegerAttr[I64])
    channel_mask = prop_def(ChannelsAttr)

    def __init__(self, opsize: int, vectors: int, channel_mask: int | ChannelsAttr):
        super().__init__(
            properties={"opsize": i64(opsize), "vectors": i64(vectors), "channel_mask": channels_attr(channel_mask)}
        )


@irdl_op_definition
class MvGbOp(AttaccCommandOp):
    """The buffer die's softmax unit -> the global buffers of the channels: `vectors` probability vectors
    of `opsize` 32-byte columns each (slots as for attacc.wr_gb)."""

    name = "attacc.mv_gb"
    KIND: ClassVar[CommandKind] = CommandKind.MV_GB
    TRACE_OP: ClassVar[str] = "PIM_MV_GB"
    opsize = prop_def(IntegerAttr[I64])
    vectors = prop_def(IntegerAttr[I64])
    channel_mask = prop_def(ChannelsAttr)

    def __init__(self, opsize: int, vectors: int, channel_mask: int | ChannelsAttr):
        super().__init__(
            properties={"opsize": i64(opsize), "vectors": i64(vectors), "channel_mask": channels_attr(channel_mask)}
        )


@irdl_op_definition
class MacAbOp(AttaccCommandOp):
    """All-bank MAC in every bank of the channels: each of `opsize` 32-byte columns of `row`, read once,
    multiplied with each of the `vectors` input vectors in the global buffer (vectors x 16 MAC lanes)."""

    name = "attacc.mac_ab"
    KIND: ClassVar[CommandKind] = CommandKind.MAC_ABK
    TRACE_OP: ClassVar[str] = "PIM_MAC_AB"
    opsize = prop_def(IntegerAttr[I64])
    vectors = prop_def(IntegerAttr[I64])
    channel_mask = prop_def(ChannelsAttr)
    row = prop_def(IntegerAttr[I64])

    def __init__(self, opsize: int, vectors: int, channel_mask: int | ChannelsAttr, row: int):
        super().__init__(
            properties={
                "opsize": i64(opsize),
                "vectors": i64(vectors),
                "channel_mask": channels_attr(channel_mask),
                "row": i64(row),
            }
        )

    def verify_(self) -> None:
        super().verify_()
        if self.field("opsize") > ATTACC_COLUMNS_PER_ROW:
            raise VerifyException(
                f"attacc.mac_ab: opsize {self.field('opsize')} exceeds the {ATTACC_COLUMNS_PER_ROW} columns of a row"
            )


@irdl_op_definition
class MvSbOp(AttaccCommandOp):
    """Every bank of the channels moves `outputs` MAC results (per bank: each output computed from `row`,
    for each input vector) to the buffer die."""

    name = "attacc.mv_sb"
    KIND: ClassVar[CommandKind] = CommandKind.RD_MAC
    TRACE_OP: ClassVar[str] = "PIM_MV_SB"
    outputs = prop_def(IntegerAttr[I64])
    channel_mask = prop_def(ChannelsAttr)
    row = prop_def(IntegerAttr[I64])

    def __init__(self, outputs: int, channel_mask: int | ChannelsAttr, row: int):
        super().__init__(
            properties={"outputs": i64(outputs), "channel_mask": channels_attr(channel_mask), "row": i64(row)}
        )


@irdl_op_definition
class SfmOp(AttaccCommandOp):
    """Softmax in the buffer die of the channels (not timed: AttAcc overlaps it with the MACs)."""

    name = "attacc.sfm"
    KIND: ClassVar[CommandKind] = CommandKind.SFM
    TRACE_OP: ClassVar[str] = "PIM_SFM"
    channel_mask = prop_def(ChannelsAttr)

    def __init__(self, channel_mask: int | ChannelsAttr):
        super().__init__(properties={"channel_mask": channels_attr(channel_mask)})


@irdl_op_definition
class BarrierOp(AttaccCommandOp):
    """Every channel waits until all earlier commands have finished."""

    name = "attacc.barrier"
    KIND: ClassVar[CommandKind] = CommandKind.SYNC
    TRACE_OP: ClassVar[str] = "PIM_BARRIER"

    def __init__(self):
        super().__init__()


COMMAND_OPS: tuple[type[AttaccCommandOp], ...] = (WrGbOp, MvGbOp, MacAbOp, MvSbOp, SfmOp, BarrierOp)
"""Every AttAcc command op."""

ATTACC = Dialect("attacc", list(COMMAND_OPS), [])
