"""pim-to-commands: convert-pim-to-aim, then convert-pim-to-attacc, as one pass.

Every PIM macro on an AiM or AttAcc device gets its ISA's commands; macros on
devices of other ISAs keep their cost only (the driver warns about them).
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from pimc.passes.convert_pim_to_aim import ConvertPimToAimPass
from pimc.passes.convert_pim_to_attacc import ConvertPimToAttaccPass


@dataclass(frozen=True)
class PimToCommandsPass(ModulePass):
    """Fill the `commands` region of every PIM macro with its device's ISA commands, loop-compressed:
    `ConvertPimToAimPass` then `ConvertPimToAttaccPass`, both with this pass's system."""

    name = "pim-to-commands"

    system: str | None = None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        ConvertPimToAimPass(self.system).apply(ctx, op)
        ConvertPimToAttaccPass(self.system).apply(ctx, op)
