"""pim-to-commands: expand every PIM macro into the command sequence of its device's ISA."""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation
from xdsl.passes import ModulePass

from pimc.compiler.errors import CompileError
from pimc.dialects import aim, nn, pim
from pimc.dialects.pim import PIM_ELEMENT_BYTES, ceil_div
from pimc.passes.partition import device_of
from pimc.targets.system import Device, system_for_module

def aim_gemv_commands(op: pim.GemvOp, dev: Device) -> list[Operation]:
    """AiM ISR commands of one GEMV, for each of its M input rows:

        for each pass p over the banks (channels*banks outputs at a time):
            WR_BIAS                       (only when the GEMV has a bias)
            for each row tile kt of K:
                WR_GB  cols                 input chunk -> global buffer (once if K fits one row)
                MAC_ABK cols, row_base + p * k_tiles + kt
            RD_MAC                          16 results per channel
        SYNC

    `cols` = ceil(chunk elements * 2 B / column_bytes): 32-byte columns of FP16.
    The channel mask of a pass selects ceil(outputs in the pass / banks) channels.
    """
    m, k, n = op.mkn()
    layout = op.layout
    channels, banks = layout.channels.value.data, layout.banks.value.data
    k_tile, row_base = layout.k_tile.value.data, layout.row_base.value.data
    k_tiles, passes = layout.k_tiles(k), layout.passes(n)
    column_bytes = dev.p("column_bytes")
    all_mask = (1 << channels) - 1
    cmds: list[Operation] = []
    for _ in range(m):
        for p in range(passes):
            outputs = min(channels * banks, n - p * channels * banks)
            mask = (1 << ceil_div(outputs, banks)) - 1
            if op.bias is not None:
                cmds.append(aim.WrBiasOp(0, mask))
            for kt in range(k_tiles):
                chunk = min(k_tile, k - kt * k_tile)
                cols = ceil_div(chunk * PIM_ELEMENT_BYTES, column_bytes)
                if k_tiles > 1 or p == 0:
                    cmds.append(aim.WrGbOp(cols, 0, all_mask))
                cmds.append(aim.MacAbkOp(cols, mask, row_base + p * k_tiles + kt))
            cmds.append(aim.RdMacOp(0, mask))
    cmds.append(aim.SyncOp())
    return cmds


@dataclass(frozen=True)
class PimToCommandsPass(ModulePass):
    """Fill the `commands` region of every PIM macro with its device's ISA commands.

    AiM devices (isa = "aim") get GDDR6-AiM ISR commands (`aim` dialect); see
    `aim_gemv_commands` for the sequence. Macros that already hold commands are
    left alone.
    """

    name = "pim-to-commands"

    system: str | None = None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        system = system_for_module(op, self.system)
        for inner in op.walk():
            if not isinstance(inner, pim.GemvOp) or inner.commands.blocks:
                continue
            device = device_of(inner)
            if device is None or device not in system.devices or system.devices[device].kind != "pim":
                raise CompileError(f"pim.gemv '{nn.op_label(inner)}' is not placed on a PIM device of '{system.name}'")
            dev = system.devices[device]
            if dev.p("isa") != "aim":
                raise CompileError(f"pim.gemv '{nn.op_label(inner)}': no command expansion for ISA '{dev.p('isa')}'")
            inner.commands.add_block(Block(aim_gemv_commands(inner, dev)))
