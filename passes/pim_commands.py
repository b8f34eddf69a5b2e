"""The PIM macros' command sequences before they are given an ISA, folded into loops.

convert-pim-to-aim and convert-pim-to-attacc share this: the all-bank command
sequence of a macro (`pim_timing.gemv_commands`: per input vector group, per pass
over the banks, per row tile of K) is built as `pim.PimCommand`s and folded:
runs of consecutive blocks (a GEMV's passes, its vector groups, an attention's
heads on successive channel groups, its waves) that differ only by a constant row
offset and channel shift become one `Loop`, emitted as `pim.repeat`. A 4096 x
11008 GEMV on AiM is then one repeat of 22 passes around 9 commands, however many
passes it has. `pim.unroll` gives the stream back command by command for the
emitters, the timing model and the functional emulator.

Macros of one shape (Llama-2-7B's 32 layers run GEMVs of four shapes and one
attention) differ only by where their rows start, and folding does not depend on
it: the folded commands are built once per shape with rows from 0
(`gemv_block`, `attention_block`, cached), and each macro's ops are made from
them with its row base added as they are created.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation, Region

from pimc.dialects import nn, pim
from pimc.dialects.pim import CommandKind, PimCommand, channel_span
from pimc.dialects.place import device_of
from pimc.errors import CompileError
from pimc.targets.models.pim_timing import GemvGeometry, gemv_commands, head_slot, layout_geometry
from pimc.targets.system import Device, system_for_module


@dataclass(frozen=True)
class Loop:
    """`body` run `count` times, iteration i with rows i * row_step higher and channels i * channel_step up."""

    count: int
    row_step: int
    channel_step: int
    body: tuple[Item, ...]


Item = PimCommand | Loop
"""A folded command sequence's element: one command (before it is given an ISA) or a loop of them."""


def _shift(item: Item, rows: int, channels: int) -> Item:
    if isinstance(item, Loop):
        return replace(item, body=tuple(_shift(i, rows, channels) for i in item.body))
    return item.shifted(rows, channels)


def _first(items: Iterable[Item], field: str) -> int | None:
    """The first command's `field` (row, or first channel of a command with channels), depth first."""
    for item in items:
        found = (
            _first(item.body, field)
            if isinstance(item, Loop)
            else (item.row if field == "row" else item.first_channel if item.channel_mask else None)
        )
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


def gemv_items(
    m: int, k: int, n: int, geo: GemvGeometry, bias: bool, column_bytes: int, row_base: int, first_channel: int = 0
) -> list[Item]:
    """A GEMV's commands (`pim_timing.gemv_commands`, without the SYNC), folded: pass p's tile t opens row
    row_base + p * k_tiles + t, so full passes fold into one Loop stepping k_tiles rows; the M input
    vectors' groups repeat it with no step."""

    def group(v: int) -> list[Item]:
        blocks: list[list[Item]] = []
        for p, cmd in gemv_commands(v, k, n, geo, bias, column_bytes, sync=False):
            if p == len(blocks):
                blocks.append([])
            blocks[p].append(cmd.shifted(row_base, first_channel))
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
    key, k_base = attention_key(op, dev, softmax_on_device)
    return [_shift(i, k_base, 0) for i in attention_block(*key)]


def attention_key(op: pim.AttentionOp, dev: Device, softmax_on_device: bool) -> tuple[AttentionKey, int]:
    """The arguments of `attention_block` for `op` (its K cache's rows from 0, its V cache's rows from
    v_layout.row_base - k_layout.row_base) and k_layout.row_base."""
    b, hq, hkv, s, t, d, dv = op.dims()
    kg, vg = layout_geometry(op.k_layout, d, dev), layout_geometry(op.v_layout, t, dev)
    k_base, v_base = op.k_layout.row_base.value.data, op.v_layout.row_base.value.data
    width = op.head_channels.value.data
    if width > dev.pim.channels:
        raise CompileError(
            f"pim.attention '{nn.op_label(op)}': head_channels {width} exceeds the "
            f"{dev.pim.channels} channels of device '{dev.name}'"
        )
    return (
        (b, hq, hkv, s, t, d, dv),
        kg,
        vg,
        v_base - k_base,
        width,
        dev.pim.channels,
        dev.pim.column_bytes,
        softmax_on_device,
    ), k_base


AttentionKey = tuple[tuple[int, ...], GemvGeometry, GemvGeometry, int, int, int, int, bool]
"""`attention_block`'s arguments: (dims, K geometry, V geometry, V row base, width, channels, column bytes,
softmax on device)."""
GemvKey = tuple[int, int, int, GemvGeometry, bool, int]
"""`gemv_block`'s arguments: (M, K, N, geometry, bias, column bytes)."""


@functools.lru_cache(maxsize=256)
def attention_block(
    dims: tuple[int, ...],
    kg: GemvGeometry,
    vg: GemvGeometry,
    v_base: int,
    width: int,
    channels: int,
    column_bytes: int,
    softmax_on_device: bool,
) -> tuple[Item, ...]:
    """`attention_items` with the K cache's rows from 0 and the V cache's from `v_base` (which may be
    negative: the caller adds the K cache's row base to every row)."""
    b, hq, hkv, s, t, d, dv = dims
    rows = hq // hkv * s
    k_rows, v_rows = kg.rows(d, t), vg.rows(t, dv)
    score = tuple(gemv_items(rows, d, t, kg, False, column_bytes, 0))
    context = tuple(gemv_items(rows, t, dv, vg, False, column_bytes, v_base))
    if softmax_on_device:
        context = (PimCommand(CommandKind.SFM, 0, channel_span(0, kg.channels)), *(_from_softmax(i) for i in context))
    heads: list[tuple[Item, ...]] = []
    for h in range(b * hkv):
        first, wave = head_slot(h, width, channels)
        heads.append(
            tuple(_shift(i, wave * k_rows, first) for i in score)
            + tuple(_shift(i, wave * v_rows, first) for i in context)
        )
    waves = fold(heads)
    return (*fold([(w,) for w in waves]), PimCommand(CommandKind.SYNC))


def _from_softmax(item: Item) -> Item:
    if isinstance(item, Loop):
        return replace(item, body=tuple(_from_softmax(i) for i in item.body))
    return replace(item, kind=CommandKind.MV_GB) if item.kind == CommandKind.WR_GB else item


def gemv_macro_items(op: pim.GemvOp, dev: Device) -> list[Item]:
    """A pim.gemv's folded commands with the rows of its layout, then SYNC (WR_BIAS only on a device
    with `bias_preload`)."""
    key, base = gemv_key(op, dev)
    return [_shift(i, base, 0) for i in gemv_block(*key)]


def gemv_key(op: pim.GemvOp, dev: Device) -> tuple[GemvKey, int]:
    """The arguments of `gemv_block` for `op`, and its layout's row base."""
    m, k, n = op.mkn()
    geo = layout_geometry(op.layout, k, dev)
    bias = op.bias is not None and dev.pim.bias_preload
    return (m, k, n, geo, bias, dev.pim.column_bytes), op.layout.row_base.value.data


@functools.lru_cache(maxsize=256)
def gemv_block(m: int, k: int, n: int, geo: GemvGeometry, bias: bool, column_bytes: int) -> tuple[Item, ...]:
    """`gemv_macro_items` of a GEMV whose weight's rows start at row 0; none for no input vectors (an idle
    expert's GEMV issues no command, `pim_timing.gemv_commands`)."""
    if m == 0:
        return ()
    return (*gemv_items(m, k, n, geo, bias, column_bytes, 0), PimCommand(CommandKind.SYNC))


def repeat_op(item: Loop, body: list[Operation]) -> pim.RepeatOp:
    """The pim.repeat of a folded loop around `body`, the ops of its body."""
    return pim.RepeatOp.create(
        properties={
            "count": pim.i64(item.count),
            "row_step": pim.i64(item.row_step),
            "channel_step": pim.i64(item.channel_step),
        },
        regions=[Region(Block(body))],
    )


def channel_set(item: PimCommand) -> pim.ChannelsAttr:
    """The channels a command runs on, as the ops' `channel_mask` property."""
    return pim.ChannelsAttr.of(item.channel_mask)


def lower_macros(
    module: ModuleOp,
    system_name: str | None,
    isa: str,
    emit: Callable[[pim.GemvOp | pim.AttentionOp, Device], list[Operation]],
) -> None:
    """Fill the `commands` region of every PIM macro placed on a device whose ISA is `isa` with
    `emit(macro, device)`. Macros that already hold commands and macros on devices of other ISAs are
    left alone; a macro not placed on a PIM device of the system is an error."""
    system = system_for_module(module, system_name)
    for inner in [m for m in pim.macros(module) if not m.commands.blocks]:
        device = device_of(inner)
        if device is None or device not in system.devices or system.devices[device].kind != "pim":
            raise CompileError(f"{inner.name} '{nn.op_label(inner)}' is not placed on a PIM device of '{system.name}'")
        dev = system.devices[device]
        if dev.pim.isa == isa:
            inner.commands.add_block(Block(emit(inner, dev)))
