"""The `aim` dialect: SK hynix GDDR6-AiM ISR commands, one op per trace line.

Field meanings follow the AiM trace simulator (arkhadem/aim_simulator on
Ramulator 2.0: the ISR opcodes and fields in src/base/request.h, the trace
reader in src/frontend/impl/memory_trace/aim_trace.cpp):

- opsize: number of consecutive 32-byte DRAM columns (16 FP16 values each) the
  command covers; at most one 2 KB row, i.e. 64 columns.
- gpr: index of the host-visible general-purpose register the data comes from
  or goes to.
- channel_mask: the channels the command runs on, a `#pim.channels<...>` set
  (`#pim.channels<0-11>`: channels 0 to 11) within the device's 32 channels. The
  trace writes it as the simulator's 32-bit mask, where bit i selects channel
  31 - i (AiMDRAMSystem::FindFirstChannelIndex): `trace_mask`.
- bank / row: DRAM bank (0..15) and row address.

Each op gives the command it stands for with `command(row, channel)`: a
`pim.PimCommand` with the row offset and channel shift of its enclosing
`pim.repeat` loops applied; `trace_line` renders it as a line of the simulator's
trace, and the emitter in targets/emit/aim_trace.py concatenates those lines.
"""

from __future__ import annotations

from typing import ClassVar

from xdsl.dialects.builtin import I64, IntegerAttr
from xdsl.ir import Dialect
from xdsl.irdl import IRDLOperation, ParsePropInAttrDict, irdl_op_definition, prop_def
from xdsl.utils.exceptions import VerifyException

from pimc.dialects.pim import ChannelsAttr, CommandKind, PimCommand, channels_attr, i64

AIM_CHANNELS = 32
"""Channels an AiM channel mask can select: the simulator's mask is 32 bits wide (MAX_CHANNEL_COUNT in
aim_DRAM_system.cpp)."""
AIM_COLUMNS_PER_ROW = 64

AIM_ISR_FIELDS: dict[str, tuple[str, ...]] = {
    "WR_SBK": ("gpr", "channel_mask", "bank", "row"),
    "WR_ABK": ("gpr", "channel_mask", "row"),
    "WR_GB": ("opsize", "gpr", "channel_mask"),
    "WR_BIAS": ("gpr", "channel_mask"),
    "RD_MAC": ("gpr", "channel_mask"),
    "RD_AF": ("gpr", "channel_mask"),
    "RD_SBK": ("gpr", "channel_mask", "bank", "row"),
    "COPY_BKGB": ("opsize", "channel_mask", "bank", "row"),
    "COPY_GBBK": ("opsize", "channel_mask", "bank", "row"),
    "MAC_SBK": ("opsize", "channel_mask", "bank", "row"),
    "MAC_ABK": ("opsize", "channel_mask", "row"),
    "AF": ("channel_mask",),
    "EWMUL": ("opsize", "channel_mask", "row"),
    "EWADD": ("opsize", "gpr", "gpr1"),
    "SYNC": (),
    "EOC": (),
}
"""Each ISR's trace fields in the simulator's decoding order (request.h `AiMISRInfo::init`, without
"ISR_"; arkhadem/aim_simulator src/base/request.h). The ops of this dialect are WR_GB, WR_BIAS, MAC_ABK, RD_MAC,
SYNC and EOC."""


def trace_template(cmd: PimCommand) -> tuple[str, bool]:
    """The command's AiM trace line with its row address left as the `%d` of a %-format, and whether it
    has a row (the other fields are numbers and mnemonics: the text holds no other `%`)."""
    fields = AIM_ISR_FIELDS[cmd.kind]
    return " ".join(
        [
            "AiM",
            cmd.kind,
            *(
                f"{trace_mask(cmd.channel_mask):#x}"
                if f == "channel_mask"
                else "%d"
                if f == "row"
                else str(getattr(cmd, f))
                for f in fields
            ),
        ]
    ), "row" in fields


def trace_line(cmd: PimCommand) -> str:
    """The command as a line of the AiM simulator's trace (its channel mask in the simulator's bit order)."""
    text, has_row = trace_template(cmd)
    return text % cmd.row if has_row else text


def trace_mask(mask: int) -> int:
    """A channel bit mask (bit c = channel c, c < 32) in the AiM simulator's order (bit 31 - c = channel c),
    and back."""
    return int(f"{mask:0{AIM_CHANNELS}b}"[::-1], 2)


class AimCommandOp(IRDLOperation):
    """Base of every AiM ISR command op: renders itself as one trace line."""

    irdl_options = (ParsePropInAttrDict(),)
    KIND: ClassVar[CommandKind]
    """The command the op stands for; its ISR mnemonic is the op name's suffix in capitals."""

    def command(self, row: int = 0, channel: int = 0) -> PimCommand:
        """The command with `row` added to its row and its channel set shifted `channel` channels up
        (what the enclosing `pim.repeat` loops make of it); an error if the set leaves the device.
        Every AiM command serves one input vector."""
        props = self.properties
        channels = props.get("channel_mask")
        mask = channels.data << channel if isinstance(channels, ChannelsAttr) else 0
        if mask >> AIM_CHANNELS:
            assert isinstance(channels, ChannelsAttr)
            raise ValueError(
                f"{self.name}: channel_mask {channels} shifted by {channel} channels leaves the {AIM_CHANNELS} channels"
            )
        opsize, gpr, at = props.get("opsize"), props.get("gpr"), props.get("row")
        return PimCommand(
            self.KIND,
            opsize.value.data if isinstance(opsize, IntegerAttr) else 0,
            mask,
            row=at.value.data + row if isinstance(at, IntegerAttr) else None,
            gpr=gpr.value.data if isinstance(gpr, IntegerAttr) else 0,
        )

    def trace_line(self) -> str:
        """The op as a line of the AiM simulator's trace."""
        return trace_line(self.command())

    def _check_mask(self, channels: ChannelsAttr) -> None:
        if not channels.data:
            raise VerifyException(f"channel_mask {channels} selects no channel")
        if channels.data >> AIM_CHANNELS:
            last = channels.data.bit_length() - 1
            raise VerifyException(
                f"channel_mask {channels} selects channel {last}; AiM has channels 0-{AIM_CHANNELS - 1}"
            )

    def _check_opsize(self, opsize: int) -> None:
        if not 1 <= opsize <= AIM_COLUMNS_PER_ROW:
            raise VerifyException(f"opsize {opsize} must be in 1..{AIM_COLUMNS_PER_ROW} (columns of one row)")

    def _check_non_negative(self, **fields: int) -> None:
        for key, value in fields.items():
            if value < 0:
                raise VerifyException(f"{key} must be non-negative, got {value}")


@irdl_op_definition
class WrGbOp(AimCommandOp):
    """AiM WR_GB: copy `opsize` 32-byte words from GPRs to the global buffer of the masked channels.

    The global buffer holds the input vector that MAC_ABK multiplies with every bank's open row.
    """

    name = "aim.wr_gb"
    KIND: ClassVar[CommandKind] = CommandKind.WR_GB

    opsize = prop_def(IntegerAttr[I64])
    gpr = prop_def(IntegerAttr[I64])
    channel_mask = prop_def(ChannelsAttr)

    assembly_format = "attr-dict"

    def __init__(self, opsize: int, gpr: int, channel_mask: int | ChannelsAttr):
        super().__init__(
            properties={"opsize": i64(opsize), "gpr": i64(gpr), "channel_mask": channels_attr(channel_mask)}
        )

    def verify_(self) -> None:
        self._check_opsize(self.opsize.value.data)
        self._check_mask(self.channel_mask)
        self._check_non_negative(gpr=self.gpr.value.data)


@irdl_op_definition
class WrBiasOp(AimCommandOp):
    """AiM WR_BIAS: preload the 16 per-bank MAC accumulators of the masked channels from a GPR."""

    name = "aim.wr_bias"
    KIND: ClassVar[CommandKind] = CommandKind.WR_BIAS

    gpr = prop_def(IntegerAttr[I64])
    channel_mask = prop_def(ChannelsAttr)

    assembly_format = "attr-dict"

    def __init__(self, gpr: int, channel_mask: int | ChannelsAttr):
        super().__init__(properties={"gpr": i64(gpr), "channel_mask": channels_attr(channel_mask)})

    def verify_(self) -> None:
        self._check_mask(self.channel_mask)
        self._check_non_negative(gpr=self.gpr.value.data)


@irdl_op_definition
class MacAbkOp(AimCommandOp):
    """AiM MAC_ABK: in all 16 banks of the masked channels, multiply `opsize` columns of `row`
    with the global buffer and accumulate into each bank's MAC register (16 FP16 lanes per bank).
    """

    name = "aim.mac_abk"
    KIND: ClassVar[CommandKind] = CommandKind.MAC_ABK

    opsize = prop_def(IntegerAttr[I64])
    channel_mask = prop_def(ChannelsAttr)
    row = prop_def(IntegerAttr[I64])

    assembly_format = "attr-dict"

    def __init__(self, opsize: int, channel_mask: int | ChannelsAttr, row: int):
        super().__init__(
            properties={"opsize": i64(opsize), "channel_mask": channels_attr(channel_mask), "row": i64(row)}
        )

    def verify_(self) -> None:
        self._check_opsize(self.opsize.value.data)
        self._check_mask(self.channel_mask)
        self._check_non_negative(row=self.row.value.data)


@irdl_op_definition
class RdMacOp(AimCommandOp):
    """AiM RD_MAC: read the 16 MAC results (one per bank, 256 bits) of the masked channels into a GPR."""

    name = "aim.rd_mac"
    KIND: ClassVar[CommandKind] = CommandKind.RD_MAC

    gpr = prop_def(IntegerAttr[I64])
    channel_mask = prop_def(ChannelsAttr)

    assembly_format = "attr-dict"

    def __init__(self, gpr: int, channel_mask: int | ChannelsAttr):
        super().__init__(properties={"gpr": i64(gpr), "channel_mask": channels_attr(channel_mask)})

    def verify_(self) -> None:
        self._check_mask(self.channel_mask)
        self._check_non_negative(gpr=self.gpr.value.data)


@irdl_op_definition
class SyncOp(AimCommandOp):
    """AiM SYNC: barrier; later commands wait until every earlier one has finished."""

    name = "aim.sync"
    KIND: ClassVar[CommandKind] = CommandKind.SYNC

    assembly_format = "attr-dict"

    def __init__(self):
        super().__init__()


@irdl_op_definition
class EocOp(AimCommandOp):
    """AiM EOC: end of compute; the simulator stops here. Ends every trace."""

    name = "aim.eoc"
    KIND: ClassVar[CommandKind] = CommandKind.EOC

    assembly_format = "attr-dict"

    def __init__(self):
        super().__init__()


AIM = Dialect("aim", [WrGbOp, WrBiasOp, MacAbkOp, RdMacOp, SyncOp, EocOp], [])
