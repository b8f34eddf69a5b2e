"""plan.mlir (target `pimc-plan`): the compiled module in xDSL's custom syntax, as `str(module)` prints it, with a
final newline (stock xdsl-opt's `mlir` target adds a second one)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import IO

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.printer import Printer
from xdsl.utils.target import Target


class _StreamPrinter(Printer):
    """xDSL's printer writing text without a newline straight to its stream (the base class passes every
    token through `print`, a third of the printing time of a large module); the output is the same."""

    def print_string(self, text: str, *, indent: int | None = None) -> None:
        if "\n" in text:
            super().print_string(text, indent=indent)
            return
        self._current_column += len(text)
        assert self.stream is not None
        self.stream.write(text)


def ir_text(module: ModuleOp) -> str:
    """The module in xDSL's custom syntax, as `str(module)` prints it, with a final newline."""
    buf = io.StringIO()
    _StreamPrinter(stream=buf).print_op(module)
    buf.write("\n")
    return buf.getvalue()


@dataclass(frozen=True)
class PlanTarget(Target):
    """plan.mlir: the compiled IR, every decision and figure the outputs are read from."""

    name = "pimc-plan"

    def emit(self, ctx: Context, module: ModuleOp, output: IO[str]) -> None:
        _StreamPrinter(stream=output).print_op(module)
        output.write("\n")
