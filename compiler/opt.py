"""`pimc opt`: xdsl-opt's pipeline syntax over pimc's frontends, with MLIR-style IR dumps."""

from __future__ import annotations

import sys
from io import StringIO
from pathlib import Path

from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline
from xdsl.printer import Printer
from xdsl.transforms import get_all_passes
from xdsl.utils.exceptions import ArgSpecParseError, ParseError, PassFailedException, VerifyException

from pimc.compiler.errors import CompileError, ModelImportError, PimcError


def _print(module: ModuleOp, generic: bool) -> str:
    out = StringIO()
    Printer(stream=out, print_generic_format=generic).print_op(module)
    return out.getvalue() + "\n"


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
    try:
        module = Parser(ctx, p.read_text(), str(p)).parse_module()
        module.verify()
    except ParseError as e:
        lines = [ln for ln in str(e).strip().splitlines() if ln.strip()]
        raise ModelImportError(f"{lines[0]}: {lines[-1].strip()}") from None
    except VerifyException as e:
        raise ModelImportError(f"{p}: invalid IR: {str(e).strip().splitlines()[0]}") from None
    return module


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
    except (ArgSpecParseError, ParseError, ValueError, KeyError) as e:
        raise PimcError(f"pass pipeline '{spec}': {e}") from None
    try:
        pipeline.apply(make_context(), module)
    except PassFailedException as e:
        raise CompileError(str(e)) from None
    return _print(module, generic)
