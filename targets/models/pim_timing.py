"""PIM timing and energy: a command sequence timed by DRAM rules, and the same GEMV estimated in closed form.

One model serves two paths that must agree exactly:

- `stream_counts(commands, dev)` times a command sequence (the AiM ISR commands
  convert-pim-to-aim emits, or any sequence of the all-bank commands below);
- `gemv_counts(m, k, n, dev, bias)` gives the same counts for a GEMV macro
  before any command is emitted, from its shape and layout alone (so
  annotate-cost and partition can price a PIM GEMV in O(1));
  `attention_counts` does the same for attention, heads spread over channel
  groups by `attention_mapping`.

tests/unit/test_pim_timing.py checks that both are equal, command counts,
cycles and energy, for several shapes and presets.

Execution model. Every channel in the command's channel mask runs the same
command in lockstep. Each channel runs its commands one after another, and a
command starts when every channel of its mask is free, so commands on disjoint
channels overlap (attention heads on different channel groups) while a GEMV,
whose masks all start at its first channel, runs its commands back to back.
SYNC waits for every channel. Rows follow a closed-page policy: every all-bank
MAC opens its row, streams its columns and precharges (the AiM controller turns ISR MAC_ABK into ACT16, MAC16 x opsize, PRE;
arkhadem/aim_simulator). Cycles are of the device clock tCK (`tck_ns`); timing
parameter names follow JEDEC (the presets give their sources).

    WR_GB opsize      opsize * tCCD_L          opsize 32-byte columns over the
                                               channel bus into the global buffer
                                               (back-to-back writes to one bank
                                               group are tCCD_L apart)
    WR_BIAS           v * tCCD_L               one column write into the MAC registers per vector
    MAC_ABK opsize    act + max(tRCD_MAC + opsize * mac_cycles, tRAS) + tRP
                      (opsize covers every output the bank computes from the
                      open row: per_row outputs of K's columns each)
                      act = 0 when one command opens every bank (`all_bank_act`,
                      AiM's ACT16, HBM-PIM's all-bank mode), else the last of B
                      banks opens at max((B-1) * tRRD, (ceil(B/4)-1) * tFAW);
                      mac_cycles = mac_interval_cycles * ceil(v * column elements /
                      mac_lanes) per column for v input vectors (1 unless the
                      lanes outnumber a column's elements, as on PAPI's FC-PIM);
                      precharge waits for tRAS.
    RD_MAC            tCL + v * tCCD_L         read latency + one column burst (a result
                                               from every bank) per vector and per output
                                               the bank computed from its row
    MV_GB opsize      as WR_GB (AttAcc: the buffer die's softmax unit writes the
                      global buffer)
    SYNC, SFM         0 (SFM: AttAcc's softmax in the buffer die, overlapped with
                      the MACs and not timed, as in attention_counts)

On a device with `blocking_reads` (GDDR6-AiM) the cycles follow the AiM
controller instead (targets/models/aim_timing.py, from the AiM trace simulator's
source): RD_MAC and SYNC block the host's command engine, channels otherwise run
independently, mode changes cost tMOD, rows stay open until the next ACT16 (tRTP,
tRC); energy and command counts are the same. One simulator cycle is 0.5 ns: the
GDDR6_AiM_timing preset's counts are of tCK_ps 500 (GDDR6.cpp recomputes tCK_ps
from the rate, 1000 ps, but only to convert refresh timings it never uses).

Refresh: every tREFI cycles the channel is unavailable for tRFC, so
time_ns = cycles * tREFI / (tREFI - tRFC) * tCK. `cycles` is refresh-free: the
figure to compare with a simulator that issues no refresh (docs/validate.md).

Energy (pJ) = act_bits * act_energy_pj_per_bit + read_bits * read_energy_pj_per_bit
+ io_bits * io_energy_pj_per_bit + macs * mac_energy_pj, over the active channels:

    MAC_ABK   act_bits  = channels * banks * row_bytes * 8 (ACT + PRE of one row per bank)
              read_bits = channels * banks * opsize * column_bytes * 8
              macs      = channels * banks * opsize * column elements * v
    WR_GB, MV_GB  io_bits = channels * opsize * column_bytes * 8
    WR_BIAS, RD_MAC  io_bits = channels * v * column_bytes * 8

Counts are integers, so the two paths agree exactly rather than to rounding.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from xdsl.ir import Block

from pimc.dialects import aim, attacc, pim
from pimc.dialects.pim import PIM_ELEMENT_BYTES, CommandKind, PimCommand, ceil_div, channel_span
from pimc.targets.models import aim_timing, attacc_timing
from pimc.targets.system import Device

TIMED_KINDS = (
    CommandKind.WR_GB,
    CommandKind.MV_GB,
    CommandKind.WR_BIAS,
    CommandKind.MAC_ABK,
    CommandKind.RD_MAC,
    CommandKind.SYNC,
    CommandKind.SFM,
)
"""The command kinds `command_counts` times (EOC only ends an AiM trace)."""


@dataclass
class PimCounts:
    """What a command sequence costs, as integers: cycles (before refresh) and energy terms."""

    cycles: int = 0
    act_bits: int = 0
    read_bits: int = 0
    io_bits: int = 0
    macs: int = 0
    commands: dict[str, int] = field(default_factory=dict)

    def add(self, other: PimCounts) -> None:
        self.cycles += other.cycles
        self.act_bits += other.act_bits
        self.read_bits += other.read_bits
        self.io_bits += other.io_bits
        self.macs += other.macs
        for kind, n in other.commands.items():
            self.commands[kind] = self.commands.get(kind, 0) + n

    def time_ns(self, dev: Device) -> float:
        """cycles stretched by refresh, in ns: cycles * tREFI / (tREFI - tRFC) * tck_ns."""
        trefi, trfc = dev.pim.tREFI, dev.pim.tRFC
        return self.cycles * trefi / (trefi - trfc) * dev.pim.tck_ns

    def energy_pj(self, dev: Device) -> float:
        """Dynamic energy in pJ from the device's pJ/bit and pJ/MAC figures (module docstring)."""
        return (
            self.act_bits * dev.pim.act_energy_pj_per_bit
            + self.read_bits * dev.pim.read_energy_pj_per_bit
            + self.io_bits * dev.pim.io_energy_pj_per_bit
            + self.macs * dev.pim.mac_energy_pj
        )


def column_elements(dev: Device) -> int:
    """FP16 elements in one column access: column_bytes / 2."""
    return dev.pim.column_bytes // PIM_ELEMENT_BYTES


def mac_cycles_per_column(dev: Device, vectors: int = 1) -> int:
    """Cycles a bank takes to MAC one column with `vectors` input vectors:
    mac_interval_cycles * ceil(vectors * column elements / mac_lanes)."""
    return dev.pim.mac_interval_cycles * ceil_div(vectors * column_elements(dev), dev.pim.mac_lanes)


def activation_stagger(dev: Device) -> int:
    """Cycles from the first to the last bank's ACT of an all-bank row open.

    0 with `all_bank_act`; else B banks open one per tRRD, at most four per tFAW:
    max((B-1) * tRRD, (ceil(B/4)-1) * tFAW) (JEDEC ACT-to-ACT and four-activate rules).
    """
    if dev.pim.all_bank_act:
        return 0
    banks = dev.pim.banks_per_channel
    return max((banks - 1) * dev.pim.tRRD, (ceil_div(banks, 4) - 1) * dev.pim.tFAW)


def command_counts(cmd: PimCommand, dev: Device) -> PimCounts:
    """Cycles and energy terms of one command (the table in the module docstring; MV_GB, the softmax
    unit's write into the global buffer, as WR_GB)."""
    column_bits = dev.pim.column_bytes * 8
    banks = dev.pim.banks_per_channel
    c = PimCounts(commands={cmd.kind: 1})
    if cmd.kind == CommandKind.WR_GB or cmd.kind == CommandKind.MV_GB:
        c.cycles = cmd.opsize * dev.pim.tCCD_L
        c.io_bits = cmd.channels * cmd.opsize * column_bits
    elif cmd.kind == CommandKind.WR_BIAS:
        c.cycles = cmd.vectors * dev.pim.tCCD_L
        c.io_bits = cmd.channels * cmd.vectors * column_bits
    elif cmd.kind == CommandKind.MAC_ABK:
        open_to_close = max(dev.pim.tRCD_MAC + cmd.opsize * mac_cycles_per_column(dev, cmd.vectors), dev.pim.tRAS)
        c.cycles = activation_stagger(dev) + open_to_close + dev.pim.tRP
        c.act_bits = cmd.channels * banks * dev.pim.row_bytes * 8
        c.read_bits = cmd.channels * banks * cmd.opsize * column_bits
        c.macs = cmd.channels * banks * cmd.opsize * column_elements(dev) * cmd.vectors
    elif cmd.kind == CommandKind.RD_MAC:
        c.cycles = dev.pim.tCL + cmd.vectors * dev.pim.tCCD_L
        c.io_bits = cmd.channels * cmd.vectors * column_bits
    elif cmd.kind not in (CommandKind.SYNC, CommandKind.SFM):  # SFM: AttAcc's buffer-die softmax, not timed
        raise ValueError(f"no timing for PIM command '{cmd.kind}' (known: {', '.join(TIMED_KINDS)})")
    return c


def stream_counts(commands: Iterable[PimCommand], dev: Device) -> PimCounts:
    """Counts of a whole command sequence run in order on per-channel timelines.

    On a device with `blocking_reads` (AiM) the cycles are the AiM controller's
    (targets/models/aim_timing.py: RD_MAC and SYNC block the host's command engine,
    mode changes, open rows); the rest of this docstring is the model of the others.

    Each channel runs the commands whose mask includes it one after another; a
    command starts when every channel in its mask is free and holds them all for
    its cycles (lockstep). Commands on disjoint channels overlap, so heads mapped
    to different channel groups run in parallel; SYNC waits for every channel.
    `cycles` is the time the last channel finishes; energy terms are summed. A
    command's channels must be one contiguous run (ValueError otherwise).
    """
    total = PimCounts()
    free = [0] * dev.pim.channels
    if dev.pim.blocking_reads or dev.pim.isa == "attacc":
        listed = list(commands)
        for cmd in listed:
            c = command_counts(cmd, dev)
            c.cycles = 0
            total.add(c)
        if dev.pim.blocking_reads:
            total.cycles = aim_timing.aim_stream_cycles(listed, dev)
        else:
            total.cycles = attacc_timing.stream_cycles(listed, dev)
        return total
    for cmd in commands:
        c = command_counts(cmd, dev)
        cycles, c.cycles = c.cycles, 0
        total.add(c)
        if cmd.kind == CommandKind.SYNC:
            free = [max(free)] * len(free)
            continue
        first, count = mask_channels(cmd.channel_mask, f"PIM command {cmd.kind}")
        lanes = range(first, first + count)
        end = max(free[ch] for ch in lanes) + cycles
        for ch in lanes:
            free[ch] = end
    total.cycles = max(free)
    return total


@dataclass(frozen=True)
class GemvGeometry:
    """How a GEMV's K x N weight maps onto the banks (see pim.GemvLayoutAttr).

    channels = min(channels allowed, ceil(N / (banks * per_row))); k_tile =
    elements of K per row: min(row_bytes, global_buffer_bytes) / 2; vectors = input vectors
    one MAC_ABK serves: min(mac_lanes // column elements, global_buffer_bytes // (k_tile * 2)),
    at least 1 (lanes beyond one column's elements multiply the column with further
    input vectors, as PAPI's FC-PIM does at batch x speculation > 1; the global
    buffer must hold their chunks); per_row = outputs one bank computes from one
    open row: when K fits in one row tile, min(row_outputs // vectors, row columns
    // K's columns), at least 1 (a bank that can yield several outputs per opened
    row streams several short K vectors packed in it, as AttAcc's score GEMV streams
    keys and NeuPIMs' packs heads).
    """

    channels: int
    banks: int
    k_tile: int
    vectors: int = 1
    per_row: int = 1

    def passes(self, n: int) -> int:
        return ceil_div(n, self.channels * self.banks * self.per_row)

    def k_tiles(self, k: int) -> int:
        return ceil_div(k, self.k_tile)

    def rows(self, k: int, n: int) -> int:
        """Rows per bank the K x N matrix takes: a row per K tile per pass."""
        return self.passes(n) * self.k_tiles(k)

    def pass_outputs(self, n: int) -> Iterator[tuple[int, int, int, int]]:
        """(first output, outputs, active channels, outputs per bank) of every pass over an N-output matrix."""
        per_pass = self.channels * self.banks * self.per_row
        for first in range(0, n, per_pass):
            count = min(per_pass, n - first)
            yield (first, count, *self.pass_shape(count))

    def pass_shape(self, outputs: int) -> tuple[int, int]:
        """(active channels, outputs per bank) of a pass computing `outputs` outputs."""
        active = ceil_div(outputs, self.banks * self.per_row)
        return active, ceil_div(outputs, active * self.banks)


def gemv_geometry(k: int, n: int, dev: Device, max_channels: int | None = None) -> GemvGeometry:
    """The layout of a K x N GEMV on `dev`, on at most `max_channels` channels (default: all)."""
    banks = dev.pim.banks_per_channel
    k_tile = min(dev.pim.row_bytes, dev.pim.global_buffer_bytes) // PIM_ELEMENT_BYTES
    vectors = vectors_per_mac(dev, k_tile)
    per_row = outputs_per_row(k, k_tile, vectors, dev)
    channels = min(max_channels or dev.pim.channels, ceil_div(n, banks * per_row))
    return GemvGeometry(channels, banks, k_tile, vectors, per_row)


def layout_geometry(layout: pim.GemvLayoutAttr, k: int, dev: Device) -> GemvGeometry:
    """The geometry a lowered macro's layout stands for (vectors and outputs per row follow from the device)."""
    k_tile = layout.k_tile.value.data
    vectors = vectors_per_mac(dev, k_tile)
    return GemvGeometry(
        layout.channels.value.data, layout.banks.value.data, k_tile, vectors, outputs_per_row(k, k_tile, vectors, dev)
    )


def vectors_per_mac(dev: Device, k_tile: int) -> int:
    """min(mac_lanes // column elements, global_buffer_bytes // (k_tile * 2)), at least 1 (see GemvGeometry)."""
    lanes = dev.pim.mac_lanes // column_elements(dev)
    return max(1, min(lanes, dev.pim.global_buffer_bytes // (k_tile * PIM_ELEMENT_BYTES)))


def outputs_per_row(k: int, k_tile: int, vectors: int, dev: Device) -> int:
    """Outputs a bank computes from one open row (see GemvGeometry.per_row)."""
    if k > k_tile:
        return 1
    cols = ceil_div(k * PIM_ELEMENT_BYTES, dev.pim.column_bytes)
    return max(1, min(dev.pim.row_outputs // vectors, dev.pim.row_bytes // dev.pim.column_bytes // cols))


def gemv_commands(
    m: int, k: int, n: int, geo: GemvGeometry, bias: bool, column_bytes: int, sync: bool = True
) -> Iterable[tuple[int, PimCommand]]:
    """The all-bank command sequence of a GEMV as (pass index, command), channels from channel 0 and
    rows from row 0: pass p's row tile t is row p * k_tiles + t.

    The M input rows go in groups of `geo.vectors` (the last group may be smaller;
    1 on AiM). For each group, for each pass p over the banks (channels * banks *
    per_row outputs at a time, o outputs per bank): WR_BIAS (with a bias); for each
    row tile of K: WR_GB of the group's input chunks (only on the first pass when K
    fits one tile, since the buffer keeps them), MAC_ABK over the o outputs' columns
    of the row; then RD_MAC of o results per vector. A pass's channel mask selects
    its active channels; WR_GB goes to every layout channel. convert-pim-to-aim emits
    exactly this sequence as AiM ISR ops (where per_row is 1).
    """
    for m0 in range(0, m, geo.vectors):
        v = min(geo.vectors, m - m0)
        for p, (_, _, active, outs) in enumerate(geo.pass_outputs(n)):
            for cmd in pass_commands(v, k, p, active, outs, geo, bias, column_bytes):
                yield p, cmd
    if sync and m > 0:  # no input vectors (an idle expert's GEMV): no command at all
        yield 0, PimCommand(CommandKind.SYNC)


def pass_commands(
    v: int, k: int, p: int, active: int, outs: int, geo: GemvGeometry, bias: bool, column_bytes: int
) -> list[PimCommand]:
    """The commands of pass `p` of a GEMV for a group of `v` input vectors (`gemv_commands`)."""
    k_tiles = geo.k_tiles(k)
    mask = channel_span(0, active)
    out: list[PimCommand] = []
    if bias:
        out.append(PimCommand(CommandKind.WR_BIAS, 0, mask, v * outs))
    for kt in range(k_tiles):
        chunk = min(geo.k_tile, k - kt * geo.k_tile)
        cols = ceil_div(chunk * PIM_ELEMENT_BYTES, column_bytes)
        if k_tiles > 1 or p == 0:
            out.append(PimCommand(CommandKind.WR_GB, cols * v, channel_span(0, geo.channels), v))
        out.append(PimCommand(CommandKind.MAC_ABK, cols * outs, mask, v, row=p * k_tiles + kt))
    out.append(PimCommand(CommandKind.RD_MAC, 0, mask, v * outs))
    return out


def gemv_counts(
    m: int, k: int, n: int, dev: Device, bias: bool = False, sync: bool = True, max_channels: int | None = None
) -> PimCounts:
    """Closed-form counts of a GEMV macro: equal to `stream_counts` of its emitted commands.

    With P passes, T = ceil(K / k_tile) tiles of c_t columns each (the last may be
    shorter), pass p on a_p active channels computing o_p outputs per bank (every
    full pass: the layout channels and per_row outputs), C layout channels and the
    M rows in groups of v = `vectors` (M // v full groups and one of M % v), per group:
        WR_GB:   T * P commands (1 when T = 1) of v * c_t columns on C channels
        MAC_ABK: for every pass and tile, one of o_p * c_t columns on a_p channels for v vectors
        RD_MAC, WR_BIAS (with a bias, on a device with `bias_preload`): one per pass on a_p channels,
                 v * o_p results per bank
    and one SYNC (none when M = 0); each term costs what `command_counts` says. Every command's mask
    starts at the first layout channel, so the commands run back to back.
    """
    geo = gemv_geometry(k, n, dev, max_channels)
    bias = bias and dev.pim.bias_preload
    passes, k_tiles = geo.passes(n), geo.k_tiles(k)
    per_pass = geo.channels * geo.banks * geo.per_row
    full_passes, rest = divmod(n, per_pass)
    # pass shape (active channels, outputs per bank) -> passes of that shape: the full passes, then the rest
    shapes = _multiset([(geo.pass_shape(per_pass), full_passes), (geo.pass_shape(rest) if rest else None, 1)])
    column_bytes = dev.pim.column_bytes
    # columns of a row tile -> tiles of that width: the full k_tile tiles, then the shorter last one
    full_tiles, last_chunk = divmod(k, geo.k_tile)
    distinct_tiles = _multiset(
        [
            (ceil_div(geo.k_tile * PIM_ELEMENT_BYTES, column_bytes), full_tiles),
            (ceil_div(last_chunk * PIM_ELEMENT_BYTES, column_bytes) if last_chunk else None, 1),
        ]
    )
    wr_gb_passes = passes if k_tiles > 1 else 1

    def group(v: int) -> PimCounts:
        c = PimCounts()
        for (a, outs), times in shapes.items():
            mask = channel_span(0, a)
            for cols, n_tiles in distinct_tiles.items():
                mac = PimCommand(CommandKind.MAC_ABK, cols * outs, mask, v)
                c.add(_scaled(command_counts(mac, dev), times * n_tiles))
            c.add(_scaled(command_counts(PimCommand(CommandKind.RD_MAC, 0, mask, v * outs), dev), times))
            if bias:
                c.add(_scaled(command_counts(PimCommand(CommandKind.WR_BIAS, 0, mask, v * outs), dev), times))
        layout_mask = channel_span(0, geo.channels)
        for cols, n_tiles in distinct_tiles.items():
            c.add(
                _scaled(
                    command_counts(PimCommand(CommandKind.WR_GB, cols * v, layout_mask, v), dev), wr_gb_passes * n_tiles
                )
            )
        return c

    sync = sync and m > 0  # a GEMV of no input vectors (an idle expert's) issues no command at all
    full_groups, last = divmod(m, geo.vectors)
    total = _scaled(group(geo.vectors), full_groups)
    if last:
        total.add(group(last))
    if sync:
        total.add(command_counts(PimCommand(CommandKind.SYNC), dev))
    if dev.pim.blocking_reads:
        total.cycles = _aim_gemv_cycles(m, k, n, geo, bias, sync, dev)
    elif dev.pim.isa == "attacc":
        total.cycles = _attacc_gemv_cycles(m, k, n, geo, bias, sync, dev)
    return total


@functools.lru_cache(maxsize=4096)
def _attacc_gemv_cycles(m: int, k: int, n: int, geo: GemvGeometry, bias: bool, sync: bool, dev: Device) -> int:
    """AttAcc: the cycles of `gemv_commands` under the HBM3-PIM controller model (attacc_timing), its input
    vector groups as one repeated piece: equal to `stream_counts` of the emitted commands. Cached per shape."""
    return attacc_timing.pieces_cycles(_attacc_gemv_pieces(m, k, n, geo, bias, dev, sync), dev)


def _attacc_gemv_pieces(
    m: int, k: int, n: int, geo: GemvGeometry, bias: bool, dev: Device, sync: bool, row: int = 0
) -> list[attacc_timing.Piece]:
    """`gemv_commands` as pieces, `row` added to every row: the full groups of `geo.vectors` input rows as
    one group M // v times over, then the last group, then SYNC. A group is its first pass, its next
    passes of the same shape as one pass repeated with its rows a pass's row tiles further each time, and
    the rest; a pass is its row tiles as pieces (`_tile_pieces`)."""
    cb = dev.pim.column_bytes
    passes = list(geo.pass_outputs(n))
    k_tiles = geo.k_tiles(k)
    same = 0  # passes after the first with the second's shape
    while 1 + same < len(passes) and passes[1 + same][2:] == passes[1][2:]:
        same += 1

    def one_pass(v: int, p: int) -> tuple[PimCommand | attacc_timing.Piece, ...]:
        _, _, active, outs = passes[p]
        cmds = tuple(
            c if c.row is None else replace(c, row=c.row + row)
            for c in pass_commands(v, k, p, active, outs, geo, bias, cb)
        )
        return _tile_pieces(cmds, bias)

    def group(v: int) -> tuple[PimCommand | attacc_timing.Piece, ...]:
        body: list[PimCommand | attacc_timing.Piece] = [*one_pass(v, 0)]
        if same:
            body.append((one_pass(v, 1), same, k_tiles))
        for p in range(1 + same, len(passes)):
            body += one_pass(v, p)
        return tuple(body)

    full, last = divmod(m, geo.vectors)
    pieces: list[attacc_timing.Piece] = [(group(geo.vectors), full, 0)] if full else []
    if last:
        pieces.append((group(last), 1, 0))
    if sync:
        pieces.append(((PimCommand(CommandKind.SYNC),), 1, 0))
    return pieces


def _tile_pieces(cmds: tuple[PimCommand, ...], bias: bool) -> tuple[PimCommand | attacc_timing.Piece, ...]:
    """One pass's `pass_commands` as commands and pieces: WR_BIAS, its first row tile (WR_GB, MAC_ABK) and
    the tiles after it that equal it but for their row (each one row further) as one tile repeated, the
    other tiles, RD_MAC."""
    head, body, tail = cmds[: int(bias)], cmds[int(bias) : -1], cmds[-1:]
    tiles = [body[i : i + 2] for i in range(0, len(body), 2)]
    if len(tiles) < 4 or any(len(t) != 2 or t[0].kind != CommandKind.WR_GB for t in tiles):
        return cmds
    same = 1
    while same < len(tiles) and tiles[same] == (tiles[0][0], replace(tiles[0][1], row=(tiles[0][1].row or 0) + same)):
        same += 1
    rest = [c for t in tiles[same:] for c in t]
    return (*head, (tiles[0], same, 1), *rest, *tail)


@functools.lru_cache(maxsize=4096)
def _aim_gemv_cycles(m: int, k: int, n: int, geo: GemvGeometry, bias: bool, sync: bool, dev: Device) -> int:
    """AiM: the cycles of `gemv_commands` under the AiM controller model, repeated blocks fast-forwarded
    (aim_timing.run_gemv): equal to `stream_counts` of the emitted commands. Cached: a model's layers ask
    for a few shapes many times."""
    engine = aim_timing.AimEngine(dev)
    aim_timing.run_gemv(engine, m, k, n, geo, bias)
    if sync:
        engine.issue(PimCommand(CommandKind.SYNC))
    return engine.cycles


def _multiset(items: list[tuple[Any, int]]) -> dict[Any, int]:
    """{item: total count} of (item, count) pairs, without items of count 0 and None items; O(len(items))."""
    out: dict[Any, int] = {}
    for item, count in items:
        if item is not None and count > 0:
            out[item] = out.get(item, 0) + count
    return out


@dataclass(frozen=True)
class AttentionMapping:
    """How pim.attention spreads its B * Hkv K/V heads over the channels (AttAcc-style).

    The channels form `groups` groups of `head_channels` channels; head h runs on
    group h % groups, in wave h // groups, with its KV cache in that group's banks
    (K as a D x T GEMV matrix laid out by `k`, V as T x Dv by `v`, both on at most
    head_channels channels). Groups work in parallel, a group's heads one after
    another, so the op takes `waves` times one head's time.
    """

    heads: int
    head_channels: int
    groups: int
    k: GemvGeometry
    v: GemvGeometry
    head: PimCounts
    """Counts of one head: score GEMV over its K cache, then context GEMV over its V cache."""

    @property
    def waves(self) -> int:
        return ceil_div(self.heads, self.groups)

    def head_rows(self, t: int, d: int, dv: int) -> tuple[int, int]:
        """Rows per bank one head's K cache and V cache take."""
        return self.k.rows(d, t), self.v.rows(t, dv)


def head_slot(h: int, head_channels: int, channels: int) -> tuple[int, int]:
    """(first channel, wave) of head h when `channels` channels form groups of `head_channels`."""
    groups = channels // head_channels
    return h % groups * head_channels, h // groups


def attention_mapping(b: int, hq: int, hkv: int, s: int, t: int, d: int, dv: int, dev: Device) -> AttentionMapping:
    """The channel grouping that makes attention fastest (then least energy, then fewest channels per head).

    Candidates are head_channels = 1, 2, 4, ... up to the device's channels (and
    the channel count itself); each head's G * S query rows (G = Hq / Hkv) run the
    score GEMV gemv(G*S, D, T) and the context GEMV gemv(G*S, T, Dv) on its group.
    AttAcc's bank-level trace generator maps one head per channel
    (attacc_simulator gen_trace_attacc_bank.py); with fewer heads than channels,
    wider groups finish sooner.
    """
    heads, rows, channels = b * hkv, hq // hkv * s, dev.pim.channels
    best: tuple[tuple[float, float, int], AttentionMapping] | None = None
    for c in sorted({1 << i for i in range(channels.bit_length()) if 1 << i <= channels} | {channels}):
        head = gemv_counts(rows, d, t, dev, sync=False, max_channels=c)
        head.add(gemv_counts(rows, t, dv, dev, sync=False, max_channels=c))
        mapping = AttentionMapping(
            heads, c, channels // c, gemv_geometry(d, t, dev, c), gemv_geometry(t, dv, dev, c), head
        )
        if dev.pim.blocking_reads:
            cycles = _aim_attention_cycles(rows, d, t, dv, mapping, dev)
        elif dev.pim.isa == "attacc":
            cycles = _attacc_attention_cycles(rows, d, t, dv, mapping, dev)
        else:
            cycles = mapping.waves * head.cycles
        key = (cycles, head.energy_pj(dev), c)
        if best is None or key < best[0]:
            best = (key, mapping)
    assert best is not None
    return best[1]


def attention_counts(b: int, hq: int, hkv: int, s: int, t: int, d: int, dv: int, dev: Device) -> PimCounts:
    """Closed-form counts of attention on PIM (pim.attention) under `attention_mapping`:
    every one of the B * Hkv heads costs one head's counts in energy and commands; the groups
    run in parallel, so cycles = waves * one head's cycles; one SYNC at the end:

        energy terms = B * Hkv * head,  cycles = ceil(B * Hkv / groups) * head cycles

    The softmax between score and context is not timed here: AttAcc overlaps it with the MACs
    in the HBM buffer die; on AiM the scores leave through RD_MAC and the probabilities come
    back through WR_GB, which the two GEMVs already count.
    """
    mapping = attention_mapping(b, hq, hkv, s, t, d, dv, dev)
    total = _scaled(mapping.head, mapping.heads)
    total.cycles = mapping.waves * mapping.head.cycles
    total.add(command_counts(PimCommand(CommandKind.SYNC), dev))
    if dev.pim.blocking_reads:
        total.cycles = _aim_attention_cycles(hq // hkv * s, d, t, dv, mapping, dev)
    elif dev.pim.isa == "attacc":
        total.cycles = _attacc_attention_cycles(hq // hkv * s, d, t, dv, mapping, dev)
    return total


def _attacc_attention_cycles(rows: int, d: int, t: int, dv: int, mapping: AttentionMapping, dev: Device) -> int:
    """AttAcc: the cycles of the stream `attention_block` emits (channels run independently, so the op
    takes as long as the first channel group, which holds a head in every wave)."""
    return _attacc_attention_cycles_cached(
        rows, d, t, dv, mapping.heads, mapping.head_channels, mapping.k, mapping.v, dev
    )


@functools.lru_cache(maxsize=1024)
def _attacc_attention_cycles_cached(
    rows: int, d: int, t: int, dv: int, heads: int, width: int, kg: GemvGeometry, vg: GemvGeometry, dev: Device
) -> int:
    """`_attacc_attention_cycles`: the first group's heads, wave after wave, each its score GEMV over its K
    cache, the softmax (SFM) and its context GEMV over its V cache fed by the softmax unit (MV_GB), on
    channels 0 .. width-1 (wave w's K rows then its V rows after wave w - 1's: only which rows are equal
    matters, so the waves repeat with their rows shifted), then
    SYNC."""
    waves = ceil_div(heads, dev.pim.channels // width)
    k_rows, v_rows = kg.rows(d, t), vg.rows(t, dv)

    def mv_gb(items: tuple[PimCommand | attacc_timing.Piece, ...]) -> tuple[PimCommand | attacc_timing.Piece, ...]:
        return tuple(
            (replace(c, kind=CommandKind.MV_GB) if c.kind == CommandKind.WR_GB else c)
            if isinstance(c, PimCommand)
            else (mv_gb(c[0]), c[1], c[2])
            for c in items
        )

    # a wave: its K rows, then its V rows; the next wave's rows after them
    wave: list[PimCommand | attacc_timing.Piece] = [*_attacc_gemv_pieces(rows, d, t, kg, False, dev, False, 0)]
    wave.append(PimCommand(CommandKind.SFM, 0, channel_span(0, kg.channels)))
    wave += mv_gb(tuple(_attacc_gemv_pieces(rows, t, dv, vg, False, dev, False, k_rows)))
    pieces: list[attacc_timing.Piece] = [(tuple(wave), waves, k_rows + v_rows), ((PimCommand(CommandKind.SYNC),), 1, 0)]
    return attacc_timing.pieces_cycles(pieces, dev)


def _aim_attention_cycles(rows: int, d: int, t: int, dv: int, mapping: AttentionMapping, dev: Device) -> int:
    """AiM: the heads in stream order (each ends with a blocking RD_MAC, so they run one after another
    whatever their channels), each its score then context GEMV on its channel group (aim_timing.run_gemv),
    then SYNC: equal to `stream_counts` of the stream `attention_block` emits."""
    return _aim_attention_cycles_cached(rows, d, t, dv, mapping.heads, mapping.head_channels, mapping.k, mapping.v, dev)


@functools.lru_cache(maxsize=1024)
def _aim_attention_cycles_cached(
    rows: int, d: int, t: int, dv: int, heads: int, width: int, kg: GemvGeometry, vg: GemvGeometry, dev: Device
) -> int:
    """`_aim_attention_cycles` (cached: every layer of a model asks the same): whole waves of heads (one head
    per channel group) fast-forwarded by `aim_timing.repeat`, each head ending with a blocking RD_MAC."""
    engine = aim_timing.AimEngine(dev)
    groups = dev.pim.channels // width

    def head(h: int) -> None:
        first, _ = head_slot(h, width, dev.pim.channels)
        aim_timing.run_gemv(engine, rows, d, t, kg, False, first)
        aim_timing.run_gemv(engine, rows, t, dv, vg, False, first)

    def wave() -> None:
        for h in range(groups):
            head(h)

    full, rest = divmod(heads, groups)
    aim_timing.repeat(engine, full, wave, channel_span(0, groups * width), True)
    for h in range(rest):
        head(h)
    engine.issue(PimCommand(CommandKind.SYNC))
    return engine.cycles


def _scaled(c: PimCounts, times: int) -> PimCounts:
    return PimCounts(
        c.cycles * times,
        c.act_bits * times,
        c.read_bits * times,
        c.io_bits * times,
        c.macs * times,
        {kind: n * times for kind, n in c.commands.items()},
    )


def pim_peak_gflops(dev: Device) -> float:
    """All banks MAC in lockstep: 2 * channels * banks * column elements * v FLOP per column
    time (mac_cycles_per_column(v) * tck_ns), v = max(1, lanes // column elements) input
    vectors per column; the rate the MACs reach while a row is open."""
    v = max(1, dev.pim.mac_lanes // column_elements(dev))
    macs_per_column = dev.pim.channels * dev.pim.banks_per_channel * column_elements(dev) * v
    return 2.0 * macs_per_column / (mac_cycles_per_column(dev, v) * dev.pim.tck_ns)


def pim_internal_gbps(dev: Device) -> float:
    """Bank-internal bandwidth while rows are open: every bank streams one column per column time."""
    return (
        dev.pim.channels
        * dev.pim.banks_per_channel
        * dev.pim.column_bytes
        / (mac_cycles_per_column(dev) * dev.pim.tck_ns)
    )


def row_efficiency(dev: Device) -> float:
    """Fraction of a full-row MAC_ABK spent streaming columns (the rest is ACT, tRCD, tRP)."""
    cols = dev.pim.row_bytes // dev.pim.column_bytes
    mac = cols * mac_cycles_per_column(dev)
    return mac / command_counts(PimCommand(CommandKind.MAC_ABK, cols, channel_span(0, 1)), dev).cycles


def mask_channels(mask: int, what: str) -> tuple[int, int]:
    """(first channel, channels) of a channel mask (bit c = channel c; 0 selects none); an error
    naming `what` unless the mask is one contiguous run of channels."""
    first = (mask & -mask).bit_length() - 1 if mask else 0
    if mask != ((1 << mask.bit_count()) - 1) << first:
        raise ValueError(f"{what}: channel mask {mask:#x} is not one contiguous run of channels")
    return first, mask.bit_count()


def block_commands(block: Block) -> Iterator[PimCommand]:
    """The commands of a macro's `commands` block of any ISA (AiM or AttAcc ops), repeats unrolled."""
    for op, row, channel in pim.unroll(block):
        assert isinstance(op, aim.AimCommandOp | attacc.AttaccCommandOp), f"{op.name} in a command stream"
        yield op.command(row, channel)
