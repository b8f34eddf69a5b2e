"""`pimc opt`: xDSL's opt driver (`xDSLOptMain`) with pimc's frontends (.onnx, .pim, checked .mlir), passes and
targets, and MLIR-style IR dumps after every pass (`--print-ir-after-all`, on stderr).

`pimc opt MODEL -p "$(pimc compile MODEL --print-pipeline)" -t pimc-report` writes what `pimc compile` writes
as report.json; every option of xdsl-opt works (`-t`, `-o`, `--print-op-generic`, `--verify-diagnostics`, ...).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Sequence
from io import StringIO
from pathlib import Path
from typing import IO

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline
from xdsl.printer import Printer
from xdsl.utils.arg_spec import parse_spec
from xdsl.utils.exceptions import ArgSpecParseError, ParseError, PassFailedException, VerifyException
from xdsl.xdsl_opt_main import xDSLOptMain

from pimc.errors import CompileError, LimitError, ModelImportError, PimcError
from pimc.limits import fmt_count, shape_problem


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
                raise LimitError(
                    f"{path}:{n}:{m.start() + 1}: a dense constant of {fmt_count(elements)} elements; "
                    f"pimc reads IR constants of at most {fmt_count(MAX_DENSE_ELEMENTS)}"
                )


def parse_mlir(text: str, ctx: Context, name: str) -> ModuleOp:
    """Parse and verify .mlir text; an error is one line naming the place."""
    from xdsl.parser import Parser

    path = Path(name)
    _check_strings(text, path)
    _check_tensor_types(text, path)
    try:
        module = Parser(ctx, text, name).parse_module()
        module.verify()
    except MemoryError:  # an attribute whose parser expands a huge count (a channel mask of 2**63 bits)
        raise ModelImportError(f"{name}: an attribute is too large to parse (out of memory)") from None
    except ParseError as e:
        lines = [ln for ln in str(e).strip().splitlines() if ln.strip()]
        raise ModelImportError(f"{lines[0]}: {lines[-1].strip()}") from None
    except VerifyException as e:
        raise ModelImportError(f"{name}: invalid IR: {str(e).strip().splitlines()[0]}") from None
    return module


def parse_input(path: str, dims: dict[str, str] | None = None) -> ModuleOp:
    """Parse .mlir text with every pimc and xDSL dialect, or import a model file."""
    p = Path(path)
    if p.suffix != ".mlir":
        from pimc.compiler.driver import import_model

        return import_model(p, dims)
    if not p.is_file():
        raise ModelImportError(f"{p}: no such file")
    return parse_mlir(_read_text(p.read_bytes(), str(p)), _context(), str(p))


def _read_text(data: bytes, name: str) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError as e:
        raise ModelImportError(f"{name}: not UTF-8 text (byte {e.start})") from None


def _context() -> Context:
    """pimc's context (builtin, func and pimc's dialects loaded) that also knows every xDSL dialect."""
    from xdsl.dialects import get_all_dialects

    from pimc.compiler.driver import make_context

    ctx = make_context()
    for name, factory in get_all_dialects().items():
        if name not in ctx.registered_dialect_names:
            ctx.register_dialect(name, factory)
    return ctx


def _one_line(e: BaseException) -> str:
    """xDSL's multi-line pipeline errors (a header, `pass-pipeline:1:COL`, the spec, a caret, the message) as one
    line: the message and its column."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else type(e).__name__
    where = next((ln.rsplit(":", 1)[-1] for ln in lines if ln.startswith("pass-pipeline:")), None)
    return lines[-1] + (f" (at column {where})" if where and where.isdigit() else "")


class PimcOptMain(xDSLOptMain):
    """xdsl-opt with pimc's frontends, passes and targets, one-line errors, and `--dim` / `--print-ir-after-all`.

    `output` replaces stdout (or `-o`) as the stream the resulting program is written to."""

    def __init__(
        self,
        args: Sequence[str] | None = None,
        output: IO[str] | None = None,
        parser: type[argparse.ArgumentParser] = argparse.ArgumentParser,
    ) -> None:
        # xDSLOptMain.__init__, with `parser` (pimc's one-line usage errors) as the argument parser
        self.output = output
        self.available_frontends = {}
        self.available_passes = {}
        self.available_targets = {}
        self.ctx = _context()
        self.register_all_dialects()
        self.register_all_frontends()
        self.register_all_passes()
        self.register_all_targets()
        arg_parser = parser(prog="pimc opt", description=(__doc__ or "").partition("\n")[0])
        self.register_all_arguments(arg_parser)
        self.args = arg_parser.parse_args(args=args)
        try:
            spec = parse_spec(self.args.target)
        except (ArgSpecParseError, ParseError, ValueError) as e:
            raise PimcError(f"target '{self.args.target}': {_one_line(e)}") from None
        if spec.name not in self.available_targets:
            arg_parser.error(
                f"argument -t/--target: invalid choice: '{spec.name}' (choose from {', '.join(self.available_targets)})"
            )
        from pimc.compiler.universe import TARGETS

        if spec.name in TARGETS:  # pimc's targets: their options are checked here, not after the passes ran
            try:
                TARGETS[spec.name]().from_spec(spec)
            except (ArgSpecParseError, ParseError, ValueError, TypeError) as e:
                raise PimcError(f"target '{self.args.target}': {_one_line(e)}") from None
        self.ctx.allow_unregistered = self.args.allow_unregistered_dialect
        if self.args.disable_verify:
            raise PimcError("--disable-verify: pimc opt always verifies the IR")
        self.dims = _parse_dims(self.args.dim)
        self.setup_pipeline()

    def register_all_dialects(self) -> None:
        from xdsl.universe import Universe

        for name, factory in Universe.get_multiverse().all_dialects.items():  # other plugins' dialects too
            if name not in self.ctx.registered_dialect_names:
                self.ctx.register_dialect(name, factory)

    def register_all_passes(self) -> None:
        from pimc.compiler.universe import PASSES

        super().register_all_passes()
        for name, factory in PASSES.items():
            self.available_passes.setdefault(name, factory)

    def register_all_targets(self) -> None:
        from pimc.compiler.universe import TARGETS

        super().register_all_targets()
        for name, factory in TARGETS.items():
            self.available_targets.setdefault(name, factory)

    def register_all_frontends(self) -> None:
        super().register_all_frontends()

        def mlir(io: IO[bytes]) -> ModuleOp:
            name = self.get_input_name()
            return parse_mlir(_read_text(io.read(), name), self.ctx, name)

        def model(io: IO[bytes]) -> ModuleOp:
            from pimc.compiler.driver import import_model

            if self.args.input_file is None:
                raise PimcError("pimc opt reads an .onnx or .pim model from a file, not from stdin")
            return import_model(self.args.input_file, self.dims)

        self.available_frontends.update({"mlir": mlir, "onnx": model, "pim": model})

    def register_all_arguments(self, arg_parser: argparse.ArgumentParser) -> None:
        super().register_all_arguments(arg_parser)
        arg_parser.add_argument(
            "--dim",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="bind a symbolic ONNX dim or override a DSL parameter (repeatable), as for compile",
        )
        arg_parser.add_argument(
            "--print-ir-after-all", action="store_true", help="dump the IR to stderr after every pass, MLIR-style"
        )

    def setup_pipeline(self) -> None:
        def callback(previous: ModulePass | None, mod: ModuleOp, _next: ModulePass | None) -> None:
            if previous is None:
                return
            try:
                mod.verify()
            except VerifyException as e:
                raise CompileError(f"IR invalid after {previous.name}: {e}") from e
            if self.args.print_ir_after_all:
                out = StringIO()
                Printer(stream=out, print_generic_format=self.args.print_op_generic).print_op(mod)
                sys.stderr.write(f"// -----// IR Dump After {previous.name} //----- //\n{out.getvalue()}\n")

        spec = self.args.passes
        try:
            self.pipeline = PassPipeline.parse_spec(self.available_passes, spec, callback)
        except (ArgSpecParseError, ParseError, ValueError, KeyError, TypeError) as e:
            raise PimcError(f"pass pipeline '{spec}': {_one_line(e)}") from None

    def prepare_input(self) -> tuple[list[tuple[IO[bytes], int]], str]:
        path = self.args.input_file
        if path is not None and not Path(path).is_file():
            raise ModelImportError(f"{path}: no such file")
        chunks, extension = super().prepare_input()
        if extension not in self.available_frontends:
            for chunk, _ in chunks:
                chunk.close()
            raise ModelImportError(f"{path}: unsupported file type '.{extension}' (expected .mlir, .onnx or .pim)")
        return chunks, extension

    def prepare_output(self) -> IO[str]:
        return self.output if self.output is not None else super().prepare_output()

    def apply_passes(self, prog: ModuleOp) -> None:
        try:
            self.pipeline.apply(self.ctx, prog)
        except PassFailedException as e:
            raise CompileError(str(e)) from None


def _parse_dims(specs: Sequence[str]) -> dict[str, str]:
    from pimc.compiler.driver import parse_dims

    return parse_dims(specs)


def run_opt(
    path: str, spec: str, print_after_all: bool, generic: bool = False, dims: dict[str, str] | None = None
) -> str:
    """Apply the pipeline `spec` to a model or .mlir file and return the final IR (`pimc opt`); dumps go to stderr."""
    args = [
        path,
        "-p",
        spec,
        *(["--print-ir-after-all"] if print_after_all else []),
        *(["--print-op-generic"] if generic else []),
        *(f"--dim={k}={v}" for k, v in (dims or {}).items()),
    ]
    out = _Unclosed()
    PimcOptMain(args, out).run()
    return out.getvalue()


class _Unclosed(StringIO):
    """A text buffer that outlives xDSLOptMain.run (which closes any output stream but stdout)."""

    def close(self) -> None:
        pass
