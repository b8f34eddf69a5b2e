"""convert-pim-to-aim: expand the PIM macros on AiM devices into GDDR6-AiM ISR commands, loop-compressed.

The folded all-bank commands of each macro (passes/pim_commands.py) become `aim`
dialect ops, their loops `pim.repeat`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation
from xdsl.passes import ModulePass

from pimc.dialects import aim, pim
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
            ops.append(repeat_op(item, aim_ops(item.body, row)))
            continue
        assert item.vectors == 1, "AiM ISR MACs one input vector into one accumulator per command"
        if item.kind == CommandKind.WR_BIAS:
            ops.append(aim.WrBiasOp.create(properties={"gpr": _GPR0, "channel_mask": channel_set(item)}))
        elif item.kind == CommandKind.WR_GB:
            ops.append(
                aim.WrGbOp.create(
                    properties={"opsize": pim.i64(item.opsize), "gpr": _GPR0, "channel_mask": channel_set(item)}
                )
            )
        elif item.kind == CommandKind.MAC_ABK:
            assert item.row is not None
            ops.append(
                aim.MacAbkOp.create(
                    properties={
                        "opsize": pim.i64(item.opsize),
                        "channel_mask": channel_set(item),
                        "row": pim.i64(item.row + row),
                    }
                )
            )
        elif item.kind == CommandKind.RD_MAC:
            ops.append(aim.RdMacOp.create(properties={"gpr": _GPR0, "channel_mask": channel_set(item)}))
        else:
            assert item.kind == CommandKind.SYNC, item.kind
            ops.append(aim.SyncOp.create())
    return ops


def aim_gemv_commands(op: pim.GemvOp, dev: Device) -> list[Operation]:
    """AiM ISR commands of one GEMV: the all-bank sequence of `pim_timing.gemv_commands`
    (WR_BIAS?, (WR_GB, MAC_ABK) per row tile of K, RD_MAC per pass over the banks, per
    input row; then SYNC), with the rows of the op's layout, loop-compressed.

    `opsize` = ceil(chunk elements * 2 B / column_bytes): 32-byte columns of FP16.
    A pass's channel set is its active channels, from channel 0.
    """
    key, base = gemv_key(op, dev)
    return aim_ops(gemv_block(*key), base)


def aim_attention_commands(op: pim.AttentionOp, dev: Device) -> list[Operation]:
    """AiM ISR commands of attention on PIM (`attention_items`), loop-compressed."""
    key, base = attention_key(op, dev, False)
    return aim_ops(attention_block(*key), base)


def _aim_macro_commands(op: pim.GemvOp | pim.AttentionOp, dev: Device) -> list[Operation]:
    if isinstance(op, pim.GemvOp):
        return aim_gemv_commands(op, dev)
    return aim_attention_commands(op, dev)


@dataclass(frozen=True)
class ConvertPimToAimPass(ModulePass):
    """Fill the `commands` region of every PIM macro placed on an AiM device (isa = "aim") with
    GDDR6-AiM ISR commands (`aim` dialect; see `aim_gemv_commands` and `aim_attention_commands`),
    loop-compressed. Macros on devices of other ISAs and macros that already hold commands are
    left alone.
    """

    name = "convert-pim-to-aim"

    system: str | None = None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        lower_macros(op, self.system, "aim", _aim_macro_commands)
