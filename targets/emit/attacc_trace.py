"""Emit AttAcc HBM3-PIM command traces in the attacc_simulator's format, and time them back.

Format (scale-snu/attacc_simulator, pim_loadstore_trace.cpp; targets/parse/trace_parse.py
has the grammar): one `OP ADDRESS` per line, the address in hex as the simulator's
generators write it (`0x` and at least 8 digits), no comments. The address fields
(HBM3PIMMap, from the LSB after 5 offset bits: column 5, row 14, bank 2, bank
group 2, rank 1, pseudo-channel 1, channel 4) say where a command goes. One
simulated HBM3 stack has 16 channels; a device with more gets one trace per stack
(device channel c is channel c % 16 of stack c // 16).

Each `attacc` op becomes, for every channel of its channel set in order:

    attacc.wr_gb / mv_gb   vectors x opsize lines PIM_WR_GB / PIM_MV_GB: column c of
                           vector j is global-buffer column i = 32 j + c, written at
                           column i % 32, bank (i // 32) % 4, bank group i // 128
                           (the bank fields name the buffer's 32-column slot; the
                           simulator times these lines on the data path only)
    attacc.mac_ab          opsize lines PIM_MAC_AB: columns 0 .. opsize-1 of `row`
                           (all-bank: bank fields 0; the simulator adds ACTAB/PREA)
    attacc.mv_sb           `outputs` lines PIM_MV_SB at `row`, column = result index % 32
    attacc.sfm             one PIM_SFM
    attacc.barrier         one PIM_BARRIER on every channel of the stack

A MAC that serves several input vectors (PAPI's FC-PIM: 64 lanes, 4 vectors per
column read) is still one PIM_MAC_AB per column: the trace has no vector field,
and the simulator times a PIM_MAC_AB as one column's MAC, which is what the
wider lanes take for their vectors (pim_timing.mac_cycles_per_column). Which
vectors a MAC serves is what the channel's global buffer holds: the slots the
last PIM_WR_GB / PIM_MV_GB run on that channel wrote.

`trace_commands` reverses this: it groups a trace's lines back into all-bank
commands (a channel's run of same-op lines on one row is one command, and equal
commands on consecutive channels are one command over them; a MAC's vectors are
the slots in its channel's buffer), which `pim_timing.stream_counts` times; tests
check that this equals the timing of the IR stream and the report's estimates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block
from xdsl.utils.target import Target

from pimc.dialects import attacc, pim
from pimc.dialects.pim import CommandKind, PimCommand, ceil_div, channel_span
from pimc.dialects.place import device_of
from pimc.targets.emit.trace_files import check_trace_lines
from pimc.targets.parse.trace_parse import (
    ATTACC_CHANNEL_BITS,
    ATTACC_COLUMN_BITS,
    ATTACC_OFFSET_BITS,
    ATTACC_ROW_BITS,
    TraceLine,
    attacc_address,
)
from pimc.targets.system import Device

STACK_CHANNELS = 1 << ATTACC_CHANNEL_BITS
"""Channels of one simulated HBM3 stack, 16 (attacc_bank.yaml: channel 16; the address's channel field)."""

_GB_COLUMNS = 1 << ATTACC_COLUMN_BITS
"""Columns of one global-buffer slot, 32 (one input vector's chunk of at most one 1 KB row): the address's column
field."""
_GB_SLOTS = 16
"""Slots the bank (2 bits) and bank group (2 bits) fields of a PIM_WR_GB address can name."""


_ROW_SHIFT = ATTACC_OFFSET_BITS + ATTACC_COLUMN_BITS
"""Bit of an address where its row field starts."""
_ROWS = 1 << ATTACC_ROW_BITS


def stack_count(dev: Device) -> int:
    """HBM3 stacks of an AttAcc device, one trace each: ceil(channels / 16)."""
    return ceil_div(dev.pim.channels, STACK_CHANNELS)


def _address(channel: int, row: int = 0, column: int = 0, bank: int = 0, bank_group: int = 0) -> int:
    return attacc_address(
        channel=channel % STACK_CHANNELS,
        pseudo_channel=0,
        rank=0,
        bank_group=bank_group,
        bank=bank,
        row=row,
        column=column,
    )


def _op_lines(
    op: attacc.AttaccCommandOp, row_offset: int, channel_shift: int, channels: int
) -> dict[int, list[str | tuple[str, int, int]]]:
    """The op's trace lines, per stack: a line without a row as its text, a line at a row as (op, address,
    row) (its text is f"{op} 0x{address:08x}")."""
    out: dict[int, list[str | tuple[str, int, int]]] = {}
    if isinstance(op, attacc.BarrierOp):
        for c in range(channels):
            out.setdefault(c // STACK_CHANNELS, []).append(f"PIM_BARRIER 0x{_address(c):08x}")
        return out
    mask = op.field("channel_mask") << channel_shift
    if mask >> channels:
        raise ValueError(f"{op.name}: channel mask {mask:#x} leaves the device's {channels} channels")
    row = op.field("row") + row_offset
    opsize, vectors = op.field("opsize"), op.field("vectors", 1)
    if vectors > 1 and (opsize > _GB_COLUMNS or vectors > _GB_SLOTS):
        raise ValueError(
            f"{op.name}: {vectors} vectors of {opsize} columns do not fit the trace's "
            f"{_GB_SLOTS} global-buffer slots of {_GB_COLUMNS} columns"
        )
    for c in range(channels):
        if not mask >> c & 1:
            continue
        lines = out.setdefault(c // STACK_CHANNELS, [])
        if isinstance(op, attacc.MacAbOp):
            lines += [("PIM_MAC_AB", _address(c, row, col), row) for col in range(opsize)]
        elif isinstance(op, attacc.MvSbOp):
            lines += [("PIM_MV_SB", _address(c, row, r % _GB_COLUMNS), row) for r in range(op.field("outputs"))]
        elif isinstance(op, attacc.SfmOp):
            lines.append(f"PIM_SFM 0x{_address(c):08x}")
        else:
            lines += [
                f"{op.TRACE_OP} 0x{_address(c, 0, i % _GB_COLUMNS, i // _GB_COLUMNS % 4, i // 128 % 4):08x}"
                for j in range(vectors)
                for i in range(j * _GB_COLUMNS, j * _GB_COLUMNS + opsize)
            ]
    return out


def trace_lines(block: Block, channels: int) -> int:
    """Lines the block's commands take in the traces of a device of `channels` channels, without unrolling."""
    n = 0
    for op in block.ops:
        if isinstance(op, pim.RepeatOp):
            n += op.count.value.data * trace_lines(op.body.block, channels)
        elif isinstance(op, attacc.BarrierOp):
            n += channels
        elif isinstance(op, attacc.AttaccCommandOp):
            per = op.field("opsize") * op.field("vectors", 1) if "opsize" in op.properties else op.field("outputs", 1)
            n += op.field("channel_mask").bit_count() * per
    return n


@dataclass
class _Template:
    """One command block's lines per stack as %-formats: a `%08x` for the address of every line at a row,
    `values` those addresses with the block's row base taken out of the row field."""

    formats: dict[int, str]
    values: dict[int, list[int]]
    rows: tuple[int, int]
    """Least and greatest row of the block, less its row base."""

    @classmethod
    def of(cls, block: Block, base: int, channels: int) -> _Template:
        parts: dict[int, list[str]] = {}
        values: dict[int, list[int]] = {}
        low, high = 0, 0
        for cmd, row, channel in pim.unroll(block):
            assert isinstance(cmd, attacc.AttaccCommandOp), f"{cmd.name} in an AttAcc stream"
            for stack, lines in _op_lines(cmd, row, channel, channels).items():
                for line in lines:
                    texts, addresses = parts.setdefault(stack, []), values.setdefault(stack, [])
                    if isinstance(line, str):
                        texts.append(line)
                        continue
                    name, address, at = line
                    texts.append(f"{name} 0x%08x")
                    addresses.append(address - (base << _ROW_SHIFT))
                    low, high = min(low, at - base), max(high, at - base)
        return cls({k: "\n".join(v) + "\n" for k, v in parts.items()}, values, (low, high))

    def render(self, base: int) -> dict[int, str]:
        """Each stack's text with the row base `base` put back into every row."""
        low, high = base + self.rows[0], base + self.rows[1]
        if low < 0 or high >= _ROWS:
            raise ValueError(f"attacc_address: row {low if low < 0 else high} outside 0..{_ROWS - 1}")
        shift = base << _ROW_SHIFT
        return {
            stack: fmt % tuple(v + shift for v in self.values[stack]) if self.values[stack] else fmt
            for stack, fmt in self.formats.items()
        }


def emit_attacc_traces(
    module: ModuleOp, device: str, dev: Device, ops: Sequence[pim.GemvOp | pim.AttentionOp] | None = None
) -> list[str]:
    """One trace text per HBM3 stack of `device`: its macros' commands (only `ops` when given, as `pimc
    validate` runs one op alone) in program order (each block of commands rendered from a template shared
    by every block of its `pim.stream_signature`, as in aim_trace). A TraceTooLargeError if they would
    exceed trace_files.MAX_TRACE_LINES lines."""
    channels = dev.pim.channels
    macros = [
        op for op in (pim.macros(module) if ops is None else ops) if op.commands.blocks and device_of(op) == device
    ]
    check_trace_lines(
        sum(trace_lines(op.commands.block, channels) for op in macros), f"the AttAcc trace of device '{device}'"
    )
    chunks: list[list[str]] = [[] for _ in range(stack_count(dev))]
    templates: dict[object, _Template] = {}
    for op in macros:
        key, base = pim.stream_signature(op.commands.block)
        template = templates.get(key)
        if template is None:
            template = templates[key] = _Template.of(op.commands.block, base, channels)
        for stack, text in template.render(base).items():
            chunks[stack].append(text)
    return ["".join(c) for c in chunks]


@dataclass
class _Run:
    """Consecutive trace lines of one command kind on one channel and row: `count` lines."""

    kind: CommandKind
    channel: int
    row: int
    count: int
    slots: set[int] = field(default_factory=set)
    """Global-buffer slots a WR_GB run writes (bank group * 4 + bank)."""
    vectors: int = 1


_KINDS = {op.TRACE_OP: op.KIND for op in attacc.COMMAND_OPS}
"""The command kind of each trace mnemonic pimc writes."""
_BUFFER_WRITES = (CommandKind.WR_GB, CommandKind.MV_GB)
_AT_ROW = (CommandKind.MAC_ABK, CommandKind.RD_MAC)


def trace_commands(lines: list[TraceLine], stack: int = 0) -> list[PimCommand]:
    """A parsed AttAcc trace grouped back into all-bank commands (module docstring) for the timing model."""
    runs: list[_Run] = []
    for ln in lines:
        kind = _KINDS.get(ln.op)
        if kind is None:
            raise ValueError(f"line {ln.line}: pimc does not time {ln.op}")
        ch = ln.fields["channel"] + stack * STACK_CHANNELS
        row = ln.fields["row"] if kind in _AT_ROW else 0
        last = runs[-1] if runs else None
        if not (
            last
            and kind not in (CommandKind.SFM, CommandKind.SYNC)
            and (last.kind, last.channel, last.row) == (kind, ch, row)
        ):
            last = _Run(kind, ch, row, 0)
            runs.append(last)
        last.count += 1
        if kind in _BUFFER_WRITES:
            last.slots.add(ln.fields["bank_group"] * 4 + ln.fields["bank"])
    buffers: dict[int, int] = {}  # channel -> input vectors its global buffer holds
    for r in runs:
        if r.kind in _BUFFER_WRITES:
            r.vectors = buffers[r.channel] = len(r.slots)
        elif r.kind == CommandKind.MAC_ABK:
            r.vectors = buffers.get(r.channel, 1)
    out: list[PimCommand] = []
    i = 0
    while i < len(runs):
        r = runs[i]
        if r.kind == CommandKind.SYNC:  # a barrier line per channel: one SYNC
            while i < len(runs) and runs[i].kind == CommandKind.SYNC:
                i += 1
            out.append(PimCommand(CommandKind.SYNC))
            continue
        j = i + 1
        while (
            j < len(runs)
            and runs[j].kind == r.kind
            and runs[j].row == r.row
            and runs[j].count == r.count
            and runs[j].vectors == r.vectors
            and runs[j].channel == r.channel + (j - i)
        ):
            j += 1
        mask = channel_span(r.channel, j - i)
        row = r.row if r.kind in _AT_ROW else None
        if r.kind == CommandKind.RD_MAC:
            out.append(PimCommand(r.kind, 0, mask, r.count, row))
        elif r.kind == CommandKind.SFM:
            out.append(PimCommand(r.kind, 0, mask))
        else:
            out.append(PimCommand(r.kind, r.count, mask, r.vectors, row))
        i = j
    return out


@dataclass(frozen=True)
class AttaccTraceTarget(Target):
    """One HBM3 stack's AttAcc trace (`pim.attacc[.stackN].trace`) of an AttAcc device of a compiled module:
    `device`, or the one AttAcc device that got PIM macros; `stack` counts from 0 (`emit_attacc_traces`)."""

    name = "pimc-attacc-trace"

    device: str = ""
    stack: int = 0

    def emit(self, ctx: Context, module: ModuleOp, output: IO[str]) -> None:
        from pimc.errors import PimcError
        from pimc.targets.emit.trace_files import trace_device
        from pimc.targets.system import recorded_system

        system = recorded_system(module)
        device = trace_device(module, system, "attacc", self.device)
        dev = system.devices[device]
        stacks = stack_count(dev)
        if not 0 <= self.stack < stacks:
            raise PimcError(f"the AttAcc trace: stack={self.stack}, but device '{device}' has stacks 0..{stacks - 1}")
        output.write(emit_attacc_traces(module, device, dev)[self.stack])
