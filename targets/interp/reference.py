"""A numpy reference interpreter of the `nn` IR: the functional meaning of a function.

`run_function(fn, weights, inputs)` evaluates every op of a `func.func` in `nn`,
in program order, with numpy, and returns the values its `func.return` returns.
It is an xDSL interpreter (`xdsl.interpreter.Interpreter`) with two function
sets: xDSL's own `FuncFunctions` for `func` and `ReferenceFunctions` here, one
`@impl` per `nn` op, the values numpy arrays. More sets compose onto the same
interpreter (`reference_interpreter`, then `register_implementations`): `pimc run`
adds the PIM emulator's (targets/interp/pim_emulator.py). It is the executable form of
the op docstrings in `pimc.dialects.nn`:

- the semantic check of the frontends and of `raise-nn`: a model imported (and
  raised) from ONNX must compute what onnxruntime computes on the same inputs
  (tests/unit/test_reference.py);
- the functional reference that `pimc run` (issue 6) uses for the ops that no
  PIM device executes, and to check the functional emulator's results.

Tensors are computed in their declared element type (float32 for `f32`);
every result is checked against its declared shape and cast to its declared
dtype, so a wrong type from shape inference is reported at the op that has it.
Weights (`nn.weight`) are looked up by name in `weights`; `weights_from_onnx`
reads them from an ONNX file. A generic `nn.onnx` op runs with ONNX's own
reference implementation (`onnx.reference`), its attributes converted back from
xDSL to ONNX attributes. Floating-point exceptions are not reported (like
onnxruntime, infinities and NaNs propagate). An op that cannot be evaluated
raises `ReferenceError` naming it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, inliner, numpy_helper
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseIntOrFPElementsAttr,
    Float16Type,
    Float32Type,
    Float64Type,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    Signedness,
    StringAttr,
    TensorType,
)
from xdsl.interpreter import Interpreter, InterpreterFunctions, PythonValues, impl, register_impls
from xdsl.interpreters.func import FuncFunctions
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.utils.exceptions import InterpretationError

from pimc.dialects import nn
from pimc.errors import PimcError


class ReferenceError(PimcError):
    """An op cannot be evaluated by the reference interpreter (or its inputs are wrong)."""


# -- types --------------------------------------------------------------------------


def numpy_dtype(element_type: Attribute) -> np.dtype:
    """The numpy dtype of an xDSL element type (f16/f32/f64, iN/uiN, i1 as bool)."""
    if isinstance(element_type, Float32Type):
        return np.dtype(np.float32)
    if isinstance(element_type, Float16Type):
        return np.dtype(np.float16)
    if isinstance(element_type, Float64Type):
        return np.dtype(np.float64)
    if isinstance(element_type, IntegerType):
        width = element_type.width.data
        if width == 1:
            return np.dtype(np.bool_)
        if width in (8, 16, 32, 64):
            unsigned = element_type.signedness.data == Signedness.UNSIGNED
            return np.dtype(f"{'u' if unsigned else ''}int{width}")
    raise ReferenceError(f"element type {element_type} has no numpy equivalent")


def _tensor_type(value: SSAValue, what: str) -> tuple[tuple[int, ...], np.dtype]:
    t = value.type
    if not isinstance(t, TensorType):
        raise ReferenceError(f"{what} is not a tensor (type {t})")
    return tuple(t.get_shape()), numpy_dtype(t.element_type)


def dense_to_array(attr: DenseIntOrFPElementsAttr) -> np.ndarray:
    """The values of a dense elements attribute as an array of its type's shape and dtype."""
    t = attr.type
    assert isinstance(t, TensorType)
    return np.array(attr.get_values(), dtype=numpy_dtype(t.element_type)).reshape(tuple(t.get_shape()))


# -- weights ------------------------------------------------------------------------------


def weights_from_onnx(path: str | Path | onnx.ModelProto) -> dict[str, np.ndarray]:
    """The data of every `nn.weight` the ONNX importer makes from the model at `path` (or an
    already loaded model, its external data included).

    These are the graph's initializers (external data files are read, relative to
    the model) and the values of the Constant nodes too large to fold, which the
    importer turns into `nn.weight` named after the Constant's output.
    """
    from pimc.limits import FOLD_LIMIT

    model = path if isinstance(path, onnx.ModelProto) else load_model(path)
    if model.functions:  # as the importer does, so Constant outputs get the same names
        model = inliner.inline_local_functions(model)
    weights = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "Constant" or node.domain not in ("", "ai.onnx"):
            continue
        for a in node.attribute:
            if a.name == "value" and a.type == onnx.AttributeProto.TENSOR:
                value = numpy_helper.to_array(a.t)
                if value.size > FOLD_LIMIT:
                    weights[node.output[0]] = value
    return weights


def load_model(path: str | Path) -> onnx.ModelProto:
    """The ONNX model at `path` with its external data; a ReferenceError (one line) if it cannot be read."""
    try:
        return onnx.load(str(path), load_external_data=True)
    except Exception as e:  # a missing external data file, a truncated model, ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ReferenceError(f"{path}: cannot read the weights ({type(e).__name__}: {first})") from None


# -- numpy forms of the nn ops --------------------------------------------------------------------


def _f(value: float, like: np.ndarray) -> np.ndarray:
    """A scalar attribute in the dtype of the tensor it combines with (no promotion to float64)."""
    return np.asarray(value, like.dtype)


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _gelu(x: np.ndarray, approximate: str) -> np.ndarray:
    if approximate == "tanh":
        inner = _f(math.sqrt(2.0 / math.pi), x) * (x + _f(0.044715, x) * x**3)
        return _f(0.5, x) * x * (1 + np.tanh(inner))
    erf = np.vectorize(math.erf, otypes=[np.float64])(x.astype(np.float64) / math.sqrt(2.0))
    return (0.5 * x.astype(np.float64) * (1 + erf)).astype(x.dtype)


def _rotate_half(x: np.ndarray) -> np.ndarray:
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def _rotate_every_two(x: np.ndarray) -> np.ndarray:
    """GPT-J's rotation: out[2i] = -x[2i+1], out[2i+1] = x[2i]."""
    return np.stack((-x[..., 1::2], x[..., 0::2]), axis=-1).reshape(x.shape)


def _axis(op: nn.SoftmaxOp | nn.LayerNormOp | nn.ConcatOp | nn.GatherOp | nn.KvAppendOp) -> int:
    return op.axis.value.data


def _optional(rest: Sequence[np.ndarray]) -> np.ndarray | None:
    """The value of an op's trailing optional operand (`*rest` of its operand values), None when it is absent."""
    return rest[0] if rest else None


def attention_probabilities(
    scores: np.ndarray, mask: np.ndarray | None, scale: float, mask_fill: float | None
) -> np.ndarray:
    """softmax(scale * scores, masked) over the last axis, as nn.attention defines it (a fully
    masked row attends to nothing); the functional emulator applies it between PIM's score and
    context GEMVs."""
    scores = _f(scale, scores) * scores
    if mask is not None and mask_fill is not None:
        scores = np.where(mask, scores, _f(mask_fill, scores))
    elif mask is not None:
        scores = scores + mask
    p = _softmax(scores, -1)
    return np.where(np.isnan(p), np.zeros((), p.dtype), p)


# -- generic ONNX ops ------------------------------------------------------------------------


def _latest_version(domain: str) -> int:
    if domain in ("", "ai.onnx"):
        return onnx.defs.onnx_opset_version()
    return max((s.since_version for s in onnx.defs.get_all_schemas_with_history() if s.domain == domain), default=0)


def ins_of(op: nn.OnnxOp) -> list[str]:
    """The graph-input names of a generic op's operands: x<ONNX input slot>."""
    if op.input_slots is None:
        return [f"x{i}" for i in range(len(op.inputs))]
    return [f"x{a.value.data}" for a in op.input_slots.data]


def _schema(op: nn.OnnxOp, domain: str, limit: int | None) -> onnx.defs.OpSchema:
    """The newest schema of the op (at most version `limit`) its attributes and arity fit.

    The IR does not record the model's opset; without `limit` the op's own
    attributes and input count pick the version (e.g. ReduceMean with an `axes`
    attribute is ReduceMean-13, with an axes input ReduceMean-18).
    """
    op_type = op.op_type.data
    names = set(op.onnx_attrs.data)
    n_inputs = len(op.inputs)
    version = limit if limit is not None else _latest_version(domain)
    rejected: list[str] = []
    while version >= 1:
        try:
            schema = onnx.defs.get_schema(op_type, version, domain)
        except onnx.defs.SchemaError:
            break
        extra = names - set(schema.attributes)
        if not extra and schema.min_input <= n_inputs <= schema.max_input:
            return schema
        why = f"attributes {sorted(extra)}" if extra else f"{n_inputs} inputs"
        rejected.append(f"{op_type}-{schema.since_version} does not take {why}")
        version = schema.since_version - 1
    where = f"domain '{domain}'" if domain else "the ONNX standard"
    detail = f" ({'; '.join(rejected)})" if rejected else ""
    raise ReferenceError(f"op '{nn.op_label(op)}': no schema of {op_type} in {where} fits it{detail}")


def _onnx_attribute(op: nn.OnnxOp, name: str, attr: Attribute, expected: int | None) -> onnx.AttributeProto:
    """The ONNX attribute an xDSL attribute of `nn.onnx` was imported from (see compiler/frontend/onnx/importer.py `_attr`)."""
    A = onnx.AttributeProto
    value: Any
    if isinstance(attr, IntegerAttr):
        value, kind = attr.value.data, A.INT
    elif isinstance(attr, FloatAttr):
        value, kind = attr.value.data, A.FLOAT
    elif isinstance(attr, StringAttr):
        value, kind = attr.data, A.STRING
    elif isinstance(attr, DenseIntOrFPElementsAttr):
        value, kind = numpy_helper.from_array(dense_to_array(attr)), A.TENSOR
    elif isinstance(attr, ArrayAttr):
        items = attr.data
        if all(isinstance(a, IntegerAttr) for a in items):
            value, kind = [a.value.data for a in items], A.INTS
        elif all(isinstance(a, FloatAttr) for a in items):
            value, kind = [a.value.data for a in items], A.FLOATS
        elif all(isinstance(a, StringAttr) for a in items):
            value, kind = [a.data for a in items], A.STRINGS
        else:
            raise ReferenceError(f"op '{nn.op_label(op)}': attribute '{name}' mixes element kinds: {attr}")
        if not items and expected is not None and expected in (A.INTS, A.FLOATS, A.STRINGS):
            kind = expected
    else:
        raise ReferenceError(f"op '{nn.op_label(op)}': attribute '{name}' of kind {attr.name} has no ONNX form")
    if expected is not None and expected != kind:
        if expected == A.FLOAT and kind == A.INT:
            value, kind = float(value), A.FLOAT
        else:
            lost = " (its value was not kept by the importer)" if kind == A.STRING and value.startswith("<") else ""
            raise ReferenceError(
                f"op '{nn.op_label(op)}' ({op.op_type.data}): attribute '{name}' should be "
                f"{A.AttributeType.Name(expected)}, got {A.AttributeType.Name(kind)} {attr}{lost}"
            )
    return helper.make_attribute(name, value, attr_type=kind)


def _attribute_kind(attr_type: onnx.defs.OpSchema.AttrType) -> int:
    """A schema attribute's type as an AttributeProto.AttributeType: OpSchema.AttrType is an IntEnum of the same
    values (its stub does not say it is an int)."""
    assert isinstance(attr_type, int)
    return attr_type


@functools.cache
def _overrides() -> list[type]:
    """Implementations that replace onnx.reference's where it is wrong (passed as `new_ops`)."""
    from onnx.reference.op_run import OpRun

    class GatherElements(OpRun):
        """onnx.reference's fails on data with many rows along `axis` (np.choose takes at most 32/64)."""

        op_domain = ""

        def _run(self, data, indices, axis=None):
            axis = (axis or 0) % data.ndim
            # indices may be smaller than data off the axis: out[i][j] = data[indices[i][j]][j] (axis 0)
            data = data[tuple(slice(None) if d == axis else slice(0, n) for d, n in enumerate(indices.shape))]
            indices = np.where(indices < 0, indices + data.shape[axis], indices)
            return (np.take_along_axis(data, indices.astype(np.int64), axis=axis),)

    return [GatherElements]


class OnnxRunner:
    """Runs `nn.onnx` ops with ONNX's reference implementation, one cached evaluator per
    distinct (domain, op type, opset version, attributes, operand types)."""

    def __init__(self, opset: int | None = None):
        self.opset = opset
        self.cache: dict[tuple, Any] = {}

    def run(self, op: nn.OnnxOp, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
        from onnx.reference import ReferenceEvaluator

        domain = op.domain.data if op.domain is not None else ""
        in_types = tuple(v.type for v in op.inputs)
        out_types = tuple(r.type for r in op.results)
        key = (domain, op.op_type.data, str(op.onnx_attrs), str(op.input_slots), in_types, out_types)
        evaluator = self.cache.get(key)
        if evaluator is None:
            schema = _schema(op, domain, self.opset if domain in ("", "ai.onnx") else None)
            expected = {n: _attribute_kind(a.type) for n, a in schema.attributes.items()}
            attrs = [_onnx_attribute(op, n, a, expected.get(n)) for n, a in op.onnx_attrs.data.items()]
            slots = (
                [a.value.data for a in op.input_slots.data]
                if op.input_slots is not None
                else list(range(len(op.inputs)))
            )
            ins = [""] * (max(slots, default=-1) + 1)
            for slot in slots:
                ins[slot] = f"x{slot}"
            outs = [f"y{i}" for i in range(len(op.results))]
            node = helper.make_node(op.op_type.data, ins, outs, domain=domain or None)
            node.attribute.extend(attrs)
            graph = helper.make_graph(
                [node],
                "reference",
                [_value_info(n, t) for n, t in zip([n for n in ins if n], in_types, strict=True)],
                [_value_info(n, t) for n, t in zip(outs, out_types, strict=True)],
            )
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid(domain, schema.since_version)])
            try:
                evaluator = ReferenceEvaluator(model, new_ops=_overrides())
            except Exception as e:
                raise ReferenceError(
                    f"op '{nn.op_label(op)}': ONNX's reference runtime has no {op.op_type.data}-"
                    f"{schema.since_version}: {type(e).__name__}: {e}"
                ) from None
            self.cache[key] = evaluator
        try:
            names = [n for n in ins_of(op)]
            outputs = evaluator.run(None, dict(zip(names, xs, strict=True)))
            assert isinstance(outputs, list)
            return outputs
        except Exception as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise ReferenceError(
                f"op '{nn.op_label(op)}' ({op.op_type.data}) failed in ONNX's reference runtime: "
                f"{type(e).__name__}: {first}"
            ) from None


def _value_info(name: str, t: Attribute) -> onnx.ValueInfoProto:
    assert isinstance(t, TensorType)
    code = helper.np_dtype_to_tensor_dtype(numpy_dtype(t.element_type))
    return helper.make_tensor_value_info(name, code, list(t.get_shape()))


# -- results --------------------------------------------------------------------------------------


def check_value(x: Any, value: SSAValue, what: str, cast: bool = True) -> np.ndarray:
    """`x` as an array of `value`'s declared type; an error when its shape differs
    (or, unless `cast`, when its dtype is of another kind: float, integer or bool)."""
    shape, dtype = _tensor_type(value, what)
    x = np.asarray(x)
    if x.shape != shape:
        raise ReferenceError(f"{what} has shape {x.shape}, but the IR declares {shape}")
    if x.dtype != dtype:
        if not cast and _kind(x.dtype) != _kind(dtype):
            raise ReferenceError(f"{what} has dtype {x.dtype}, but the IR declares {dtype}")
        x = x.astype(dtype)
    return x


def _kind(dtype: np.dtype) -> str:
    return "i" if dtype.kind in "iu" else dtype.kind


def check_results(op: Operation, values: Sequence[Any]) -> PythonValues:
    """The values an op's implementation computed, as its results: each an array of its result's declared
    shape, cast to the declared dtype (`check_value`)."""
    what = f"result of op '{nn.op_label(op)}' ({op.name})"
    return tuple(check_value(y, r, what) for r, y in zip(op.results, values, strict=True))


# -- the interpreter functions ------------------------------------------------------------------------


@register_impls
@dataclass
class ReferenceFunctions(InterpreterFunctions):
    """The `nn` ops on numpy arrays, each result checked against its declared type (`check_results`)."""

    weights: Mapping[str, np.ndarray]
    """The data of every `nn.weight`, by name."""
    opset: int | None = None
    """The model's ONNX opset, at which generic `nn.onnx` ops run (`run_function`)."""
    onnx_runner: OnnxRunner = field(init=False)
    """Runs the generic `nn.onnx` ops (one cached ONNX evaluator per distinct op)."""

    def __post_init__(self) -> None:
        self.onnx_runner = OnnxRunner(self.opset)

    @impl(nn.WeightOp)
    def run_weight(self, interpreter: Interpreter, op: nn.WeightOp, args: PythonValues) -> PythonValues:
        """The named weight's data, resident in memory (a dtype of the declared kind is cast to the declared one)."""
        name = op.sym_name.data
        if name not in self.weights:
            raise ReferenceError(f"no data for weight '{name}'")
        return (check_value(self.weights[name], op.result, f"weight '{name}'", cast=False),)

    @impl(nn.ConstantOp)
    def run_constant(self, interpreter: Interpreter, op: nn.ConstantOp, args: PythonValues) -> PythonValues:
        """The tensor the op's dense attribute holds."""
        return check_results(op, [dense_to_array(op.value)])

    @impl(nn.OnnxOp)
    def run_onnx(self, interpreter: Interpreter, op: nn.OnnxOp, args: PythonValues) -> PythonValues:
        """The ONNX node the op stands for, run by ONNX's reference runtime (`OnnxRunner`)."""
        return check_results(op, self.onnx_runner.run(op, args))

    @impl(nn.MatMulOp)
    def run_matmul(self, interpreter: Interpreter, op: nn.MatMulOp, args: PythonValues) -> PythonValues:
        """lhs @ rhs, batched over (broadcast) leading dims: 2*M*K*N FLOPs per matrix product."""
        lhs, rhs = args
        return check_results(op, [np.matmul(lhs, rhs)])

    @impl(nn.GemmOp)
    def run_gemm(self, interpreter: Interpreter, op: nn.GemmOp, args: PythonValues) -> PythonValues:
        """alpha * op(a) @ op(b) + beta * c, op() transposing where `trans_a` / `trans_b` say."""
        a, b, *rest = args
        c = _optional(rest)
        a = a.T if op.trans_a.value.data else a
        b = b.T if op.trans_b.value.data else b
        y = _f(op.alpha.value.data, a) * (a @ b)
        return check_results(op, [y if c is None else y + _f(op.beta.value.data, a) * c])

    @impl(nn.AddOp)
    def run_add(self, interpreter: Interpreter, op: nn.AddOp, args: PythonValues) -> PythonValues:
        """lhs + rhs, elementwise with broadcasting."""
        lhs, rhs = args
        return check_results(op, [np.add(lhs, rhs)])

    @impl(nn.MulOp)
    def run_mul(self, interpreter: Interpreter, op: nn.MulOp, args: PythonValues) -> PythonValues:
        """lhs * rhs, elementwise with broadcasting."""
        lhs, rhs = args
        return check_results(op, [np.multiply(lhs, rhs)])

    @impl(nn.SoftmaxOp)
    def run_softmax(self, interpreter: Interpreter, op: nn.SoftmaxOp, args: PythonValues) -> PythonValues:
        """exp(x - max) / sum(exp(x - max)) along `axis`."""
        (x,) = args
        return check_results(op, [_softmax(x, _axis(op))])

    @impl(nn.LayerNormOp)
    def run_layer_norm(self, interpreter: Interpreter, op: nn.LayerNormOp, args: PythonValues) -> PythonValues:
        """(x - mean) / sqrt(var + epsilon) * scale (+ bias), mean and variance over the dims from `axis` on."""
        x, scale, *rest = args
        bias = _optional(rest)
        axes = tuple(range(_axis(op) % x.ndim, x.ndim))
        mean = np.mean(x, axis=axes, keepdims=True)
        var = np.mean(np.square(x - mean), axis=axes, keepdims=True)
        y = (x - mean) / np.sqrt(var + _f(op.epsilon.value.data, x)) * scale
        return check_results(op, [y if bias is None else y + bias])

    @impl(nn.ReshapeOp)
    def run_reshape(self, interpreter: Interpreter, op: nn.ReshapeOp, args: PythonValues) -> PythonValues:
        """The same elements in row-major order, in the result's shape."""
        (x,) = args
        return check_results(op, [x.reshape(nn.tensor_shape(op.result.type))])

    @impl(nn.TransposeOp)
    def run_transpose(self, interpreter: Interpreter, op: nn.TransposeOp, args: PythonValues) -> PythonValues:
        """The input's dims permuted: result dim i is input dim perm[i]."""
        (x,) = args
        return check_results(op, [np.transpose(x, [p.value.data for p in op.perm.data])])

    @impl(nn.ConcatOp)
    def run_concat(self, interpreter: Interpreter, op: nn.ConcatOp, args: PythonValues) -> PythonValues:
        """The inputs joined along `axis`, in operand order."""
        return check_results(op, [np.concatenate(list(args), axis=_axis(op))])

    @impl(nn.GatherOp)
    def run_gather(self, interpreter: Interpreter, op: nn.GatherOp, args: PythonValues) -> PythonValues:
        """ONNX Gather: the slices of `data` along `axis` at `indices`, in [-n, n) of the gathered axis (negative
        ones count from the end); an index out of range (a token id beyond the vocabulary) is an error naming
        the op."""
        data, indices = args
        axis = _axis(op)
        n = data.shape[axis]
        idx = indices.astype(np.int64)
        bad = (idx < -n) | (idx >= n)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ReferenceError(
                f"op '{nn.op_label(op)}' (gather): index {int(idx[where])} at {list(where)} is "
                f"out of range for the {n} rows of its table (valid: {-n} to {n - 1})"
            )
        return check_results(op, [np.take(data, idx, axis=axis)])

    @impl(nn.LinearOp)
    def run_linear(self, interpreter: Interpreter, op: nn.LinearOp, args: PythonValues) -> PythonValues:
        """x @ W (+ bias), W given transposed ([N, K], as torch.nn.Linear stores it) where `transpose_w` is set."""
        x, w, *rest = args
        bias = _optional(rest)
        y = x @ (w.T if op.transpose_w is not None else w)
        return check_results(op, [y if bias is None else y + bias])

    @impl(nn.AttentionOp)
    def run_attention(self, interpreter: Interpreter, op: nn.AttentionOp, args: PythonValues) -> PythonValues:
        """softmax(scale * q @ K^T, masked) @ V per query head, query head h reading K/V head h // (Hq / Hkv)."""
        q, k, v, *rest = args
        group = q.shape[1] // k.shape[1]
        k = np.repeat(k, group, axis=1)
        v = np.repeat(v, group, axis=1)
        fill = None if op.mask_fill is None else op.mask_fill.value.data
        p = attention_probabilities(q @ np.swapaxes(k, -1, -2), _optional(rest), op.scale.value.data, fill)
        return check_results(op, [p @ v])

    @impl(nn.RmsNormOp)
    def run_rms_norm(self, interpreter: Interpreter, op: nn.RmsNormOp, args: PythonValues) -> PythonValues:
        """x / sqrt(mean(x^2) + epsilon) * scale, the mean over the last dim."""
        x, scale = args
        ms = np.mean(np.square(x), axis=-1, keepdims=True)
        return check_results(op, [x / np.sqrt(ms + _f(op.epsilon.value.data, x)) * scale])

    @impl(nn.GeluOp)
    def run_gelu(self, interpreter: Interpreter, op: nn.GeluOp, args: PythonValues) -> PythonValues:
        """x * Phi(x) (Phi the standard normal CDF, via erf in float64), or its tanh approximation."""
        (x,) = args
        return check_results(op, [_gelu(x, op.approximate.data)])

    @impl(nn.SiluOp)
    def run_silu(self, interpreter: Interpreter, op: nn.SiluOp, args: PythonValues) -> PythonValues:
        """x * sigmoid(x)."""
        (x,) = args
        return check_results(op, [x * _sigmoid(x)])

    @impl(nn.RotaryOp)
    def run_rotary(self, interpreter: Interpreter, op: nn.RotaryOp, args: PythonValues) -> PythonValues:
        """x * cos + rotate(x) * sin, rotate the half rotation (GPT-NeoX, Llama) or, where `interleaved` is set,
        GPT-J's rotation of every two elements."""
        x, cos, sin = args
        rotate = _rotate_every_two if op.interleaved is not None else _rotate_half
        return check_results(op, [x * cos + rotate(x) * sin])

    @impl(nn.KvAppendOp)
    def run_kv_append(self, interpreter: Interpreter, op: nn.KvAppendOp, args: PythonValues) -> PythonValues:
        """The cache with the new keys or values appended along `axis`."""
        cache, new = args
        return check_results(op, [np.concatenate([cache, new], axis=_axis(op))])

    @impl(nn.MoeGateOp)
    def run_moe_gate(self, interpreter: Interpreter, op: nn.MoeGateOp, args: PythonValues) -> PythonValues:
        """Scores (softmax or sigmoid of the logits), the top-k of them best first (ties to the lower index),
        normalised to sum 1 when `normalize` is set, times `scale`."""
        (logits,) = args
        x = logits.astype(np.float64)
        if op.scoring.data == "softmax":
            e = np.exp(x - x.max(axis=-1, keepdims=True))
            scores = e / e.sum(axis=-1, keepdims=True)
        else:
            scores = 1.0 / (1.0 + np.exp(-x))
        k = op.top_k.value.data
        idx = np.argsort(-scores, axis=-1, kind="stable")[..., :k]
        w = np.take_along_axis(scores, idx, axis=-1)
        if op.normalize is not None:
            w = w / w.sum(axis=-1, keepdims=True)
        return check_results(op, [w * op.scale.value.data, idx.astype(np.int64)])

    @impl(nn.MoeDispatchOp)
    def run_moe_dispatch(self, interpreter: Interpreter, op: nn.MoeDispatchOp, args: PythonValues) -> PythonValues:
        """The first `capacity` tokens routed to the expert, in token order, zero rows after them."""
        x, indices = args
        rows = np.flatnonzero((indices == op.expert.value.data).any(axis=-1))[: op.capacity()]
        out = np.zeros((op.capacity(), x.shape[-1]), dtype=x.dtype)
        out[: len(rows)] = x[rows]
        return check_results(op, [out])

    @impl(nn.MoeCombineOp)
    def run_moe_combine(self, interpreter: Interpreter, op: nn.MoeCombineOp, args: PythonValues) -> PythonValues:
        """Each token's gate-weighted sum over its experts' outputs (the rows moe_dispatch gave them); a token past
        an expert's capacity, or routed to an expert the op does not list, adds nothing."""
        weights, indices, *outputs = args
        out = np.zeros((weights.shape[0], outputs[0].shape[-1] if outputs else 0), dtype=np.float64)
        for expert, y in zip(op.expert_ids(), outputs, strict=True):
            hit = indices == expert  # [T, k]: at most one slot per token (top-k experts are distinct)
            rows = np.flatnonzero(hit.any(axis=-1))[: y.shape[0]]
            gate = (weights * hit).sum(axis=-1)[rows]
            out[rows] += gate[:, None] * y[: len(rows)]
        return check_results(op, [out])


# -- running a function -------------------------------------------------------------------------------


@dataclass
class _CurrentOp(Interpreter.Listener):
    """The op being interpreted, to name the op the interpreter has no implementation for."""

    op: Operation | None = None

    def will_interpret_op(self, op: Operation, args: PythonValues) -> None:
        self.op = op


def reference_interpreter(fn: func.FuncOp, weights: Mapping[str, np.ndarray], opset: int | None = None) -> Interpreter:
    """An interpreter of `fn`'s module with the `func` ops (xDSL's `FuncFunctions`) and the `nn` ops
    (`ReferenceFunctions`); more function sets compose onto it with `register_implementations`."""
    top = fn.get_toplevel_object()
    interpreter = Interpreter(top if isinstance(top, ModuleOp) else ModuleOp([]))
    interpreter.register_implementations(FuncFunctions())
    interpreter.register_implementations(ReferenceFunctions(weights, opset))
    return interpreter


def call_function(interpreter: Interpreter, fn: func.FuncOp, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Run `fn` on `inputs` (checked against its argument types as `run_function` says) with `interpreter`
    and return the values of its `func.return`; an op the interpreter has no implementation for is a
    ReferenceError naming it."""
    name = fn.sym_name.data
    if len(fn.body.blocks) != 1:
        raise ReferenceError(f"function @{name} must have exactly one block")
    block = fn.body.blocks[0]
    if len(inputs) != len(block.args):
        raise ReferenceError(f"@{name} takes {len(block.args)} inputs, got {len(inputs)}")
    args = tuple(
        check_value(np.asarray(x), arg, f"input {i} of @{name}", cast=False)
        for i, (arg, x) in enumerate(zip(block.args, inputs, strict=True))
    )
    returns = any(isinstance(op, func.ReturnOp) for op in block.ops)
    current = _CurrentOp()
    listeners = interpreter.listeners
    interpreter.listeners = (*listeners, current)
    try:
        with np.errstate(all="ignore"):
            if not returns:
                interpreter.run_ssacfg_region(fn.body, args, name)
                raise ReferenceError(f"function @{name} has no func.return")
            return list(interpreter.call_op(fn, args))
    except InterpretationError as e:
        if current.op is None or not str(e).startswith("Could not find interpretation function"):
            raise
        raise ReferenceError(f"op '{nn.op_label(current.op)}' ({current.op.name}) has no reference semantics") from None
    finally:
        interpreter.listeners = listeners


def run_function(
    fn: func.FuncOp,
    weights: Mapping[str, np.ndarray],
    inputs: Sequence[np.ndarray],
    *,
    opset: int | None = None,
) -> list[np.ndarray]:
    """Evaluate `fn` on `inputs`: one array per argument, of its shape (a dtype of the
    argument's kind, float, integer or bool, is cast to the declared one).

    `weights` maps each `nn.weight` name to its data. `opset` is the model's ONNX
    opset, which the IR does not record: generic `nn.onnx` ops run at the op version
    in force in it (default: the newest version their attributes and arity fit,
    which is right unless an op changed meaning without changing its signature,
    like Softmax before opset 13). Returns the values of the function's `func.return`.
    """
    return call_function(reference_interpreter(fn, weights, opset), fn, inputs)
