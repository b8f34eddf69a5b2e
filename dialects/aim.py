"""The `aim` dialect: SK hynix GDDR6-AiM ISR commands, one op per trace line.

Field meanings follow the AiM trace simulator (arkhadem/aim_simulator on
Ramulator 2.0; see shared REFERENCE.md section 2):

- opsize: number of consecutive 32-byte DRAM columns (16 FP16 values each) the
  command covers; at most one 2 KB row, i.e. 64 columns.
- gpr: index of the host-visible general-purpose register the data comes from
  or goes to.
- channel_mask: the channels the command runs on, a `#pim.channels<...>` set
  (`#pim.channels<0-11>`: channels 0 to 11) within the device's 32 channels. The
  trace writes it as the simulator's 32-bit mask, where bit i selects channel
  31 - i (AiMDRAMSystem::FindFirstChannelIndex): `trace_mask`.
- bank / row: DRAM bank (0..15) and row address.

Each op gives the command it stands for with `instr(row, channel)`: an `AimInstr`
with the row offset and channel shift of its enclosing `pim.repeat` loops applied,
which renders its own trace line; the emitter in targets/aim_trace.py only
concatenates them.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.dialects.builtin import I64, IntegerAttr
from xdsl.ir import Dialect
from xdsl.irdl import IRDLOperation, ParsePropInAttrDict, irdl_op_definition, prop_def
from xdsl.utils.exceptions import VerifyException

from pimc.dialects.pim import ChannelsAttr, i64

AIM_CHANNELS = 32
AIM_COLUMNS_PER_ROW = 64


@dataclass(frozen=True)
class AimInstr:
    """One AiM ISR command with concrete fields (0 where the command has no such field)."""

    op: str
    """The ISR mnemonic, e.g. "MAC_ABK"."""
    opsize: int = 0
    gpr: int = 0
    channel_mask: int = 0
    """Bit c set = the command runs on channel c (the IR's channel set as a bit mask, not the trace's order)."""
    row: int = 0

    def line(self) -> str:
        """The command as a line of the AiM simulator's trace (its channel mask in the simulator's bit order)."""
        text, has_row = self.template()
        return text % self.row if has_row else text

    def template(self) -> tuple[str, bool]:
        """The trace line with its row address left as the `%d` of a %-format, and whether it has a row
        (the other fields are numbers and mnemonics: the text holds no other `%`)."""
        fields = _TRACE_FIELDS[self.op]
        return " ".join(["AiM", self.op, *(f"{trace_mask(self.channel_mask):#x}" if f == "channel_mask"
                                           else "%d" if f == "row" else str(getattr(self, f))
                                           for f in fields)]), "row" in fields


def trace_mask(mask: int) -> int:
    """A channel bit mask (bit c = channel c, c < 32) in the AiM simulator's order (bit 31 - c = channel c),
    and back."""
    return int(f"{mask:0{AIM_CHANNELS}b}"[::-1], 2)


_TRACE_FIELDS = {
    "WR_GB": ("opsize", "gpr", "channel_mask"),
    "WR_BIAS": ("gpr", "channel_mask"),
    "MAC_ABK": ("opsize", "channel_mask", "row"),
    "RD_MAC": ("gpr", "channel_mask"),
    "SYNC": (),
    "EOC": (),
}
"""Each command's trace fields in the simulator's order (shared REFERENCE.md section 2)."""


def _int(value: int) -> IntegerAttr:
    return i64(value)


def _channels(mask: int | ChannelsAttr) -> ChannelsAttr:
    return mask if isinstance(mask, ChannelsAttr) else ChannelsAttr.of(mask)


class AimCommandOp(IRDLOperation):
    """Base of every AiM ISR command op: renders itself as one trace line."""

    irdl_options = (ParsePropInAttrDict(),)

    def instr(self, row: int = 0, channel: int = 0) -> AimInstr:
        """The command with `row` added to its row and its channel set shifted `channel` channels up
        (what the enclosing `pim.repeat` loops make of it); an error if the set leaves the device."""
        props = self.properties
        channels = props.get("channel_mask")
        mask = channels.data << channel if isinstance(channels, ChannelsAttr) else 0
        if mask >> AIM_CHANNELS:
            assert isinstance(channels, ChannelsAttr)
            raise ValueError(f"{self.name}: channel_mask {channels} shifted by {channel} "
                             f"channels leaves the {AIM_CHANNELS} channels")
        opsize, gpr, at = props.get("opsize"), props.get("gpr"), props.get("row")
        return AimInstr(self.name.removeprefix("aim.").upper(),
                        opsize.value.data if isinstance(opsize, IntegerAttr) else 0,
                        gpr.value.data if isinstance(gpr, IntegerAttr) else 0, mask,
                        at.value.data + row if isinstance(at, IntegerAttr) else 0)

    def trace_line(self) -> str:
        return self.instr().line()

    def _check_mask(self, channels: ChannelsAttr) -> None:
        if not channels.data:
            raise VerifyException(f"channel_mask {channels} selects no channel")
        if channels.data >> AIM_CHANNELS:
            last = channels.data.bit_length() - 1
            raise VerifyException(f"channel_mask {channels} selects channel {last}; "
                                  f"AiM has channels 0-{AIM_CHANNELS - 1}")

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

    opsize = prop_def(IntegerAttr[I64])
    gpr = prop_def(IntegerAttr[I64])
    channel_mask = prop_def(ChannelsAttr)

    assembly_format = "attr-dict"

    def __init__(self, opsize: int, gpr: int, channel_mask: int | ChannelsAttr):
        super().__init__(properties={"opsize": _int(opsize), "gpr": _int(gpr), "channel_mask": _channels(channel_mask)})

    def verify_(self) -> None:
        self._check_opsize(self.opsize.value.data)
        self._check_mask(self.channel_mask)
        self._check_non_negative(gpr=self.gpr.value.data)



@irdl_op_definition
class WrBiasOp(AimCommandOp):
    """AiM WR_BIAS: preload the 16 per-bank MAC accumulators of the masked channels from a GPR."""

    name = "aim.wr_bias"

    gpr = prop_def(IntegerAttr[I64])
    channel_mask = prop_def(ChannelsAttr)

    assembly_format = "attr-dict"

    def __init__(self, gpr: int, channel_mask: int | ChannelsAttr):
        super().__init__(properties={"gpr": _int(gpr), "channel_mask": _channels(channel_mask)})

    def verify_(self) -> None:
        self._check_mask(self.channel_mask)
        self._check_non_negative(gpr=self.gpr.value.data)



@irdl_op_definition
class MacAbkOp(AimCommandOp):
    """AiM MAC_ABK: in all 16 banks of the masked channels, multiply `opsize` columns of `row`
    with the global buffer and accumulate into each bank's MAC register (16 FP16 lanes per bank).
    """

    name = "aim.mac_abk"

    opsize = prop_def(IntegerAttr[I64])
    channel_mask = prop_def(ChannelsAttr)
    row = prop_def(IntegerAttr[I64])

    assembly_format = "attr-dict"

    def __init__(self, opsize: int, channel_mask: int | ChannelsAttr, row: int):
        super().__init__(properties={"opsize": _int(opsize), "channel_mask": _channels(channel_mask), "row": _int(row)})

    def verify_(self) -> None:
        self._check_opsize(self.opsize.value.data)
        self._check_mask(self.channel_mask)
        self._check_non_negative(row=self.row.value.data)



@irdl_op_definition
class RdMacOp(AimCommandOp):
    """AiM RD_MAC: read the 16 MAC results (one per bank, 256 bits) of the masked channels into a GPR."""

    name = "aim.rd_mac"

    gpr = prop_def(IntegerAttr[I64])
    channel_mask = prop_def(ChannelsAttr)

    assembly_format = "attr-dict"

    def __init__(self, gpr: int, channel_mask: int | ChannelsAttr):
        super().__init__(properties={"gpr": _int(gpr), "channel_mask": _channels(channel_mask)})

    def verify_(self) -> None:
        self._check_mask(self.channel_mask)
        self._check_non_negative(gpr=self.gpr.value.data)



@irdl_op_definition
class SyncOp(AimCommandOp):
    """AiM SYNC: barrier; later commands wait until every earlier one has finished."""

    name = "aim.sync"

    assembly_format = "attr-dict"

    def __init__(self):
        super().__init__()



@irdl_op_definition
class EocOp(AimCommandOp):
    """AiM EOC: end of compute; the simulator stops here. Ends every trace."""

    name = "aim.eoc"

    assembly_format = "attr-dict"

    def __init__(self):
        super().__init__()



AIM = Dialect("aim", [WrGbOp, WrBiasOp, MacAbkOp, RdMacOp, SyncOp, EocOp], [])
