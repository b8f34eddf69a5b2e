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
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation
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
    b, hq, hkv, s, t, d, dv = op.dims()
    rows = hq // hkv * s
    kg, vg = layout_geometry(op.k_layout, d, dev), layout_geometry(op.v_layout, t, dev)
    k_rows, v_rows = kg.rows(d, t), vg.rows(t, dv)
    k_base, v_base = op.k_layout.row_base.value.data, op.v_layout.row_base.value.data
    width = op.head_channels.value.data
    if width > dev.p("channels"):
        raise CompileError(f"pim.attention '{nn.op_label(op)}': head_channels {width} exceeds the "
                           f"{dev.p('channels')} channels of device '{dev.name}'")
    column_bytes = dev.p("column_bytes")
    score = tuple(gemv_items(rows, d, t, kg, False, column_bytes, k_base))
    context = tuple(gemv_items(rows, t, dv, vg, False, column_bytes, v_base))
    if softmax_on_device:
        context = (Cmd("SFM", 0, kg.channels, 0), *(_from_softmax(i) for i in context))
    heads: list[tuple[Item, ...]] = []
    for h in range(b * hkv):
        first, wave = head_slot(h, width, dev.p("channels"))
        heads.append(tuple(_shift(i, wave * k_rows, first) for i in score)
                     + tuple(_shift(i, wave * v_rows, first) for i in context))
    waves = fold(heads)
    return [*fold([(w,) for w in waves]), Cmd("SYNC")]


def _from_softmax(item: Item) -> Item:
    if isinstance(item, Loop):
        return replace(item, body=tuple(_from_softmax(i) for i in item.body))
    return replace(item, kind="MV_GB") if item.kind == "WR_GB" else item


def aim_ops(items: Iterable[Item]) -> list[Operation]:
    """AiM ISR ops (and pim.repeat loops) for folded commands. AiM MACs one input vector at a time into
    one accumulator per bank (its 16 lanes match a column's 16 elements and system.py keeps row_outputs
    at 1), so every command serves one vector; GPR 0 holds the host's data."""
    ops: list[Operation] = []
    for item in items:
        if isinstance(item, Loop):
            ops.append(pim.RepeatOp(item.count, item.row_step, item.channel_step, aim_ops(item.body)))
            continue
        assert item.vectors == 1, "AiM ISR MACs one input vector into one accumulator per command"
        mask = ((1 << item.channels) - 1) << item.first_channel
        if item.kind == "WR_BIAS":
            ops.append(aim.WrBiasOp(0, mask))
        elif item.kind == "WR_GB":
            ops.append(aim.WrGbOp(item.opsize, 0, mask))
        elif item.kind == "MAC_ABK":
            assert item.row is not None
            ops.append(aim.MacAbkOp(item.opsize, mask, item.row))
        elif item.kind == "RD_MAC":
            ops.append(aim.RdMacOp(0, mask))
        else:
            assert item.kind == "SYNC", item.kind
            ops.append(aim.SyncOp())
    return ops


def attacc_ops(items: Iterable[Item]) -> list[Operation]:
    """AttAcc HBM3-PIM ops (and pim.repeat loops) for folded commands: WR_GB -> attacc.wr_gb (MV_GB,
    from the softmax unit: attacc.mv_gb), MAC_ABK -> attacc.mac_ab, RD_MAC -> attacc.mv_sb of the
    results each bank yields, SFM -> attacc.sfm, SYNC -> attacc.barrier. The ISA has no bias preload
    (the device's bias_preload is false), so no WR_BIAS reaches here."""
    ops: list[Operation] = []
    row = 0
    for item in items:
        if isinstance(item, Loop):
            ops.append(pim.RepeatOp(item.count, item.row_step, item.channel_step, attacc_ops(item.body)))
            continue
        assert item.vectors == 1 or item.kind not in ("MAC_ABK", "WR_GB"), "AttAcc MACs one input vector"
        mask = ((1 << item.channels) - 1) << item.first_channel
        if item.kind == "WR_GB":
            ops.append(attacc.WrGbOp(item.opsize, mask))
        elif item.kind == "MV_GB":
            ops.append(attacc.MvGbOp(item.opsize, mask))
        elif item.kind == "MAC_ABK":
            assert item.row is not None
            row = item.row
            ops.append(attacc.MacAbOp(item.opsize, mask, item.row))
        elif item.kind == "RD_MAC":
            ops.append(attacc.MvSbOp(item.vectors, mask, row))
        elif item.kind == "SFM":
            ops.append(attacc.SfmOp(mask))
        else:
            assert item.kind == "SYNC", f"{item.kind} has no AttAcc command"
            ops.append(attacc.BarrierOp())
    return ops


def gemv_macro_items(op: pim.GemvOp, dev: Device) -> list[Item]:
    """A pim.gemv's folded commands with the rows of its layout, then SYNC (WR_BIAS only on a device
    with `bias_preload`)."""
    m, k, n = op.mkn()
    geo = layout_geometry(op.layout, k, dev)
    bias = op.bias is not None and dev.p("bias_preload")
    return [*gemv_items(m, k, n, geo, bias, dev.p("column_bytes"), op.layout.row_base.value.data), Cmd("SYNC")]


def aim_gemv_commands(op: pim.GemvOp, dev: Device) -> list[Operation]:
    """AiM ISR commands of one GEMV: the all-bank sequence of `pim_timing.gemv_commands`
    (WR_BIAS?, (WR_GB, MAC_ABK) per row tile of K, RD_MAC per pass over the banks, per
    input row; then SYNC), with the rows of the op's layout, loop-compressed.

    `opsize` = ceil(chunk elements * 2 B / column_bytes): 32-byte columns of FP16.
    The channel mask of a pass selects its active channels (the low bits).
    """
    return aim_ops(gemv_macro_items(op, dev))


def aim_attention_commands(op: pim.AttentionOp, dev: Device) -> list[Operation]:
    """AiM ISR commands of attention on PIM (`attention_items`), loop-compressed."""
    return aim_ops(attention_items(op, dev))


@dataclass(frozen=True)
class PimToCommandsPass(ModulePass):
    """Fill the `commands` region of every PIM macro with its device's ISA commands, loop-compressed.

    AiM devices (isa = "aim") get GDDR6-AiM ISR commands (`aim` dialect; see
    `aim_gemv_commands` and `aim_attention_commands`), AttAcc HBM3-PIM devices (isa =
    "attacc") AttAcc commands (`attacc` dialect; `attacc_ops`), with the softmax between
    attention's GEMVs in the buffer die. Macros on devices of other ISAs and macros that
    already hold commands are left alone.
    """

    name = "pim-to-commands"

    system: str | None = None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        system = system_for_module(op, self.system)
        for inner in op.walk():
            if not isinstance(inner, pim.PIM_MACROS) or inner.commands.blocks:
                continue
            device = device_of(inner)
            if device is None or device not in system.devices or system.devices[device].kind != "pim":
                raise CompileError(f"{inner.name} '{nn.op_label(inner)}' is not placed on a PIM device of '{system.name}'")
            dev = system.devices[device]
            isa = dev.p("isa")
            if isa == "aim":
                emit = aim_gemv_commands if isinstance(inner, pim.GemvOp) else aim_attention_commands
                inner.commands.add_block(Block(emit(inner, dev)))
            elif isa == "attacc":
                items = (gemv_macro_items(inner, dev) if isinstance(inner, pim.GemvOp)
                         else attention_items(inner, dev, softmax_on_device=True))
                inner.commands.add_block(Block(attacc_ops(items)))
            # other ISAs have no emitter yet: the macro keeps its cost, the driver warns
