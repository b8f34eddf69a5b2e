"""Emit the AiM command trace in the AiM trace simulator's text format.

Format (arkhadem/aim_simulator, shared REFERENCE.md section 2): one command per
line, `AiM <OP> <fields>`, `#` comment lines, and a final `AiM EOC`. Each
macro's block is preceded by a comment naming the op it comes from.
"""

from __future__ import annotations

from xdsl.dialects.builtin import ModuleOp

from pimc.dialects import aim, nn, pim
from pimc.targets.pim_timing import aim_instrs


def emit_aim_trace(module: ModuleOp, model: str, system: str) -> str:
    """The whole program's AiM trace, macros in program order, ending with `AiM EOC`."""
    lines = [f"# pimc AiM trace: model {model}, system {system}"]
    for op in module.walk():
        if not isinstance(op, pim.PIM_MACROS) or not op.commands.blocks:
            continue
        if isinstance(op, pim.GemvOp):
            m, k, n = op.mkn()
            w = op.w.owner
            weight = w.sym_name.data if isinstance(w, nn.WeightOp) else "?"
            layout = op.layout
            lines.append(
                f"# {nn.op_label(op)}: gemv M={m} K={k} N={n} weight {weight} "
                f"channels={layout.channels.value.data} row_base={layout.row_base.value.data}"
            )
        else:
            b, hq, hkv, s, t, d, dv = op.dims()
            lines.append(
                f"# {nn.op_label(op)}: attention B={b} Hq={hq} Hkv={hkv} S={s} T={t} D={d} Dv={dv} "
                f"K cache row_base={op.k_layout.row_base.value.data} V cache row_base={op.v_layout.row_base.value.data}"
            )
        lines.extend(instr.line() for instr in aim_instrs(op.commands.block))
    lines.append(aim.EocOp().trace_line())
    return "\n".join(lines) + "\n"
