"""The AttAcc HBM3-PIM controller's command timing: what `pim_timing.stream_counts` does on a device of
isa "attacc", and the per-channel command lines that targets/emit/attacc_trace.py writes.

The rules are those of AttAcc's Ramulator 2 (scale-snu/attacc_simulator, `pim_ramulator_src/`), read
from its source:

- Frontend (pim_loadstore_trace.cpp): trace lines go to their channel's controller strictly in file
  order, as many per cycle as are accepted; a full queue stalls every later line. So a trace written
  channel by channel starves the other channels. pimc's traces interleave the channels line by line
  within each op (`interleave`), and every channel's queue stays full: each channel then runs as if
  fed alone, which is what this model times.
- Controller (hbm3_pim_controller.cpp): per channel a PIM request buffer of 32 entries (ReqBuffer's
  default size). Each cycle it issues at most one command chosen by the scheduler and, in the same
  cycle, a second one if that is of the other type (row commands ACTAB/PREA vs column commands
  MACAB/WRGB/MVSB/MVGB/SFM).
- Scheduler (pim_scheduler.cpp `get_best_request`/`compare`): a request's command is its
  prerequisite first (a MAC_AB on a row its banks do not hold open needs PREA when another row is
  open, ACTAB when they are closed: RequireAllBanksRowOpen in the preq patch). Among the buffered
  requests the oldest one whose command is ready wins (FCFS among equals), except that a ready PREA
  loses while a request that hits the open row is buffered. A PIM_BARRIER at the head is dropped; a
  column command behind a barrier is never chosen, a row command behind it is (so the next row opens
  while the commands before the barrier still run). A request leaves the buffer when its final
  command (MACAB, WRGB, ...) issues; barriers are the only ordering between a channel's data-path
  and MAC commands, so pimc puts one between every two commands of different kinds on a channel
  (what the artifact's generator gen_trace_attacc_bank.py does between score MACs, MV_SB, softmax
  and MV_GB, and context MACs): otherwise a MV_SB would read results before their MACs ran.
- Timing (HBM3-PIM.cpp, preset HBM3_5.2Gbps_NPC, in cycles of tCK = 0.769 ns), per channel:
  MACAB to MACAB nCCDAB (`mac_interval_cycles` x the vectors' lane groups, 4), ACTAB to MACAB nRCDRD
  (`tRCD_MAC`, 19), ACTAB to PREA nRAS (45), MACAB to PREA nRTPL (`tRTP`, 8), PREA to ACTAB nRP (19),
  ACTAB to ACTAB nRC (`tRC`, 63), ACTAB to PREA or ACTAB at least 2 (a 2-cycle row command). The data
  path (WRGB, MVSB, MVGB, SFM; "can be executed simultaneously with MACAB ... because their data paths
  are different"): nBL 2 within a pseudo-channel, nCCDS 2 within a rank, nCCDL 4 within a bank group
  (`tCCD_S`, `tCCD_S`, `tCCD_L`); pimc addresses every data-path line to pseudo-channel 0, rank 0 and
  names the global-buffer slot with the bank and bank-group fields.

A channel is done one cycle after its last command; a stream takes as long as its slowest channel.
Channels are independent: a PIM_BARRIER orders one channel's queue, it does not wait for the other
channels (pimc's SYNC is a barrier on every channel, as attacc.barrier is). The simulator's refresh
(AllBankHBM3) is not part of these cycles: `PimCounts.time_ns` stretches them by tREFI / (tREFI -
tRFC) as for every device.

Energy and command counts are `pim_timing.command_counts`' (they do not depend on timing).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import NamedTuple, cast

from pimc.dialects.pim import PIM_ELEMENT_BYTES, CommandKind, PimCommand, ceil_div
from pimc.targets.system import Device

QUEUE = 32
"""Entries of a channel controller's PIM request buffer (Ramulator 2's ReqBuffer default max_size, which
HBM3PIMController does not change)."""
ROW_COMMAND_CYCLES = 2
"""ACTAB occupies the command bus for 2 cycles (HBM3-PIM.cpp: "2-cycle ACT command", ACTAB to ACTAB, PREA)."""
GB_COLUMNS = 32
"""Columns of one global-buffer slot: the address's 5-bit column field."""
GB_SLOTS = 16
"""Slots the bank (2 bits) and bank-group (2 bits) fields of a PIM_WR_GB address can name."""

_NEVER = -(10**15)

BARRIER, MAC, DATA = 0, 1, 2
"""Kinds of a channel's line: a PIM_BARRIER, a PIM_MAC_AB (a MAC on all banks), a data-path command."""


class Line(NamedTuple):
    """One trace line on one channel: `op` the mnemonic; `row`/`column` the address's fields (-1: none);
    `bank`/`bank_group` the address's bank fields; `interval` a MAC's cycles to the next MAC (nCCDAB)."""

    op: str
    row: int = -1
    column: int = 0
    bank: int = 0
    bank_group: int = 0
    interval: int = 0

    @property
    def kind(self) -> int:
        return BARRIER if self.op == "PIM_BARRIER" else MAC if self.op == "PIM_MAC_AB" else DATA


BARRIER_LINE = Line("PIM_BARRIER")


def mac_interval(dev: Device, vectors: int) -> int:
    """nCCDAB for a MAC serving `vectors` input vectors: mac_interval_cycles * ceil(v * column elements / lanes)
    (`pim_timing.mac_cycles_per_column`)."""
    return dev.pim.mac_interval_cycles * ceil_div(
        vectors * dev.pim.column_bytes // PIM_ELEMENT_BYTES, dev.pim.mac_lanes
    )


Step = tuple[CommandKind, int, int, int]
"""One channel's share of a command: (kind, opsize, vectors, row or -1); a barrier is (SYNC, 0, 0, -1)."""
BARRIER_STEP: Step = (CommandKind.SYNC, 0, 0, -1)


def command_step(cmd: PimCommand) -> Step:
    return (cmd.kind, cmd.opsize, cmd.vectors, -1 if cmd.row is None else cmd.row)


@functools.lru_cache(maxsize=8192)
def step_lines(step: Step, dev: Device) -> tuple[Line, ...]:
    """One channel's lines of an all-bank command (every channel of its mask gets the same lines):

    WR_GB / MV_GB of v vectors   v x opsize/v lines: column c of vector j is global-buffer column
                                 i = 32 j + c, at column i % 32, bank (i // 32) % 4, bank group i // 128
    MAC_ABK                      opsize lines at `row`, columns 0 .. opsize-1
    RD_MAC                       `vectors` (results per bank) PIM_MV_SB at `row`, column = result % 32
    SFM                          one PIM_SFM
    SYNC                         one PIM_BARRIER
    """
    kind, opsize, vectors, row = step
    if kind in (CommandKind.WR_GB, CommandKind.MV_GB):
        op = "PIM_WR_GB" if kind == CommandKind.WR_GB else "PIM_MV_GB"
        columns = opsize // vectors
        return tuple(
            Line(op, -1, i % GB_COLUMNS, i // GB_COLUMNS % 4, i // 128 % 4)
            for j in range(vectors)
            for i in range(j * GB_COLUMNS, j * GB_COLUMNS + columns)
        )
    if kind == CommandKind.MAC_ABK:
        interval = mac_interval(dev, vectors)
        return tuple(Line("PIM_MAC_AB", row, c, interval=interval) for c in range(opsize))
    if kind == CommandKind.RD_MAC:
        return tuple(Line("PIM_MV_SB", row, r % GB_COLUMNS) for r in range(vectors))
    if kind == CommandKind.SFM:
        return (Line("PIM_SFM"),)
    if kind == CommandKind.SYNC:
        return (BARRIER_LINE,)
    raise ValueError(f"no AttAcc lines for PIM command '{kind}'")


def channel_programs(commands: Iterable[PimCommand], channels: int) -> list[tuple[Step, ...]]:
    """Each channel's steps of a command sequence, in order: a barrier between two commands of different
    kinds on a channel (module docstring), and SYNC a barrier on every channel. Channels that every mask
    takes or leaves together get the same program, built once."""
    listed = list(commands)
    everyone = (1 << channels) - 1
    classes = [everyone]  # channel sets that no mask tells apart
    for mask in {c.channel_mask for c in listed if c.kind != CommandKind.SYNC}:
        if mask >> channels:
            raise ValueError(f"channel mask {mask:#x} leaves the device's {channels} channels")
        classes = [part for cls in classes for part in (cls & mask, cls & ~mask) if part]
    out: list[tuple[Step, ...]] = [()] * channels
    for cls in classes:
        bit = cls & -cls
        program: list[Step] = []
        last: CommandKind | None = None
        for cmd in listed:
            if cmd.kind == CommandKind.SYNC:
                program.append(BARRIER_STEP)
                last = None
            elif cmd.channel_mask & bit:
                if last is not None and last != cmd.kind:
                    program.append(BARRIER_STEP)
                program.append(command_step(cmd))
                last = cmd.kind
        shared = tuple(program)
        rest = cls
        while rest:
            out[(rest & -rest).bit_length() - 1] = shared
            rest &= rest - 1
    return out


Piece = tuple[tuple["PimCommand | Piece", ...], int, int]
"""A body of commands and pieces run `reps` times over, repetition r with `row_step` * r added to every
row: (body, reps, row_step)."""

Run = tuple[tuple["Step | Run", ...], int, int]
"""A channel's body of steps and runs `reps` times over, repetition r with `row_step` * r added to every
row."""


def shift_step(step: Step, delta: int) -> Step:
    """The step with `delta` added to its row (a step without a row unchanged)."""
    return step if delta == 0 or step[3] < 0 else (step[0], step[1], step[2], step[3] + delta)


def _is_step(item: Step | Run) -> bool:
    return isinstance(item[0], CommandKind)


def _shift(items: tuple[Step | Run, ...], delta: int) -> tuple[Step | Run, ...]:
    if delta == 0:
        return items
    out: list[Step | Run] = []
    for it in items:
        if _is_step(it):
            out.append(shift_step(cast(Step, it), delta))
        else:
            body, reps, row_step = cast(Run, it)
            out.append((_shift(body, delta), reps, row_step))
    return tuple(out)


def _masks(items: Iterable[PimCommand | Piece]) -> set[int]:
    out: set[int] = set()
    for it in items:
        if isinstance(it, PimCommand):
            if it.kind != CommandKind.SYNC:
                out.add(it.channel_mask)
        elif it[1] > 0:
            out |= _masks(it[0])
    return out


def piece_programs(pieces: Sequence[Piece], channels: int) -> list[tuple[Step | Run, ...]]:
    """Each channel's program of pieces, still as runs: steps and (body, reps, row_step) runs with the
    barriers `channel_programs` would put (between two commands of different kinds, SYNC a barrier), a
    repeated piece as its first repetition then the rest (which may begin with a barrier). Equal to
    `channel_programs` of the pieces unrolled, without unrolling them."""
    everyone = (1 << channels) - 1
    classes = [everyone]
    for mask in _masks(pieces):
        if mask >> channels:
            raise ValueError(f"channel mask {mask:#x} leaves the device's {channels} channels")
        classes = [part for cls in classes for part in (cls & mask, cls & ~mask) if part]
    out: list[tuple[Step | Run, ...]] = [()] * channels
    for cls in classes:
        bit = cls & -cls

        def lower(
            items: Iterable[PimCommand | Piece], after: CommandKind | None, bit: int = bit
        ) -> tuple[list[Step | Run], CommandKind | None, bool]:
            """(the channel's steps and runs of `items`, the kind of its last command, whether any
            command or barrier is the channel's)."""
            got: list[Step | Run] = []
            any_line = False
            for it in items:
                if isinstance(it, PimCommand):
                    if it.kind == CommandKind.SYNC:
                        got.append(BARRIER_STEP)
                        after, any_line = None, True
                    elif it.channel_mask & bit:
                        if after is not None and after != it.kind:
                            got.append(BARRIER_STEP)
                        got.append(command_step(it))
                        after, any_line = it.kind, True
                    continue
                body, reps, row_step = it
                if reps <= 0:
                    continue
                first, after_first, mine = lower(body, after)
                if not mine:
                    continue
                any_line = True
                got += first
                if reps > 1:
                    rest, after, _ = lower(body, after_first)
                    got.append((_shift(tuple(rest), row_step), reps - 1, row_step))
                else:
                    after = after_first
            return got, after, any_line

        shared = tuple(lower(pieces, None)[0])
        rest = cls
        while rest:
            out[(rest & -rest).bit_length() - 1] = shared
            rest &= rest - 1
    return out


@functools.lru_cache(maxsize=4096)
def _pieces_cycles(program: tuple[Step | Run, ...], dev: Device, refresh: bool) -> int:
    """`_run` of a channel's program given as runs, runs of 4 or more repetitions fast-forwarded (a run
    inside a run at every repetition of the outer one)."""
    flat = _flatten(program, dev)
    return _run(flat, *_params(dev, refresh), periods=tuple(flat.periods)) if flat.lines else 0


@functools.lru_cache(maxsize=4096)
def _flatten(items: tuple[Step | Run, ...], dev: Device) -> _Track:
    """The track of a channel's steps and runs unrolled, with the runs' periods as `_run` takes them.
    Cached: a run's body is flattened once, its repetitions are copies with shifted rows."""
    out = _Track()
    steps: list[Step] = []
    for it in items:
        if _is_step(it):
            steps.append(cast(Step, it))
            continue
        out.add(program_lines(steps, dev))
        steps = []
        body, reps, row_step = cast(Run, it)
        sub = _flatten(body, dev)
        size, base = len(sub.lines), len(out.lines)
        if not size:
            continue
        out.repeat(sub, reps, row_step)
        out.periods += [(base + k * size + s, n, r, d) for k in range(reps) for s, n, r, d in sub.periods]
        if reps >= 4:
            out.periods.append((base, size, reps, row_step))
    out.add(program_lines(steps, dev))
    return out


def pieces_cycles(pieces: Sequence[Piece], dev: Device, refresh: bool = False) -> int:
    """Cycles of commands given as repeated pieces: equal to `stream_cycles` of them unrolled."""
    programs = {id(p): p for p in piece_programs(pieces, dev.pim.channels)}.values()
    return max((_pieces_cycles(p, dev, refresh) for p in programs), default=0)


def program_lines(program: Sequence[Step], dev: Device) -> list[Line]:
    """A channel's lines of its steps."""
    out: list[Line] = []
    for step in program:
        out += step_lines(step, dev)
    return out


def interleave(per_channel: Sequence[Sequence[Line]]) -> list[tuple[int, Line]]:
    """(index into per_channel, line) in the order the trace holds them: line i of every channel before line
    i + 1 of any."""
    longest = max((len(ls) for ls in per_channel), default=0)
    return [(c, ls[i]) for i in range(longest) for c, ls in enumerate(per_channel) if i < len(ls)]


@functools.lru_cache(maxsize=4096)
def _program_cycles(program: tuple[Step, ...], dev: Device, refresh: bool) -> int:
    """`_run` of a channel's program, its runs of one repeated block (a GEMV's input-vector groups)
    fast-forwarded."""
    if not program:
        return 0
    track = _Track()
    periods: list[tuple[int, int, int, int]] = []
    i = 0
    for start, steps, reps, row_step in _periodic_runs(program):
        track.add(program_lines(program[i:start], dev))
        body = program_lines(program[start : start + steps], dev)
        periods.append((len(track.lines), len(body), reps, row_step))
        track.add(body, reps, row_step)
        i = start + steps * reps
    track.add(program_lines(program[i:], dev))
    return _run(track, *_params(dev, refresh), periods=tuple(periods))


class _Track:
    """A channel's lines with what the scheduler looks up for each, built piece by piece (a repeated
    block's lists multiplied, not recomputed line by line). `lines[i].row` is the row of the block's first
    repetition; `row[i]` is line i's row."""

    def __init__(self, lines: Sequence[Line] = ()) -> None:
        self.lines: list[Line] = []
        self.kinds: list[int] = []
        self.keys: list[tuple[str, int, int, int] | None] = []
        self.row: list[int] = []
        self.rows: list[int] = []
        self.interval = 0
        self.periods: list[tuple[int, int, int, int]] = []
        self.add(lines)

    def repeat(self, sub: _Track, times: int, row_step: int) -> None:
        """`sub`'s lines `times` over, repetition r with `row_step` * r added to every row."""
        self.lines += sub.lines * times
        self.kinds += sub.kinds * times
        self.interval = max(self.interval, sub.interval)
        if row_step == 0:
            self.row += sub.row * times
            self.keys += sub.keys * times
            self.rows += sub.rows * times
            return
        for r in range(times):
            d = r * row_step
            self.row += [x + d if x >= 0 else x for x in sub.row]
            self.keys += [k if k is None or k[1] < 0 else (k[0], k[1] + d, k[2], k[3]) for k in sub.keys]
            self.rows += [x + d if x >= 0 else x for x in sub.rows]

    def add(self, lines: Sequence[Line], times: int = 1, row_step: int = 0) -> None:
        """`lines` `times` over, repetition r with `row_step` * r added to every row."""
        if not lines or times <= 0:
            return
        if times > 1 or row_step:
            one = _Track(lines)
            self.repeat(one, times, row_step)
            return
        self.lines += lines
        self.kinds += [ln.kind for ln in lines]
        self.interval = max(self.interval, max(ln.interval for ln in lines))
        # the fields a line's ready cycle depends on (None: a barrier), and a MAC's row (to find hits)
        self.row += [ln.row for ln in lines]
        self.keys += [None if ln.op == "PIM_BARRIER" else (ln.op, ln.row, ln.bank_group, ln.interval) for ln in lines]
        self.rows += [ln.row if ln.op == "PIM_MAC_AB" else -2 for ln in lines]


MAX_PERIOD_STEPS = 512
"""The longest block `_periodic_runs` looks for."""


def _periodic_runs(program: tuple[Step, ...]) -> list[tuple[int, int, int, int]]:
    """(start, P, R, D) for every stretch of the program that is one block of P steps R >= 4 times over,
    repetition r with D * r added to its rows, left to right (at each start the shortest P that covers the
    most steps; P <= MAX_PERIOD_STEPS)."""
    n = len(program)
    ids: dict[Step, int] = {}
    shape = [ids.setdefault((st[0], st[1], st[2], min(st[3], 0)), len(ids)) for st in program]
    rows = [st[3] for st in program]
    # the next step of the same shape: the candidate periods, followed up to MAX_PERIOD_STEPS
    following: list[int] = [n] * n
    seen: dict[int, int] = {}
    for i in range(n - 1, -1, -1):
        following[i] = seen.get(shape[i], n)
        seen[shape[i]] = i

    def shifted(i: int, p: int, delta: int) -> bool:
        """Steps i + p .. i + 2p equal steps i .. i + p with `delta` added to their rows."""
        if shape[i + p : i + 2 * p] != shape[i : i + p]:
            return False
        return all(b == a + delta for a, b in zip(rows[i : i + p], rows[i + p : i + 2 * p]) if a >= 0)

    out: list[tuple[int, int, int, int]] = []
    i = 0
    while i < n:
        best = (0, 0, 0)
        j = following[i]
        while j < n and j - i <= min(MAX_PERIOD_STEPS, (n - i) // 4):
            p = j - i
            delta = next((rows[i + p + q] - rows[i + q] for q in range(p) if rows[i + q] >= 0), 0)
            if shifted(i, p, delta):
                r = 2
                while i + (r + 1) * p <= n and shifted(i + (r - 1) * p, p, delta):
                    r += 1
                if r >= 4 and r * p > best[0] * best[1]:
                    best = (p, r, delta)
            j = following[j]
        if best[0]:
            out.append((i, best[0], best[1], best[2]))
            i += best[0] * best[1]
        else:
            i += 1
    return out


def _params(dev: Device, refresh: bool) -> tuple[int, int, int, int, int, int, int, int, int]:
    p = dev.pim
    return (p.tRCD_MAC, p.tRAS, p.tRTP, p.tRP, p.tRC, p.tCCD_S, p.tCCD_L, p.tREFI if refresh else 0, p.tRFC)


def channel_cycles(lines: Sequence[Line], dev: Device, refresh: bool = False) -> int:
    """Cycles one channel's controller takes for its lines from an idle start (closed banks, empty queue):
    one cycle after its last command (module docstring). With `refresh`, the simulator's all-bank refresh
    (`_run`) from that start, else none."""
    return _run(_Track(lines), *_params(dev, refresh)) if lines else 0


def _run(
    track: _Track,
    t_rcd: int,
    t_ras: int,
    t_rtp: int,
    t_rp: int,
    t_rc: int,
    t_ccd_s: int,
    t_ccd_l: int,
    t_refi: int = 0,
    t_rfc: int = 0,
    periods: tuple[tuple[int, int, int, int], ...] = (),
) -> int:
    """The scheduler of one channel (module docstring), event by event: at each step the cycle at which the
    oldest ready candidate in the 32-entry window can issue, then a second command of the other type.

    Refresh (t_refi > 0; all_bank_refresh_hbm3.cpp and the controller's priority buffer): at every t_refi-th
    cycle of the controller's clock (which counts from 1, so at t_refi - 1 here) two REFab, one per
    pseudo-channel, become due. While one is due it is the first choice of every cycle: its command is PREA
    while a row is open (ACTAB + nRAS, MACAB + nRTPL), then REFab, one per cycle (the pseudo-channel-level
    PREA-to-REFab nRP and ACTAB-to-REFab nRC never bind: PREA and ACTAB update the timing of the levels down
    to their scope, and the simulator's command log shows REFab the cycle after PREA);
    until it has issued no PIM row command issues, and a PIM column command only as the cycle's second
    command when it is the oldest ready one. ACTAB then waits nRFC after the last REFab.

    `periods`: (start, L, R, D) where lines[start : start + L * R] is one block of L lines R times,
    repetition r with D * r added to its rows. The scheduler is invariant under a shift of time (with
    refresh, under a shift by whole tREFI) and of rows (only whether two rows are equal matters), so once
    its state where the head enters a repetition (every time relative to the cycle being scheduled, times
    too old to bind clamped, the next refresh's cycle not clamped, so that equal states are whole tREFI
    apart; the REFab still due; which window entries already issued; the open row relative to the
    repetition's rows) equals its state at an earlier repetition, every later repetition repeats that
    stretch: whole stretches are skipped, shifting every time and the open row, while the lines the window
    can reach are still the segment's. Exact, and in time independent of R.
    """
    lines, kinds, keys, row, rows = track.lines, track.kinds, track.keys, track.row, track.rows
    n = len(lines)
    done = bytearray(n)
    head = 0  # first entry not yet removed
    open_row: int | None = None
    t_act = t_pre = t_mac = t_data = t_ref = _NEVER
    bg_last: dict[int, int] = {}
    now = 0  # the cycle being scheduled
    last_issue = -1
    next_refresh = t_refi - 1 if t_refi > 0 else -1
    due = 0  # REFab still to issue

    def ready(i: int) -> tuple[int, int]:
        """(cycle the entry's next command can issue, 0 row command / 1 column command)."""
        ln = lines[i]
        if kinds[i] == DATA:
            return max(t_data + t_ccd_s, bg_last.get(ln.bank_group, _NEVER) + t_ccd_l), 1
        if open_row == row[i]:
            return max(t_act + t_rcd, t_mac + ln.interval), 1
        if open_row is not None:  # PREA
            return max(t_act + t_ras, t_mac + t_rtp, t_act + ROW_COMMAND_CYCLES, t_pre + 1), 0
        return max(t_pre + t_rp, t_act + t_rc, t_ref + t_rfc), 0  # ACTAB

    def refresh_ready() -> int:
        if open_row is not None:
            return max(t_act + t_ras, t_mac + t_rtp, t_act + ROW_COMMAND_CYCLES)
        return max(t_pre + 1, t_ref + 1)

    def pick(at: int | None) -> tuple[int, int, int] | None:
        """The request the scheduler chooses at cycle `at` (None: the one that can issue first, at its cycle),
        or None when nothing is ready then. Of consecutive entries with equal timing keys only the oldest can
        be chosen (they are ready at the same cycle), so only it is timed."""
        nonlocal head
        # barriers at the head are dropped (get_best_request removes one at each of its calls)
        while head < n and (done[head] or kinds[head] == BARRIER):
            done[head] = 1
            head += 1
        window: list[int] = []  # the first QUEUE entries not yet removed
        i = head
        while i < n and len(window) < QUEUE:
            if not done[i]:
                window.append(i)
            i += 1
        hits = open_row is not None and any(rows[j] == open_row for j in window)
        considered: list[tuple[int, int, int]] = []  # (ready cycle, type, index) in age order
        behind = False
        previous: object = None
        for j in window:
            key = keys[j]
            if key is None:  # a barrier
                behind, previous = True, None
                continue
            if key == previous:
                continue
            previous = key
            t, typ = ready(j)
            if behind and typ == 1:
                continue  # a column command behind a barrier
            considered.append((t, typ, j))
        if not considered:
            return None

        def fold(cycle: int) -> tuple[int, int, int] | None:
            # compare(): a ready request beats a waiting one, except a ready PREA (row command on an open
            # bank) while requests hit the open row; otherwise the older one wins
            best = considered[0]
            for nxt in considered[1:]:
                if (best[0] <= cycle) != (nxt[0] <= cycle) and nxt[0] <= cycle:
                    if nxt[1] == 0 and open_row is not None and hits:
                        continue
                    best = nxt
            return (cycle, best[1], best[2]) if best[0] <= cycle else None

        if at is not None:
            return fold(at)
        for cycle in sorted({max(t, now) for t, _, _ in considered}):
            chosen = fold(cycle)
            if chosen is not None:
                return chosen
        return None

    def issue(at: int, typ: int, j: int) -> None:
        nonlocal t_act, t_pre, t_mac, t_data, open_row
        if typ == 1:
            if kinds[j] == DATA:
                t_data = at
                bg_last[lines[j].bank_group] = at
            else:
                t_mac = at
            done[j] = 1
        elif open_row is not None:
            t_pre, open_row = at, None
        else:
            t_act, open_row = at, row[j]

    # the periods' segments sorted by start, an outer one before those inside it; the active ones hold
    # [start, L, R, D, limit, seen states, next repetition to snapshot]
    segments = sorted(periods, key=lambda seg: (seg[0], -seg[1] * seg[2]))
    upcoming = 0
    active: list[list] = []
    horizon = max(t_rcd, t_ras, t_rtp, t_rp, t_rc, t_ccd_s, t_ccd_l, track.interval)

    def rel(t: int) -> int:
        return max(t - now, -horizon - 1)

    while True:
        while upcoming < len(segments) and segments[upcoming][0] <= head:
            start, body, reps, row_step = segments[upcoming]
            upcoming += 1
            # a state is only taken, and a jump only lands, where the lines the window can reach (2 x QUEUE
            # past the head) and one more repetition are still the segment's
            limit = start + body * reps - 2 * QUEUE - body
            if head < limit:
                active.append([start, body, reps, row_step, limit, {}, 0])
        jumped = False
        for seg in active:
            start, body, reps, row_step, limit, seen, rep_at = seg
            if head >= limit or head < start + rep_at * body:
                continue
            r = (head - start) // body
            seg[6] = r + 1
            state = (
                head - start - r * body,
                bytes(done[head : head + 2 * QUEUE]),
                None if open_row is None else open_row - r * row_step,
                rel(t_act),
                rel(t_pre),
                rel(t_mac),
                rel(t_data),
                tuple(sorted((g, rel(t)) for g, t in bg_last.items())),
                rel(last_issue),
                # refresh: the next one's cycle (not clamped: a match then shifts time by whole tREFI),
                # the REFab still due, the last REFab
                next_refresh - now if t_refi > 0 else 0,
                due,
                rel(t_ref),
            )
            if state in seen:
                r0, now0 = seen[state]
                span, shift = r - r0, now - now0
                skip = (limit - head) // (span * body)
                if skip > 0:
                    jump, dt = skip * span * body, skip * shift
                    window = done[head : head + 2 * QUEUE]
                    head += jump
                    done[head : head + 2 * QUEUE] = window
                    now += dt
                    last_issue += dt
                    t_act, t_pre, t_mac, t_data = t_act + dt, t_pre + dt, t_mac + dt, t_data + dt
                    t_ref += dt
                    if t_refi > 0:
                        next_refresh += dt
                    if open_row is not None:
                        open_row += skip * span * row_step
                    bg_last = {g: t + dt for g, t in bg_last.items()}
                    seg[6] = (head - start) // body + 1
                    seen.clear()
                    jumped = True
                    break
            seen[state] = (r, now)
        if active:
            active = [seg for seg in active if head < seg[4]]
        if jumped:
            continue
        if due:
            # a refresh is due: its command first, then a PIM column command as the second
            t_r = max(now, refresh_ready())
            earliest = pick(None)
            if earliest is not None and earliest[1] == 1 and earliest[0] < t_r:
                at = max(now, earliest[0])
                second = pick(at)
                if second is not None and second[1] == 1:
                    issue(*second)
                    last_issue, now = at, at + 1
                    continue
                if second is None or second[1] == 0:  # a ready row command is the oldest: nothing issues
                    now = at + 1
                    continue
            at = t_r
            if open_row is not None:
                t_pre, open_row = at, None
            else:
                t_ref = at
                due -= 1
            second = pick(at)
            if second is not None and second[1] == 1:
                issue(*second)
            last_issue, now = at, at + 1
            continue
        earliest = pick(None)
        if earliest is None:
            break
        at = max(now, earliest[0])
        if 0 <= next_refresh <= at:
            at = max(now, next_refresh)
            next_refresh += t_refi
            due = 2
            now = at
            continue
        first = pick(at)
        assert first is not None
        issue(*first)
        second = pick(at)
        if second is not None and second[1] != first[1]:
            issue(*second)
        last_issue = at
        now = at + 1
    assert head >= n, "a channel's lines stopped issuing"
    return last_issue + 1


def stream_cycles(commands: Iterable[PimCommand], dev: Device, refresh: bool = False) -> int:
    """Cycles of a command sequence on an AttAcc device: its slowest channel's `channel_cycles`."""
    programs = {id(p): p for p in channel_programs(commands, dev.pim.channels)}.values()
    return max((_program_cycles(p, dev, refresh) for p in programs), default=0)
