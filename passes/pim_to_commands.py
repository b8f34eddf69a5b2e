"""pim-to-commands: expand every PIM macro into the command sequence of its device's ISA, in loop-compressed form.

The all-bank command sequence of a macro (`pim_timing.gemv_commands`: per input
vector group, per pass over the banks, per row tile of K) is built as plain
`Cmd` records and folded: runs of consecutive blocks (a GEMV's passes, its
vector groups, an attention's heads on successive channel groups, its waves)
that differ only by a constant row offset and channel shift become one `Loop`,
emitted as `pim.repeat`. A 4096 x 11008 GEMV on AiM is then one repeat of 22
passes around 9 commands, however many passes it has. `pim.unroll` gives the
stream back command by command for the emitters, the timing model and the
functional emulator.

Macros of one shape (Llama-2-7B's 32 layers run GEMVs of four shapes and one
attention) differ only by where their rows start, and folding does not depend on
it: the folded commands are built once per shape with rows from 0
(`_gemv_block`, `_attention_block`, cached), and each macro's ops are made from
them with its row base added as they are created.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation, Region
from xdsl.passes import ModulePass

from pimc.compiler.errors import CompileError
from pimc.dialects import aim, attacc, nn, pim
from pimc.passes.partition import device_of
from pimc.targets.pim_timing import GemvGeometry, gemv_commands, head_slot, layout_geometry
from pimc.targets.system import Device, system_for_module


@dataclass(frozen=True)
class Cmd:
    """One all-bank command of a macro, before it is given an ISA: kind, columns, the channels it runs on,
    the row it opens (MAC only) and the input vectors it serves."""

    kind: str
    opsize: int = 0
    channels: int = 0
    first_channel: int = 0
    row: int | None = None
    vectors: int = 1


@dataclass(frozen=True)
class Loop:
    """`body` run `count` times, iteration i with rows i * row_step higher and channels i * channel_step up."""

    count: int
    row_step: int
    channel_step: int
    body: tuple[Item, ...]


Item = Cmd | Loop


def _shift(item: Item, rows: int, channels: int) -> Item:
    if isinstance(item, Loop):
        return replace(item, body=tuple(_shift(i, rows, channels) for i in item.body))
    return replace(item, row=None if item.row is None else item.row + rows,
                   first_channel=item.first_channel + channels if item.channels else 0)


def _first(items: Iterable[Item], field: str) -> int | None:
    """The first command's `field` (row, or first channel of a command with channels), depth first."""
    for item in items:
        found = _first(item.body, field) if isinstance(item, Loop) else (
            item.row if field == "row" else item.first_channel if item.channels else None)
        if found is not None:
            return found
    return None


def _delta(a: tuple[Item, ...], b: tuple[Item, ...]) -> tuple[int, int] | None:
    """(row step, channel step) that turns block a into block b, if one does (both non-negative)."""
    if len(a) != len(b):
        return None
    ra, rb, ca, cb = _first(a, "row"), _first(b, "row"), _first(a, "channel"), _first(b, "channel")
    dr = 0 if ra is None or rb is None else rb - ra
    dc = 0 if ca is None or cb is None else cb - ca
    if dr < 0 or dc < 0:
        return None
    return (dr, dc) if tuple(_shift(i, dr, dc) for i in a) == b else None


def fold(blocks: Sequence[tuple[Item, ...]]) -> list[Item]:
    """The blocks in order, each maximal run of two or more that step by a constant (row, channel)
    shift folded into one Loop."""
    out: list[Item] = []
    i = 0
    while i < len(blocks):
        step = _delta(blocks[i], blocks[i + 1]) if i + 1 < len(blocks) else None
        j = i + 1
        if step is not None:
            j = i + 2
            while j < len(blocks) and _delta(blocks[j - 1], blocks[j]) == step:
                j += 1
        if step is None:
            out.extend(blocks[i])
            i += 1
        else:
            out.append(Loop(j - i, step[0], step[1], blocks[i]))
            i = j
    return out


def gemv_items(m: int, k: int, n: int, geo: GemvGeometry, bias: bool, column_bytes: int, row_base: int,
               first_channel: int = 0) -> list[Item]:
    """A GEMV's commands (`pim_timing.gemv_commands`, without the SYNC), folded: pass p's tile t opens row
    row_base + p * k_tiles + t, so full passes fold into one Loop stepping k_tiles rows; the M input
    vectors' groups repeat it with no step."""
    k_tiles = geo.k_tiles(k)

    def group(v: int) -> list[Item]:
        blocks: list[list[Item]] = []
        tile = 0
        for kind, opsize, channels, p, vectors in gemv_commands(v, k, n, geo, bias, column_bytes, sync=False):
            if p == len(blocks):
                blocks.append([])
            row = None
            if kind == "MAC_ABK":
                row, tile = row_base + p * k_tiles + tile, tile + 1
            elif kind == "RD_MAC":
                tile = 0
            blocks[p].append(Cmd(kind, opsize, channels, first_channel, row, vectors))
        return fold([tuple(b) for b in blocks])

    full, last = divmod(m, geo.vectors)
    items: list[Item] = []
    if full:
        body = group(geo.vectors)
        items += [Loop(full, 0, 0, tuple(body))] if full > 1 else body
    if last:
        items += group(last)
    return items


def attention_items(op: pim.AttentionOp, dev: Device, softmax_on_device: bool = False) -> list[Item]:
    """Attention's commands, folded: head h (of B * Hkv) runs on the channel group g = h % groups
    (channels g * head_channels ..., groups = channels // head_channels) in wave w = h // groups:
    the score GEMV of its G * S query rows over its K cache (rows from k_layout.row_base + w * rows
    per K head), then the context GEMV over its V cache; one SYNC at the end. The heads of a wave fold
    into a Loop stepping head_channels channels; waves fold when a head's K and V take equal rows.
    With `softmax_on_device` (AttAcc's buffer die) an SFM follows the score GEMV and the context GEMV's
    input arrives from it (MV_GB) rather than from the host (WR_GB)."""
    key, k_base = _attention_key(op, dev, softmax_on_device)
    return [_shift(i, k_base, 0) for i in _attention_block(*key)]


_AttentionKey = tuple[tuple[int, ...], GemvGeometry, GemvGeometry, int, int, int, int, bool]
"""The arguments of `_attention_block`."""
_GemvKey = tuple[int, int, int, GemvGeometry, bool, int]
"""The arguments of `_gemv_block`."""


def _attention_key(op: pim.AttentionOp, dev: Device, softmax_on_device: bool) -> tuple[_AttentionKey, int]:
    """The arguments of `_attention_block` for `op` (its K cache's rows from 0, its V cache's rows from
    v_layout.row_base - k_layout.row_base) and k_layout.row_base."""
    b, hq, hkv, s, t, d, dv = op.dims()
    kg, vg = layout_geometry(op.k_layout, d, dev), layout_geometry(op.v_layout, t, dev)
    k_base, v_base = op.k_layout.row_base.value.data, op.v_layout.row_base.value.data
    width = op.head_channels.value.data
    if width > dev.p("channels"):
        raise CompileError(f"pim.attention '{nn.op_label(op)}': head_channels {width} exceeds the "
                           f"{dev.p('channels')} channels of device '{dev.name}'")
    return ((b, hq, hkv, s, t, d, dv), kg, vg, v_base - k_base, width, dev.p("channels"), dev.p("column_bytes"),
            softmax_on_device), k_base


@functools.lru_cache(maxsize=256)
def _attention_block(dims: tuple[int, ...], kg: GemvGeometry, vg: GemvGeometry, v_base: int, width: int,
                     channels: int, column_bytes: int, softmax_on_device: bool) -> tuple[Item, ...]:
    """`attention_items` with the K cache's rows from 0 and the V cache's from `v_base` (which may be
    negative: the caller adds the K cache's row base to every row)."""
    b, hq, hkv, s, t, d, dv = dims
    rows = hq // hkv * s
    k_rows, v_rows = kg.rows(d, t), vg.rows(t, dv)
    score = tuple(gemv_items(rows, d, t, kg, False, column_bytes, 0))
    context = tuple(gemv_items(rows, t, dv, vg, False, column_bytes, v_base))
    if softmax_on_device:
        context = (Cmd("SFM", 0, kg.channels, 0), *(_from_softmax(i) for i in context))
    heads: list[tuple[Item, ...]] = []
    for h in range(b * hkv):
        first, wave = head_slot(h, width, channels)
        heads.append(tuple(_shift(i, wave * k_rows, first) for i in score)
                     + tuple(_shift(i, wave * v_rows, first) for i in context))
    waves = fold(heads)
    return (*fold([(w,) for w in waves]), Cmd("SYNC"))


def _from_softmax(item: Item) -> Item:
    if isinstance(item, Loop):
        return replace(item, body=tuple(_from_softmax(i) for i in item.body))
    return replace(item, kind="MV_GB") if item.kind == "WR_GB" else item


def _repeat(item: Loop, body: list[Operation]) -> pim.RepeatOp:
    return pim.RepeatOp.create(properties={"count": pim.i64(item.count), "row_step": pim.i64(item.row_step),
                                           "channel_step": pim.i64(item.channel_step)},
                               regions=[Region(Block(body))])


def _channels(item: Cmd) -> pim.ChannelsAttr:
    return pim.ChannelsAttr.span(item.first_channel, item.channels)


_GPR0 = pim.i64(0)
"""GPR 0: where the host stages every command's data (the trace leaves the host's data implicit)."""


def aim_ops(items: Iterable[Item], row: int = 0) -> list[Operation]:
    """AiM ISR ops (and pim.repeat loops) for folded commands, `row` added to every row. AiM MACs one
    input vector at a time into one accumulator per bank (its 16 lanes match a column's 16 elements and
    system.py keeps row_outputs at 1), so every command serves one vector; GPR 0 holds the host's data.
    (Ops are made with `create` from shared attributes: the IR the constructors build, without their
    per-op cost; the compile verifies the final IR.)"""
    ops: list[Operation] = []
    for item in items:
        if isinstance(item, Loop):
            ops.append(_repeat(item, aim_ops(item.body, row)))
            continue
        assert item.vectors == 1, "AiM ISR MACs one input vector into one accumulator per command"
        if item.kind == "WR_BIAS":
            ops.append(aim.WrBiasOp.create(properties={"gpr": _GPR0, "channel_mask": _channels(item)}))
        elif item.kind == "WR_GB":
            ops.append(aim.WrGbOp.create(properties={"opsize": pim.i64(item.opsize), "gpr": _GPR0,
                                                     "channel_mask": _channels(item)}))
        elif item.kind == "MAC_ABK":
            assert item.row is not None
            ops.append(aim.MacAbkOp.create(properties={"opsize": pim.i64(item.opsize), "channel_mask": _channels(item),
                                                       "row": pim.i64(item.row + row)}))
        elif item.kind == "RD_MAC":
            ops.append(aim.RdMacOp.create(properties={"gpr": _GPR0, "channel_mask": _channels(item)}))
        else:
            assert item.kind == "SYNC", item.kind
            ops.append(aim.SyncOp.create())
    return ops


def attacc_ops(items: Iterable[Item], row: int = 0) -> list[Operation]:
    """AttAcc HBM3-PIM ops (and pim.repeat loops) for folded commands, `row` added to every row: WR_GB of
    v vectors -> attacc.wr_gb of v vectors (MV_GB, from the softmax unit: attacc.mv_gb), MAC_ABK ->
    attacc.mac_ab serving its v vectors, RD_MAC -> attacc.mv_sb of the results each bank yields, SFM ->
    attacc.sfm, SYNC -> attacc.barrier. A device whose MAC lanes outnumber a column's elements (PAPI's
    FC-PIM: 64 lanes, 16-element columns) multiplies every column it reads with v = lanes // 16 input
    vectors side by side in the global buffer (`pim_timing.GemvGeometry.vectors`). The ISA has no bias
    preload (the device's bias_preload is false), so no WR_BIAS reaches here."""
    ops: list[Operation] = []
    last_row = 0
    for item in items:
        if isinstance(item, Loop):
            ops.append(_repeat(item, attacc_ops(item.body, row)))
            continue
        if item.kind in ("WR_GB", "MV_GB"):
            columns, rest = divmod(item.opsize, item.vectors)
            assert not rest, f"{item.kind} of {item.opsize} columns for {item.vectors} vectors"
            cls = attacc.WrGbOp if item.kind == "WR_GB" else attacc.MvGbOp
            ops.append(cls.create(properties={"opsize": pim.i64(columns), "vectors": pim.i64(item.vectors),
                                              "channel_mask": _channels(item)}))
        elif item.kind == "MAC_ABK":
            assert item.row is not None
            last_row = item.row + row
            ops.append(attacc.MacAbOp.create(properties={
                "opsize": pim.i64(item.opsize), "vectors": pim.i64(item.vectors), "channel_mask": _channels(item),
                "row": pim.i64(last_row)}))
        elif item.kind == "RD_MAC":
            ops.append(attacc.MvSbOp.create(properties={"outputs": pim.i64(item.vectors),
                                                        "channel_mask": _channels(item), "row": pim.i64(last_row)}))
        elif item.kind == "SFM":
            ops.append(attacc.SfmOp.create(properties={"channel_mask": _channels(item)}))
        else:
            assert item.kind == "SYNC", f"{item.kind} has no AttAcc command"
            ops.append(attacc.BarrierOp.create())
    return ops


def gemv_macro_items(op: pim.GemvOp, dev: Device) -> list[Item]:
    """A pim.gemv's folded commands with the rows of its layout, then SYNC (WR_BIAS only on a device
    with `bias_preload`)."""
    key, base = _gemv_key(op, dev)
    return [_shift(i, base, 0) for i in _gemv_block(*key)]


def _gemv_key(op: pim.GemvOp, dev: Device) -> tuple[_GemvKey, int]:
    """The arguments of `_gemv_block` for `op`, and its layout's row base."""
    m, k, n = op.mkn()
    geo = layout_geometry(op.layout, k, dev)
    bias = op.bias is not None and bool(dev.p("bias_preload"))
    return (m, k, n, geo, bias, dev.p("column_bytes")), op.layout.row_base.value.data


@functools.lru_cache(maxsize=256)
def _gemv_block(m: int, k: int, n: int, geo: GemvGeometry, bias: bool, column_bytes: int) -> tuple[Item, ...]:
    """`gemv_macro_items` of a GEMV whose weight's rows start at row 0."""
    return (*gemv_items(m, k, n, geo, bias, column_bytes, 0), Cmd("SYNC"))


def aim_gemv_commands(op: pim.GemvOp, dev: Device) -> list[Operation]:
    """AiM ISR commands of one GEMV: the all-bank sequence of `pim_timing.gemv_commands`
    (WR_BIAS?, (WR_GB, MAC_ABK) per row tile of K, RD_MAC per pass over the banks, per
    input row; then SYNC), with the rows of the op's layout, loop-compressed.

    `opsize` = ceil(chunk elements * 2 B / column_bytes): 32-byte columns of FP16.
    A pass's channel set is its active channels, from channel 0.
    """
    key, base = _gemv_key(op, dev)
    return aim_ops(_gemv_block(*key), base)


def aim_attention_commands(op: pim.AttentionOp, dev: Device) -> list[Operation]:
    """AiM ISR commands of attention on PIM (`attention_items`), loop-compressed."""
    key, base = _attention_key(op, dev, False)
    return aim_ops(_attention_block(*key), base)


def attacc_commands(op: pim.GemvOp | pim.AttentionOp, dev: Device) -> list[Operation]:
    """AttAcc commands of a GEMV (`gemv_macro_items`) or of attention with the softmax in the buffer die
    (`attention_items`), loop-compressed."""
    if isinstance(op, pim.GemvOp):
        key, base = _gemv_key(op, dev)
        return attacc_ops(_gemv_block(*key), base)
    key, base = _attention_key(op, dev, True)
    return attacc_ops(_attention_block(*key), base)


@dataclass(frozen=True)
class PimToCommandsPass(ModulePass):
    """Fill the `commands` region of every PIM macro with its device's ISA commands, loop-compressed.

    AiM devices (isa = "aim") get GDDR6-AiM ISR commands (`aim` dialect; see
    `aim_gemv_commands` and `aim_attention_commands`), AttAcc HBM3-PIM devices (isa =
    "attacc") AttAcc commands (`attacc` dialect; `attacc_commands`), with the softmax between
    attention's GEMVs in the buffer die. Macros on devices of other ISAs and macros that
    already hold commands are left alone.
    """

    name = "pim-to-commands"

    system: str | None = None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        system = system_for_module(op, self.system)
        for inner in [m for m in pim.macros(op) if not m.commands.blocks]:
            device = device_of(inner)
            if device is None or device not in system.devices or system.devices[device].kind != "pim":
                raise CompileError(f"{inner.name} '{nn.op_label(inner)}' is not placed on a PIM device of '{system.name}'")
            dev = system.devices[device]
            isa = dev.p("isa")
            if isa == "aim":
                if isinstance(inner, pim.GemvOp):
                    inner.commands.add_block(Block(aim_gemv_commands(inner, dev)))
                else:
                    inner.commands.add_block(Block(aim_attention_commands(inner, dev)))
            elif isa == "attacc":
                inner.commands.add_block(Block(attacc_commands(inner, dev)))
            # other ISAs have no emitter yet: the macro keeps its cost, the driver warns
