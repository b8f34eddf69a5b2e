"""The compile driver: model file -> IR -> passes -> plan, AiM trace and cost report.

One IR lives in memory from import to emission; text is produced only for the
outputs. All outputs are rendered before any file is written, and each file is
written to a temporary name and renamed, so a failed compile leaves no partial
output behind.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline
from xdsl.utils.exceptions import VerifyException

from pimc.dialects import pim
from pimc.dialects.place import device_of
from pimc.errors import CompileError, LimitError, ModelImportError, PimcError
from pimc.passes.annotate_cost import AnnotateCostPass
from pimc.passes.baselines import BaselinesPass
from pimc.passes.check_capacity import CheckCapacityPass
from pimc.passes.convert_pim_to_aim import ConvertPimToAimPass
from pimc.passes.convert_pim_to_attacc import ConvertPimToAttaccPass
from pimc.passes.lower_to_pim import LowerToPimPass
from pimc.passes.partition import PartitionPass
from pimc.passes.schedule import SchedulePass
from pimc.passes.shard import ShardPass
from pimc.targets.annotations import PARALLEL_SEARCH_ATTR, result_attr
from pimc.targets.emit.aim_trace import emit_aim_trace
from pimc.targets.emit.background import Background
from pimc.targets.emit.plan import ir_text
from pimc.targets.emit.report import build_report, report_json, roofline_view
from pimc.targets.emit.timeline import timeline_json
from pimc.targets.models.cost import unmodelled_op_types
from pimc.targets.system import DEFAULT_SYSTEM, System, load_system

P = ParamSpec("P")
R = TypeVar("R")


def make_context() -> Context:
    """A context with xDSL's builtin/func dialects and all of pimc's."""
    from xdsl.dialects.builtin import Builtin
    from xdsl.dialects.func import Func
    from xdsl.dialects.shard import Shard

    from pimc.compiler.universe import DIALECTS

    ctx = Context()
    ctx.load_dialect(Builtin)
    ctx.load_dialect(Func)
    ctx.load_dialect(Shard)
    for factory in DIALECTS.values():
        ctx.load_dialect(factory())
    return ctx


def parse_dims(specs: Sequence[str]) -> dict[str, str]:
    """`["batch=8", "past=2047"]` -> {"batch": "8", "past": "2047"}; an error names a malformed one.

    The values stay text (a DSL parameter may be a dtype); `_onnx_dims` and the DSL importer check them
    against what they bind.
    """
    dims: dict[str, str] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise PimcError(f"--dim {spec}: expected NAME=VALUE, e.g. --dim batch=8")
        if not (name + value).isprintable():
            raise PimcError(f"--dim {spec!r}: the name and value must be printable text")
        if name in dims:
            raise PimcError(f"--dim {name} is given twice")
        dims[name] = value
    return dims


def _onnx_dims(path: Path, dims: dict[str, str]) -> dict[str, int]:
    """The `--dim` values bound to an ONNX graph's symbolic dims: integers from 0 (an empty past makes a decode
    graph a prefill) to `limits.MAX_ELEMENTS`; `_check_not_empty` refuses any other empty tensor."""
    from pimc.limits import MAX_ELEMENTS, fmt_count, parse_dim_value, shown

    out: dict[str, int] = {}
    for name, value in dims.items():
        n = parse_dim_value(value)
        if n is None:
            raise ModelImportError(f"{path}: --dim {name}={value}: an ONNX dim must be an integer")
        if n < 0:
            raise ModelImportError(f"{path}: --dim {name}={value}: a dim cannot be negative")
        if n > MAX_ELEMENTS:
            raise LimitError(
                f"{path}: --dim {name}={shown(value)}: more than any memory can hold (a dim is at "
                f"most {fmt_count(MAX_ELEMENTS)})"
            )
        out[name] = n
    return out


EXPERT_LOAD_DIM = "expert_load"
"""The `dims` key of the routing distribution (--expert-load): carried with the dims so that every command
(compile, serve's cost cache, sweep) keys on it as on any dim."""


def import_model(path: str | Path, dims: dict[str, str] | None = None) -> ModuleOp:
    """Import a model file by its extension into the nn dialect, one function per phase.

    .onnx: load (weights stay external), bind `dims`, fold shapes, raise the
    decomposed layers (raise-nn) and name the function after its detected phase.
    .pim: the pimc DSL (docs/dsl.md); `dims` override its parameters, and `dims["expert_load"]` (the CLI's
    --expert-load) sets the routing distribution of its route (MoE) layers (targets/models/expert_load.py).
    """
    path = Path(path)
    dims = dict(dims or {})
    load_text = dims.pop(EXPERT_LOAD_DIM, None)
    if path.suffix == ".onnx":
        if load_text is not None:
            raise ModelImportError(f"{path}: --expert-load applies to DSL models with route (MoE) layers")
        from pimc.compiler.frontend.onnx.importer import import_onnx
        from pimc.compiler.frontend.phases import assign_phases
        from pimc.passes.raise_nn import RaiseNnPass

        module = import_onnx(path, _onnx_dims(path, dims))
        RaiseNnPass().apply(make_context(), module)
        _check_not_empty(module, path, dims)  # after raise-nn: an empty past is a kv_append's cache
        assign_phases(module)
        return module
    if path.suffix == ".pim":
        from pimc.compiler.frontend.dsl.importer import import_dsl
        from pimc.targets.models.expert_load import parse_expert_load

        module = import_dsl(path, dims, None if load_text is None else parse_expert_load(load_text))
        _check_not_empty(module, path, dims)
        return module
    raise ModelImportError(f"{path}: unsupported model file type '{path.suffix}' (expected .onnx or .pim)")


def _check_not_empty(module: ModuleOp, path: Path, dims: dict[str, str]) -> None:
    """pimc compiles no empty tensors but a past KV cache that a kv_append extends (an ONNX decode graph bound to
    an empty past is a prefill) and the ops of an expert that receives no tokens in the step (a zero-capacity
    nn.moe_dispatch and what it feeds): an op result or a function input of no elements is an error naming it."""
    from xdsl.dialects import func
    from xdsl.ir import SSAValue

    from pimc.dialects import nn
    from pimc.limits import parse_dim_value
    from pimc.targets.models.cost import is_costed

    zeros = [f"--dim {k}={v}" for k, v in dims.items() if parse_dim_value(str(v)) == 0]
    given = f" (given {', '.join(zeros)})" if zeros else ""
    for fn in module.ops:
        if not isinstance(fn, func.FuncOp) or not fn.body.blocks:
            continue
        for i, arg in enumerate(fn.body.block.args):
            if 0 in nn.tensor_shape(arg.type) and any(
                not (isinstance(u.operation, nn.KvAppendOp) and u.index == 0) for u in arg.uses
            ):
                name = arg.name_hint or f"argument {i}"
                raise ModelImportError(
                    f"{path}: input '{name}' of @{fn.sym_name.data} is empty "
                    f"{list(nn.tensor_shape(arg.type))}{given}: pimc compiles no empty tensors "
                    "(only a past KV cache may be empty)"
                )
        idle: set[SSAValue] = set()  # the empty values of idle experts
        for op in fn.body.block.ops:
            if not is_costed(op):
                continue
            if isinstance(op, nn.MoeDispatchOp) or any(v in idle for v in op.operands):
                idle.update(r for r in op.results if 0 in nn.tensor_shape(r.type))
            for r in op.results:
                if 0 in nn.tensor_shape(r.type) and r not in idle:
                    raise ModelImportError(
                        f"{path}: op '{nn.op_label(op)}' ({op.name}) has an empty result "
                        f"{list(nn.tensor_shape(r.type))}{given}: pimc compiles no empty tensors "
                        "(only a past KV cache may be empty)"
                    )


def compile_passes(
    system: str = DEFAULT_SYSTEM,
    strategy: str = "optimal",
    dtype: str | None = None,
    sub_batches: int = 1,
    papi_threshold: float | None = None,
    baselines: bool = True,
    tp: int = 1,
) -> list[ModulePass]:
    """The passes `pimc compile` runs, in order; `compile_pipeline` is the same as xdsl-opt's `-p` text."""
    return [
        *([ShardPass(tp=tp, system=system)] if tp > 1 else []),
        AnnotateCostPass(system=system, dtype=dtype),
        PartitionPass(strategy=strategy, papi_threshold=papi_threshold),
        SchedulePass(sub_batches=sub_batches),
        CheckCapacityPass(),
        *([BaselinesPass(papi_threshold=papi_threshold)] if baselines else []),
        LowerToPimPass(),
        ConvertPimToAimPass(),
        ConvertPimToAttaccPass(),
    ]


def compile_pipeline(*args: Any, **kwargs: Any) -> str:
    """The compile's pass pipeline as `xdsl-opt -p` / `pimc opt -p` take it (`compile_passes`' arguments)."""
    spec = ",".join(str(p.pipeline_pass_spec(include_default=False)) for p in compile_passes(*args, **kwargs))
    # xDSL's option parser reads a float only with a decimal point: 1e-07 -> 1.0e-07
    return re.sub(r"(?<=[={ ])(-?\d+)(e[-+]\d+)(?=[ }])", r"\1.0\2", spec)


TRACE_FORMATS = ("aim", "attacc")
"""Command-trace formats pimc emits, named after the PIM ISA they are for."""


def parse_emit(spec: str | None) -> list[str] | None:
    """`"aim,attacc"` -> ["aim", "attacc"]; None means the formats of the system's PIM devices."""
    if spec is None:
        return None
    formats = [f.strip() for f in spec.split(",") if f.strip()]
    for f in formats:
        if f not in TRACE_FORMATS:
            raise PimcError(f"--emit {spec}: unknown trace format '{f}' (known: {', '.join(TRACE_FORMATS)})")
    return formats


def emit_traces(module: ModuleOp, model: str, system: System, formats: list[str] | None) -> Mapping[str, str]:
    """Every requested trace file's name and text: `pim.aim.trace` for the AiM device (`pim.DEVICE.aim.trace`
    when there are several), `pim.attacc.trace` for an AttAcc device of one HBM3 stack (else one
    `pim.attacc.stackN.trace` per stack); none for a device no PIM macro was placed on. Texts are rendered
    when first read (targets/emit/trace_files.py). An error names a format no PIM device of the system uses."""
    from pimc.targets.emit.trace_files import TraceFiles

    by_isa: dict[str, list[str]] = {}
    for name, dev in system.devices.items():
        if dev.kind == "pim":
            by_isa.setdefault(dev.pim.isa, []).append(name)
    if formats is None:
        formats = [f for f in TRACE_FORMATS if f in by_isa]
    used = {device_of(op) for op in pim.macros(module)}
    files = TraceFiles()
    for fmt in formats:
        devices = by_isa.get(fmt)
        if not devices:
            pims = ", ".join(f"{d} (isa {system.devices[d].pim.isa})" for ds in by_isa.values() for d in ds)
            raise PimcError(
                f"--emit {fmt}: system '{system.name}' has no PIM device of isa '{fmt}' "
                f"(its PIM devices: {pims or 'none'})"
            )
        for device in (d for d in devices if d in used):
            prefix = "pim." if len(devices) == 1 else f"pim.{device}."
            if fmt == "aim":
                files.add([f"{prefix}aim.trace"], lambda d=device: [emit_aim_trace(module, model, system.name, d)])
            else:
                from pimc.targets.emit.attacc_trace import emit_attacc_traces, stack_count

                dev = system.devices[device]
                stacks = stack_count(dev)
                files.add(
                    [f"{prefix}attacc{'' if stacks == 1 else f'.stack{i}'}.trace" for i in range(stacks)],
                    lambda d=device, dev=dev: emit_attacc_traces(module, d, dev),
                )
    return files


@dataclass
class CompileResult:
    module: ModuleOp
    report: dict[str, Any]
    traces: Mapping[str, str]
    warnings: list[str] = field(default_factory=list)
    system: System | None = None
    roofline: Background | None = None
    """roofline.png being rendered in a child process (compile_model's `background`), else None (rendered
    from `report` when the files are)."""

    @functools.cached_property
    def plan_mlir(self) -> str:
        """The final IR as plan.mlir holds it (printed when first asked for: a sweep never prints it)."""
        return ir_text(self.module)

    def files(self) -> dict[str, str | bytes]:
        """Every output file's name and content, rendered in memory."""
        assert self.system is not None
        png = self.roofline.result() if self.roofline is not None else _roofline(self.report, self.system)
        return {
            "report.json": report_json(self.report),
            "plan.mlir": self.plan_mlir,
            **self.traces,
            "timeline.json": timeline_json(self.module),
            "roofline.png": png,
        }


def _roofline(report: dict[str, Any], system: System) -> bytes:
    from pimc.targets.emit.roofline import roofline_png_bytes

    return roofline_png_bytes(report, system)


def unmodelled_warning(module: ModuleOp) -> str | None:
    """One line naming the op types pimc has no cost model for (costed as element-wise), if any."""
    found = unmodelled_op_types(module)
    if not found:
        return None
    total = sum(len(names) for names in found.values())
    listed = "; ".join(
        f"{t} x{len(n)} ({', '.join(n[:3])}{', ...' if len(n) > 3 else ''})" for t, n in sorted(found.items())
    )
    return f"{total} op(s) of unmodelled type, kept as generic ops and costed as element-wise: {listed}"


def _without_cycle_collector(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn` with Python's cycle collector paused while it runs: every IR object of a compile lives until the
    compile ends, and the collector's repeated scans of the growing IR made the compile superlinear in the
    layer count (Llama-2-7B DSL with 80 layers on hybe: 4.8 s with it, 3.5 s without). It runs again
    afterwards."""

    @functools.wraps(fn)
    def paused(*args: P.args, **kwargs: P.kwargs) -> R:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return paused


@_without_cycle_collector
def compile_model(
    path: str | Path,
    system: str = DEFAULT_SYSTEM,
    strategy: str = "optimal",
    dims: dict[str, str] | None = None,
    dtype: str | None = None,
    speculate: int | None = None,
    sub_batches: int = 1,
    papi_threshold: float | None = None,
    baselines: bool = True,
    emit: list[str] | None = None,
    background: bool = False,
    progress: Callable[[str], None] | None = None,
    imported: ModuleOp | None = None,
    tp: int | None = None,
) -> CompileResult:
    """Compile a model for a system and render every output in memory.

    `dtype` is the deployment precision every byte and FLOP is costed at
    (default fp16, targets/dtypes.py). `speculate` sets the tokens each decode
    step verifies (a DSL model's `speculate` parameter). `sub_batches` > 1 splits
    `--dim batch` into that many interleaved sub-batches (NeuPIMs). Raises a
    PimcError (one line naming the place) for bad input, an op no device can run,
    or a model that does not fit a memory of the system. `progress` is told the name of each stage as it
    starts. `imported` is the model already imported at these dims (the module is compiled in place: a sweep
    imports each point once and compiles a clone per system). `background` renders roofline.png in a forked
    child while the rest is rendered (targets/emit/background.py). `emit` names the trace formats to write
    (`emit_traces`; default: those of the system's PIM devices). `tp` is the tensor-parallel degree (the shard
    pass); by default 1 on one chip, and on a system of several chips the best of its divisors (`search_tp`,
    recorded on the module as `pimc.parallel_search`).
    """
    sys_desc = load_system(system)
    if tp is None and sys_desc.chips > 1:

        def compile_at(tp: int) -> CompileResult:  # a copy of a module imported already, else import it
            return compile_model(
                path,
                system=system,
                strategy=strategy,
                dims=dims,
                dtype=dtype,
                speculate=speculate,
                sub_batches=sub_batches,
                papi_threshold=papi_threshold,
                baselines=baselines,
                emit=emit,
                progress=progress,
                imported=imported.clone() if imported is not None else None,
                tp=tp,
            )

        return search_tp(compile_at, sys_desc.chips, speculate or 1, progress)
    tp = tp or 1
    dims = dict(dims or {})
    if speculate is not None:
        if speculate < 1:
            raise PimcError(f"--speculate {speculate}: must be >= 1")
        if Path(path).suffix != ".pim":
            raise PimcError(
                f"{path}: --speculate sets a DSL model's `speculate` parameter; for an ONNX model "
                "bind its new-token dim with --dim (e.g. --dim sequence_length=4)"
            )
        dims["speculate"] = str(speculate)
    if sub_batches < 1:
        raise PimcError(f"--sub-batches {sub_batches}: must be >= 1")
    if sub_batches > 1:
        batch = dims.get("batch")
        if batch is None or not batch.isdigit() or int(batch) % sub_batches:
            raise PimcError(f"--sub-batches {sub_batches}: needs --dim batch=B with B a multiple of {sub_batches}")
        dims["batch"] = str(int(batch) // sub_batches)
    say = progress or (lambda stage: None)
    say(f"importing {Path(path).name}")
    module = imported if imported is not None else import_model(path, dims)
    warning = unmodelled_warning(module)
    roofline: Background | None = None

    def between(previous: ModulePass | None, mod: ModuleOp, following: ModulePass | None) -> None:
        nonlocal roofline
        if background and isinstance(previous, CheckCapacityPass):
            # roofline.png needs only the placed ops, which no later pass changes: a child renders it from here on
            view = roofline_view(mod)
            roofline = Background(lambda view=view: _roofline(view, sys_desc))
        if following is not None:
            say(following.name)

    passes = compile_passes(system, strategy, dtype, sub_batches, papi_threshold, baselines, tp)
    PassPipeline(tuple(passes), between).apply(make_context(), module)
    try:  # once, on the final IR: the passes build their ops through verified constructors
        module.verify()
    except VerifyException as e:
        raise CompileError(f"internal error: the compiled IR is invalid: {e}") from e
    say("report")
    report = build_report(module, speculate or 1)
    warnings = [w for w in (warning, no_commands_warning(module, sys_desc)) if w]
    warnings += optimal_gap_warnings(report)
    traces = emit_traces(module, report["model"], sys_desc, emit)
    return CompileResult(module, report, traces, warnings, sys_desc, roofline)


def search_tp(
    compile_at: Callable[[int], CompileResult],
    chips: int,
    tokens_per_step: int,
    progress: Callable[[str], None] | None,
) -> CompileResult:
    """The compile `pimc compile` returns when `--tp` is not given on a system of several chips.

    `compile_at(t)` compiles at every divisor t of the chips: t chips per tensor-parallel group, chips / t
    data-parallel replicas each serving the whole `--dim batch`. The result kept is the one of least latency
    (TTFT + decode step, the report's total), ties to the smaller t (more replicas); a degree that does not
    fit its memories or cannot split the model is a row with its error. Every row is recorded on the kept
    module (`pimc.parallel_search`, the report's `parallel.search`). Raises the smallest degree's error when
    none compiles."""
    say = progress or (lambda stage: None)
    rows: dict[int, dict[str, Any]] = {}
    errors: list[PimcError] = []
    best: tuple[float, CompileResult] | None = None
    for t in (d for d in range(1, chips + 1) if chips % d == 0):
        say(f"trying --tp {t}")
        try:
            r = compile_at(t)
        except PimcError as e:
            errors.append(e)
            rows[t] = {"tp": t, "replicas": chips // t, "error": str(e)}
            continue
        sched = r.report["schedule"]
        decode = r.report["phases"].get("decode")
        latency = r.report["totals"]["latency_ns"]
        row: dict[str, Any] = {"tp": t, "replicas": chips // t, "latency_ns": latency}
        if sched["ttft_ns"] is not None:
            row["ttft_ns"] = sched["ttft_ns"]
        if decode is not None and decode["latency_ns"] and decode["tokens"]:
            row["tpot_ns"] = sched["tpot_ns"]
            row["tokens_per_s"] = chips // t * decode["tokens"] * 1e9 / decode["latency_ns"]
        rows[t] = row
        if best is None or latency < best[0]:
            best = (latency, r)
    if best is None:
        raise errors[0]
    chosen = best[1]
    tp = chosen.report["parallel"]["tp"]
    for t, row in rows.items():
        if "error" not in row:
            row["chosen"] = t == tp
    chosen.module.attributes[PARALLEL_SEARCH_ATTR] = result_attr(rows)
    chosen.report = build_report(chosen.module, tokens_per_step)
    return chosen


WARN_GAP = 1e-3
"""An `optimal` phase further than this fraction from its proven lower bound is warned about (every gap is in
the report and the summary)."""


def optimal_gap_warnings(report: dict[str, Any]) -> list[str]:
    """One line per phase whose `optimal` placement is further than WARN_GAP from its proven lower bound."""
    sched = report["schedule"]
    out = []
    for phase, ok in sched["optimal_proven"].items():
        if ok or sched["optimal_gap"].get(phase, 0.0) <= WARN_GAP:
            continue
        latency = report["phases"][phase]["latency_ns"]
        bound = sched["optimal_bound_ns"].get(phase, 0.0)
        out.append(
            f"optimal: phase {phase}: {latency:.6g} ns, within {100 * sched['optimal_gap'][phase]:.3g}% of "
            f'the proven lower bound {bound:.6g} ns (not proven least: docs/partition.md, "How optimal is solved")'
        )
    return out


def no_commands_warning(module: ModuleOp, system: System) -> str | None:
    """One line naming PIM devices that got GEMVs but whose ISA pimc emits no commands for."""
    silent: dict[str, int] = {}
    for op in module.walk():
        if isinstance(op, pim.PIM_MACROS) and not op.commands.blocks:
            device = device_of(op) or "?"
            silent[device] = silent.get(device, 0) + 1
    if not silent:
        return None
    listed = ", ".join(
        f"'{d}' (isa {system.devices[d].pim.isa}, {n} GEMVs)" for d, n in silent.items() if d in system.devices
    )
    return (
        f"no command stream is emitted for PIM device(s) {listed}: only the AiM and AttAcc ISAs have "
        "emitters; "
        "their GEMV costs come from the all-bank timing model (targets/models/pim_timing.py)"
    )


def write_outputs(result: CompileResult, outdir: str | Path) -> list[Path]:
    """Write report.json, plan.mlir, the command traces, timeline.json and roofline.png into `outdir`, each atomically."""
    return write_files(result.files(), outdir)


def write_files(files: dict[str, str | bytes], outdir: str | Path) -> list[Path]:
    """Write rendered files into `outdir`: each to a temporary name first, renamed only once all are complete.

    On failure (a path under a file, a read-only file system, a full disk, ...) the PimcError names the
    directory, and nothing is left behind: neither a temporary file nor a directory this call created.
    """
    if str(outdir) == "":
        raise PimcError("-o: the output directory is an empty path")
    outdir = Path(outdir)
    for name, content in files.items():
        if name.endswith(".json"):
            _check_json(name, content)
    temps: dict[str, str] = {}
    created: list[Path] = []
    try:
        missing = [p for p in (outdir, *outdir.parents) if not p.exists()]
        outdir.mkdir(parents=True, exist_ok=True)
        created = [p for p in missing if p.is_dir()]  # deepest first
        if not outdir.is_dir():
            raise NotADirectoryError(f"{outdir} is not a directory")
        for name, content in files.items():
            if (outdir / name).is_dir():
                raise IsADirectoryError(f"{outdir / name} is a directory")
            fd, temps[name] = tempfile.mkstemp(dir=outdir, prefix=f".{name}.")
            with os.fdopen(fd, "wb") as f:
                f.write(content.encode() if isinstance(content, str) else content)
            os.chmod(temps[name], 0o644)
        for name, tmp in temps.items():  # every file is complete before any is replaced
            os.replace(tmp, outdir / name)
    except (OSError, ValueError) as e:  # ValueError: a path with a NUL byte
        for tmp in temps.values():
            Path(tmp).unlink(missing_ok=True)
        for d in created:
            try:
                d.rmdir()
            except OSError:
                break
        reason = (e.strerror or str(e)) if isinstance(e, OSError) else str(e)
        raise PimcError(f"{outdir}: cannot write the outputs: {reason}") from None
    return [outdir / name for name in files]


def _check_json(name: str, content: str | bytes) -> None:
    """A JSON output must be strict JSON: NaN or Infinity in it is an internal error, never written."""

    def refuse(constant: str) -> None:
        raise CompileError(f"internal error: {name} would hold {constant}; no output is written")

    json.loads(content, parse_constant=refuse)
