"""The AttAcc controller model (targets/models/attacc_timing.py) on hand-worked command sequences.

Cycles of HBM3_5.2Gbps_NPC (hbm3-pim preset): nRCDRD 19, nCCDAB 4, nRTPL 8, nRAS 45, nRP 19, nCCDL 4.
Each expected figure is worked out from those rules in the test's docstring (AttAcc's Ramulator 2 gives
the same counts for these traces: docs/validate.md).
"""

from __future__ import annotations

from pimc.dialects.pim import CommandKind, PimCommand
from pimc.targets.models import attacc_timing as at
from pimc.targets.system import load_system

DEV = load_system("attacc").devices["pim"]


def _mac(row: int, columns: int = 32) -> list[at.Line]:
    return [at.Line("PIM_MAC_AB", row, c, interval=4) for c in range(columns)]


def _wr_gb(columns: int = 32) -> list[at.Line]:
    return [at.Line("PIM_WR_GB", -1, c) for c in range(columns)]


def test_one_row_of_macs() -> None:
    """ACTAB at 0, MACAB 19 later and every 4 cycles: the 32nd at 19 + 31 * 4 = 143, done at 144."""
    assert at.channel_cycles(_mac(0), DEV) == 144


def test_a_second_row_waits_for_precharge_and_activate() -> None:
    """PREA nRTPL after the last MACAB of row 0 (143 + 8 = 151), ACTAB nRP later (170), its MACABs from
    189 to 189 + 124 = 313: 314."""
    assert at.channel_cycles(_mac(0) + _mac(1), DEV) == 314


def test_global_buffer_writes_to_one_bank_group() -> None:
    """32 WR_GB to one bank group, nCCDL 4 apart: the last at 124, done at 125."""
    assert at.channel_cycles(_wr_gb(), DEV) == 125


def test_the_row_opens_behind_a_barrier_while_the_buffer_is_written() -> None:
    """WR_GB x 32 | barrier | MAC x 32: the ACTAB behind the barrier issues at 0 beside the first WR_GB, the
    first MACAB the cycle after the last WR_GB (125), the last at 125 + 124: 250, not 125 + 19 + 125."""
    assert at.channel_cycles([*_wr_gb(), at.BARRIER_LINE, *_mac(0)], DEV) == 250


def test_without_a_barrier_results_would_leave_before_their_macs() -> None:
    """MV_SB needs no row: unfenced it issues while the MACs still wait for their row, so the stream would
    end before the MACs do; channel_programs therefore fences commands of different kinds."""
    mv_sb = [at.Line("PIM_MV_SB", 0, c) for c in range(16)]
    fenced = at.channel_cycles([*_mac(0), at.BARRIER_LINE, *mv_sb], DEV)
    assert fenced == 144 + 15 * 4 + 1  # the MV_SBs after the last MACAB, nCCDL apart
    mac = PimCommand(CommandKind.MAC_ABK, 32, 0b1, 1, 0)
    rd = PimCommand(CommandKind.RD_MAC, 0, 0b1, 16, 0)
    (program, *_) = at.channel_programs([mac, rd], DEV.pim.channels)
    assert at.BARRIER_STEP in program
    assert at.stream_cycles([mac, rd], DEV) == fenced


def test_refresh_closes_the_row_and_delays_the_next_activate() -> None:
    """With refresh, a stream longer than nREFI (5070) pays for one all-bank refresh: nRFC (455) less the
    row change it overlaps (AttAcc's Ramulator 2 runs this trace in 7,212 cycles, 6,774 without refresh)."""
    lines = [ln for r in range(40) for ln in _mac(r)]
    plain, refreshed = at.channel_cycles(lines, DEV), at.channel_cycles(lines, DEV, refresh=True)
    assert plain > DEV.pim.tREFI
    assert DEV.pim.tRFC - 2 * DEV.pim.tRP <= refreshed - plain <= DEV.pim.tRFC + DEV.pim.tRC


def test_repeated_groups_fast_forward_exactly() -> None:
    """A GEMV of 64 input rows: the closed form's fast-forwarded cycles equal the full unrolled stream's."""
    from pimc.targets.models import pim_timing as pt

    geo = pt.gemv_geometry(1024, 2048, DEV)
    commands = [c for _, c in pt.gemv_commands(64, 1024, 2048, geo, False, DEV.pim.column_bytes, True)]
    programs = {id(p): p for p in at.channel_programs(commands, DEV.pim.channels)}.values()
    full = max(at.channel_cycles(at.program_lines(p, DEV), DEV) for p in programs if p)
    assert pt.gemv_counts(64, 1024, 2048, DEV).cycles == at.stream_cycles(commands, DEV) == full


def test_fast_forward_with_refresh_and_shifted_rows_is_exact() -> None:
    """Nested pieces (vector groups, passes a row tile further each, row tiles a row further each) with
    the simulator's refresh: the cycles equal those of the unrolled lines timed line by line, on streams
    that span many refresh intervals."""
    from pimc.targets.models import pim_timing as pt

    for m, k, n, limit in [(3, 2048, 4096, 2), (1, 11008, 512, 1), (9, 512, 8192, 4)]:
        geo = pt.gemv_geometry(k, n, DEV, limit)
        commands = [c for _, c in pt.gemv_commands(m, k, n, geo, False, DEV.pim.column_bytes, True)]
        programs = [p for p in {id(p): p for p in at.channel_programs(commands, DEV.pim.channels)}.values() if p]
        full = max(at.channel_cycles(at.program_lines(p, DEV), DEV, refresh=True) for p in programs)
        assert full > 4 * DEV.pim.tREFI
        pieces = pt._attacc_gemv_pieces(m, k, n, geo, False, DEV, True)
        assert at.pieces_cycles(pieces, DEV, refresh=True) == at.stream_cycles(commands, DEV, True) == full


def test_a_long_run_skips_whole_refresh_intervals_exactly() -> None:
    """8,000 repetitions of two MACs, each a row further: the state where a repetition begins recurs once
    the refresh phase does (the skipped stretch is a whole number of tREFI), and the cycles equal the
    line-by-line run's."""
    body = [at.Line("PIM_MAC_AB", 0, c, interval=4) for c in range(2)]
    track = at._Track()
    track.add(body, 8000, 1)
    skipped = at._run(track, *at._params(DEV, True), periods=((0, len(body), 8000, 1),))
    lines = [ln._replace(row=r) for r in range(8000) for ln in body]
    assert skipped == at.channel_cycles(lines, DEV, refresh=True) > 100 * DEV.pim.tREFI
