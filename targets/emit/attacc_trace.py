"""Emit AttAcc HBM3-PIM command traces in the attacc_simulator's format, and time them back.

Format (scale-snu/attacc_simulator, pim_loadstore_trace.cpp; targets/parse/trace_parse.py
has the grammar): one `OP ADDRESS` per line, the address in hex as the simulator's
generators write it (`0x` and at least 8 digits), no comments. The address fields
(HBM3PIMMap, from the LSB after 5 offset bits: column 5, row 14, bank 2, bank
group 2, rank 1, pseudo-channel 1, channel 4) say where a command goes. One
simulated HBM3 stack has 16 channels; a device with more gets one trace per stack
(device channel c is channel c % 16 of stack c // 16).

Each channel's lines are its program (targets/models/attacc_timing.py
`channel_programs`, `step_lines`): every command whose channel set holds the
channel, a PIM_BARRIER between two commands of different kinds and for SYNC
(attacc.barrier); within each op the channels of a stack are interleaved line by
line (`interleave`), because the simulator's frontend feeds its channels' 32-entry
queues strictly in file order. Lines per command:

    attacc.wr_gb / mv_gb   vectors x opsize lines PIM_WR_GB / PIM_MV_GB: column c of
                           vector j is global-buffer column i = 32 j + c, written at
                           column i % 32, bank (i // 32) % 4, bank group i // 128
                           (the bank fields name the buffer's 32-column slot)
    attacc.mac_ab          opsize lines PIM_MAC_AB: columns 0 .. opsize-1 of `row`
                           (all-bank: bank fields 0; the simulator adds ACTAB/PREA)
    attacc.mv_sb           `outputs` lines PIM_MV_SB at `row`, column = result index % 32
    attacc.sfm             one PIM_SFM

A MAC that serves several input vectors (PAPI's FC-PIM: 64 lanes, 4 vectors per
column read) is still one PIM_MAC_AB per column: the trace has no vector field.
Which vectors a MAC serves is what the channel's global buffer holds: the slots the
last PIM_WR_GB / PIM_MV_GB run on that channel wrote.

`trace_counts` times a parsed trace back (each channel's lines under the controller
model; energy from `trace_commands`, its runs of lines as one-channel commands);
tests check that this equals the timing of the IR stream and the report's estimates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block
from xdsl.utils.target import Target

from pimc.dialects import attacc, pim
from pimc.dialects.pim import CommandKind, PimCommand, ceil_div
from pimc.dialects.place import device_of
from pimc.targets.emit.trace_files import check_trace_lines
from pimc.targets.models import attacc_timing
from pimc.targets.models.pim_timing import PimCounts, block_commands, command_counts
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


def trace_lines(block: Block, dev: Device) -> int:
    """Lines the block's commands take in the traces of `dev`, barriers included: counted from each channel's
    program (`attacc_timing.channel_programs`) without rendering a line; a block of more commands than a
    trace may hold lines is not unrolled (its commands' count is then a lower bound, already too many)."""
    from pimc.targets.emit.trace_files import MAX_TRACE_LINES

    commands = pim.unrolled_length(block)
    if commands > MAX_TRACE_LINES:
        return commands
    programs = attacc_timing.channel_programs(block_commands(block), dev.pim.channels)
    lengths: dict[int, int] = {}
    total = 0
    for program in programs:
        if id(program) not in lengths:
            lengths[id(program)] = sum(len(attacc_timing.step_lines(step, dev)) for step in program)
        total += lengths[id(program)]
    return total


@dataclass
class _Template:
    """One command block's lines per stack as %-formats: a `%08x` for the address of every line at a row,
    `values` those addresses with the block's row base taken out of the row field."""

    formats: dict[int, str]
    values: dict[int, list[int]]
    rows: tuple[int, int]
    """Least and greatest row of the block, less its row base."""

    @classmethod
    def of(cls, block: Block, base: int, dev: Device) -> _Template:
        channels = dev.pim.channels
        programs = attacc_timing.channel_programs(block_commands(block), channels)
        parts: dict[int, list[str]] = {}
        values: dict[int, list[int]] = {}
        low, high = 0, 0
        for stack in range(stack_count(dev)):
            first = stack * STACK_CHANNELS
            chans = range(first, min(first + STACK_CHANNELS, channels))
            per = [attacc_timing.program_lines(programs[c], dev) for c in chans]
            texts, addresses = parts.setdefault(stack, []), values.setdefault(stack, [])
            for i, ln in attacc_timing.interleave(per):
                c = chans[i]
                if ln.row < 0:
                    texts.append(f"{ln.op} 0x{_address(c, 0, ln.column, ln.bank, ln.bank_group):08x}")
                    continue
                texts.append(f"{ln.op} 0x%08x")
                addresses.append(_address(c, ln.row - base, ln.column, ln.bank, ln.bank_group))
                low, high = min(low, ln.row - base), max(high, ln.row - base)
        return cls({k: "\n".join(v) + "\n" for k, v in parts.items() if v}, values, (low, high))

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
    validate` runs one op alone) in program order, each macro's channels interleaved line by line (module
    docstring; each block of commands rendered from a template shared by every block of its
    `pim.stream_signature`, as in aim_trace). A TraceTooLargeError if they would exceed
    trace_files.MAX_TRACE_LINES lines."""
    macros = [
        op for op in (pim.macros(module) if ops is None else ops) if op.commands.blocks and device_of(op) == device
    ]
    check_trace_lines(
        sum(trace_lines(op.commands.block, dev) for op in macros), f"the AttAcc trace of device '{device}'"
    )
    chunks: list[list[str]] = [[] for _ in range(stack_count(dev))]
    templates: dict[object, _Template] = {}
    for op in macros:
        key, base = pim.stream_signature(op.commands.block)
        template = templates.get(key)
        if template is None:
            template = templates[key] = _Template.of(op.commands.block, base, dev)
        for stack, text in template.render(base).items():
            chunks[stack].append(text)
    return ["".join(c) for c in chunks]


_KINDS = {op.TRACE_OP: op.KIND for op in attacc.COMMAND_OPS}
"""The command kind of each trace mnemonic pimc writes."""


def trace_channel_lines(lines: list[TraceLine], stack: int = 0) -> dict[int, list[attacc_timing.Line]]:
    """A parsed AttAcc trace as each channel's lines in order (channel numbers of the device: stack * 16 +
    the address's channel), as `attacc_timing` times them."""
    out: dict[int, list[attacc_timing.Line]] = {}
    for ln in lines:
        kind = _KINDS.get(ln.op)
        if kind is None:
            raise ValueError(f"line {ln.line}: pimc does not time {ln.op}")
        f = ln.fields
        row = f["row"] if kind in (CommandKind.MAC_ABK, CommandKind.RD_MAC) else -1
        out.setdefault(f["channel"] + stack * STACK_CHANNELS, []).append(
            attacc_timing.Line(ln.op, row, f["column"], f["bank"], f["bank_group"])
        )
    return out


def trace_counts(lines: list[TraceLine], dev: Device, stack: int = 0, refresh: bool = False) -> PimCounts:
    """Counts of a parsed AttAcc trace: cycles of its slowest channel under the controller model (with the
    simulator's refresh when `refresh`), energy and commands of `trace_commands`."""
    total = PimCounts()
    for cmd in trace_commands(lines, stack):
        c = command_counts(cmd, dev)
        c.cycles = 0
        total.add(c)
    interval = {v: attacc_timing.mac_interval(dev, v) for v in range(1, attacc_timing.GB_SLOTS + 1)}
    for channel_lines in _with_intervals(trace_channel_lines(lines, stack), interval):
        total.cycles = max(total.cycles, attacc_timing.channel_cycles(channel_lines, dev, refresh))
    return total


def _with_intervals(
    per_channel: dict[int, list[attacc_timing.Line]], interval: dict[int, int]
) -> list[list[attacc_timing.Line]]:
    """Each channel's lines with every MAC's nCCDAB for the vectors its global buffer holds (the slots of the
    channel's last run of PIM_WR_GB / PIM_MV_GB lines)."""
    out: list[list[attacc_timing.Line]] = []
    for lines in per_channel.values():
        vectors, slots, writing = 1, set[int](), False
        fixed: list[attacc_timing.Line] = []
        for ln in lines:
            if ln.op in ("PIM_WR_GB", "PIM_MV_GB"):
                if not writing:
                    slots, writing = set(), True
                slots.add(ln.bank_group * 4 + ln.bank)
                vectors = len(slots)
            elif ln.op != "PIM_BARRIER":
                writing = False
            fixed.append(ln._replace(interval=interval[vectors]) if ln.op == "PIM_MAC_AB" else ln)
        out.append(fixed)
    return out


def trace_commands(lines: list[TraceLine], stack: int = 0) -> list[PimCommand]:
    """A parsed AttAcc trace grouped back into commands, each on one channel: on every channel (in channel
    order) its runs of lines of one mnemonic on one row between barriers (a MAC's vectors the slots in its
    channel's global buffer), for the energy and command counts of `trace_counts`."""
    out: list[PimCommand] = []
    for channel, chan_lines in trace_channel_lines(lines, stack).items():
        vectors, slots, writing = 1, set[int](), False
        run: list[attacc_timing.Line] = []
        for ln in [*chan_lines, attacc_timing.BARRIER_LINE]:
            if run and (ln.op == "PIM_BARRIER" or run[0].op != ln.op or run[0].row != ln.row):
                out += _run_commands(run, 1 << channel, vectors)
                run = []
            if ln.op == "PIM_BARRIER":
                continue
            if ln.op in ("PIM_WR_GB", "PIM_MV_GB"):
                if not writing:
                    slots, writing = set(), True
                slots.add(ln.bank_group * 4 + ln.bank)
                vectors = len(slots)
            else:
                writing = False
            run.append(ln)
    return out


def _run_commands(run: list[attacc_timing.Line], mask: int, vectors: int) -> list[PimCommand]:
    """The one-channel command(s) of a run of lines of one mnemonic on one row; a MAC serves `vectors`."""
    first, count = run[0], len(run)
    kind = _KINDS[first.op]
    if kind in (CommandKind.WR_GB, CommandKind.MV_GB):
        return [PimCommand(kind, count, mask, len({ln.bank_group * 4 + ln.bank for ln in run}))]
    if kind == CommandKind.MAC_ABK:
        return [PimCommand(kind, count, mask, vectors, first.row)]
    if kind == CommandKind.RD_MAC:
        return [PimCommand(kind, 0, mask, count, first.row)]
    return [PimCommand(kind, 0, mask)] * count


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
