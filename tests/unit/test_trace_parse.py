"""The strict AiM and AttAcc trace parsers: what the simulators accept, and where each malformation is reported."""

from __future__ import annotations

import random
from typing import Any

import pytest

from pimc.dialects.aim import trace_line
from pimc.dialects.pim import CommandKind, PimCommand
from pimc.errors import PimcError
from pimc.targets.parse.trace_parse import (
    ATTACC_ADDRESS_BITS,
    ATTACC_CHANNEL_BITS,
    ATTACC_COLUMN_BITS,
    ATTACC_FIELDS,
    ATTACC_OFFSET_BITS,
    ATTACC_ROW_BITS,
    TraceLine,
    TraceSyntaxError,
    attacc_address,
    attacc_fields,
    parse_aim_trace,
    parse_attacc_trace,
)

# -- AiM ------------------------------------------------------------------------

AIM_TRACE = """\
# every kind of line the AiM trace reader accepts
#

W GPR 0
W CFR 0 1
W CFR 0x2 7
R CFR 1 0
R GPR 0x10
W MEM 31 15 16383
R MEM 0 0 0
AiM WR_SBK 0 0x80000000 3 12
AiM WR_ABK 1 0x1 12
AiM WR_GB 2 2 15
AiM WR_BIAS 4 0xF
AiM RD_MAC 8 15
AiM RD_AF 16 15
AiM RD_SBK 20 1 0 0
AiM COPY_BKGB 2 15 0 0
AiM COPY_GBBK 2 15 0 0
AiM MAC_SBK 2 15 0 0
AiM MAC_ABK 64 0xffffffff 0
AiM ISR_MAC_ABK 1 4294967295 16383
AiM AF 15
AiM EWMUL 2 15 0
AiM EWADD 4 8 12
AiM SYNC
AiM EOC
# comments and blank lines may follow EOC

"""


def test_aim_accepts_every_line_kind() -> None:
    comments: list[tuple[int, str]] = []
    cmds = parse_aim_trace(AIM_TRACE, comments=comments)
    assert [c.op for c in cmds] == [
        "W_GPR",
        "W_CFR",
        "W_CFR",
        "R_CFR",
        "R_GPR",
        "W_MEM",
        "R_MEM",
        "WR_SBK",
        "WR_ABK",
        "WR_GB",
        "WR_BIAS",
        "RD_MAC",
        "RD_AF",
        "RD_SBK",
        "COPY_BKGB",
        "COPY_GBBK",
        "MAC_SBK",
        "MAC_ABK",
        "MAC_ABK",
        "AF",
        "EWMUL",
        "EWADD",
        "SYNC",
        "EOC",
    ]
    by_line = {c.line: c for c in cmds}
    assert by_line[4] == TraceLine(4, "W_GPR", {"gpr": 0})
    assert by_line[6].fields == {"cfr": 2, "value": 7}
    assert by_line[9].fields == {"channel": 31, "bank": 15, "row": 16383}
    assert by_line[11].fields == {"gpr": 0, "channel_mask": 0x80000000, "bank": 3, "row": 12}
    assert by_line[13].fields == {"opsize": 2, "gpr": 2, "channel_mask": 15}
    assert by_line[21] == TraceLine(21, "MAC_ABK", {"opsize": 64, "channel_mask": 0xFFFFFFFF, "row": 0})
    assert by_line[22].fields == {"opsize": 1, "channel_mask": 0xFFFFFFFF, "row": 16383}  # "ISR_" prefix dropped
    assert by_line[25].fields == {"opsize": 4, "gpr": 8, "gpr1": 12}
    assert cmds[-1] == TraceLine(27, "EOC", {})
    assert comments == [
        (1, "every kind of line the AiM trace reader accepts"),
        (2, ""),
        (28, "comments and blank lines may follow EOC"),
    ]


def test_aim_accepts_the_simulators_own_lines() -> None:
    # arkhadem/aim_simulator trace_generator.py writes f"AiM WR_SBK 0 {hex_channel} {bank} {row}\n" with
    # hex_channel = 0xFFFFFFFF (formatted in decimal) and ends with f.write("AiM EOC\n");
    # the rest is verbatim from cornell-m3/aim_simulator (a fork) test/channels/traces/gemv_4096x4096_1.trace.
    text = (
        "AiM WR_SBK 0 4294967295 0 0\n"
        "# 4096x4096 bf16 GEMV over 1 channels\n"
        "W GPR 2\n"
        "AiM WR_GB 63 2 1\n"
        "AiM WR_BIAS 0 1\n"
        "AiM MAC_ABK 63 1 0\n"
        "AiM RD_MAC 66 1\n"
        "AiM EOC\n"
    )
    cmds = parse_aim_trace(text)
    assert cmds[0].fields == {"gpr": 0, "channel_mask": 0xFFFFFFFF, "bank": 0, "row": 0}
    assert cmds[2] == TraceLine(4, "WR_GB", {"opsize": 63, "gpr": 2, "channel_mask": 1})


def test_aim_accepts_pimcs_own_aim_lines() -> None:
    lines = [
        trace_line(PimCommand(CommandKind.WR_GB, 64, 0xFFFF)),
        trace_line(PimCommand(CommandKind.WR_BIAS, 0, 0xFFFF, gpr=1)),
        trace_line(PimCommand(CommandKind.MAC_ABK, 64, 0xFFFF0000, row=5)),
        trace_line(PimCommand(CommandKind.RD_MAC, 0, 0xFFFF, gpr=2)),
        trace_line(PimCommand(CommandKind.SYNC)),
        trace_line(PimCommand(CommandKind.EOC)),
    ]
    cmds = parse_aim_trace("# pimc AiM trace\n" + "\n".join(lines) + "\n")
    assert [c.op for c in cmds] == ["WR_GB", "WR_BIAS", "MAC_ABK", "RD_MAC", "SYNC", "EOC"]
    # the IR's channels 16..31 are the simulator's mask bits 15..0 (bit i selects channel 31 - i)
    assert cmds[2].fields == {"opsize": 64, "channel_mask": 0x0000FFFF, "row": 5}
    assert cmds[0].fields["channel_mask"] == 0xFFFF0000


AIM_ERRORS = [
    # unknown op / line type / region
    ("AiM MAC_ABX 1 1 0\nAiM EOC\n", "line 1:5: unknown AiM op 'MAC_ABX'"),
    ("AiM mac_abk 1 1 0\nAiM EOC\n", "line 1:5: unknown AiM op 'mac_abk'"),
    ("AiM WR_AFLUT 1\nAiM EOC\n", "line 1:5: AiM WR_AFLUT is not supported"),
    ("AiM EOC\nLD 0x0\n", "line 2:1: unknown line type 'LD'"),
    ("aim EOC\n", "line 1:1: unknown line type 'aim'"),
    ("AiMX EOC\n", "line 1:1: unknown line type 'AiMX'"),
    ("#foo\nAiM EOC\n", "line 1:1: a comment is '#' alone or '#' followed by a space"),
    ("W REG 0\nAiM EOC\n", "line 1:3: unknown region 'REG'"),
    # missing / extra fields
    (
        "AiM MAC_ABK 64 1\nAiM EOC\n",
        "line 1:17: AiM MAC_ABK: missing field row (AiM MAC_ABK takes opsize channel_mask row)",
    ),
    ("AiM\nAiM EOC\n", "line 1:4: line ends after 'AiM'; expected an op"),
    ("W\nAiM EOC\n", "line 1:2: line ends after 'W'; expected a region"),
    ("W CFR 0\nAiM EOC\n", "line 1:8: W CFR: missing field value"),
    ("AiM MAC_ABK 64 1 0 7\nAiM EOC\n", "line 1:20: AiM MAC_ABK: extra field '7'"),
    ("AiM SYNC 1\nAiM EOC\n", "line 1:10: AiM SYNC: extra field '1' (AiM SYNC takes no fields)"),
    ("W GPR 1 2\nAiM EOC\n", "line 1:9: W GPR: extra field '2' (W GPR takes gpr)"),
    # bad numbers: stoll would read a prefix, or throw
    ("AiM MAC_ABK 6x4 1 0\nAiM EOC\n", "line 1:13: AiM MAC_ABK: bad number '6x4' for opsize"),
    ("AiM MAC_ABK 64 0x 0\nAiM EOC\n", "line 1:16: AiM MAC_ABK: bad number '0x' for channel_mask"),
    ("AiM MAC_ABK 64 0x0x1 0\nAiM EOC\n", "line 1:16: AiM MAC_ABK: bad number '0x0x1' for channel_mask"),
    ("AiM MAC_ABK 64 1 1.0\nAiM EOC\n", "line 1:18: AiM MAC_ABK: bad number '1.0' for row"),
    ("AiM MAC_ABK 64 1 -0x1\nAiM EOC\n", "line 1:18: AiM MAC_ABK: bad number '-0x1' for row"),
    # out of range
    ("\n\nAiM MAC_ABK 65 1 0\nAiM EOC\n", "line 3:13: AiM MAC_ABK: opsize 65 outside 1..64"),
    ("AiM WR_GB 0 0 1\nAiM EOC\n", "line 1:11: AiM WR_GB: opsize 0 outside 1..64"),
    ("AiM MAC_ABK 64 1 16384\nAiM EOC\n", "line 1:18: AiM MAC_ABK: row 16384 outside 0..16383"),
    ("AiM MAC_ABK 64 1 -1\nAiM EOC\n", "line 1:18: AiM MAC_ABK: row -1 outside 0..16383"),
    ("AiM MAC_SBK 1 1 16 0\nAiM EOC\n", "line 1:17: AiM MAC_SBK: bank 16 outside 0..15"),
    ("AiM AF 0\nAiM EOC\n", "line 1:8: AiM AF: channel_mask 0x0 outside 0x1..0xffffffff"),
    ("AiM AF 0x100000000\nAiM EOC\n", "line 1:8: AiM AF: channel_mask 0x100000000 outside 0x1..0xffffffff"),
    ("AiM WR_ABK 0 0x3 0\nAiM EOC\n", "line 1:14: AiM WR_ABK: channel_mask 0x3 must select exactly one channel"),
    ("AiM RD_MAC -1 1\nAiM EOC\n", "line 1:12: AiM RD_MAC: gpr -1 outside 0..9223372036854775807"),
    ("R MEM 32 0 0\nAiM EOC\n", "line 1:7: R MEM: channel 32 outside 0..31"),
    ("W CFR 3 1\nAiM EOC\n", "line 1:7: W CFR: unknown CFR 3"),
    ("W CFR 0 2\nAiM EOC\n", "line 1:9: W CFR: value 2 of CFR 0 (broadcast) outside 0..1"),
    # EOC
    ("", "line 1:1: the trace ends without 'AiM EOC'"),
    ("AiM SYNC\n# done\n", "line 3:1: the trace ends without 'AiM EOC'"),
    ("AiM SYNC\nAiM EOC", "line 2:8: 'AiM EOC' must end with a newline"),
    ("AiM EOC\n# ok\n\nAiM SYNC\n", "line 4:1: AiM SYNC after 'AiM EOC' (line 1)"),
    ("AiM EOC\nW GPR 0\n", "line 2:1: W GPR after 'AiM EOC' (line 1)"),
    # separators
    ("AiM  EOC\n", "line 1:5: two spaces in a row"),
    (" AiM EOC\n", "line 1:1: leading space"),
    ("  \nAiM EOC\n", "line 1:1: leading space"),
    ("AiM EOC \n", "line 1:8: trailing space"),
    ("AiM SYNC\tx\nAiM EOC\n", "line 1:9: tab"),
    ("AiM SYNC\r\nAiM EOC\r\n", "line 1:9: carriage return"),
    ("AiM MAC_ABK 1 1 0\r\nAiM EOC\n", "line 1:18: carriage return"),
]


@pytest.mark.parametrize(("text", "message"), AIM_ERRORS)
def test_aim_rejects(text: str, message: str) -> None:
    with pytest.raises(TraceSyntaxError) as info:
        parse_aim_trace(text)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, PimcError)


def test_aim_reports_the_first_error_in_file_order() -> None:
    with pytest.raises(TraceSyntaxError, match=r"^line 1:13: AiM MAC_ABK: opsize 65"):
        parse_aim_trace("AiM MAC_ABK 65 1 0\nnot a line\nAiM EOC\n")


def test_aim_limits_are_keyword_arguments() -> None:
    text = "AiM MAC_ABK 32 0xffff0000 4095\nAiM MAC_SBK 1 0x80000000 7 0\nR MEM 15 7 4095\nAiM EOC\n"
    assert len(parse_aim_trace(text, channels=16, banks=8, rows=4096, columns=32)) == 4
    with pytest.raises(TraceSyntaxError, match=r"^line 1:13: AiM MAC_ABK: opsize 32 outside 1\.\.16$"):
        parse_aim_trace(text, columns=16)
    with pytest.raises(TraceSyntaxError, match=r"^line 1:27: AiM MAC_ABK: row 4095 outside 0\.\.4094$"):
        parse_aim_trace(text, rows=4095)
    with pytest.raises(TraceSyntaxError, match=r"^line 2:26: AiM MAC_SBK: bank 7 outside 0\.\.6$"):
        parse_aim_trace(text, banks=7)
    # bit i of the mask is channel 31 - i, so 16 channels are the top 16 bits
    with pytest.raises(
        TraceSyntaxError, match=r"^line 1:15: AiM MAC_ABK: channel_mask 0xffff bit 15 selects channel 16"
    ):
        parse_aim_trace("AiM MAC_ABK 1 0xffff 0\nAiM EOC\n", channels=16)
    with pytest.raises(ValueError):
        parse_aim_trace("AiM EOC\n", channels=33)


# -- AttAcc ---------------------------------------------------------------------


def test_attacc_accepts_the_generators_lines() -> None:
    # The lines scale-snu/attacc_simulator pim_ramulator_src/trace_gen/gen_trace_attacc_bank.py writes
    # ("PIM_MAC_AB 0x{0:0>8}".format(hex(addr)[2:]), ...) for one head, L = 512, and the brief's example.
    text = (
        "PIM_WR_GB 0x00000001\n"
        "PIM_BARRIER 0x40000000\n"
        "PIM_MAC_AB 0x00000020\n"
        "PIM_MV_SB 0x10000000\n"
        "PIM_SFM 0x00000000\n"
        "PIM_MV_GB 0x04800001\n"
        "PIM_MAC_AB 0x40000020\n"
    )
    cmds = parse_attacc_trace(text)
    zero = dict.fromkeys(("channel", "pseudo_channel", "rank", "bank_group", "bank", "row", "column", "offset"), 0)
    assert cmds[0] == TraceLine(1, "PIM_WR_GB", {**zero, "offset": 1}, 1)  # GB column in the ignored low bits
    assert cmds[1].fields == {**zero, "channel": 1}
    assert cmds[2].fields == {**zero, "column": 1}
    assert cmds[3].fields == {**zero, "rank": 1}
    assert cmds[5].fields == {**zero, "bank_group": 1, "row": 8192, "offset": 1}  # V cache at 2**23
    assert cmds[6] == TraceLine(7, "PIM_MAC_AB", {**zero, "channel": 1, "column": 1}, 0x40000020)


def test_attacc_accepts_every_op_and_number_form() -> None:
    ops = [
        "LD",
        "ST",
        "PIM_MAC_AB",
        "PIM_MAC_SB",
        "PIM_MAC_PB",
        "PIM_WR_GB",
        "PIM_MV_SB",
        "PIM_MV_GB",
        "PIM_SFM",
        "PIM_SET_MODEL",
        "PIM_SET_HEAD",
        "PIM_BARRIER",
    ]
    text = "\n".join(f"{op} {addr}" for op, addr in zip(ops, ["0", "1024", "0X3FFFFFFFF", "0x3ffffffff"] * 3))
    cmds = parse_attacc_trace(text)  # no newline after the last line: the simulator reads it too
    assert [c.op for c in cmds] == ops
    assert cmds[1].fields["row"] == 1
    assert cmds[2].address == cmds[3].address == (1 << ATTACC_ADDRESS_BITS) - 1
    assert cmds[3].fields == {
        "channel": 15,
        "pseudo_channel": 1,
        "rank": 1,
        "bank_group": 3,
        "bank": 3,
        "row": 16383,
        "column": 31,
        "offset": 31,
    }
    assert parse_attacc_trace("") == []
    assert parse_attacc_trace("LD 0\n") == [TraceLine(1, "LD", attacc_fields(0), 0)]


ATTACC_ERRORS = [
    ("LD 0\nPIM_MAC_XB 0x0\n", "line 2:1: unknown AttAcc op 'PIM_MAC_XB'"),
    ("pim_mac_ab 0x0\n", "line 1:1: unknown AttAcc op 'pim_mac_ab'"),
    ("# comment\n", "line 1:1: unknown AttAcc op '#' (the AttAcc trace reader has no comments)"),
    ("PIM_BARRIER\n", "line 1:12: line ends after 'PIM_BARRIER'; expected an address"),
    ("LD 0\nPIM_SFM", "line 2:8: line ends after 'PIM_SFM'; expected an address"),
    ("PIM_MAC_AB 0x20 0x40\n", "line 1:17: extra field"),
    ("PIM_MAC_AB 0x2g\n", "line 1:12: PIM_MAC_AB: bad number '0x2g' for the address"),
    ("PIM_MAC_AB 0x\n", "line 1:12: PIM_MAC_AB: bad number '0x' for the address"),
    ("PIM_MAC_AB 32B\n", "line 1:12: PIM_MAC_AB: bad number '32B' for the address"),
    ("PIM_MAC_AB -32\n", "line 1:12: PIM_MAC_AB: negative address -32"),
    ("LD 0\nLD 0x400000000\n", "line 2:4: LD: address 0x400000000 has bits above bit 33"),
    ("ST 99999999999999999999\n", "line 1:4: ST: address 0x56bc75e2d630fffff has bits above bit 33"),
    ("LD 0\n\nLD 0\n", "line 2:1: blank line"),
    ("LD 0\n\n", "line 2:1: blank line"),
    (" LD 0\n", "line 1:1: leading space"),
    ("LD  0\n", "line 1:4: two spaces in a row"),
    ("LD 0 \n", "line 1:5: trailing space"),
    ("LD\t0\n", "line 1:3: tab"),
    ("LD 0\r\n", "line 1:5: carriage return"),
]


@pytest.mark.parametrize(("text", "message"), ATTACC_ERRORS)
def test_attacc_rejects(text: str, message: str) -> None:
    with pytest.raises(TraceSyntaxError) as info:
        parse_attacc_trace(text)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_attacc_bit_widths() -> None:
    assert dict(ATTACC_FIELDS) == {
        "offset": 5,
        "column": 5,
        "row": 14,
        "bank": 2,
        "bank_group": 2,
        "rank": 1,
        "pseudo_channel": 1,
        "channel": 4,
    }
    assert (ATTACC_OFFSET_BITS, ATTACC_COLUMN_BITS, ATTACC_ROW_BITS, ATTACC_CHANNEL_BITS) == (5, 5, 14, 4)
    assert ATTACC_ADDRESS_BITS == 34
    # the generators' granularities: column 32 B, row 1 KB, bank 2**24, bank group 2**26, rank 2**28, pCH 2**29, ch 2**30
    one = dict.fromkeys(("channel", "pseudo_channel", "rank", "bank_group", "bank", "row", "column"), 0)
    for name, address in [
        ("column", 1 << 5),
        ("row", 1 << 10),
        ("bank", 1 << 24),
        ("bank_group", 1 << 26),
        ("rank", 1 << 28),
        ("pseudo_channel", 1 << 29),
        ("channel", 1 << 30),
    ]:
        assert attacc_address(**{**one, name: 1}) == address


def test_attacc_address_round_trip() -> None:
    rng = random.Random(20240617)
    for _ in range(2000):
        fields = {name: rng.randrange(1 << bits) for name, bits in ATTACC_FIELDS}
        address = attacc_address(**fields)
        assert attacc_fields(address) == fields
        assert 0 <= address < 1 << ATTACC_ADDRESS_BITS
        raw = rng.randrange(1 << ATTACC_ADDRESS_BITS)
        assert attacc_address(**attacc_fields(raw)) == raw
        line = f"PIM_MAC_AB {address:#010x}\n"
        assert parse_attacc_trace(line)[0].fields == fields


@pytest.mark.parametrize(
    "bad",
    [
        {"row": 1 << 14},
        {"column": 32},
        {"channel": -1},
        {"bank": 4},
        {"offset": 32},
        {"pseudo_channel": 2},
        {"rank": True},
        {"bank_group": 1.0},
    ],
)
def test_attacc_address_range_checks(bad: dict[str, Any]) -> None:
    # Any: the point is to pass what the annotations forbid (a bool, a float) and see it rejected
    fields: dict[str, Any] = dict.fromkeys(
        ("channel", "pseudo_channel", "rank", "bank_group", "bank", "row", "column"), 0
    )
    fields.update(bad)
    with pytest.raises(ValueError, match=next(iter(bad))):
        attacc_address(**fields)


@pytest.mark.parametrize("bad", [-1, 1 << ATTACC_ADDRESS_BITS, True])
def test_attacc_fields_range_checks(bad: int) -> None:
    with pytest.raises(ValueError):
        attacc_fields(bad)
