"""convert-pim-to-attacc: expand the PIM macros on AttAcc devices into HBM3-PIM commands, loop-compressed.

The folded all-bank commands of each macro (passes/pim_commands.py) become
`attacc` dialect ops, their loops `pim.repeat`; attention's softmax runs in the
HBM buffer die between its two GEMVs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation
from xdsl.passes import ModulePass

from pimc.dialects import attacc, pim
from pimc.dialects.pim import CommandKind
from pimc.passes.pim_commands import (
    Item,
    Loop,
    attention_block,
    attention_key,
    channel_set,
    gemv_block,
    gemv_key,
    lower_macros,
    repeat_op,
)
from pimc.targets.system import Device


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
            ops.append(repeat_op(item, attacc_ops(item.body, row)))
            continue
        if item.kind in (CommandKind.WR_GB, CommandKind.MV_GB):
            columns, rest = divmod(item.opsize, item.vectors)
            assert not rest, f"{item.kind} of {item.opsize} columns for {item.vectors} vectors"
            cls = attacc.WrGbOp if item.kind == CommandKind.WR_GB else attacc.MvGbOp
            ops.append(
                cls.create(
                    properties={
                        "opsize": pim.i64(columns),
                        "vectors": pim.i64(item.vectors),
                        "channel_mask": channel_set(item),
                    }
                )
            )
        elif item.kind == CommandKind.MAC_ABK:
            assert item.row is not None
            last_row = item.row + row
            ops.append(
                attacc.MacAbOp.create(
                    properties={
                        "opsize": pim.i64(item.opsize),
                        "vectors": pim.i64(item.vectors),
                        "channel_mask": channel_set(item),
                        "row": pim.i64(last_row),
                    }
                )
            )
        elif item.kind == CommandKind.RD_MAC:
            ops.append(
                attacc.MvSbOp.create(
                    properties={
                        "outputs": pim.i64(item.vectors),
                        "channel_mask": channel_set(item),
                        "row": pim.i64(last_row),
                    }
                )
            )
        elif item.kind == CommandKind.SFM:
            ops.append(attacc.SfmOp.create(properties={"channel_mask": channel_set(item)}))
        else:
            assert item.kind == CommandKind.SYNC, f"{item.kind} has no AttAcc command"
            ops.append(attacc.BarrierOp.create())
    return ops


def attacc_commands(op: pim.GemvOp | pim.AttentionOp, dev: Device) -> list[Operation]:
    """AttAcc commands of a GEMV (`gemv_macro_items`) or of attention with the softmax in the buffer die
    (`attention_items`), loop-compressed."""
    if isinstance(op, pim.GemvOp):
        key, base = gemv_key(op, dev)
        return attacc_ops(gemv_block(*key), base)
    key, base = attention_key(op, dev, True)
    return attacc_ops(attention_block(*key), base)


@dataclass(frozen=True)
class ConvertPimToAttaccPass(ModulePass):
    """Fill the `commands` region of every PIM macro placed on an AttAcc HBM3-PIM device (isa =
    "attacc") with AttAcc commands (`attacc` dialect; `attacc_commands`), loop-compressed, with the
    softmax between attention's GEMVs in the buffer die. Macros on devices of other ISAs and macros
    that already hold commands are left alone.
    """

    name = "convert-pim-to-attacc"

    system: str | None = None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        lower_macros(op, self.system, "attacc", attacc_commands)
