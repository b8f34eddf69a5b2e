"""Emit AttAcc HBM3-PIM command traces in the attacc_simulator's format, and time them back.

Format (scale-snu/attacc_simulator, pim_loadstore_trace.cpp; targets/trace_parse.py
has the grammar): one `OP ADDRESS` per line, the address in hex as the simulator's
generators write it (`0x` and at least 8 digits), no comments. The address fields
(HBM3PIMMap, from the LSB after 5 offset bits: column 5, row 14, bank 2, bank
group 2, rank 1, pseudo-channel 1, channel 4) say where a command goes. One
simulated HBM3 stack has 16 channels; a device with more gets one trace per stack
(device channel c is channel c % 16 of stack c // 16).

Each `attacc` op becomes, for every channel of its mask in order:

    attacc.wr_gb / mv_gb   opsize lines PIM_WR_GB / PIM_MV_GB: global-buffer column i
                           at column i % 32, bank (i // 32) % 4, bank group i // 128
                           (the simulator times them on the data path only)
    attacc.mac_ab          opsize lines PIM_MAC_AB: columns 0 .. opsize-1 of `row`
                           (all-bank: bank fields 0; the simulator adds ACTAB/PREA)
    attacc.mv_sb           `outputs` lines PIM_MV_SB at `row`, column = result index
    attacc.sfm             one PIM_SFM
    attacc.barrier         one PIM_BARRIER on every channel of the stack

`trace_commands` reverses this: it groups a trace's lines back into all-bank
commands (a channel's run of same-op lines on one row is one command, and equal
commands on consecutive channels are one command over them), which
`pim_timing.stream_counts` times; tests check that this equals the timing of
the IR stream and the report's estimates.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.dialects.builtin import ModuleOp

from pimc.dialects import attacc, pim
from pimc.dialects.pim import ceil_div
from pimc.passes.partition import device_of
from pimc.targets.pim_timing import Command
from pimc.targets.system import Device
from pimc.targets.trace_parse import AttaccCommand, attacc_address

STACK_CHANNELS = 16
"""Channels of one simulated HBM3 stack (attacc_bank.yaml: channel 16)."""

_GB_COLUMNS = 32


def _address(channel: int, row: int = 0, column: int = 0, bank: int = 0, bank_group: int = 0) -> str:
    addr = attacc_address(channel=channel % STACK_CHANNELS, pseudo_channel=0, rank=0, bank_group=bank_group,
                          bank=bank, row=row, column=column)
    return f"0x{addr:08x}"


def _op_lines(op: attacc.AttaccCommandOp, row_offset: int, channel_shift: int, channels: int
              ) -> dict[int, list[str]]:
    """The op's trace lines, per stack."""
    out: dict[int, list[str]] = {}
    if isinstance(op, attacc.BarrierOp):
        for c in range(channels):
            out.setdefault(c // STACK_CHANNELS, []).append(f"PIM_BARRIER {_address(c)}")
        return out
    mask = op.field("channel_mask") << channel_shift
    if mask >> channels:
        raise ValueError(f"{op.name}: channel mask {mask:#x} leaves the device's {channels} channels")
    row = op.field("row") + row_offset
    for c in range(channels):
        if not mask >> c & 1:
            continue
        lines = out.setdefault(c // STACK_CHANNELS, [])
        if isinstance(op, attacc.MacAbOp):
            lines += [f"PIM_MAC_AB {_address(c, row, col)}" for col in range(op.field("opsize"))]
        elif isinstance(op, attacc.MvSbOp):
            lines += [f"PIM_MV_SB {_address(c, row, r % _GB_COLUMNS)}" for r in range(op.field("outputs"))]
        elif isinstance(op, attacc.SfmOp):
            lines.append(f"PIM_SFM {_address(c)}")
        else:
            lines += [f"{op.TRACE_OP} {_address(c, 0, i % _GB_COLUMNS, i // _GB_COLUMNS % 4, i // 128 % 4)}"
                      for i in range(op.field("opsize"))]
    return out


def emit_attacc_traces(module: ModuleOp, device: str, dev: Device) -> list[str]:
    """One trace text per HBM3 stack of `device`: its macros' commands in program order."""
    stacks = ceil_div(dev.p("channels"), STACK_CHANNELS)
    lines: list[list[str]] = [[] for _ in range(stacks)]
    for op in module.walk():
        if not isinstance(op, pim.PIM_MACROS) or not op.commands.blocks or device_of(op) != device:
            continue
        for cmd, row, channel in pim.unroll(op.commands.block):
            assert isinstance(cmd, attacc.AttaccCommandOp), f"{cmd.name} in an AttAcc stream"
            for stack, new in _op_lines(cmd, row, channel, dev.p("channels")).items():
                lines[stack] += new
    return ["\n".join(ls) + "\n" if ls else "" for ls in lines]


@dataclass
class _Run:
    kind: str
    channel: int
    row: int
    count: int


_KINDS = {"PIM_WR_GB": "WR_GB", "PIM_MV_GB": "WR_GB", "PIM_MAC_AB": "MAC_ABK", "PIM_MV_SB": "RD_MAC",
          "PIM_SFM": "SFM", "PIM_BARRIER": "SYNC"}


def trace_commands(commands: list[AttaccCommand], stack: int = 0) -> list[Command]:
    """A parsed AttAcc trace grouped back into all-bank commands (module docstring) for the timing model."""
    runs: list[_Run] = []
    for cmd in commands:
        kind = _KINDS.get(cmd.op)
        if kind is None:
            raise ValueError(f"line {cmd.line}: pimc does not time {cmd.op}")
        ch = cmd.fields["channel"] + stack * STACK_CHANNELS
        row = cmd.fields["row"] if kind in ("MAC_ABK", "RD_MAC") else 0
        last = runs[-1] if runs else None
        if last and kind not in ("SFM", "SYNC") and (last.kind, last.channel, last.row) == (kind, ch, row):
            last.count += 1
        else:
            runs.append(_Run(kind, ch, row, 1))
    out: list[Command] = []
    i = 0
    while i < len(runs):
        r = runs[i]
        if r.kind == "SYNC":  # a barrier line per channel: one SYNC
            while i < len(runs) and runs[i].kind == "SYNC":
                i += 1
            out.append(Command("SYNC", 0, 0))
            continue
        j = i + 1
        while (j < len(runs) and runs[j].kind == r.kind and runs[j].row == r.row and runs[j].count == r.count
               and runs[j].channel == r.channel + (j - i)):
            j += 1
        n = j - i
        if r.kind == "RD_MAC":
            out.append(Command("RD_MAC", 0, n, r.count, r.channel))
        elif r.kind == "SFM":
            out.append(Command("SFM", 0, n, first_channel=r.channel))
        else:
            out.append(Command(r.kind, r.count, n, first_channel=r.channel))
        i = j
    return out
