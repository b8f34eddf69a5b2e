"""pim-to-commands: expand every PIM macro into the command sequence of its device's ISA."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation
from xdsl.passes import ModulePass

from pimc.compiler.errors import CompileError
from pimc.dialects import aim, nn, pim
from pimc.passes.partition import device_of
from pimc.targets.pim_timing import gemv_commands, head_slot, layout_geometry
from pimc.targets.system import Device, system_for_module

def _aim_ops(seq: Iterable[tuple[str, int, int, int, int]], row_base: int, k_tiles: int, first_channel: int = 0
             ) -> list[Operation]:
    """AiM ISR ops for an all-bank GEMV sequence of `pim_timing.gemv_commands`; pass p's tile t reads
    row row_base + p * k_tiles + t in every bank; channel masks start at `first_channel`. AiM MACs
    one input vector at a time into one accumulator per bank (its 16 lanes match a column's 16
    elements and system.py keeps row_outputs at 1), so every command has vectors = 1."""
    cmds: list[Operation] = []
    tile = 0
    for kind, opsize, channels, p, vectors in seq:
        assert vectors == 1, "AiM ISR MACs one input vector into one accumulator per command"
        mask = ((1 << channels) - 1) << first_channel
        if kind == "WR_BIAS":
            cmds.append(aim.WrBiasOp(0, mask))
        elif kind == "WR_GB":
            cmds.append(aim.WrGbOp(opsize, 0, mask))
        elif kind == "MAC_ABK":
            cmds.append(aim.MacAbkOp(opsize, mask, row_base + p * k_tiles + tile))
            tile += 1
        elif kind == "RD_MAC":
            cmds.append(aim.RdMacOp(0, mask))
            tile = 0
        else:
            cmds.append(aim.SyncOp())
    return cmds


def aim_gemv_commands(op: pim.GemvOp, dev: Device) -> list[Operation]:
    """AiM ISR commands of one GEMV: the all-bank sequence of `pim_timing.gemv_commands`
    (WR_BIAS?, (WR_GB, MAC_ABK) per row tile of K, RD_MAC per pass over the banks, per
    input row; then SYNC), with the rows of the op's layout.

    `opsize` = ceil(chunk elements * 2 B / column_bytes): 32-byte columns of FP16.
    The channel mask of a pass selects its active channels (the low bits).
    """
    m, k, n = op.mkn()
    geo = layout_geometry(op.layout, k, dev)
    seq = gemv_commands(m, k, n, geo, op.bias is not None, dev.p("column_bytes"))
    return _aim_ops(seq, op.layout.row_base.value.data, geo.k_tiles(k))


def aim_attention_commands(op: pim.AttentionOp, dev: Device) -> list[Operation]:
    """AiM ISR commands of attention on PIM: head h (of B * Hkv) runs on the channel group
    g = h % groups (channels g * head_channels ..., groups = channels // head_channels) in wave
    w = h // groups: the score GEMV of its G * S query rows over its K cache (rows from
    k_layout.row_base + w * rows per K head), then the context GEMV over its V cache; one SYNC
    at the end. Groups run in parallel (see pim.AttentionOp and `pim_timing.attention_counts`)."""
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
    cmds: list[Operation] = []
    for h in range(b * hkv):
        first, wave = head_slot(h, width, dev.p("channels"))
        cmds += _aim_ops(gemv_commands(rows, d, t, kg, False, column_bytes, sync=False), k_base + wave * k_rows,
                         kg.k_tiles(d), first)
        cmds += _aim_ops(gemv_commands(rows, t, dv, vg, False, column_bytes, sync=False), v_base + wave * v_rows,
                         vg.k_tiles(t), first)
    cmds.append(aim.SyncOp())
    return cmds


@dataclass(frozen=True)
class PimToCommandsPass(ModulePass):
    """Fill the `commands` region of every PIM macro with its device's ISA commands.

    AiM devices (isa = "aim") get GDDR6-AiM ISR commands (`aim` dialect); see
    `aim_gemv_commands` and `aim_attention_commands` for the sequences. Macros on devices of other ISAs and
    macros that already hold commands are left alone.
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
            if dev.p("isa") != "aim":
                continue  # no emitter for this ISA yet: the macro keeps its cost, the driver warns
            emit = aim_gemv_commands if isinstance(inner, pim.GemvOp) else aim_attention_commands
            inner.commands.add_block(Block(emit(inner, dev)))
