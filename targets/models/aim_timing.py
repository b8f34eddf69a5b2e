"""The AiM controller's command timing: what `pim_timing.stream_counts` does on a device whose host
command engine blocks on reads (`PimParams.blocking_reads`, GDDR6-AiM).

The rules are the AiM trace simulator's (arkhadem/aim_simulator, Ramulator 2.0), read from its source:

- The host's AiM DMA (src/memory_system/impl/aim_DRAM_system.cpp, `tick`) sends an ISR's requests to
  every channel of its mask at once and goes on with the next ISR, except after an ISR whose
  `AiM_DMA_blocking` is set (src/base/request.h: ISR_RD_MAC, ISR_RD_AF) and after SYNC, where it waits
  until every channel has answered. So channels run independently between blocking commands, and a
  blocking command is a barrier: nothing after it starts before it has completed on all its channels.
- Each channel controller (src/dram_controller/impl/AiM_dram_controller.cpp) serves its AiM requests
  in order, one DRAM command per cycle. ISR_WR_GB, ISR_WR_BIAS and ISR_RD_MAC need the register
  read/write mode (request.h `require_reg_RW_mod`), ISR_MAC_ABK does not; every change of mode costs a
  TMOD command, after which nothing issues for nMODCH cycles (GDDR6.cpp GDDR6_AiM_timing nMODCH 32):
  `tMOD`. The controller starts in the other mode (`is_reg_RW_mode = false`).
- MAC_ABK of opsize c is ACT16 then c MAC16 (GDDR6.cpp `m_aim_request_translations`
  ISR_MAC_ABK -> MAC16), tCCD_L apart (nCCDL), the first tRCD_MAC after ACT16 (nRCDRDMAC 56). The
  row stays open: the controller precharges (PREA) only as the prerequisite of the next ACT16, tRTP
  after the last MAC16 (nRTP 12) and tRAS after ACT16 (nRAS 54), and the next ACT16 follows tRP later
  (nRP 32) and tRC after the previous ACT16 (nRC 89). A MAC_ABK on the row its channel holds open
  (a GEMV whose matrix is one row per bank, MACed once per input vector) is a row hit: its MAC16s
  issue with no PREA/ACT16, tCCD_L after the previous MAC16 (Ramulator's prerequisite of MAC16 is
  ACT16 only on a closed or other row). Without `all_bank_act` the banks' activation stagger of
  `pim_timing.activation_stagger` comes before tRCD_MAC.)
- WR_GB of opsize c is c WRGB commands, WR_BIAS and RD_MAC one WRMAC16 / RDMAC16 per result, tCCD_L
  apart (nBL = nCCDS = nCCDL = 2 on the channel); a command's last DRAM command frees the channel one
  cycle later. RD_MAC completes tCL + tCCD_L after its last RDMAC16 (`m_command_latencies` RDMAC16 =
  nCLREG + nBL, nCLREG 0: the preset sets tCL to it).

Per channel the engine keeps when it can issue next, its mode, whether a row is open and the times of
its last ACT16 and last MAC16; `cycles` is when the last channel is done. Energy and command counts are
`command_counts`' (they do not depend on timing).

Closed forms (`run_gemv`, used by `pim_timing.gemv_counts` and `attention_counts`): the engine is
shift-invariant, so a block of commands repeated many times (a GEMV's row tiles, its passes, its vector
groups) becomes periodic as soon as the engine's state before an iteration, relative to a reference
time and with times too old to matter clamped, repeats (`AimEngine.snapshot`); `repeat` then skips the
remaining whole periods by shifting every time. The cycles are exactly `stream_counts` of the emitted
stream, in time independent of N and K.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pimc.dialects.pim import PIM_ELEMENT_BYTES, CommandKind, PimCommand, ceil_div, channel_span
from pimc.targets.system import Device

if TYPE_CHECKING:
    from pimc.targets.models.pim_timing import GemvGeometry

REGISTER_MODE_KINDS = frozenset({CommandKind.WR_GB, CommandKind.WR_BIAS, CommandKind.RD_MAC})
"""ISRs that need the register read/write mode (request.h `require_reg_RW_mod`)."""
BLOCKING_KINDS = frozenset({CommandKind.RD_MAC, CommandKind.SYNC})
"""ISRs the host waits for (request.h `AiM_DMA_blocking`: RD_MAC; aim_DRAM_system.cpp: SYNC)."""

_NEVER = -(10**18)

ChannelState = tuple[int, bool, bool, int, int, int | None]
"""(next issue, register mode, row open, last ACT16, last MAC16, open row), times relative to the barrier."""


@dataclass
class AimEngine:
    """Per-channel state of the AiM controllers and the host's barrier (module docstring)."""

    dev: Device
    barrier: int = 0

    def __post_init__(self) -> None:
        n = self.dev.pim.channels
        self.free = [0] * n
        self.reg = [False] * n
        self.open = [False] * n
        self.act = [_NEVER] * n
        self.last = [_NEVER] * n
        self.row: list[int | None] = [None] * n
        """The row each channel's banks hold open (None: none, or one no later MAC_ABK names)."""

    @property
    def cycles(self) -> int:
        return max(self.barrier, *self.free)

    def run(self, commands: Iterable[PimCommand]) -> None:
        for cmd in commands:
            self.issue(cmd)

    def issue(self, cmd: PimCommand) -> None:
        p = self.dev.pim
        if cmd.kind == CommandKind.SYNC:
            self.barrier = self.cycles
            return
        if cmd.kind == CommandKind.EOC:
            return
        need_reg = cmd.kind in REGISTER_MODE_KINDS
        done = self.barrier
        mask = cmd.channel_mask
        while mask:
            ch = (mask & -mask).bit_length() - 1
            mask &= mask - 1
            t = max(self.free[ch], self.barrier)
            if cmd.kind == CommandKind.MAC_ABK:
                if self.open[ch] and cmd.row is not None and self.row[ch] == cmd.row:
                    # row hit: the row is still open, so MAC16s issue with no PREA/ACT16
                    if self.reg[ch] is not need_reg:
                        t += p.tMOD
                        self.reg[ch] = need_reg
                    first = max(t, self.last[ch] + _mac_cycles(self.dev, cmd.vectors))
                    self.last[ch] = first + (cmd.opsize - 1) * _mac_cycles(self.dev, cmd.vectors)
                    self.free[ch] = self.last[ch] + 1
                    continue
                self.row[ch] = cmd.row
                # the first DRAM command: PREA of the open row, else ACT16
                if self.open[ch]:
                    ready = max(self.last[ch] + p.tRTP, self.act[ch] + p.tRAS)
                else:
                    ready = self.act[ch] + p.tRC
                t = max(t, ready)
                if self.reg[ch] is not need_reg:
                    t += p.tMOD
                    self.reg[ch] = need_reg
                act = max(t + p.tRP if self.open[ch] else t, self.act[ch] + p.tRC)
                last = act + _stagger(self.dev) + p.tRCD_MAC + (cmd.opsize - 1) * _mac_cycles(self.dev, cmd.vectors)
                self.act[ch], self.last[ch], self.open[ch] = act, last, True
                self.free[ch] = last + 1
                continue
            if self.reg[ch] is not need_reg:
                t += p.tMOD
                self.reg[ch] = need_reg
            n = cmd.opsize if cmd.kind in (CommandKind.WR_GB, CommandKind.MV_GB) else cmd.vectors
            last = t + (max(n, 1) - 1) * p.tCCD_L
            self.free[ch] = last + 1
            if cmd.kind in BLOCKING_KINDS:
                done = max(done, last + p.tCL + p.tCCD_L)
        if cmd.kind in BLOCKING_KINDS:
            self.barrier = max(done, self.barrier)

    def fresh_row(self) -> int:
        """A row number no MAC_ABK issued so far named (for the closed forms' one-row GEMVs). Rows handed out
        before are dead from here on (no later MAC_ABK names them): they become None, so at most one such
        number, the live one, is ever held (what `_canonical_row` relies on)."""
        self._rows = getattr(self, "_rows", 0) - 1
        self.row = [None if r is not None and r < 0 else r for r in self.row]
        return self._rows

    def snapshot(self, mask: int, across_barrier: bool) -> tuple[object, int] | None:
        """(canonical state of the channels of `mask`, reference time), or None when it cannot be taken.

        Across barriers (a block that ends with a blocking command) times are relative to the barrier,
        as every later command starts after it; within one (no barrier in the block) relative to the
        channel's own next issue, and only once every channel is past the barrier. Times too old to
        constrain a later command (beyond tRAS/tRC for ACT16, tRTP for MAC16) are clamped."""
        p = self.dev.pim
        chans = [c for c in range(len(self.free)) if mask >> c & 1]
        act_horizon, last_horizon = -max(p.tRAS, p.tRC), -p.tRTP
        if across_barrier:
            b = self.barrier
            return tuple(
                (
                    max(self.free[c] - b, 0),
                    self.reg[c],
                    self.open[c],
                    max(self.act[c] - b, act_horizon),
                    max(self.last[c] - b, last_horizon),
                    _canonical_row(self.row[c]),
                )
                for c in chans
            ), b
        if any(self.free[c] < self.barrier for c in chans):
            return None
        ref = min(self.free[c] for c in chans)
        return tuple(
            (
                self.free[c] - ref,
                self.reg[c],
                self.open[c],
                max(self.act[c] - self.free[c], act_horizon),
                max(self.last[c] - self.free[c], last_horizon),
                _canonical_row(self.row[c]),
            )
            for c in chans
        ), ref

    def shift(self, mask: int, cycles: int, across_barrier: bool) -> None:
        """Every time of the channels of `mask` (and the barrier, across barriers) `cycles` later."""
        for c in range(len(self.free)):
            if mask >> c & 1:
                self.free[c] += cycles
                self.act[c] += cycles
                self.last[c] += cycles
        if across_barrier:
            self.barrier += cycles


def _canonical_row(row: int | None) -> int | None:
    """A channel's open row as a snapshot records it: the closed forms' one-row numbers (negative, from
    `fresh_row`) all as -1. Within one GEMV there is one such row, the live one; between GEMVs every earlier
    one is dead (no later MAC_ABK names it), so states that differ only in which one it is evolve alike."""
    return -1 if row is not None and row < 0 else row


def _stagger(dev: Device) -> int:
    """0 with ACT16 (`all_bank_act`), else the banks' activation stagger (`pim_timing.activation_stagger`)."""
    from pimc.targets.models.pim_timing import activation_stagger

    return activation_stagger(dev)


def _mac_cycles(dev: Device, vectors: int) -> int:
    from pimc.targets.models.pim_timing import mac_cycles_per_column

    return mac_cycles_per_column(dev, vectors)


def aim_stream_cycles(commands: Iterable[PimCommand], dev: Device) -> int:
    """Cycles of a command sequence under the AiM controller's rules (module docstring)."""
    engine = AimEngine(dev)
    engine.run(commands)
    return engine.cycles


def repeat(engine: AimEngine, count: int, body: Callable[[], None], mask: int, across_barrier: bool) -> None:
    """Run `body` (the same commands every time, on channels `mask`) `count` times, in O(1) of `count`:
    the engine is shift-invariant, so once its canonical state (`AimEngine.snapshot`) before an
    iteration repeats that of an earlier one, the iterations in between recur with every time shifted
    by the same amount; whole periods are skipped by shifting the channels' times (`AimEngine.shift`)."""
    seen: dict[object, tuple[int, int]] = {}
    i = 0
    while i < count:
        snap = engine.snapshot(mask, across_barrier)
        if snap is not None:
            state, ref = snap
            if state in seen:
                j, ref_j = seen[state]
                periods = (count - i) // (i - j)
                engine.shift(mask, periods * (ref - ref_j), across_barrier)
                for _ in range(count - i - periods * (i - j)):
                    body()
                return
            seen[state] = (i, ref)
        body()
        i += 1


def run_gemv(engine: AimEngine, m: int, k: int, n: int, geo: GemvGeometry, bias: bool, first_channel: int = 0) -> None:
    """Issue the commands of `pim_timing.gemv_commands` (without SYNC, channels from `first_channel`),
    repeated row tiles, passes and vector groups fast-forwarded by `repeat`."""
    dev = engine.dev
    cb = dev.pim.column_bytes
    k_tiles = geo.k_tiles(k)
    full_tiles, last_chunk = divmod(k, geo.k_tile)
    tile_cols = ceil_div(geo.k_tile * PIM_ELEMENT_BYTES, cb)
    last_cols = ceil_div(last_chunk * PIM_ELEMENT_BYTES, cb) if last_chunk else 0
    per_pass = geo.channels * geo.banks * geo.per_row
    full_passes, rest = divmod(n, per_pass)
    layout = channel_span(first_channel, geo.channels)
    # consecutive MAC_ABKs on a channel name one row only when the whole matrix is one row per bank (every
    # vector group MACs it again: row hits); otherwise each names another row. That one row is given a
    # number no other GEMV's MAC_ABK uses, so a hit is never taken across GEMVs.
    one_row = engine.fresh_row() if geo.rows(k, n) == 1 else None

    def one_pass(first: bool, a: int, outs: int, v: int) -> None:
        mask = channel_span(first_channel, a)
        wr = k_tiles > 1 or first
        if bias:
            engine.issue(PimCommand(CommandKind.WR_BIAS, 0, mask, v * outs))

        def tile(cols: int) -> None:
            if wr:
                engine.issue(PimCommand(CommandKind.WR_GB, cols * v, layout, v))
            engine.issue(PimCommand(CommandKind.MAC_ABK, cols * outs, mask, v, row=one_row))

        repeat(engine, full_tiles, lambda: tile(tile_cols), layout if wr else mask, False)
        if last_cols:
            tile(last_cols)
        engine.issue(PimCommand(CommandKind.RD_MAC, 0, mask, v * outs))

    def group(v: int) -> None:
        if full_passes:
            a, outs = geo.pass_shape(per_pass)
            one_pass(True, a, outs, v)
            repeat(engine, full_passes - 1, lambda: one_pass(False, a, outs, v), layout, True)
        if rest:
            one_pass(full_passes == 0, *geo.pass_shape(rest), v)

    full_groups, last = divmod(m, geo.vectors)
    repeat(engine, full_groups, lambda: group(geo.vectors), layout, True)
    if last:
        group(last)
