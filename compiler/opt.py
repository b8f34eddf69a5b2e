"""`pimc opt`: xdsl-opt's pipeline syntax over pimc's frontends, with MLIR-style IR dumps."""

from __future__ import annotations

import math
import re
import sys
from io import StringIO
from pathlib import Path

from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline
from xdsl.printer import Printer
from xdsl.transforms import get_all_passes
from xdsl.utils.exceptions import ArgSpecParseError, ParseError, PassFailedException, VerifyException

from pimc.compiler.errors import CompileError, LimitError, ModelImportError, PimcError
from pimc.compiler.limits import fmt_count, shape_problem


def _print(module: ModuleOp, generic: bool) -> str:
    out = StringIO()
    Printer(stream=out, print_generic_format=generic).print_op(module)
    return out.getvalue() + "\n"


def _check_strings(text: str, path: Path) -> None:
    """An error at the first string literal that a line does not close. xDSL 0.74's lexer matches string literals
    with a regex that backtracks exponentially in what follows an unclosed quote (minutes for a line of 40
    characters): such a file is refused before it reaches the parser."""
    for n, line in enumerate(text.split("\n"), 1):
        start, i = -1, 0
        while i < len(line):
            c = line[i]
            if start < 0 and line.startswith("//", i):
                break
            if c == '"':
                start = i if start < 0 else -1
            elif c == "\\" and start >= 0:
                i += 1
            i += 1
        if start >= 0:
            raise ModelImportError(f"{path}:{n}:{start + 1}: unterminated string literal")


_TENSOR = re.compile(r"tensor<([0-9?x]+)x[A-Za-z]")
_DENSE = re.compile(r"dense<[^>]*>\s*:\s*tensor<([0-9x]*?)x?[A-Za-z][A-Za-z0-9]*>")
MAX_DENSE_ELEMENTS = 1 << 20
"""Largest dense constant read from IR text (xDSL expands a splat `dense<0>` to every element while parsing)."""


def _check_tensor_types(text: str, path: Path) -> None:
    """Refuse, before parsing, a tensor type no memory can hold and a dense constant too large to expand."""
    for n, line in enumerate(text.split("\n"), 1):
        if "tensor<" not in line:
            continue
        for m in _TENSOR.finditer(line):
            dims = [int(d) for d in m.group(1).split("x") if d.isdigit()]
            problem = shape_problem(dims)
            if problem is not None:
                raise LimitError(f"{path}:{n}:{m.start() + 1}: tensor<{m.group(1)}x...>: {problem}")
        for m in _DENSE.finditer(line):
            elements = math.prod(int(d) for d in m.group(1).split("x") if d.isdigit())
            if elements > MAX_DENSE_ELEMENTS:
                raise LimitError(f"{path}:{n}:{m.start() + 1}: a dense constant of {fmt_count(elements)} elements; "
                                 f"pimc reads IR constants of at most {fmt_count(MAX_DENSE_ELEMENTS)}")


def parse_input(path: str, dims: dict[str, str] | None = None) -> ModuleOp:
    """Parse .mlir text with every pimc and xDSL dialect, or import a model file."""
    p = Path(path)
    if p.suffix != ".mlir":
        from pimc.compiler.driver import import_model

        return import_model(p, dims)
    if not p.is_file():
        raise ModelImportError(f"{p}: no such file")
    from xdsl.parser import Parser

    from pimc.compiler.driver import make_context

    ctx = make_context()
    from xdsl.dialects import get_all_dialects

    for name, factory in get_all_dialects().items():
        if name not in ctx.registered_dialect_names:
            ctx.register_dialect(name, factory)
    text = p.read_text()
    _check_strings(text, p)
    _check_tensor_types(text, p)
    try:
        module = Parser(ctx, text, str(p)).parse_module()
        module.verify()
    except MemoryError:  # an attribute whose parser expands a huge count (a channel mask of 2**63 bits)
        raise ModelImportError(f"{p}: an attribute is too large to parse (out of memory)") from None
    except ParseError as e:
        lines = [ln for ln in str(e).strip().splitlines() if ln.strip()]
        raise ModelImportError(f"{lines[0]}: {lines[-1].strip()}") from None
    except VerifyException as e:
        raise ModelImportError(f"{p}: invalid IR: {str(e).strip().splitlines()[0]}") from None
    return module


def _one_line(e: BaseException) -> str:
    """xDSL's multi-line pipeline errors (a header, `pass-pipeline:1:COL`, the spec, a caret, the message) as one
    line: the message and its column."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else type(e).__name__
    where = next((ln.rsplit(":", 1)[-1] for ln in lines if ln.startswith("pass-pipeline:")), None)
    return lines[-1] + (f" (at column {where})" if where and where.isdigit() else "")


def run_opt(
    path: str, spec: str, print_after_all: bool, generic: bool = False, dims: dict[str, str] | None = None
) -> str:
    """Apply the pipeline `spec` and return the final IR; dumps go to stderr."""
    from pimc.compiler.driver import make_context
    from pimc.compiler.universe import PASSES

    module = parse_input(path, dims)
    available = {**get_all_passes(), **PASSES}

    def callback(previous: ModulePass | None, mod: ModuleOp, _next: ModulePass | None) -> None:
        if previous is None:
            return
        try:
            mod.verify()
        except VerifyException as e:
            raise CompileError(f"IR invalid after {previous.name}: {e}") from e
        if print_after_all:
            sys.stderr.write(f"// -----// IR Dump After {previous.name} //----- //\n")
            sys.stderr.write(_print(mod, generic))

    try:
        pipeline = PassPipeline.parse_spec(available, spec, callback)
    except (ArgSpecParseError, ParseError, ValueError, KeyError, TypeError) as e:
        raise PimcError(f"pass pipeline '{spec}': {_one_line(e)}") from None
    try:
        pipeline.apply(make_context(), module)
    except PassFailedException as e:
        raise CompileError(str(e)) from None
    return _print(module, generic)
