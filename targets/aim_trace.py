"""Emit the AiM command trace in the AiM trace simulator's text format.

Format (arkhadem/aim_simulator, shared REFERENCE.md section 2): one command per
line, `AiM <OP> <fields>`, `#` comment lines, and a final `AiM EOC`. Each
macro's block is preceded by a comment naming the op it comes from.
"""

from __future__ import annotations

from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block

from pimc.dialects import aim, nn, pim
from pimc.passes.partition import device_of
from pimc.targets.pim_timing import Command, PimCounts, aim_command, aim_instrs, stream_counts
from pimc.targets.system import Device


def emit_aim_trace(module: ModuleOp, model: str, system: str, device: str | None = None) -> str:
    """The whole program's AiM trace (of `device`'s macros, default every macro with AiM commands),
    macros in program order, ending with `AiM EOC`."""
    lines = [f"# pimc AiM trace: model {model}, system {system}" + (f", device {device}" if device else "")]
    for op in module.walk():
        if not isinstance(op, pim.PIM_MACROS) or not op.commands.blocks:
            continue
        if (device is not None and device_of(op) != device) or not is_aim_stream(op.commands.block):
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


def is_aim_stream(block: Block) -> bool:
    """Whether a macro's command block holds AiM ISR ops."""
    return any(isinstance(op, aim.AimCommandOp) for op in block.walk())


def trace_macro_counts(text: str, dev: Device) -> dict[str, PimCounts]:
    """Time an AiM trace as written: parse it strictly (targets/trace_parse.py), split it at the
    comment naming each macro, and apply the timing model (`pim_timing.stream_counts`) to each
    macro's commands. Keys are the op names the comments give."""
    from pimc.targets.trace_parse import parse_aim_trace

    comments: list[tuple[int, str]] = []
    commands = parse_aim_trace(text, channels=dev.p("channels"), banks=dev.p("banks_per_channel"),
                               rows=dev.p("rows_per_bank"), columns=dev.p("row_bytes") // dev.p("column_bytes"),
                               comments=comments)
    starts = []
    for line, comment in comments:
        head = comment.removeprefix("#").strip()
        for kind in (": gemv ", ": attention "):
            if kind in head:
                starts.append((line, head.rsplit(kind, 1)[0]))
    out: dict[str, list[Command]] = {}
    for cmd in commands:
        if cmd.op == "EOC":
            continue
        owner = [name for line, name in starts if line < cmd.line]
        if not owner:
            raise ValueError(f"line {cmd.line}: command before any macro comment")
        mask = aim.trace_mask(cmd.fields.get("channel_mask", 0))
        instr = aim.AimInstr(cmd.op, cmd.fields.get("opsize", 0), cmd.fields.get("gpr", 0), mask,
                             cmd.fields.get("row", 0))
        out.setdefault(owner[-1], []).append(aim_command(instr))
    return {name: stream_counts(cmds, dev) for name, cmds in out.items()}
