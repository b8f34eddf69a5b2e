"""The `pim` dialect: macro ops a processing-in-memory device executes, with their data layout.

A macro is one kernel launch on the PIM device (e.g. a matrix-vector product
over a weight resident in the DRAM banks). `convert-pim-to-aim` and `convert-pim-to-attacc`
expand each macro into its device's command set and records the commands in the macro's region.
`#pim.channels<...>` is the set of PIM channels a device command runs on (the
`channel_mask` of the `aim` and `attacc` commands), of any size.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import StrEnum

from xdsl.dialects.builtin import I64, Float64Type, FloatAttr, IntegerAttr, TensorType, UnitAttr
from xdsl.ir import Attribute, Block, Data, Dialect, Operation, ParametrizedAttribute, Region, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
)
from xdsl.parser import AttrParser, Parser
from xdsl.printer import Printer
from xdsl.traits import NoTerminator
from xdsl.utils.exceptions import VerifyException

from pimc.dialects.nn import attention_dims, tensor_shape, verify_attention_shapes

PIM_ELEMENT_BYTES = 2
"""PIM MAC lanes compute in FP16: a weight or input element occupies 2 bytes in the banks."""

_LAYOUT_FIELDS = ("channels", "banks", "k_tile", "row_base")


def ceil_div(a: int, b: int) -> int:
    """ceil(a / b) for non-negative integers."""
    return -(-a // b)


_I64: dict[int, IntegerAttr] = {}
_SHARED_MAX = 1 << 16
"""Shared attributes kept per kind before the table starts afresh (rows of a large device are many)."""


def i64(value: int) -> IntegerAttr:
    """`value : i64`, one shared attribute per value (attributes are immutable; building one costs ~15 us)."""
    attr = _I64.get(value)
    if attr is None:
        if len(_I64) >= _SHARED_MAX:
            _I64.clear()
        attr = _I64[value] = IntegerAttr(value, 64)
    return attr


class CommandKind(StrEnum):
    """What an all-bank PIM command does. Every bank of every channel in the command's set runs it in
    lockstep; the value is the AiM ISR mnemonic (arkhadem/aim_simulator) of the command, or of the one
    it corresponds to. targets/models/pim_timing.py gives each kind its cycles and energy."""

    WR_GB = "WR_GB"
    """The host writes input-vector columns (32 bytes each) into each channel's global buffer (AiM
    WR_GB, AttAcc PIM_WR_GB)."""
    MV_GB = "MV_GB"
    """The HBM buffer die's softmax unit moves probability-vector columns into each channel's global
    buffer (AttAcc PIM_MV_GB); timed as WR_GB."""
    WR_BIAS = "WR_BIAS"
    """The host preloads each bank's MAC accumulators with a bias (AiM WR_BIAS)."""
    MAC_ABK = "MAC_ABK"
    """Every bank opens `row`, multiplies columns of it with the global buffer's vectors and
    accumulates (AiM MAC_ABK, AttAcc PIM_MAC_AB)."""
    RD_MAC = "RD_MAC"
    """Each bank's MAC results leave the banks: to the host (AiM RD_MAC) or to the buffer die (AttAcc
    PIM_MV_SB)."""
    SFM = "SFM"
    """Softmax in the HBM buffer die over the scores it holds (AttAcc PIM_SFM); not timed."""
    SYNC = "SYNC"
    """Barrier: every channel waits until all earlier commands have finished (AiM SYNC, AttAcc
    PIM_BARRIER)."""
    EOC = "EOC"
    """End of compute: the AiM simulator stops reading its trace here (AiM EOC)."""


def channel_span(first: int, count: int) -> int:
    """The bit mask of channels first .. first + count - 1 (bit c = channel c)."""
    return ((1 << count) - 1) << first


@dataclass(frozen=True)
class PimCommand:
    """One all-bank PIM command with concrete fields: what the `aim` and `attacc` command ops stand for
    once the enclosing `pim.repeat` loops have been applied, what the lowering builds before it picks an
    ISA, what the timing model times and what the traces are parsed back into."""

    kind: CommandKind
    opsize: int = 0
    """32-byte DRAM columns the command covers: WR_GB / MV_GB the columns written into each global
    buffer (vectors x columns per vector), MAC_ABK the columns each bank reads from its open row;
    0 for the other kinds."""
    channel_mask: int = 0
    """The channels the command runs on: bit c set = channel c (0 for SYNC and EOC, which hold every
    channel)."""
    vectors: int = 1
    """WR_GB / MV_GB / MAC_ABK: input vectors each column is written for or multiplied with;
    WR_BIAS / RD_MAC: results per bank (every output the bank computes, for every vector)."""
    row: int | None = None
    """The DRAM row each bank has open (MAC_ABK; AttAcc's RD_MAC: the row whose results move), else None."""
    gpr: int = 0
    """AiM: the host-visible general-purpose register the data comes from or goes to (0 elsewhere)."""

    @property
    def channels(self) -> int:
        """Channels the command runs on."""
        return self.channel_mask.bit_count()

    @property
    def first_channel(self) -> int:
        """The lowest channel the command runs on (0 for none)."""
        mask = self.channel_mask
        return (mask & -mask).bit_length() - 1 if mask else 0

    def shifted(self, rows: int, channels: int) -> PimCommand:
        """The command `rows` rows higher and on the channel set shifted `channels` channels up (what an
        enclosing `pim.repeat` iteration makes of it)."""
        return replace(
            self, row=None if self.row is None else self.row + rows, channel_mask=self.channel_mask << channels
        )


@irdl_attr_definition
class ChannelsAttr(Data[int]):
    """A set of PIM channels: the channels a device command runs on, all in lockstep.

    Written as channel numbers and inclusive ranges in ascending order,
    `#pim.channels<0-11>` (channels 0 to 11), `#pim.channels<0-3, 8, 10-11>`,
    `#pim.channels<>` (none); any number of channels (the attacc preset has 80).
    The parser takes numbers and ranges in any order and overlapping; the printer
    writes the canonical form, so the text round-trips. `data` holds the set as a
    bit mask of unbounded width: bit c set = channel c is in the set. (The AiM
    trace writes the same set as the simulator's 32-bit mask, bit-reversed:
    aim.trace_mask.)
    """

    name = "pim.channels"

    @staticmethod
    def of(mask: int) -> ChannelsAttr:
        """The set whose bit mask is `mask` (bit c = channel c), one shared attribute per set."""
        attr = _CHANNEL_SETS.get(mask)
        if attr is None:
            if len(_CHANNEL_SETS) >= _SHARED_MAX:
                _CHANNEL_SETS.clear()
            attr = _CHANNEL_SETS[mask] = ChannelsAttr(mask)
        return attr

    @staticmethod
    def span(first: int, count: int) -> ChannelsAttr:
        """Channels first .. first + count - 1."""
        return ChannelsAttr.of(channel_span(first, count))

    @property
    def mask(self) -> int:
        """The set as a bit mask: bit c set = channel c."""
        return self.data

    def runs(self) -> list[tuple[int, int]]:
        """(first, last) of every maximal run of consecutive channels, ascending."""
        out: list[tuple[int, int]] = []
        mask, base = self.data, 0
        while mask:
            skip = (mask & -mask).bit_length() - 1
            mask >>= skip
            base += skip
            length = (~mask & (mask + 1)).bit_length() - 1
            out.append((base, base + length - 1))
            mask >>= length
            base += length
        return out

    def text(self) -> str:
        """The set as written inside the angle brackets: `0-11, 16`."""
        return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in self.runs())

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> int:
        what = " (a channel number or a range such as 0-11)"
        parser.parse_punctuation("<")
        mask = 0
        if parser.parse_optional_punctuation(">") is not None:
            return mask
        while True:
            start = parser.pos
            first = last = parser.parse_integer(allow_boolean=False, allow_negative=False, context_msg=what)
            if parser.parse_optional_punctuation("-") is not None:
                last = parser.parse_integer(allow_boolean=False, allow_negative=False, context_msg=what)
                if last < first:
                    parser.raise_error(f"channel range {first}-{last} runs backwards", start, parser.pos)
            if last > MAX_CHANNEL:
                parser.raise_error(
                    f"channel {last} is beyond the largest channel number {MAX_CHANNEL}", start, parser.pos
                )
            mask |= ((1 << (last - first + 1)) - 1) << first
            if parser.parse_optional_punctuation(",") is None:
                break
        parser.parse_punctuation(">", " to end the channel set")
        return mask

    def print_parameter(self, printer: Printer) -> None:
        printer.print_string(f"<{self.text()}>")

    def verify(self) -> None:
        if type(self.data) is not int or self.data < 0:  # a bool is an int but not a mask
            raise VerifyException(f"#pim.channels holds a non-negative bit mask, got {self.data!r}")


_CHANNEL_SETS: dict[int, ChannelsAttr] = {}

MAX_CHANNEL = 65535
"""The largest channel number a `#pim.channels` set may name in IR text (system files allow 4096 channels)."""


def channels_attr(channels: int | ChannelsAttr) -> ChannelsAttr:
    """A command op's channel set from a bit mask (bit c = channel c) or a set."""
    return channels if isinstance(channels, ChannelsAttr) else ChannelsAttr.of(channels)


@irdl_attr_definition
class GemvLayoutAttr(ParametrizedAttribute):
    """How a K x N weight matrix is tiled onto the banks for a GEMV.

    Each (channel, bank) pair holds one output neuron per pass: the K inputs of
    that neuron lie in `k_tile`-element chunks, one DRAM row per chunk, in rows
    `row_base`, `row_base + 1`, ... A pass computes `channels * banks` outputs
    at once (all banks of all channels MAC in lockstep); ceil(N / (channels *
    banks)) passes cover N. Rows used per bank = n_passes * ceil(K / k_tile).
    On a device that yields several outputs per opened row (`row_outputs`: more
    accumulators, or results read out while the row stays open) and K short
    enough, one row packs `per_row` outputs' K vectors side by side
    (pim_timing.GemvGeometry), a pass computes per_row times as many outputs, and
    the passes shrink accordingly; the device fixes per_row, so it is not stored.

    - channels: PIM channels used (channels 0 .. channels - 1 of the macro's channel group)
    - banks: banks per channel computing in parallel
    - k_tile: elements of K per DRAM row: min(row_bytes, gb_bytes) / 2 (an FP16
      element is 2 bytes; a row tile is also the chunk of the input vector the
      global buffer holds, so a buffer smaller than a row caps it;
      pim_timing.gemv_geometry)
    - row_base: first DRAM row of this weight in every bank
    """

    name = "pim.gemv_layout"

    channels: IntegerAttr[I64]
    banks: IntegerAttr[I64]
    k_tile: IntegerAttr[I64]
    row_base: IntegerAttr[I64]

    def __init__(self, channels: int, banks: int, k_tile: int, row_base: int):
        super().__init__(
            IntegerAttr(channels, 64), IntegerAttr(banks, 64), IntegerAttr(k_tile, 64), IntegerAttr(row_base, 64)
        )

    def print_parameters(self, printer: Printer) -> None:
        fields = ", ".join(f"{f} = {getattr(self, f).value.data}" for f in _LAYOUT_FIELDS)
        printer.print_string(f"<{fields}>")

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> list[Attribute]:
        values: list[Attribute] = []
        with parser.in_angle_brackets():
            for i, field in enumerate(_LAYOUT_FIELDS):
                if i:
                    parser.parse_punctuation(",")
                parser.parse_keyword(field)
                parser.parse_punctuation("=")
                values.append(IntegerAttr(parser.parse_integer(), 64))
        return values

    def verify(self) -> None:
        for field in ("channels", "banks", "k_tile"):
            if getattr(self, field).value.data <= 0:
                raise VerifyException(f"gemv layout {field} must be positive")
        if self.row_base.value.data < 0:
            raise VerifyException("gemv layout row_base must be non-negative")


@irdl_op_definition
class GemvOp(IRDLOperation):
    """y = x . W (+ bias) on the PIM device, for every one of the M rows of x.

    x is [..., K] (M = product of the leading dims, each row one GEMV), W is a
    [K, N] weight (or [N, K] when `transpose_w` is set, as torch.nn.Linear stores
    it) resident in the banks laid out by `layout`, bias is [N], and y is [..., N]. FLOPs = 2*M*K*N. The `commands`
    region holds the device commands once `convert-pim-to-aim` or `convert-pim-to-attacc` has run; it is empty
    before.
    """

    name = "pim.gemv"

    x = operand_def(TensorType)
    w = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    result = result_def(TensorType)
    layout = prop_def(GemvLayoutAttr)
    transpose_w = opt_prop_def(UnitAttr)
    commands = region_def()

    traits = traits_def(NoTerminator())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$x `,` $w (`,` $bias^)? attr-dict `:` functional-type(operands, results) $commands"

    def __init__(
        self,
        x: SSAValue,
        w: SSAValue,
        bias: SSAValue | None,
        result_type: TensorType,
        layout: GemvLayoutAttr,
        transpose_w: bool = False,
    ):
        super().__init__(
            operands=[x, w, bias],
            result_types=[result_type],
            properties={"layout": layout, "transpose_w": UnitAttr() if transpose_w else None},
            regions=[Region()],
        )

    def mkn(self) -> tuple[int, int, int]:
        """(M, K, N): M rows of x, each a K-vector, against a K x N weight."""
        xs = tensor_shape(self.x.type)
        k, n = tensor_shape(self.w.type)
        if self.transpose_w is not None:
            k, n = n, k
        return math.prod(xs[:-1]), k, n

    def verify_(self) -> None:
        xs, ws, ys = (tensor_shape(v.type) for v in (self.x, self.w, self.result))
        if len(ws) != 2:
            raise VerifyException(f"gemv weight must be 2-D, got shape {ws}")
        k, n = (ws[1], ws[0]) if self.transpose_w is not None else ws
        if len(xs) == 0 or xs[-1] != k:
            raise VerifyException(f"gemv input {xs} does not match weight {ws}: K differs")
        if ys != (*xs[:-1], n):
            raise VerifyException(f"gemv result shape {ys} should be {(*xs[:-1], n)}")
        if self.bias is not None and tensor_shape(self.bias.type) not in ((n,), (1, n)):
            raise VerifyException(f"gemv bias must have N={n} elements")


@irdl_op_definition
class AttentionOp(IRDLOperation):
    """nn.attention on a PIM device whose banks hold the KV cache (AttAcc-style).

    Same operands, result and semantics as `nn.attention` (q [B, Hq, S, D], k
    [B, Hkv, T, D], v [B, Hkv, T, Dv], optional mask). The B * Hkv K/V heads are
    spread over groups of `head_channels` channels (targets/models/pim_timing.py
    `attention_mapping`): head h runs on channels g * head_channels .. of group
    g = h % groups (groups = device channels // head_channels) in wave
    w = h // groups, and groups run in parallel. Each head's G = Hq / Hkv query
    heads x S rows run two all-bank GEMVs: scores = q . K^T against the head's K
    cache laid out by `k_layout` (a D x T matrix: K-dim D, T outputs), then
    context = p . V against its V cache laid out by `v_layout` (a T x Dv matrix).
    Head h's K rows start at k_layout.row_base + w * rows per K head, its V rows
    likewise. The softmax between the two runs outside the banks (the scores are
    read out with RD_MAC and the probabilities written back with WR_GB), with
    `scale` and `mask_fill`, the values of the `nn.attention` it was lowered from.
    """

    name = "pim.attention"

    q = operand_def(TensorType)
    k = operand_def(TensorType)
    v = operand_def(TensorType)
    mask = opt_operand_def(TensorType)
    result = result_def(TensorType)
    scale = prop_def(FloatAttr[Float64Type])
    """The factor the scores q . k are multiplied by before the softmax (dimensionless; 1/sqrt(D) in
    the usual scaled dot-product attention). Finite and positive."""
    mask_fill = opt_prop_def(FloatAttr[Float64Type])
    """With a `mask` operand: the mask is boolean and a score whose mask element is false becomes this
    value (a score, so dimensionless; -inf or a large negative number such as -1e4); unset, the mask is
    additive (scores + mask). Not NaN and not +inf."""
    causal = opt_prop_def(UnitAttr)
    """Set when the mask hides future positions (key t > query s); a record of what the mask does, it
    does not change the result."""
    k_layout = prop_def(GemvLayoutAttr)
    v_layout = prop_def(GemvLayoutAttr)
    head_channels = prop_def(IntegerAttr[I64])
    commands = region_def()

    traits = traits_def(NoTerminator())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$q `,` $k `,` $v (`,` $mask^)? attr-dict `:` functional-type(operands, results) $commands"

    def __init__(
        self,
        q: SSAValue,
        k: SSAValue,
        v: SSAValue,
        mask: SSAValue | None,
        result_type: TensorType,
        k_layout: GemvLayoutAttr,
        v_layout: GemvLayoutAttr,
        head_channels: int,
        *,
        scale: float,
        mask_fill: float | None = None,
        causal: bool = False,
    ):
        super().__init__(
            operands=[q, k, v, mask],
            result_types=[result_type],
            properties={
                "scale": FloatAttr(scale, 64),
                "mask_fill": None if mask_fill is None else FloatAttr(mask_fill, 64),
                "causal": UnitAttr() if causal else None,
                "k_layout": k_layout,
                "v_layout": v_layout,
                "head_channels": IntegerAttr(head_channels, 64),
            },
            regions=[Region()],
        )

    def dims(self) -> tuple[int, int, int, int, int, int, int]:
        """(B, Hq, Hkv, S, T, D, Dv)."""
        return attention_dims(self.q.type, self.v.type)

    def verify_(self) -> None:
        verify_attention_shapes(self, "pim.attention")
        scale = self.scale.value.data
        if not (math.isfinite(scale) and scale > 0):
            raise VerifyException(f"pim.attention: scale must be finite and positive, got {scale}")
        if self.mask_fill is not None:
            fill = self.mask_fill.value.data
            if math.isnan(fill) or fill == math.inf:
                raise VerifyException(f"pim.attention: mask_fill must not be NaN or +inf, got {fill}")
        width = self.head_channels.value.data
        if width < 1:
            raise VerifyException(f"pim.attention: head_channels must be at least 1, got {width}")
        for name in ("k_layout", "v_layout"):
            channels = getattr(self, name).channels.value.data
            if channels > width:
                raise VerifyException(
                    f"pim.attention: {name} uses {channels} channels, more than head_channels {width}"
                )


@irdl_op_definition
class RepeatOp(IRDLOperation):
    """A loop in a command stream, so that a macro's commands stay a few ops however large it is.

    The body (command ops and nested repeats) runs `count` times; in iteration i
    (0-based) every row address in it is i * row_step higher and every command's
    channel set (`channel_mask`) is shifted i * channel_step channels up (channel
    c becomes c + i * channel_step). Nested repeats add up. Emitters
    and the timing model see the stream unrolled (`unroll`): a GEMV's passes over
    the banks are one repeat whose rows step by the weight's row tiles, an
    attention's heads one repeat over channel groups inside one over waves of rows.
    """

    name = "pim.repeat"

    count = prop_def(IntegerAttr[I64])
    row_step = prop_def(IntegerAttr[I64])
    channel_step = prop_def(IntegerAttr[I64])
    body = region_def("single_block")

    traits = traits_def(NoTerminator())

    def print(self, printer: Printer) -> None:
        printer.print_string(
            f" {self.count.value.data} rows + {self.row_step.value.data} channels + {self.channel_step.value.data} "
        )
        printer.print_region(self.body, print_entry_block_args=False, print_block_terminators=False)

    @classmethod
    def parse(cls, parser: Parser) -> RepeatOp:
        """`pim.repeat COUNT rows + ROW_STEP channels + CHANNEL_STEP { ... }`"""
        count = parser.parse_integer(allow_negative=False, allow_boolean=False)
        parser.parse_keyword("rows")
        parser.parse_punctuation("+")
        row_step = parser.parse_integer(allow_negative=False, allow_boolean=False)
        parser.parse_keyword("channels")
        parser.parse_punctuation("+")
        channel_step = parser.parse_integer(allow_negative=False, allow_boolean=False)
        region = parser.parse_region()
        body = region.block
        ops = list(body.ops)
        for inner in ops:
            inner.detach()
        return cls(count, row_step, channel_step, ops)

    def __init__(self, count: int, row_step: int, channel_step: int, body: list[Operation]):
        super().__init__(
            properties={"count": i64(count), "row_step": i64(row_step), "channel_step": i64(channel_step)},
            regions=[Region(Block(body))],
        )

    def verify_(self) -> None:
        if self.count.value.data < 1:
            raise VerifyException(f"pim.repeat: count must be at least 1, got {self.count.value.data}")
        if self.row_step.value.data < 0 or self.channel_step.value.data < 0:
            raise VerifyException("pim.repeat: row_step and channel_step must be non-negative")


def unroll(block: Block, row: int = 0, channel: int = 0) -> Iterator[tuple[Operation, int, int]]:
    """Every command op of a command block in execution order, repeats unrolled, with the row offset
    and channel shift the enclosing repeats add to it."""
    for op in block.ops:
        if isinstance(op, RepeatOp):
            rs, cs = op.row_step.value.data, op.channel_step.value.data
            for i in range(op.count.value.data):
                yield from unroll(op.body.block, row + i * rs, channel + i * cs)
        else:
            yield op, row, channel


def stream_signature(block: Block) -> tuple[tuple[object, ...], int]:
    """(key, row base) of a command block: two blocks have equal keys exactly when they unroll to the same
    commands but for one constant offset of every row, the difference of their row bases (the row
    property first met in op order; 0 if none). Emitters render one text per key and shift its rows."""
    base: list[int] = []

    def key(b: Block) -> tuple[object, ...]:
        out: list[object] = []
        for op in b.ops:
            if isinstance(op, RepeatOp):
                out.append(
                    (op.count.value.data, op.row_step.value.data, op.channel_step.value.data, key(op.body.block))
                )
                continue
            fields: list[object] = [op.name]
            for name, attr in op.properties.items():
                if isinstance(attr, IntegerAttr):
                    value = attr.value.data
                    if name == "row":
                        if not base:
                            base.append(value)
                        value -= base[0]
                    fields.append((name, value))
                elif isinstance(attr, ChannelsAttr):
                    fields.append((name, attr.data))
                else:
                    fields.append((name, attr))
            out.append(tuple(fields))
        return tuple(out)

    k = key(block)
    return k, base[0] if base else 0


def unrolled_length(block: Block) -> int:
    """Commands in `unroll(block)`, without unrolling."""
    n = 0
    for op in block.ops:
        n += op.count.value.data * unrolled_length(op.body.block) if isinstance(op, RepeatOp) else 1
    return n


PIM_MACROS = (GemvOp, AttentionOp)
"""Every macro op: each holds its device commands in a `commands` region."""


def macros(op: Operation) -> Iterator[GemvOp | AttentionOp]:
    """Every PIM macro nested in `op`, in program order, without walking into the macros' command regions
    (which hold most of a lowered module's ops)."""
    for region in op.regions:
        for block in region.blocks:
            for inner in block.ops:
                if isinstance(inner, PIM_MACROS):
                    yield inner
                elif inner.regions:
                    yield from macros(inner)


PIM = Dialect("pim", [GemvOp, AttentionOp, RepeatOp], [GemvLayoutAttr, ChannelsAttr])
