"""Strict parsers for the trace files of two PIM simulators: AiM (GDDR6-AiM) and AttAcc (HBM3-PIM).

Each parser accepts exactly the lines the simulator's trace reader accepts, except
where the simulator would silently misread a line; those are rejected too, and every
such choice is listed below. Errors are `TraceSyntaxError`s with a one-line message
`line L:C: <what is wrong>` (1-based line and column in the trace text), raised for
the first malformed line in file order. The grammars are LALR lark grammars; the
line and field checks run as lark callbacks while the file is parsed.

AiM (SK hynix GDDR6-AiM; github arkhadem/aim_simulator, Ramulator 2.0)
-----------------------------------------------------------------------
Sources read: src/frontend/impl/memory_trace/aim_trace.cpp (the AiMTrace frontend,
in its version with the `delimiter` parameter, default " ", as also carried by the
fork cornell-m3/aim_simulator; older versions split on "," only, and earlier
still read LD/ST lines), src/base/request.h (the ISR table `AiMISRInfo::init`,
`is_field_value_legal`), src/base/utils.cpp (`tokenize`),
src/memory_system/impl/aim_DRAM_system.cpp (what each request does, the CFRs,
the channel-mask decoding), src/dram/impl/GDDR6.cpp (GDDR6_AiM_org), README.md,
trace_generator.py.

    trace    = line ("\\n" line)*            # std::getline: lines end at "\\n" only
    line     = ""                            # empty line: skipped
             | "#" | "# " text               # comment: the first space-separated token is "#"
             | "AiM" " " op (" " number)*    # ISR; op may carry the prefix "ISR_"
             | ("R" | "W") " " region (" " number)*
    region   = "MEM" | "GPR" | "CFR"
    number   = [+-]? [0-9]+ | 0[xX] [0-9a-fA-F]+   # token_decoder: "0x"/"0X" -> hex, else std::stoll

    AiM WR_SBK    gpr channel_mask bank row      AiM COPY_BKGB opsize channel_mask bank row
    AiM WR_ABK    gpr channel_mask row           AiM COPY_GBBK opsize channel_mask bank row
    AiM WR_GB     opsize gpr channel_mask        AiM MAC_SBK   opsize channel_mask bank row
    AiM WR_BIAS   gpr channel_mask               AiM MAC_ABK   opsize channel_mask row
    AiM RD_MAC    gpr channel_mask               AiM AF        channel_mask
    AiM RD_AF     gpr channel_mask               AiM EWMUL     opsize channel_mask row
    AiM RD_SBK    gpr channel_mask bank row      AiM EWADD     opsize gpr gpr1
    AiM SYNC                                     AiM EOC
    R|W MEM channel bank row      R|W GPR gpr      R|W CFR cfr value

Fields are decoded in the fixed order opsize, GPR_addr_0 (`gpr`), GPR_addr_1
(`gpr1`), channel_mask, bank_index (`bank`), row_addr (`row`), keeping those the op
takes, and an ISR must have exactly as many fields as the op takes. The
simulator reads lines only until `AiM EOC`; a file that ends first is an error.

Fields and ranges (limits are keyword arguments of `parse_aim_trace`):

- opsize: consecutive 32-byte columns from column 0 (the ISRs have no column
  field), 1..columns (64: one 2 KB row). The simulator issues nothing for
  opsize <= 0 and runs past the row for larger ones. EWADD (GPR to GPR, not
  timed by the simulator) is held to the same range.
- channel_mask: 1..2**32-1. Bit i selects channel 31 - i (AiMDRAMSystem::
  FindFirstChannelIndex), so with channels=N < 32 only bits 32-N..31 are valid.
  WR_ABK must select exactly one channel (its channel_count_eq_one flag).
- bank: 0..banks-1 (16: 4 bank groups x 4 banks). row: 0..rows-1 (16384).
- gpr, gpr1: 0..2**63-1 (the simulator does not use their values).
- MEM lines: the first field is a channel number 0..channels-1, not a mask
  (aim_DRAM_system.cpp passes it to apply_addr_mapp as the channel id).
- CFR lines: cfr is 0 (broadcast, value 0..1), 1 (ewmul_bg, 0..1) or 2 (afm, 0..7);
  the simulator throws on any other CFR address written.

Deliberate strictness (the simulator accepts these but misreads them, crashes or
ignores them):

- A number must be the whole token: std::stoll ignores trailing characters
  ("12abc" -> 12, "0x10\\r" -> 16), skips leading whitespace, accepts a second
  "0x" after the first ("0x0x10" -> 16) and throws on "0x" alone or on values
  out of int64; fields are also range checked before the simulator's narrowing
  casts (int16 bank, int32 opsize and row, int8 CFR value) could wrap them.
- Tokens are separated by exactly one space: the simulator splits on each " ",
  so doubled, leading or trailing spaces give empty tokens, which it rejects or
  (in R/W lines) passes to std::stoll, which throws. Tabs and carriage returns
  (CRLF files) are rejected with a message of their own.
- R/W lines must have exactly their fields: the simulator ignores extra tokens
  and indexes past the end of the token list for missing ones.
- No command may follow `AiM EOC` (the simulator never reads it); comments and
  blank lines may. `AiM EOC` must end with "\\n": std::getline sets eof on an
  unterminated last line and the simulator then reports a missing EOC.
- AiM WR_AFLUT, which the trace reader accepts, is rejected: AiMDRAMSystem
  throws "ISR_WR_AFLUT not supported" when it reaches it.
- CFR values outside the ranges above are rejected (the simulator stores any
  value, as an int8; only these have a meaning).

Not supported: the simulator's `delimiter: ","` mode (CSV traces); the default
delimiter " " is the only one parsed here.

AttAcc (HBM3-PIM; github scale-snu/attacc_simulator, Ramulator 2.0)
--------------------------------------------------------------------
Sources read: pim_ramulator_src/pim_loadstore_trace.cpp (the PIMLoadStoreTrace
frontend), pim_ramulator_src/hbm3_pim_linear_mappers.cpp (mapper "HBM3-PIM",
HBM3PIMMap), pim_ramulator_src/HBM3-PIM.cpp (preset HBM3_8Gb_2R), attacc_bank.yaml
and src/ramulator_wrapper.py (org HBM3_8Gb_2R with channel: 16, AddrMapper
HBM3-PIM), PIM_DRAM_system.cpp, hbm3_pim_controller.cpp, pim_scheduler.cpp and
trace_gen/gen_trace_attacc_{bank,bg,buffer}.py.

    trace   = (line "\\n")* [line]      # std::getline; the last line may lack "\\n"; may be empty
    line    = op " " address          # exactly two space-separated tokens, nothing else
    op      = LD | ST | PIM_MAC_AB | PIM_MAC_SB | PIM_MAC_PB | PIM_WR_GB | PIM_MV_SB
            | PIM_MV_GB | PIM_SFM | PIM_SET_MODEL | PIM_SET_HEAD | PIM_BARRIER
    address = [+-]? [0-9]+ | 0[xX] [0-9a-fA-F]+   # same decoding as AiM; the generators write 0x%08x

There are no comments and no blank lines (a line without exactly two tokens
throws "format invalid"); an empty file is an empty trace. Every op,
PIM_SET_HEAD and PIM_BARRIER included, goes through the same address mapper
(PIMDRAMSystem::send), and its channel field picks the controller. HBM3PIMMap
drops the low 5 bits (32-byte transactions: prefetch 8 x 32-bit pseudo-channel)
and then takes, from the LSB, column 5, row 14, bank 2, bank group 2, rank 1,
pseudo-channel 1, channel 4 bits (CH pCH Ra BG Ba Ro Co from the MSB): a 34-bit
address. The low 5 bits are accepted and kept as the field `offset`: the
simulator ignores them, but AttAcc's own generators put the GEMV-buffer column of
PIM_WR_GB and PIM_MV_GB there ("+ col_idx").

Deliberate strictness: an address must be the whole token (as for AiM: std::stoll
would ignore trailing characters, including the "\r" of CRLF files); negative
addresses and addresses with bits above bit 33 (which the mapper drops silently)
are rejected.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from pimc.dialects.aim import AIM_CHANNELS, AIM_COLUMNS_PER_ROW, AIM_ISR_FIELDS
from pimc.errors import PimcError


class TraceSyntaxError(PimcError):
    """A trace line the simulator would reject or misread; the message is `line L:C: ...`, one line."""


# -- shared lexical grammar ---------------------------------------------------

# Keywords and numbers only match a whole space-separated token (the lookahead);
# WORD takes any other token, so that an unknown op or a bad number reaches the
# checks below as one token with its position instead of failing mid-token.
_TERMINALS = r"""
AIM.2: /AiM(?![^ \n])/
RW.2: /[RW](?![^ \n])/
REGION.2: /(GPR|CFR|MEM)(?![^ \n])/
NUMBER.2: /(0[xX][0-9a-fA-F]+|[+-]?[0-9]+)(?![^ \n])/
COMMENT.2: /#(?![^\n])|# [^\n]*/
WORD.1: /[^ \n]+/
_SP: " "
_NL: "\n"
"""

_AIM_GRAMMAR = (
    r"""
start: _item* unterminated?
_item: _line? _NL
unterminated: _line
_line: isr | access | comment
isr: AIM _SP WORD (_SP _value)*
access: RW _SP REGION (_SP _value)*
comment: COMMENT
_value: NUMBER | WORD
"""
    + _TERMINALS
)

_ATTACC_GRAMMAR = (
    r"""
start: _item* unterminated?
_item: command _NL
unterminated: command
command: WORD _SP _value
_value: NUMBER | WORD
"""
    + _TERMINALS
)

_INT64_MAX = (1 << 63) - 1

Position = tuple[int, int]
"""(line, column), both 1-based."""


def _error(pos: Position, message: str) -> TraceSyntaxError:
    return TraceSyntaxError(f"line {pos[0]}:{pos[1]}: {message}")


def _position(text: str, offset: int) -> Position:
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


def _start(tok: Token) -> Position:
    return tok.line or 1, tok.column or 1


def _end(tok: Token) -> Position:
    """The position just after `tok`, where a following field would start."""
    return tok.end_line or tok.line or 1, tok.end_column or tok.column or 1


def _check_chars(tok: Token) -> None:
    """Tabs and carriage returns get their own message: the simulator splits on " " and "\\n" only."""
    _check_span(tok.value, (tok.line or 1, tok.column or 1))


def _check_span(span: str, pos: Position) -> None:
    """Raise for the first tab or carriage return in `span`, which starts at `pos` (within one line)."""
    for i, char in enumerate(span):
        if char == "\r":
            raise _error(
                (pos[0], pos[1] + i),
                "carriage return (CRLF line end?): the simulator splits lines on '\\n' only "
                "and keeps '\\r' in the last token",
            )
        if char == "\t":
            raise _error((pos[0], pos[1] + i), "tab: fields are separated by exactly one space")


def _number(tok: Token, what: str, name: str) -> int:
    """The value of a NUMBER token; any other token is a bad number for field `name` of `what`."""
    _check_chars(tok)
    if tok.type != "NUMBER":
        raise _error(_start(tok), f"{what}: bad number {tok.value!r} for {name} (decimal, or hexadecimal with 0x)")
    text = tok.value
    return int(text[2:], 16) if text[:2] in ("0x", "0X") else int(text, 10)


def _syntax_error(text: str, e: UnexpectedInput, kind: str) -> TraceSyntaxError:
    """A one-line TraceSyntaxError for lark's error `e` (the grammar rejected the token at its position);
    kind is "aim" or "attacc"."""
    if isinstance(e, UnexpectedCharacters):
        char = text[e.pos_in_stream] if e.pos_in_stream < len(text) else ""
        return _error((e.line, e.column), f"unexpected character {char!r}")
    if not isinstance(e, UnexpectedToken):
        return _error((max(e.line, 1), max(e.column, 1)), "syntax error")
    tok = e.token
    offset = len(text) if tok.type == "$END" else tok.start_pos or 0
    pos = _position(text, offset)
    at_line_start = offset == 0 or text[offset - 1] == "\n"
    if tok.type == "_SP":
        if at_line_start:
            return _error(pos, "leading space: the simulator splits lines on each space and would read an empty token")
        if text[offset - 1] == " ":
            return _error(pos, "two spaces in a row: fields are separated by exactly one space")
        if offset + 1 >= len(text) or text[offset + 1] == "\n":
            return _error(pos, "trailing space: the simulator would read an empty last token")
        return _error(_position(text, offset + 1), "extra field: a line is exactly 'OP ADDRESS'")
    if tok.type in ("$END", "_NL"):
        if at_line_start:  # AiM accepts blank lines, so only AttAcc gets here
            return _error(pos, "blank line: every line must be 'OP ADDRESS'")
        if text[offset - 1] == " ":
            return _error(_position(text, offset - 1), "trailing space: the simulator would read an empty last token")
        line_start = text.rfind("\n", 0, offset) + 1
        _check_span(text[line_start:offset], _position(text, line_start))
        last = text[line_start:offset]
        if kind == "attacc":
            missing = "an address"
        else:
            missing = "an op" if last == "AiM" else "a region (MEM, GPR or CFR)"
        return _error(pos, f"line ends after {last!r}; expected {missing}")
    _check_chars(tok)
    if kind == "aim" and "AIM" in e.expected:
        if tok.value.startswith("#"):
            return _error(pos, "a comment is '#' alone or '#' followed by a space")
        return _error(pos, f"unknown line type {tok.value!r}; expected 'AiM', 'R', 'W' or a '# ' comment")
    if set(e.expected) == {"REGION"}:
        return _error(pos, f"unknown region {tok.value!r}; expected MEM, GPR or CFR")
    return _error(pos, f"unexpected {tok.value!r}")


class _Callbacks(Transformer):
    """LALR callbacks, run as each line is reduced (so checks go in file order, before lark reads
    further); they forward to the checker of the parse in progress."""

    def isr(self, children: list[Token]) -> Any:
        return _ACTIVE.get().isr(children)

    def access(self, children: list[Token]) -> Any:
        return _ACTIVE.get().access(children)

    def comment(self, children: list[Token]) -> Any:
        return _ACTIVE.get().comment(children)

    def command(self, children: list[Token]) -> Any:
        return _ACTIVE.get().command(children)

    def unterminated(self, children: list[Any]) -> Any:
        return _ACTIVE.get().unterminated(children)

    def start(self, children: list[Any]) -> None:
        return None


_ACTIVE: contextvars.ContextVar[Any] = contextvars.ContextVar("trace_parse_checker")


def _parse(parser: Lark, checker: Any, text: str, kind: str) -> None:
    token = _ACTIVE.set(checker)
    try:
        parser.parse(text)
    except UnexpectedInput as e:
        raise _syntax_error(text, e, kind) from None
    finally:
        _ACTIVE.reset(token)


# -- AiM ------------------------------------------------------------------------

AIM_ACCESS_FIELDS: dict[str, tuple[str, ...]] = {
    "MEM": ("channel", "bank", "row"),
    "GPR": ("gpr",),
    "CFR": ("cfr", "value"),
}
"""The fields of R/W lines by region (aim_trace.cpp)."""

AIM_CFRS: dict[int, tuple[str, int]] = {0: ("broadcast", 1), 1: ("ewmul_bg", 1), 2: ("afm", 7)}
"""CFR address -> (name, largest value) (aim_DRAM_system.cpp `address_to_CFR`)."""


@dataclass(frozen=True)
class TraceLine:
    """One command line of a simulator trace, as the simulator decodes it.

    AiM: op is the ISR mnemonic ("MAC_ABK") or R_MEM, W_MEM, R_GPR, W_GPR, R_CFR, W_CFR, and fields maps
    the field names of `aim.AIM_ISR_FIELDS` / `AIM_ACCESS_FIELDS` to values. AttAcc: op is the trace
    mnemonic ("PIM_MAC_AB"), `address` the byte address and fields its decoding (`attacc_fields`).
    targets/emit/aim_trace.py and targets/emit/attacc_trace.py turn the lines back into `pim.PimCommand`s."""

    line: int
    """1-based line number in the trace text."""
    op: str
    fields: dict[str, int]
    address: int | None = None
    """AttAcc: the line's byte address (None in an AiM trace)."""


class _AimChecker:
    def __init__(self, channels: int, banks: int, rows: int, columns: int, comments: list[tuple[int, str]] | None):
        self.channels, self.banks, self.rows, self.columns = channels, banks, rows, columns
        self.comments = comments
        self.commands: list[TraceLine] = []
        self.eoc: TraceLine | None = None
        self.eoc_end: Position = (1, 1)
        # bit i of a channel mask is channel 31 - i, so N channels are the top N bits
        self.mask_bits = ((1 << channels) - 1) << (AIM_CHANNELS - channels)

    def comment(self, children: list[Token]) -> None:
        tok = children[0]
        if self.comments is not None:
            self.comments.append((tok.line or 1, tok.value[2:]))

    def isr(self, children: list[Token]) -> TraceLine:
        op_tok, values = children[1], children[2:]
        _check_chars(op_tok)
        op = op_tok.value.removeprefix("ISR_")
        if op == "WR_AFLUT":
            raise _error(_start(op_tok), "AiM WR_AFLUT is not supported by the simulator (AiMDRAMSystem throws)")
        if op not in AIM_ISR_FIELDS:
            raise _error(
                _start(op_tok), f"unknown AiM op {op_tok.value!r}; expected one of {', '.join(AIM_ISR_FIELDS)}"
            )
        return self.command(f"AiM {op}", op, AIM_ISR_FIELDS[op], children[-1], values)

    def access(self, children: list[Token]) -> TraceLine:
        rw, region, values = children[0].value, children[1].value, children[2:]
        return self.command(f"{rw} {region}", f"{rw}_{region}", AIM_ACCESS_FIELDS[region], children[-1], values)

    def command(self, what: str, op: str, names: tuple[str, ...], last: Token, values: list[Token]) -> TraceLine:
        line = last.line or 1
        if self.eoc is not None:
            raise _error(
                (line, 1), f"{what} after 'AiM EOC' (line {self.eoc.line}): the simulator stops reading at EOC"
            )
        takes = f"{what} takes {' '.join(names) or 'no fields'}"
        if len(values) < len(names):
            raise _error(_end(last), f"{what}: missing field {names[len(values)]} ({takes})")
        if len(values) > len(names):
            _check_chars(values[len(names)])
            raise _error(_start(values[len(names)]), f"{what}: extra field {values[len(names)].value!r} ({takes})")
        fields: dict[str, int] = {}
        for name, tok in zip(names, values):
            fields[name] = self.check(what, name, _number(tok, what, name), tok, fields)
        cmd = TraceLine(line, op, fields)
        if op == "EOC":
            self.eoc, self.eoc_end = cmd, _end(last)
        self.commands.append(cmd)
        return cmd

    def check(self, what: str, name: str, value: int, tok: Token, fields: dict[str, int]) -> int:
        def outside(lo: int, hi: int, fmt: Callable[[int], str] = str) -> NoReturn:
            raise _error(_start(tok), f"{what}: {name} {fmt(value)} outside {fmt(lo)}..{fmt(hi)}")

        if name == "opsize" and not 1 <= value <= self.columns:
            outside(1, self.columns)
        if name in ("gpr", "gpr1") and not 0 <= value <= _INT64_MAX:
            outside(0, _INT64_MAX)
        if name == "bank" and not 0 <= value < self.banks:
            outside(0, self.banks - 1)
        if name == "row" and not 0 <= value < self.rows:
            outside(0, self.rows - 1)
        if name == "channel" and not 0 <= value < self.channels:
            outside(0, self.channels - 1)
        if name == "channel_mask":
            if not 1 <= value < 1 << AIM_CHANNELS:
                outside(1, (1 << AIM_CHANNELS) - 1, hex)
            if value & ~self.mask_bits:
                bit = (value & ~self.mask_bits).bit_length() - 1
                raise _error(
                    _start(tok),
                    f"{what}: channel_mask {value:#x} bit {bit} selects channel "
                    f"{AIM_CHANNELS - 1 - bit}, outside 0..{self.channels - 1} "
                    f"(bit i is channel {AIM_CHANNELS - 1} - i)",
                )
            if what == "AiM WR_ABK" and value.bit_count() != 1:
                raise _error(_start(tok), f"{what}: channel_mask {value:#x} must select exactly one channel")
        if name == "cfr" and value not in AIM_CFRS:
            known = ", ".join(f"{a} ({n})" for a, (n, _) in AIM_CFRS.items())
            raise _error(_start(tok), f"{what}: unknown CFR {value}; expected {known}")
        if name == "value":
            cfr_name, hi = AIM_CFRS[fields["cfr"]]
            if not 0 <= value <= hi:
                raise _error(_start(tok), f"{what}: value {value} of CFR {fields['cfr']} ({cfr_name}) outside 0..{hi}")
        return value

    def unterminated(self, children: list[Any]) -> None:
        cmd = children[0]
        if isinstance(cmd, TraceLine) and cmd.op == "EOC":
            raise _error(
                self.eoc_end,
                "'AiM EOC' must end with a newline: the simulator's getline hits end of file and reports a missing EOC",
            )


@functools.cache
def _aim_parser() -> Lark:
    return Lark(_AIM_GRAMMAR, parser="lalr", lexer="contextual", transformer=_Callbacks())


def parse_aim_trace(
    text: str,
    *,
    channels: int = AIM_CHANNELS,
    banks: int = 16,
    rows: int = 16384,
    columns: int = AIM_COLUMNS_PER_ROW,
    comments: list[tuple[int, str]] | None = None,
) -> list[TraceLine]:
    """The commands of an AiM simulator trace, in order, ending with `AiM EOC`; a TraceSyntaxError
    for the first line the simulator would reject or misread. Comment lines produce no command;
    when `comments` is given, each is appended to it as (line, text after "# ")."""
    if not 1 <= channels <= AIM_CHANNELS:
        raise ValueError(f"channels {channels} outside 1..{AIM_CHANNELS}")
    for name, limit in (("banks", banks), ("rows", rows), ("columns", columns)):
        if limit < 1:
            raise ValueError(f"{name} must be positive, got {limit}")
    checker = _AimChecker(channels, banks, rows, columns, comments)
    _parse(_aim_parser(), checker, text, "aim")
    if checker.eoc is None:
        end = _position(text, len(text))
        raise _error(end, "the trace ends without 'AiM EOC' (the simulator stops: EOF reached while EOC not reached)")
    return checker.commands


# -- AttAcc ---------------------------------------------------------------------

ATTACC_OPS = (
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
)
"""The ops PIMLoadStoreTrace accepts (pim_loadstore_trace.cpp)."""

ATTACC_OFFSET_BITS = 5
"""Byte offset in a 32-byte transaction (m_tx_offset = log2(prefetch 8 * 32-bit channel / 8)); ignored by the mapper."""
ATTACC_COLUMN_BITS = 5
ATTACC_ROW_BITS = 14
ATTACC_BANK_BITS = 2
ATTACC_BANK_GROUP_BITS = 2
ATTACC_RANK_BITS = 1
ATTACC_PSEUDO_CHANNEL_BITS = 1
ATTACC_CHANNEL_BITS = 4

ATTACC_FIELDS: tuple[tuple[str, int], ...] = (
    ("offset", ATTACC_OFFSET_BITS),
    ("column", ATTACC_COLUMN_BITS),
    ("row", ATTACC_ROW_BITS),
    ("bank", ATTACC_BANK_BITS),
    ("bank_group", ATTACC_BANK_GROUP_BITS),
    ("rank", ATTACC_RANK_BITS),
    ("pseudo_channel", ATTACC_PSEUDO_CHANNEL_BITS),
    ("channel", ATTACC_CHANNEL_BITS),
)
"""The address fields from the least significant bit (HBM3PIMMap::apply on HBM3_8Gb_2R with 16 channels)."""

ATTACC_ADDRESS_BITS = sum(bits for _, bits in ATTACC_FIELDS)
"""34: the widest address the mapper reads; higher bits are dropped."""


def attacc_address(
    *, channel: int, pseudo_channel: int, rank: int, bank_group: int, bank: int, row: int, column: int, offset: int = 0
) -> int:
    """The byte address AttAcc's HBM3-PIM mapper decodes into these fields; ValueError if one is out of range."""
    values = {
        "offset": offset,
        "column": column,
        "row": row,
        "bank": bank,
        "bank_group": bank_group,
        "rank": rank,
        "pseudo_channel": pseudo_channel,
        "channel": channel,
    }
    address, shift = 0, 0
    for name, bits in ATTACC_FIELDS:
        value = values[name]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
            raise ValueError(f"attacc_address: {name} {value!r} outside 0..{(1 << bits) - 1}")
        address |= value << shift
        shift += bits
    return address


def attacc_fields(address: int) -> dict[str, int]:
    """The fields AttAcc's HBM3-PIM mapper reads from `address` (the exact inverse of `attacc_address`);
    ValueError unless 0 <= address < 2**ATTACC_ADDRESS_BITS."""
    if isinstance(address, bool) or not isinstance(address, int) or not 0 <= address < 1 << ATTACC_ADDRESS_BITS:
        raise ValueError(f"attacc_fields: address {address!r} outside 0..{(1 << ATTACC_ADDRESS_BITS) - 1:#x}")
    fields: dict[str, int] = {}
    for name, bits in ATTACC_FIELDS:
        fields[name] = address & ((1 << bits) - 1)
        address >>= bits
    order = ("channel", "pseudo_channel", "rank", "bank_group", "bank", "row", "column", "offset")
    return {name: fields[name] for name in order}


class _AttaccChecker:
    def __init__(self) -> None:
        self.commands: list[TraceLine] = []

    def command(self, children: list[Token]) -> TraceLine:
        op_tok, addr_tok = children
        _check_chars(op_tok)
        if op_tok.value not in ATTACC_OPS:
            hint = " (the AttAcc trace reader has no comments)" if op_tok.value.startswith("#") else ""
            raise _error(
                _start(op_tok), f"unknown AttAcc op {op_tok.value!r}{hint}; expected one of {', '.join(ATTACC_OPS)}"
            )
        op = op_tok.value
        address = _number(addr_tok, op, "the address")
        if address < 0:
            raise _error(_start(addr_tok), f"{op}: negative address {addr_tok.value}")
        if address >> ATTACC_ADDRESS_BITS:
            raise _error(
                _start(addr_tok),
                f"{op}: address {address:#x} has bits above bit {ATTACC_ADDRESS_BITS - 1} "
                f"(the HBM3-PIM mapper reads {ATTACC_ADDRESS_BITS} bits and drops the rest)",
            )
        cmd = TraceLine(op_tok.line or 1, op, attacc_fields(address), address)
        self.commands.append(cmd)
        return cmd

    def unterminated(self, children: list[Any]) -> None:
        pass


@functools.cache
def _attacc_parser() -> Lark:
    return Lark(_ATTACC_GRAMMAR, parser="lalr", lexer="contextual", transformer=_Callbacks())


def parse_attacc_trace(text: str) -> list[TraceLine]:
    """The commands of an AttAcc (HBM3-PIM Ramulator) trace, in order; a TraceSyntaxError for the
    first line the simulator would reject or misread."""
    checker = _AttaccChecker()
    _parse(_attacc_parser(), checker, text, "attacc")
    return checker.commands
