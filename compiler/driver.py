"""The compile driver: model file -> IR -> passes -> plan, AiM trace and cost report.

One IR lives in memory from import to emission; text is produced only for the
outputs. All outputs are rendered before any file is written, and each file is
written to a temporary name and renamed, so a failed compile leaves no partial
output behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import VerifyException

from pimc.compiler.errors import CompileError, ModelImportError, PimcError
from pimc.passes.annotate_cost import AnnotateCostPass
from pimc.passes.lower_to_pim import LowerToPimPass
from pimc.passes.partition import PartitionPass
from pimc.passes.pim_to_commands import PimToCommandsPass
from pimc.targets.aim_trace import emit_aim_trace
from pimc.targets.report import build_report
from pimc.targets.system import DEFAULT_SYSTEM, load_system


def make_context() -> Context:
    """A context with xDSL's builtin/func dialects and all of pimc's."""
    from xdsl.dialects.builtin import Builtin
    from xdsl.dialects.func import Func

    from pimc.compiler.universe import DIALECTS

    ctx = Context()
    ctx.load_dialect(Builtin)
    ctx.load_dialect(Func)
    for factory in DIALECTS.values():
        ctx.load_dialect(factory())
    return ctx


def import_model(path: str | Path) -> ModuleOp:
    """Import a model file by its extension (.onnx)."""
    path = Path(path)
    if path.suffix == ".onnx":
        from pimc.compiler.frontend.onnx_import import import_onnx

        return import_onnx(path)
    raise ModelImportError(f"{path}: unsupported model file type '{path.suffix}' (expected .onnx)")


def default_pipeline(system: str, strategy: str) -> list[ModulePass]:
    return [
        AnnotateCostPass(system=system),
        PartitionPass(strategy=strategy),
        LowerToPimPass(),
        PimToCommandsPass(),
    ]


@dataclass
class CompileResult:
    module: ModuleOp
    report: dict[str, Any]
    plan_mlir: str
    aim_trace: str


def compile_model(path: str | Path, system: str = DEFAULT_SYSTEM, strategy: str = "roofline") -> CompileResult:
    """Compile a model for a system and render every output in memory."""
    sys_desc = load_system(system)
    module = import_model(path)
    ctx = make_context()
    for p in default_pipeline(system, strategy):
        p.apply(ctx, module)
        try:
            module.verify()
        except VerifyException as e:
            raise CompileError(f"internal error: IR invalid after {p.name}: {e}") from e
    model_attr = module.attributes.get("pimc.model")
    model = model_attr.data if isinstance(model_attr, StringAttr) else Path(path).stem
    report = build_report(module, model, sys_desc, strategy)
    return CompileResult(module, report, str(module) + "\n", emit_aim_trace(module, model, sys_desc.name))


def write_outputs(result: CompileResult, outdir: str | Path) -> list[Path]:
    """Write report.json, plan.mlir and pim.aim.trace into `outdir`, each atomically."""
    outdir = Path(outdir)
    files = {
        "report.json": json.dumps(result.report, indent=2) + "\n",
        "plan.mlir": result.plan_mlir,
        "pim.aim.trace": result.aim_trace,
    }
    temps: dict[str, str] = {}
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            if (outdir / name).is_dir():
                raise IsADirectoryError(f"{outdir / name} is a directory")
            fd, temps[name] = tempfile.mkstemp(dir=outdir, prefix=f".{name}.")
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.chmod(temps[name], 0o644)
        for name, tmp in temps.items():  # every file is complete before any is replaced
            os.replace(tmp, outdir / name)
    except OSError as e:
        for tmp in temps.values():
            Path(tmp).unlink(missing_ok=True)
        raise PimcError(f"{outdir}: cannot write the outputs: {e.strerror or e}") from None
    return [outdir / name for name in files]
