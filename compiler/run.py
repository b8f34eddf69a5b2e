"""`pimc run`: execute a compiled plan functionally and compare it with onnxruntime.

The model is compiled for the system as `pimc compile` does it (partition,
schedule, lower-to-pim, convert-pim-to-aim, convert-pim-to-attacc). Then the compiled function runs on one
set of inputs: every PIM macro (`pim.gemv`, `pim.attention`) by the functional
emulator from its emitted command stream, on banks holding the real weights
(targets/interp/pim_emulator.py); every other op by the numpy reference interpreter
(targets/interp/reference.py); transfers between memories copy. One xDSL interpreter
runs the function, the function sets of both composed on it (`plan_interpreter`).
onnxruntime runs the original ONNX model on the same inputs, and the outputs are
compared element by element.

Inputs come from an .npz keyed by the graph's input names, else they are seeded
random: floats standard normal, integer inputs below the size of the table they
index (a Gather's rows; else 16), attention masks 1 but for the last quarter of
positions (padding) so that masking is exercised.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import helper
from xdsl.dialects import func
from xdsl.interpreter import Interpreter, InterpreterFunctions, PythonValues, impl, register_impls

from pimc.dialects import nn
from pimc.dialects.place import TransferOp, device_of
from pimc.errors import PimcError
from pimc.targets.interp.attacc_emulator import AttaccFunctions
from pimc.targets.interp.pim_emulator import AimFunctions, PimFunctions
from pimc.targets.interp.reference import (
    call_function,
    check_results,
    load_model,
    reference_interpreter,
    weights_from_onnx,
)
from pimc.targets.system import System


@dataclass
class RunResult:
    names: list[str]
    outputs: list[np.ndarray]
    expected: list[np.ndarray]
    macros: dict[str, int] = field(default_factory=dict)
    """PIM macros executed from their command streams, by device."""

    def errors(self) -> dict[str, float]:
        """max |pimc - onnxruntime| per output (0 for an empty one)."""
        out = {}
        for name, got, exp in zip(self.names, self.outputs, self.expected, strict=True):
            with np.errstate(all="ignore"):  # a model whose outputs overflow: inf - inf
                a, b = got.astype(np.float64), exp.astype(np.float64)
                same = (a == b) | (np.isnan(a) & np.isnan(b))
                diff = np.where(same, 0.0, np.abs(a - b))
            out[name] = float(np.max(diff)) if diff.size else 0.0
        return out

    def max_error(self) -> float:
        """The largest error; NaN when an output is NaN where the other's is not."""
        errors = list(self.errors().values())
        return float("nan") if any(np.isnan(e) for e in errors) else max(errors, default=0.0)


@register_impls
class TransferFunctions(InterpreterFunctions):
    """The data movement partition inserts between devices."""

    @impl(TransferOp)
    def run_transfer(self, interpreter: Interpreter, op: TransferOp, args: PythonValues) -> PythonValues:
        """place.transfer: the tensor copied into the destination device's memory, its value unchanged."""
        return check_results(op, args)


def plan_interpreter(
    fn: func.FuncOp, weights: Mapping[str, np.ndarray], system: System, opset: int | None
) -> tuple[Interpreter, PimFunctions]:
    """An interpreter of a compiled plan: the reference interpreter's functions (func, nn), the PIM
    emulator's (PIM macros from their AiM command streams, on the system's devices) and the transfers; and
    the emulator's functions, which count the macros executed."""
    interpreter = reference_interpreter(fn, weights, opset)
    pim_functions = PimFunctions(system.devices, device_of)
    interpreter.register_implementations(pim_functions)
    interpreter.register_implementations(AimFunctions())
    interpreter.register_implementations(AttaccFunctions())
    interpreter.register_implementations(TransferFunctions())
    return interpreter, pim_functions


def index_bound(model: onnx.ModelProto, name: str) -> int:
    """How many rows the tables that input `name` indexes have (its vocabulary), else 16."""
    rows = {i.name: i.dims[0] for i in model.graph.initializer if len(i.dims) > 0}
    bounds = [
        rows[n.input[0]]
        for n in model.graph.node
        if n.op_type == "Gather" and n.input[1] == name and n.input[0] in rows
    ]
    return min(bounds, default=16)


def seeded_inputs(
    model: onnx.ModelProto, shapes: Sequence[tuple[int, ...]], seed: int | np.random.Generator = 0
) -> dict[str, np.ndarray]:
    """Seeded random values for the graph inputs (module docstring), of the given (bound) shapes, drawn in
    input order from `seed` (or from a generator, which goes on from where they end)."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    initializers = {i.name for i in model.graph.initializer}
    inputs = [vi for vi in model.graph.input if vi.name not in initializers]
    feeds: dict[str, np.ndarray] = {}
    for vi, shape in zip(inputs, shapes, strict=True):
        dtype = helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
        if dtype.kind == "f":
            feeds[vi.name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "b" or "mask" in vi.name:
            mask = np.ones(shape, dtype)
            if shape and shape[-1] > 1:
                mask[..., shape[-1] - max(1, shape[-1] // 4) :] = 0
            feeds[vi.name] = mask
        else:
            feeds[vi.name] = rng.integers(0, index_bound(model, vi.name), shape).astype(dtype)
    return feeds


def load_inputs(path: Path, names: Sequence[str], shapes: Sequence[tuple[int, ...]]) -> dict[str, np.ndarray]:
    """The graph inputs from an .npz keyed by their names; an error names a missing, extra or misshapen one."""
    try:
        with open(path, "rb") as f:
            data = np.load(f, allow_pickle=False)
            if not hasattr(data, "files"):
                raise ValueError("a single .npy array, not an .npz archive of named inputs")
            with data:
                arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise PimcError(f"--inputs {path}: cannot read it as .npz: {str(e) or type(e).__name__}") from None
    missing = [n for n in names if n not in arrays]
    extra = sorted(set(arrays) - set(names))
    if missing or extra:
        raise PimcError(
            f"--inputs {path}: "
            + "; ".join(
                ([f"missing input(s) {', '.join(missing)}"] if missing else [])
                + ([f"no graph input named {', '.join(extra)}"] if extra else [])
            )
        )
    for name, shape in zip(names, shapes, strict=True):
        if arrays[name].shape != tuple(shape):
            raise PimcError(
                f"--inputs {path}: input '{name}' has shape {arrays[name].shape}, the model expects {tuple(shape)}"
            )
        a = arrays[name]
        if a.dtype.kind not in "biuf":
            raise PimcError(f"--inputs {path}: input '{name}' has dtype {a.dtype}; inputs are numbers")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise PimcError(f"--inputs {path}: input '{name}' holds NaN or infinity")
    return {n: arrays[n] for n in names}


def check_indices(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray], path: Path) -> None:
    """An error naming the input and the table when an integer input that a Gather reads directly holds an
    index outside the table (a token id beyond the vocabulary); negative ones count from the end, as in ONNX."""
    rows = {i.name: i.dims[0] for i in model.graph.initializer if len(i.dims) > 0}
    source = {name: name for name in feeds}  # values that hold an input's values, reshaped or cast
    for node in model.graph.node:
        if (
            node.op_type in ("Reshape", "Unsqueeze", "Squeeze", "Flatten", "Identity", "Cast")
            and node.input
            and node.input[0] in source
            and node.output
        ):
            source[node.output[0]] = source[node.input[0]]
    for node in model.graph.node:
        if node.op_type != "Gather" or len(node.input) < 2 or node.input[1] not in source or node.input[0] not in rows:
            continue
        if any(a.name == "axis" and a.i != 0 for a in node.attribute):
            continue
        name = source[node.input[1]]
        ids, n = feeds[name], rows[node.input[0]]
        if ids.dtype.kind not in "iu" or ids.size == 0:
            continue
        bad = (ids < -n) | (ids >= n)
        if bad.any():
            where = [int(i) for i in np.argwhere(bad)[0]]
            raise PimcError(
                f"--inputs {path}: input '{name}' holds {int(ids[tuple(where)])} at {where}, "
                f"outside the {n} rows of '{node.input[0]}' (valid: {-n} to {n - 1})"
            )


def run_model(
    path: str | Path,
    system: str,
    strategy: str = "optimal",
    dims: dict[str, str] | None = None,
    inputs: str | Path | None = None,
    seed: int = 0,
) -> RunResult:
    """Compile an ONNX model, execute the plan (PIM macros from their command streams) and run onnxruntime."""
    import onnxruntime as ort

    from pimc.compiler.driver import compile_model

    path = Path(path)
    if path.suffix != ".onnx":
        raise PimcError(f"{path}: pimc run needs an ONNX model (its weights and onnxruntime are the reference)")
    result = compile_model(path, system=system, strategy=strategy, dims=dims, baselines=False, emit=[])
    fns = [op for op in result.module.walk() if isinstance(op, func.FuncOp)]
    if len(fns) != 1:
        raise PimcError(f"{path}: expected one function after import, got {len(fns)}")
    fn = fns[0]
    model = load_model(path)
    weights = weights_from_onnx(model)
    needed = {op.sym_name.data for op in fn.walk() if isinstance(op, nn.WeightOp)}
    absent = sorted(needed - set(weights))
    if absent:
        raise PimcError(
            f"{path}: no data for {len(absent)} weight(s) ({', '.join(absent[:3])}"
            f"{', ...' if len(absent) > 3 else ''}): pimc run needs the weights in the file"
        )
    shapes = [tuple(nn.tensor_shape(a.type)) for a in fn.body.blocks[0].args]
    initializers = {i.name for i in model.graph.initializer}
    names = [vi.name for vi in model.graph.input if vi.name not in initializers]
    if len(names) != len(shapes):
        raise PimcError(f"{path}: the graph has {len(names)} inputs, the compiled function {len(shapes)}")
    if inputs is not None:
        feeds = load_inputs(Path(inputs), names, shapes)
        check_indices(model, feeds, Path(inputs))
    else:
        feeds = seeded_inputs(model, shapes, seed)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    assert result.system is not None
    interpreter, pim_functions = plan_interpreter(fn, weights, result.system, opset)
    outputs = call_function(interpreter, fn, [feeds[n] for n in names])
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        expected = session.run(None, feeds)
    except Exception as e:  # onnxruntime raises its own exception types
        raise PimcError(f"{path}: onnxruntime cannot run the model: {str(e).splitlines()[0]}") from None
    out_names = [o.name for o in model.graph.output]
    return RunResult(out_names, outputs, [np.asarray(e) for e in expected], pim_functions.macros)


def format_run(result: RunResult) -> str:
    """The run's summary; the last line is `max abs error vs onnxruntime: <value>`."""
    lines = []
    executed = ", ".join(f"{n} on {d}" for d, n in result.macros.items()) or "none"
    lines.append(f"PIM macros executed from their command streams: {executed}")
    for name, err in result.errors().items():
        ref = next(e for n, e in zip(result.names, result.expected, strict=True) if n == name)
        scale = float(np.max(np.abs(ref))) if ref.size else 0.0
        lines.append(f"  output {name}: max abs error {err:.3g} (max |onnxruntime| {scale:.3g})")
    lines.append(f"max abs error vs onnxruntime: {result.max_error():.6g}")
    return "\n".join(lines)
