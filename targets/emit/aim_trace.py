"""Emit the AiM command trace in the AiM trace simulator's text format.

Format (arkhadem/aim_simulator, src/frontend/impl/memory_trace/aim_trace.cpp): one command per
line, `AiM <OP> <fields>`, `#` comment lines, and a final `AiM EOC`. Each
macro's block is preceded by a comment naming the op it comes from.

Rendering. A model's macros repeat: Llama-2-7B's 32 layers run GEMVs of four
shapes whose command blocks differ only by where their weights' rows start. Each
block is keyed by `pim.stream_signature` (its commands with rows relative to its
first row); the first block of a key is unrolled once into a %-format template
of its lines with every row address a `%d`, and every block of that key is that
template filled with its own rows (template rows + its row base). The text is
byte for byte what unrolling each block command by command gives
(`aim.trace_line`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block
from xdsl.utils.target import Target

from pimc.dialects import aim, nn, pim
from pimc.dialects.pim import CommandKind, PimCommand
from pimc.dialects.place import device_of
from pimc.targets.emit.trace_files import check_trace_lines
from pimc.targets.models.pim_timing import PimCounts, block_commands, stream_counts
from pimc.targets.system import Device


def emit_aim_trace(
    module: ModuleOp,
    model: str,
    system: str,
    device: str | None = None,
    ops: Sequence[pim.GemvOp | pim.AttentionOp] | None = None,
) -> str:
    """The whole program's AiM trace (of `device`'s macros, default every macro with AiM commands; only `ops`
    when given, as `pimc validate` runs one op alone), macros in program order, ending with `AiM EOC`. A
    TraceTooLargeError if it would exceed trace_files.MAX_TRACE_LINES lines."""
    macros = [
        op
        for op in (pim.macros(module) if ops is None else ops)
        if op.commands.blocks and (device is None or device_of(op) == device) and is_aim_stream(op.commands.block)
    ]
    check_trace_lines(
        2 + sum(1 + pim.unrolled_length(op.commands.block) for op in macros),
        f"the AiM trace of device '{device}'" if device else "the AiM trace",
    )
    chunks = [f"# pimc AiM trace: model {model}, system {system}" + (f", device {device}" if device else "") + "\n"]
    templates: dict[object, tuple[str, list[int]]] = {}
    for op in macros:
        chunks.append(_macro_comment(op) + "\n")
        key, base = pim.stream_signature(op.commands.block)
        template = templates.get(key)
        if template is None:
            template = templates[key] = _template(op.commands.block, base)
        text, rows = template
        chunks.append(text % tuple(base + r for r in rows) if rows else text)
    chunks.append(aim.EocOp().trace_line() + "\n")
    return "".join(chunks)


def _macro_comment(op: pim.GemvOp | pim.AttentionOp) -> str:
    """The comment line naming the macro whose commands follow."""
    if isinstance(op, pim.GemvOp):
        m, k, n = op.mkn()
        w = op.w.owner
        weight = w.sym_name.data if isinstance(w, nn.WeightOp) else "?"
        layout = op.layout
        return (
            f"# {nn.op_label(op)}: gemv M={m} K={k} N={n} weight {weight} "
            f"channels={layout.channels.value.data} row_base={layout.row_base.value.data}"
        )
    b, hq, hkv, s, t, d, dv = op.dims()
    return (
        f"# {nn.op_label(op)}: attention B={b} Hq={hq} Hkv={hkv} S={s} T={t} D={d} Dv={dv} "
        f"K cache row_base={op.k_layout.row_base.value.data} V cache row_base={op.v_layout.row_base.value.data}"
    )


def _template(block: Block, base: int) -> tuple[str, list[int]]:
    """The block's trace lines as one %-format with a `%d` per row address, and those rows less `base`."""
    lines: list[str] = []
    rows: list[int] = []
    for cmd in block_commands(block):
        text, has_row = aim.trace_template(cmd)
        lines.append(text)
        if has_row:
            assert cmd.row is not None
            rows.append(cmd.row - base)
    return ("\n".join(lines) + "\n" if lines else ""), rows


def is_aim_stream(block: Block) -> bool:
    """Whether a macro's command block holds AiM ISR ops."""
    return any(isinstance(op, aim.AimCommandOp) for op in block.walk())


def trace_macro_counts(text: str, dev: Device) -> dict[str, PimCounts]:
    """Time an AiM trace as written: parse it strictly (targets/parse/trace_parse.py), split it at the
    comment naming each macro, and apply the timing model (`pim_timing.stream_counts`) to each
    macro's commands. Keys are the op names the comments give."""
    from pimc.targets.parse.trace_parse import parse_aim_trace

    comments: list[tuple[int, str]] = []
    parsed = parse_aim_trace(
        text,
        channels=dev.pim.channels,
        banks=dev.pim.banks_per_channel,
        rows=dev.pim.rows_per_bank,
        columns=dev.pim.row_bytes // dev.pim.column_bytes,
        comments=comments,
    )
    starts = []
    for line, comment in comments:
        head = comment.removeprefix("#").strip()
        for kind in (": gemv ", ": attention "):
            if kind in head:
                starts.append((line, head.rsplit(kind, 1)[0]))
    out: dict[str, list[PimCommand]] = {}
    for ln in parsed:
        if ln.op == "EOC":
            continue
        owner = [name for at, name in starts if at < ln.line]
        if not owner:
            raise ValueError(f"line {ln.line}: command before any macro comment")
        if ln.op not in CommandKind.__members__:
            raise ValueError(f"line {ln.line}: no timing for AiM {ln.op}")
        out.setdefault(owner[-1], []).append(
            PimCommand(
                CommandKind(ln.op),
                ln.fields.get("opsize", 0),
                aim.trace_mask(ln.fields.get("channel_mask", 0)),
                row=ln.fields.get("row"),
                gpr=ln.fields.get("gpr", 0),
            )
        )
    return {name: stream_counts(cmds, dev) for name, cmds in out.items()}


@dataclass(frozen=True)
class AimTraceTarget(Target):
    """The AiM trace (`pim.aim.trace`) of one AiM device of a compiled module: `device`, or the one AiM device
    that got PIM macros (`emit_aim_trace`)."""

    name = "pimc-aim-trace"

    device: str = ""

    def emit(self, ctx: Context, module: ModuleOp, output: IO[str]) -> None:
        from pimc.targets.annotations import model_name
        from pimc.targets.emit.trace_files import trace_device
        from pimc.targets.system import recorded_system

        system = recorded_system(module)
        output.write(
            emit_aim_trace(module, model_name(module), system.name, trace_device(module, system, "aim", self.device))
        )
