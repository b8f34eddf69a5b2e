"""A numpy reference interpreter of the `nn` IR: the functional meaning of a function.

`run_function(fn, weights, inputs)` evaluates every op of a `func.func` in `nn`,
in program order, with numpy, and returns the values its `func.return` returns.
It is the executable form of the op docstrings in `pimc.dialects.nn`:

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
from collections.abc import Callable, Mapping, Sequence
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
    Signedness,
    StringAttr,
    TensorType,
)
from xdsl.ir import Attribute, Operation, SSAValue

from pimc.compiler.errors import PimcError
from pimc.dialects import nn


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
    from pimc.compiler.frontend.onnx_shapes import FOLD_LIMIT

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


# -- the nn ops -------------------------------------------------------------------------------
# Each evaluator takes the op and `get`, which maps an operand (None for an absent
# optional one) to its array (None), and returns the result array(s).

Get = Callable[[SSAValue | None], Any]


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


def _axis(op: nn.SoftmaxOp | nn.LayerNormOp | nn.ConcatOp | nn.GatherOp | nn.KvAppendOp) -> int:
    return op.axis.value.data


def _gemm(op: nn.GemmOp, get: Get) -> np.ndarray:
    a, b, c = get(op.a), get(op.b), get(op.c)
    a = a.T if op.trans_a.value.data else a
    b = b.T if op.trans_b.value.data else b
    y = _f(op.alpha.value.data, a) * (a @ b)
    return y if c is None else y + _f(op.beta.value.data, a) * c


def _layer_norm(op: nn.LayerNormOp, get: Get) -> np.ndarray:
    x, scale, bias = get(op.input), get(op.scale), get(op.bias)
    axes = tuple(range(_axis(op) % x.ndim, x.ndim))
    mean = np.mean(x, axis=axes, keepdims=True)
    var = np.mean(np.square(x - mean), axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + _f(op.epsilon.value.data, x)) * scale
    return y if bias is None else y + bias


def _linear(op: nn.LinearOp, get: Get) -> np.ndarray:
    x, w, bias = get(op.input), get(op.w), get(op.bias)
    y = x @ (w.T if op.transpose_w is not None else w)
    return y if bias is None else y + bias


def attention_probabilities(scores: np.ndarray, mask: np.ndarray | None, scale: float, mask_fill: float | None
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


def _attention(op: nn.AttentionOp, get: Get) -> np.ndarray:
    q, k, v, mask = get(op.q), get(op.k), get(op.v), get(op.mask)
    group = q.shape[1] // k.shape[1]
    k = np.repeat(k, group, axis=1)  # query head h reads K/V head h // group
    v = np.repeat(v, group, axis=1)
    fill = None if op.mask_fill is None else op.mask_fill.value.data
    return attention_probabilities(q @ np.swapaxes(k, -1, -2), mask, op.scale.value.data, fill) @ v


def _rms_norm(op: nn.RmsNormOp, get: Get) -> np.ndarray:
    x = get(op.input)
    ms = np.mean(np.square(x), axis=-1, keepdims=True)
    return x / np.sqrt(ms + _f(op.epsilon.value.data, x)) * get(op.scale)


def _rotate_every_two(x: np.ndarray) -> np.ndarray:
    """GPT-J's rotation: out[2i] = -x[2i+1], out[2i+1] = x[2i]."""
    return np.stack((-x[..., 1::2], x[..., 0::2]), axis=-1).reshape(x.shape)


def _rotary(op: nn.RotaryOp, get: Get) -> np.ndarray:
    x = get(op.input)
    rotate = _rotate_every_two if op.interleaved is not None else _rotate_half
    return x * get(op.cos) + rotate(x) * get(op.sin)


def _silu(op: nn.SiluOp, get: Get) -> np.ndarray:
    x = get(op.input)
    return x * _sigmoid(x)


def _gather(op: nn.GatherOp, data: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """ONNX Gather: indices in [-n, n) of the gathered axis (negative ones count from the end); an index out of
    range (a token id beyond the vocabulary) is an error naming the op."""
    axis = _axis(op)
    n = data.shape[axis]
    idx = indices.astype(np.int64)
    bad = (idx < -n) | (idx >= n)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ReferenceError(f"op '{nn.op_label(op)}' (gather): index {int(idx[where])} at {list(where)} is out of "
                             f"range for the {n} rows of its table (valid: {-n} to {n - 1})")
    return np.take(data, idx, axis=axis)


_EVALUATORS: dict[type[Operation], Callable[[Any, Get], Any]] = {
    nn.MatMulOp: lambda op, get: np.matmul(get(op.lhs), get(op.rhs)),
    nn.GemmOp: _gemm,
    nn.AddOp: lambda op, get: np.add(get(op.lhs), get(op.rhs)),
    nn.MulOp: lambda op, get: np.multiply(get(op.lhs), get(op.rhs)),
    nn.SoftmaxOp: lambda op, get: _softmax(get(op.input), _axis(op)),
    nn.LayerNormOp: _layer_norm,
    nn.ReshapeOp: lambda op, get: get(op.input).reshape(nn.tensor_shape(op.result.type)),
    nn.TransposeOp: lambda op, get: np.transpose(get(op.input), [p.value.data for p in op.perm.data]),
    nn.ConcatOp: lambda op, get: np.concatenate([get(v) for v in op.inputs], axis=_axis(op)),
    nn.GatherOp: lambda op, get: _gather(op, get(op.data), get(op.indices)),
    nn.LinearOp: _linear,
    nn.AttentionOp: _attention,
    nn.RmsNormOp: _rms_norm,
    nn.GeluOp: lambda op, get: _gelu(get(op.input), op.approximate.data),
    nn.SiluOp: _silu,
    nn.RotaryOp: _rotary,
    nn.KvAppendOp: lambda op, get: np.concatenate([get(op.cache), get(op.new)], axis=_axis(op)),
}


# -- generic ONNX ops ------------------------------------------------------------------------


def _latest_version(domain: str) -> int:
    if domain in ("", "ai.onnx"):
        return onnx.defs.onnx_opset_version()
    return max(
        (s.since_version for s in onnx.defs.get_all_schemas_with_history() if s.domain == domain), default=0
    )


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
    """The ONNX attribute an xDSL attribute of `nn.onnx` was imported from (see onnx_import._attr)."""
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
            slots = [a.value.data for a in op.input_slots.data] if op.input_slots is not None else list(range(len(op.inputs)))
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


# -- the interpreter ------------------------------------------------------------------------------


class Interpreter:
    """Evaluates the ops of one function; `onnx` runs the generic ops (and caches them)."""

    def __init__(self, weights: Mapping[str, np.ndarray], opset: int | None = None):
        self.weights = weights
        self.onnx = OnnxRunner(opset)

    def run(self, fn: func.FuncOp, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        if len(fn.body.blocks) != 1:
            raise ReferenceError(f"function @{fn.sym_name.data} must have exactly one block")
        block = fn.body.blocks[0]
        if len(inputs) != len(block.args):
            raise ReferenceError(f"@{fn.sym_name.data} takes {len(block.args)} inputs, got {len(inputs)}")
        env: dict[SSAValue, np.ndarray] = {}
        for i, (arg, x) in enumerate(zip(block.args, inputs, strict=True)):
            env[arg] = self.check(np.asarray(x), arg, f"input {i} of @{fn.sym_name.data}", cast=False)
        with np.errstate(all="ignore"):
            for op in block.ops:
                if isinstance(op, func.ReturnOp):
                    return [env[v] for v in op.arguments]
                results = self.eval(op, env)
                weight = isinstance(op, nn.WeightOp)
                what = f"weight '{op.sym_name.data}'" if weight else f"result of op '{nn.op_label(op)}' ({op.name})"
                for r, y in zip(op.results, results, strict=True):
                    env[r] = self.check(y, r, what, cast=not weight)
        raise ReferenceError(f"function @{fn.sym_name.data} has no func.return")

    def eval(self, op: Operation, env: Mapping[SSAValue, np.ndarray]) -> list[np.ndarray]:
        if isinstance(op, nn.WeightOp):
            name = op.sym_name.data
            if name not in self.weights:
                raise ReferenceError(f"no data for weight '{name}'")
            return [self.weights[name]]
        if isinstance(op, nn.ConstantOp):
            return [dense_to_array(op.value)]
        if isinstance(op, nn.OnnxOp):
            return self.onnx.run(op, [env[v] for v in op.operands])
        evaluator = _EVALUATORS.get(type(op))
        if evaluator is None:
            raise ReferenceError(f"op '{nn.op_label(op)}' ({op.name}) has no reference semantics")
        out = evaluator(op, lambda v: None if v is None else env[v])
        return list(out) if isinstance(out, list | tuple) else [out]

    @staticmethod
    def check(x: Any, value: SSAValue, what: str, cast: bool = True) -> np.ndarray:
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
    return Interpreter(weights, opset).run(fn, inputs)
