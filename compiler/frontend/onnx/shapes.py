"""Make every shape of an exported ONNX graph concrete, folding what is known at compile time.

Exporters (torch.onnx's dynamo exporter above all, when not optimised) leave
long Shape -> Gather -> Concat -> Reshape chains and Range/Expand/Where
computations whose results onnx.shape_inference can leave symbolic. pimc walks
the graph once in topological order and, per node:

- binds the graph inputs' named dims from the user's `--dim name=value`;
- evaluates the node with numpy when all its inputs are known values and its
  result is small (Constant, Identity, Cast/CastLike, Shape, Gather, Concat,
  Range, Reshape, Slice, arithmetic and comparisons, ...): the node is *folded*,
  its outputs become compile-time constants and it is not imported;
- otherwise infers its output types with ONNX's own per-node inference
  (`OpSchema._infer_node_outputs`), passing the known small values as
  input data so data-dependent shapes (Reshape, Expand, Range, Slice, Tile,
  ConstantOfShape) come out concrete;
- drops Identity, same-type Cast/CastLike and no-op Slice/Expand/Reshape/
  Transpose nodes (same shape out as in) as aliases, and turns
  SplitToSequence + SequenceAt (torch.split in unoptimised exports) into Slice
  nodes.

A dim that is still unknown afterwards is an error naming the value and node.
Weight data is never read: initializers stored as external data contribute
only their dims and dtype.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnx
from onnx import TensorProto, inliner, numpy_helper

from pimc.errors import LimitError, ModelImportError
from pimc.limits import FOLD_LIMIT, MAX_OPS, check_shape, fmt_count


@dataclass(frozen=True)
class TensorInfo:
    """The ONNX element type (TensorProto.DataType code) and concrete shape of a value."""

    elem_type: int
    shape: tuple[int, ...]

    @property
    def elements(self) -> int:
        return math.prod(self.shape)


@dataclass
class ResolvedGraph:
    """An ONNX graph after dim binding and folding, ready to import.

    `nodes` are the nodes left to import (in topological order; Constant nodes
    too big to fold among them) and `names` their node names, `info` the type of
    every value, `consts` the folded values (numpy arrays), `aliases` maps the
    outputs of dropped nodes (Identity, same-type Cast, no-op Slice...) to the
    value they forward.
    """

    graph: onnx.GraphProto
    opset: int
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    info: dict[str, TensorInfo] = field(default_factory=dict)
    consts: dict[str, np.ndarray] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    initializers: dict[str, TensorProto] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)

    def resolve(self, name: str) -> str:
        while name in self.aliases:
            name = self.aliases[name]
        return name


def node_name(node: onnx.NodeProto, index: int) -> str:
    return node.name or f"{node.op_type}_{index}"


def _np_dtype(code: int) -> np.dtype:
    return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(code))


class _InferNodeOutputs(Protocol):
    """onnx.defs.OpSchema._infer_node_outputs as it is: its stub lacks the opset imports and IR version."""

    def __call__(
        self,
        node: bytes,
        value_types: Mapping[str, bytes],
        input_data: Mapping[str, bytes],
        input_sparse_data: Mapping[str, bytes],
        opset_imports: Mapping[str, int],
        ir_version: int,
        /,
    ) -> dict[str, bytes]: ...


def node_attr(node: onnx.NodeProto, key: str, default: Any = None) -> Any:
    """The value of attribute `key` of `node` (onnx.helper.get_attribute_value), else `default`.

    Any: the value's type is the attribute's (an int, a float, bytes, a list, a tensor...), known at run time."""
    for a in node.attribute:
        if a.name == key:
            return onnx.helper.get_attribute_value(a)
    return default


# -- numpy evaluators for folding -------------------------------------------------
# Each takes (node, list of input arrays (None for an omitted optional input)) and
# returns the output arrays, with ONNX semantics for the cases exporters emit.


def _cast(node, xs):
    return [xs[0].astype(_np_dtype(node_attr(node, "to")))]


def _cast_like(node, xs):
    return [xs[0].astype(xs[1].dtype)]


def _shape_of(arr_shape: tuple[int, ...], node) -> np.ndarray:
    rank = len(arr_shape)
    start = node_attr(node, "start", 0)
    end = node_attr(node, "end", rank)
    start = max(0, min(rank, start + rank if start < 0 else start))
    end = max(0, min(rank, end + rank if end < 0 else end))
    return np.array(arr_shape[start:end], dtype=np.int64)


def _gather(node, xs):
    return [np.take(xs[0], xs[1].astype(np.int64), axis=node_attr(node, "axis", 0))]


def _concat(node, xs):
    return [np.concatenate([x for x in xs if x is not None], axis=node_attr(node, "axis", 0))]


def _range(node, xs):
    start, limit, delta = (x.reshape(()) for x in xs)
    return [np.arange(start, limit, delta, dtype=xs[0].dtype)]


def _reshape_target(data_shape: tuple[int, ...], target: np.ndarray, allowzero: int) -> tuple[int, ...]:
    out = [int(d) for d in target.reshape(-1)]
    if not allowzero:
        out = [data_shape[i] if d == 0 and i < len(data_shape) else d for i, d in enumerate(out)]
    if -1 in out:
        known = math.prod(d for d in out if d != -1)
        out[out.index(-1)] = math.prod(data_shape) // known if known else 0
    return tuple(out)


def _reshape(node, xs):
    return [xs[0].reshape(_reshape_target(xs[0].shape, xs[1], node_attr(node, "allowzero", 0)))]


def _axes(node, xs, index: int) -> list[int] | None:
    if len(xs) > index and xs[index] is not None:
        return [int(a) for a in xs[index].reshape(-1)]
    a = node_attr(node, "axes")
    return list(a) if a is not None else None


def _unsqueeze(node, xs):
    axes = _axes(node, xs, 1) or []
    rank = xs[0].ndim + len(axes)
    return [np.expand_dims(xs[0], tuple(sorted(a % rank for a in axes)))]


def _squeeze(node, xs):
    axes = _axes(node, xs, 1)
    if axes is None:
        return [np.squeeze(xs[0])]
    return [np.squeeze(xs[0], axis=tuple(a % xs[0].ndim for a in axes))]


def _slice(node, xs):
    data = xs[0]
    starts, ends = xs[1].reshape(-1), xs[2].reshape(-1)
    axes = xs[3].reshape(-1) if len(xs) > 3 and xs[3] is not None else np.arange(len(starts))
    steps = xs[4].reshape(-1) if len(xs) > 4 and xs[4] is not None else np.ones(len(starts), np.int64)
    index = [slice(None)] * data.ndim
    for s, e, a, st in zip(starts, ends, axes, steps, strict=True):
        dim = data.shape[int(a)]
        s, e, st = int(s), int(e), int(st)
        s = max(-dim - 1, min(dim, s))
        e = max(-dim - 1, min(dim, e))
        index[int(a)] = slice(s, e if not (st < 0 and e < -dim) else None, st)
    return [data[tuple(index)]]


def _expand(node, xs):
    shape = tuple(int(d) for d in xs[1].reshape(-1))
    out_shape = np.broadcast_shapes(xs[0].shape, shape)
    return [np.broadcast_to(xs[0], out_shape).copy()]


def _constant_of_shape(node, xs):
    value = node_attr(node, "value")
    fill = numpy_helper.to_array(value).reshape(-1)[0] if value is not None else np.float32(0)
    return [np.full(tuple(int(d) for d in xs[0].reshape(-1)), fill, dtype=np.asarray(fill).dtype)]


def _where(node, xs):
    return [np.where(xs[0], xs[1], xs[2])]


def _div(node, xs):
    a, b = xs
    if a.dtype.kind in "iu":
        return [np.trunc(a / b).astype(a.dtype)]  # C-style integer division, as onnxruntime does
    return [a / b]


def _transpose(node, xs):
    return [np.transpose(xs[0], node_attr(node, "perm"))]


def _reduce(fn):
    def ev(node, xs):
        axes = _axes(node, xs, 1)
        keep = bool(node_attr(node, "keepdims", 1))
        if axes is None or len(axes) == 0:
            if node_attr(node, "noop_with_empty_axes", 0):
                return [xs[0]]
            axes = list(range(xs[0].ndim))
        return [fn(xs[0], axis=tuple(a % xs[0].ndim for a in axes), keepdims=keep).astype(xs[0].dtype)]

    return ev


def _unary(fn):
    return lambda node, xs: [np.asarray(fn(xs[0])).astype(xs[0].dtype)]


def _binary(fn, keep_dtype: bool = True):
    def ev(node, xs):
        out = np.asarray(fn(xs[0], xs[1]))
        return [out.astype(xs[0].dtype) if keep_dtype else out]

    return ev


def _variadic(fn):
    def ev(node, xs):
        out = xs[0]
        for x in xs[1:]:
            out = fn(out, x)
        return [out]

    return ev


def _tile(node, xs):
    return [np.tile(xs[0], tuple(int(r) for r in xs[1].reshape(-1)))]


def _split(node, xs):
    axis = node_attr(node, "axis", 0)
    sizes = _split_sizes(node, xs[0].shape[axis], xs[1] if len(xs) > 1 else None)
    return list(np.split(xs[0], np.cumsum(sizes)[:-1], axis=axis))


def _split_sizes(node, dim: int, split: np.ndarray | None) -> list[int]:
    if split is not None:
        return [int(s) for s in split.reshape(-1)]
    attr = node_attr(node, "split")
    if attr is not None:
        return list(attr)
    n = node_attr(node, "num_outputs", len(node.output))
    chunk = -(-dim // n)
    return [min(chunk, dim - i * chunk) for i in range(n)]


def _trilu(node, xs):
    k = int(xs[1].reshape(())) if len(xs) > 1 and xs[1] is not None else 0
    return [np.triu(xs[0], k) if node_attr(node, "upper", 1) else np.tril(xs[0], k)]


_EVALUATORS: dict[str, Callable] = {
    "Cast": _cast,
    "CastLike": _cast_like,
    "Gather": _gather,
    "Concat": _concat,
    "Range": _range,
    "Reshape": _reshape,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Slice": _slice,
    "Expand": _expand,
    "ConstantOfShape": _constant_of_shape,
    "Where": _where,
    "Transpose": _transpose,
    "Tile": _tile,
    "Split": _split,
    "Trilu": _trilu,
    "Add": _binary(np.add),
    "Sub": _binary(np.subtract),
    "Mul": _binary(np.multiply),
    "Div": _div,
    "Mod": _binary(np.fmod),
    "Pow": _binary(np.power),
    "Max": _variadic(np.maximum),
    "Min": _variadic(np.minimum),
    "Equal": _binary(np.equal, keep_dtype=False),
    "Less": _binary(np.less, keep_dtype=False),
    "LessOrEqual": _binary(np.less_equal, keep_dtype=False),
    "Greater": _binary(np.greater, keep_dtype=False),
    "GreaterOrEqual": _binary(np.greater_equal, keep_dtype=False),
    "And": _binary(np.logical_and, keep_dtype=False),
    "Or": _binary(np.logical_or, keep_dtype=False),
    "Not": _unary(np.logical_not),
    "Neg": _unary(np.negative),
    "Abs": _unary(np.abs),
    "Sqrt": _unary(np.sqrt),
    "Reciprocal": _unary(np.reciprocal),
    "Floor": _unary(np.floor),
    "Ceil": _unary(np.ceil),
    "Exp": _unary(np.exp),
    "Log": _unary(np.log),
    "Sin": _unary(np.sin),
    "Cos": _unary(np.cos),
    "ReduceProd": _reduce(np.prod),
    "ReduceSum": _reduce(np.sum),
    "ReduceMax": _reduce(np.max),
    "ReduceMin": _reduce(np.min),
}


def _fold_size(op: str, node: onnx.NodeProto, xs: list[np.ndarray | None]) -> int:
    """Elements the evaluation of `op` would produce (an upper bound), known before it allocates them:
    ConstantOfShape, Expand, Tile, Range and broadcasting ops can build huge arrays from tiny inputs."""
    try:
        if op == "ConstantOfShape":
            return _prod_checked([int(d) for d in _given(xs, 0).reshape(-1)])
        if op == "Expand":
            return _prod_checked(
                [max(abs(int(d)), s) for d, s in _zip_right(_given(xs, 1).reshape(-1), _given(xs, 0).shape)]
            )
        if op == "Tile":
            reps = [int(r) for r in _given(xs, 1).reshape(-1)]
            return _prod_checked([abs(r) for r in reps]) * max(1, _given(xs, 0).size)
        if op == "Range":
            start, limit, delta = (float(_given(xs, i).reshape(-1)[0]) for i in range(3))
            return (
                0
                if delta == 0 or not math.isfinite((limit - start) / delta)
                else max(0, math.ceil((limit - start) / delta))
            )
        shapes = [x.shape for x in xs if x is not None]
        if len(shapes) > 1 and op not in (
            "Concat",
            "Gather",
            "Reshape",
            "Slice",
            "Squeeze",
            "Unsqueeze",
            "Split",
            "Transpose",
            "Cast",
            "CastLike",
            "Trilu",
        ):
            return math.prod(max(dims) for dims in _align(shapes))
    except (TypeError, ValueError, IndexError, OverflowError):
        return 0  # malformed: the evaluator reports it
    return 0


def _given(xs: list[np.ndarray | None], i: int) -> np.ndarray:
    """Input i of a node being folded; a missing one is malformed (ValueError, as a bad value is)."""
    x = xs[i] if i < len(xs) else None
    if x is None:
        raise ValueError(f"input {i} is missing")
    return x


def _prod_checked(dims: list[int]) -> int:
    return math.prod(abs(d) for d in dims) if all(abs(d) <= 2**62 for d in dims) else 2**62


def _zip_right(shape: np.ndarray, data_shape: tuple[int, ...]) -> list[tuple[int, int]]:
    n = max(len(shape), len(data_shape))
    a = [1] * (n - len(shape)) + [int(d) for d in shape]
    b = [1] * (n - len(data_shape)) + list(data_shape)
    return list(zip(a, b))


def _align(shapes: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    n = max(len(s) for s in shapes)
    padded = [(1,) * (n - len(s)) + tuple(s) for s in shapes]
    return list(zip(*padded))


_ELEMENT_TYPES = {
    TensorProto.FLOAT,
    TensorProto.FLOAT16,
    TensorProto.BFLOAT16,
    TensorProto.DOUBLE,
    TensorProto.INT64,
    TensorProto.INT32,
    TensorProto.INT16,
    TensorProto.INT8,
    TensorProto.UINT8,
    TensorProto.BOOL,
}
"""Element types pimc imports (the others, strings and complex and 4-bit types among them, are an error)."""

_FIELDS: dict[int, str] = {
    TensorProto.FLOAT: "float_data",
    TensorProto.DOUBLE: "double_data",
    TensorProto.INT64: "int64_data",
    TensorProto.FLOAT16: "int32_data",
    TensorProto.BFLOAT16: "int32_data",
    TensorProto.INT32: "int32_data",
    TensorProto.INT16: "int32_data",
    TensorProto.INT8: "int32_data",
    TensorProto.UINT8: "int32_data",
    TensorProto.BOOL: "int32_data",
}


def _dtype_name(code: int) -> str:
    return TensorProto.DataType.Name(code) if code in TensorProto.DataType.values() else str(code)


def _data_problem(t: TensorProto, n: int) -> str | None:
    """Why an inline tensor's data does not hold `n` elements of its dtype, or None (checked without
    decoding the data)."""
    if t.HasField("raw_data") or not any(
        len(getattr(t, f)) for f in set(_FIELDS.values()) | {"string_data", "uint64_data"}
    ):
        size = _np_dtype(t.data_type).itemsize
        if len(t.raw_data) != n * size:
            return f"{len(t.raw_data)} bytes of data, {n} elements need {n * size}"
        return None
    used = [f for f in set(_FIELDS.values()) | {"string_data", "uint64_data"} if len(getattr(t, f))]
    field = _FIELDS.get(t.data_type)
    if field is None or used != [field]:
        return f"data in {', '.join(sorted(used))}, where a {_dtype_name(t.data_type)} tensor keeps it in {field}"
    if len(getattr(t, field)) != n:
        return f"{len(getattr(t, field))} values of data, its dims hold {n}"
    return None


_ALIAS_OPS = ("Identity",)

# Ops whose result depends on the input's shape only: foldable when the shape is known.
_SHAPE_ONLY = ("Shape", "Size")


class _Resolver:
    def __init__(self, model: onnx.ModelProto, source: str, dims: dict[str, int]):
        self.model = model
        self.source = source
        self.graph = model.graph
        self.dims = dims
        self.used_dims: set[str] = set()
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
        self.opset_imports = {o.domain: o.version for o in model.opset_import}
        self.out = ResolvedGraph(self.graph, self.opset)
        self.type_bytes: dict[str, bytes] = {}
        self.const_bytes: dict[str, bytes] = {}
        self.value_info: dict[str, onnx.TypeProto] = {
            vi.name: vi.type for vi in [*self.graph.value_info, *self.graph.output] if vi.type.HasField("tensor_type")
        }
        self.sequences: dict[str, tuple[str, int, list[int]]] = {}

    def keep(self, node: onnx.NodeProto, name: str) -> None:
        """`node` stays in the graph to import."""
        self.out.nodes.append(node)
        self.out.names.append(name)

    def error(self, message: str) -> ModelImportError:
        zeros = [f"--dim {d}=0" for d in sorted(self.used_dims) if self.dims.get(d) == 0]
        hint = f" (given {', '.join(zeros)}: only a past KV cache may be empty)" if zeros else ""
        return ModelImportError(f"{self.source}: {message}{hint}")

    # -- graph inputs and initializers -------------------------------------------

    def check_graph(self) -> None:
        """What must hold before any node is read: a known opset, a bounded node count."""
        if not any(o.domain in ("", "ai.onnx") for o in self.model.opset_import):
            raise self.error("the model imports no opset of the default ONNX domain (opset_import is empty)")
        newest = onnx.defs.onnx_opset_version()
        if not 1 <= self.opset <= newest:
            raise self.error(f"ONNX opset {self.opset} is not supported (this onnx package knows opsets 1 to {newest})")
        if len(self.graph.node) > MAX_OPS:
            raise LimitError(
                f"{self.source}: the graph has {fmt_count(len(self.graph.node))} nodes, more than the "
                f"{fmt_count(MAX_OPS)} pimc compiles"
            )

    def initializer(self, init: TensorProto) -> None:
        """Record an initializer after checking its name, dims, dtype and (when stored inline) its data."""
        where = f"initializer '{init.name}'"
        if not init.name:
            raise self.error("an initializer has no name")
        if init.name in self.out.initializers:
            raise self.error(f"{where} is given twice")
        check_shape(tuple(init.dims), f"{self.source}: {where}")
        if init.data_type not in _ELEMENT_TYPES:
            raise self.error(f"{where} has unsupported dtype {_dtype_name(init.data_type)}")
        self.out.initializers[init.name] = init
        self.out.info[init.name] = TensorInfo(init.data_type, tuple(init.dims))
        if init.data_location == TensorProto.EXTERNAL:
            if not any(e.key == "location" and e.value for e in init.external_data):
                raise self.error(f"{where} is stored as external data but names no location")
            return
        n = math.prod(init.dims)
        problem = _data_problem(init, n)
        if problem is not None:
            raise self.error(
                f"{where} [{', '.join(str(d) for d in init.dims)}] of dtype {_dtype_name(init.data_type)}: {problem}"
            )
        if n <= FOLD_LIMIT:
            try:
                self.out.consts[init.name] = numpy_helper.to_array(init)
            except Exception as e:  # data that numpy cannot read as the declared dims and dtype
                raise self.error(f"{where}: its data does not match its dims and dtype ({e})") from None

    def bind_inputs(self) -> None:
        for init in self.graph.initializer:
            self.initializer(init)
        missing: dict[str, str] = {}  # dim name -> the first input that has it
        for vi in self.graph.input:
            if vi.name in self.out.initializers:
                continue
            tt = vi.type.tensor_type
            if not vi.type.HasField("tensor_type") or not tt.HasField("shape"):
                raise self.error(f"graph input '{vi.name}' has no tensor type with a shape")
            shape: list[int] = []
            for i, d in enumerate(tt.shape.dim):
                if d.HasField("dim_value"):
                    if d.dim_value < 1:
                        raise self.error(
                            f"graph input '{vi.name}' has dim {i} = {d.dim_value}; dims must be at "
                            "least 1 (pimc compiles no empty tensors)"
                        )
                    shape.append(d.dim_value)
                elif d.dim_param and d.dim_param in self.dims:
                    self.used_dims.add(d.dim_param)
                    shape.append(self.dims[d.dim_param])
                elif d.dim_param:
                    missing.setdefault(d.dim_param, vi.name)
                    shape.append(1)
                else:
                    raise self.error(
                        f"graph input '{vi.name}' has an unnamed unknown dim {i}; it cannot be bound with --dim"
                    )
            if tt.elem_type not in _ELEMENT_TYPES:
                raise self.error(f"graph input '{vi.name}' has unsupported dtype {_dtype_name(tt.elem_type)}")
            if vi.name in self.out.info:
                raise self.error(f"graph input '{vi.name}' is declared twice")
            check_shape(shape, f"{self.source}: graph input '{vi.name}'")
            self.out.info[vi.name] = TensorInfo(tt.elem_type, tuple(shape))
        if missing:
            first, where = next(iter(missing.items()))
            binds = " ".join(f"--dim {d}=N" for d in missing)
            raise self.error(f"graph input '{where}' has a symbolic dim '{first}'; bind every symbolic dim: {binds}")
        unused = sorted(set(self.dims) - self.used_dims)
        if unused:
            named = sorted(
                {d.dim_param for vi in self.graph.input for d in vi.type.tensor_type.shape.dim if d.dim_param}
            )
            have = ", ".join(named) if named else "none"
            raise self.error(f"--dim {unused[0]} names no symbolic dim of the graph inputs (they have: {have})")

    # -- nodes -------------------------------------------------------------------

    def run(self) -> ResolvedGraph:
        self.check_graph()
        self.bind_inputs()
        for index, node in enumerate(self.graph.node):
            self.node(node, index)
        for o in self.graph.output:
            if self.out.resolve(o.name) not in self.out.info:
                raise self.error(f"graph output '{o.name}' is produced by no node")
        return self.out

    def node(self, node: onnx.NodeProto, index: int) -> None:
        name = node_name(node, index)
        out = self.out
        op = node.op_type if node.domain in ("", "ai.onnx") else None
        for i in node.input:
            if i and out.resolve(i) not in out.info and i not in self.sequences:
                raise self.error(f"node '{name}' ({node.op_type}): input '{i}' is used before it is defined")
            if i in self.sequences and op != "SequenceAt":
                raise self.error(
                    f"node '{name}' ({node.op_type}): input '{i}' is a sequence; only SequenceAt of a "
                    "SplitToSequence is supported"
                )
        inputs = [out.resolve(i) if i else "" for i in node.input]
        outputs = [o for o in node.output if o]
        if not outputs:
            raise self.error(f"node '{name}' ({node.op_type}) has no outputs")
        for o in outputs:
            if o in out.info or o in out.aliases or o in self.sequences or outputs.count(o) > 1:
                raise self.error(
                    f"node '{name}' ({node.op_type}): value '{o}' is defined twice (a graph value has one producer)"
                )

        if op == "Constant":
            self.constant(node, name, outputs[0])
            return
        if op in _ALIAS_OPS or (op in ("Cast", "CastLike") and self.same_type_cast(node, inputs)):
            out.aliases[outputs[0]] = inputs[0]
            return
        if op == "SplitToSequence":
            self.split_to_sequence(node, name, inputs, outputs[0])
            return
        if op == "SequenceAt":
            self.sequence_at(node, name, inputs, outputs[0])
            return
        if op is not None and self.try_fold(node, name, op, inputs, outputs):
            return
        node = _with_inputs(node, inputs)
        infos = self.infer(node, name, inputs, outputs)
        if op is not None and len(outputs) == 1 and self.is_noop(node, op, inputs, infos[0]):
            out.aliases[outputs[0]] = inputs[0]
            return
        for o, info in zip(outputs, infos, strict=True):
            out.info[o] = info
        self.keep(node, name)

    def is_noop(self, node: onnx.NodeProto, op: str, inputs: list[str], result: TensorInfo) -> bool:
        """A Slice, Expand, Reshape or Transpose that returns its input unchanged (exports have many)."""
        if op not in ("Slice", "Expand", "Reshape", "Transpose") or self.out.info[inputs[0]] != result:
            return False
        if op == "Slice":
            steps = self.out.consts.get(inputs[4]) if len(inputs) > 4 and inputs[4] else np.ones(1, np.int64)
            return steps is not None and bool(np.all(steps == 1))
        if op == "Transpose":
            perm = node_attr(node, "perm")
            return perm is not None and list(perm) == list(range(len(result.shape)))
        return True  # Expand or Reshape to the same shape

    def same_type_cast(self, node: onnx.NodeProto, inputs: list[str]) -> bool:
        src = self.out.info[inputs[0]].elem_type
        target = node_attr(node, "to") if node.op_type == "Cast" else self.out.info[inputs[1]].elem_type
        return src == target

    def constant(self, node: onnx.NodeProto, name: str, output: str) -> None:
        value = None
        for a in node.attribute:
            if a.name == "value":
                check_shape(tuple(a.t.dims), f"{self.source}: node '{name}' (Constant): its value")
                if a.t.data_type not in _ELEMENT_TYPES:
                    raise self.error(f"node '{name}' (Constant): unsupported dtype {_dtype_name(a.t.data_type)}")
                if a.t.data_location == TensorProto.EXTERNAL:
                    self.out.info[output] = TensorInfo(a.t.data_type, tuple(a.t.dims))
                    self.keep(node, name)
                    return
                problem = _data_problem(a.t, math.prod(a.t.dims))
                if problem is not None:
                    raise self.error(f"node '{name}' (Constant): its value: {problem}")
                try:
                    value = numpy_helper.to_array(a.t)
                except Exception as e:
                    raise self.error(
                        f"node '{name}' (Constant): its value does not match its dims and dtype ({e})"
                    ) from None
            elif a.name in ("value_float", "value_int", "value_floats", "value_ints"):
                value = np.asarray(
                    onnx.helper.get_attribute_value(a), dtype=np.float32 if "float" in a.name else np.int64
                )
        if value is None:
            raise self.error(f"node '{name}' (Constant): unsupported or missing value attribute")
        elem = onnx.helper.np_dtype_to_tensor_dtype(value.dtype)
        self.out.info[output] = TensorInfo(elem, tuple(value.shape))
        if value.size <= FOLD_LIMIT:
            self.out.consts[output] = value
        else:
            self.keep(node, name)

    def try_fold(self, node: onnx.NodeProto, name: str, op: str, inputs: list[str], outputs: list[str]) -> bool:
        consts = self.out.consts
        if op in _SHAPE_ONLY:
            shape = self.out.info[inputs[0]].shape
            value = _shape_of(shape, node) if op == "Shape" else np.array(math.prod(shape), dtype=np.int64)
            self.store(outputs[0], value)
            return True
        if op == "CastLike" and inputs[0] in consts and inputs[1] not in consts:
            # only the dtype of the second input matters, and it is known: a constant cast to the type of
            # a run-time value (Falcon's export computes its attention scale so) is still a constant
            target = onnx.helper.tensor_dtype_to_np_dtype(self.out.info[inputs[1]].elem_type)
            self.store(outputs[0], np.asarray(consts[inputs[0]]).astype(target))
            return True
        ev = _EVALUATORS.get(op)
        if ev is None or any(i and i not in consts for i in inputs):
            return False
        xs = [consts[i] if i else None for i in inputs]
        try:
            if _fold_size(op, node, xs) > FOLD_LIMIT:
                return False  # too large to fold: inferred (and checked) as a kept node
            with np.errstate(all="ignore"):
                results = ev(node, xs)
        except Exception as e:  # a malformed node: report it, the model is wrong
            raise self.error(f"node '{name}' ({op}): cannot evaluate it on its constant inputs: {e}") from None
        if any(np.asarray(r).size > FOLD_LIMIT for r in results):
            return False
        for o, r in zip(outputs, results, strict=True):
            self.store(o, np.asarray(r))
        return True

    def store(self, name: str, value: np.ndarray) -> None:
        self.out.consts[name] = value
        self.out.info[name] = TensorInfo(onnx.helper.np_dtype_to_tensor_dtype(value.dtype), tuple(value.shape))

    def split_to_sequence(self, node: onnx.NodeProto, name: str, inputs: list[str], output: str) -> None:
        data = self.out.info[inputs[0]]
        axis = node_attr(node, "axis", 0) % len(data.shape)
        if node_attr(node, "keepdims", 1) != 1 and (len(inputs) < 2 or not inputs[1]):
            raise self.error(f"node '{name}' (SplitToSequence): keepdims=0 without split is not supported")
        split = self.out.consts.get(inputs[1]) if len(inputs) > 1 and inputs[1] else None
        if len(inputs) > 1 and inputs[1] and split is None:
            raise self.error(f"node '{name}' (SplitToSequence): the split sizes are not known at compile time")
        dim = data.shape[axis]
        if split is not None and split.ndim == 0 and int(split) < 1:
            raise self.error(f"node '{name}' (SplitToSequence): split size {int(split)} must be at least 1")
        pieces = dim if split is None else -(-dim // int(split)) if split.ndim == 0 else split.size
        if pieces > MAX_OPS:
            raise LimitError(
                f"{self.source}: node '{name}' (SplitToSequence): {fmt_count(pieces)} pieces, more than "
                f"the {fmt_count(MAX_OPS)} ops pimc compiles"
            )
        if split is None:
            sizes = [1] * dim
        elif split.ndim == 0:
            chunk = int(split)
            sizes = [min(chunk, dim - s) for s in range(0, dim, chunk)]
        else:
            sizes = [int(s) for s in split.reshape(-1)]
        if not sizes or any(s < 0 for s in sizes) or sum(sizes) != dim:
            raise self.error(
                f"node '{name}' (SplitToSequence): split sizes {sizes[:8]} do not split dim {axis} of size {dim}"
            )
        self.sequences[output] = (inputs[0], axis, sizes)

    def sequence_at(self, node: onnx.NodeProto, name: str, inputs: list[str], output: str) -> None:
        seq = self.sequences.get(node.input[0])
        position = self.out.consts.get(inputs[1])
        if seq is None or position is None:
            raise self.error(f"node '{name}' (SequenceAt): only a constant position in a SplitToSequence is supported")
        data, axis, sizes = seq
        if position.size != 1 or position.dtype.kind not in "iu":
            raise self.error(f"node '{name}' (SequenceAt): the position must be one integer")
        i = int(position.reshape(()))
        if not -len(sizes) <= i < len(sizes):
            raise self.error(f"node '{name}' (SequenceAt): position {i} is out of range for a sequence of {len(sizes)}")
        i %= len(sizes)
        start = sum(sizes[:i])
        consts = {f"{output}::starts": [start], f"{output}::ends": [start + sizes[i]], f"{output}::axes": [axis]}
        for k, v in consts.items():
            self.store(k, np.array(v, dtype=np.int64))
        sliced = onnx.helper.make_node("Slice", [data, *consts], [output], name=name)
        shape = list(self.out.info[data].shape)
        shape[axis] = sizes[i]
        self.out.info[output] = TensorInfo(self.out.info[data].elem_type, tuple(shape))
        self.keep(sliced, name)

    # -- per-node type inference ---------------------------------------------------

    def type_proto(self, name: str) -> bytes:
        cached = self.type_bytes.get(name)
        if cached is None:
            info = self.out.info[name]
            cached = onnx.helper.make_tensor_type_proto(info.elem_type, list(info.shape)).SerializeToString()
            self.type_bytes[name] = cached
        return cached

    def const_proto(self, name: str) -> bytes:
        cached = self.const_bytes.get(name)
        if cached is None:
            cached = numpy_helper.from_array(self.out.consts[name]).SerializeToString()
            self.const_bytes[name] = cached
        return cached

    def infer(self, node: onnx.NodeProto, name: str, inputs: list[str], outputs: list[str]) -> list[TensorInfo]:
        """Output types of `node` (its inputs already renamed through the aliases)."""
        if node.domain not in ("", "ai.onnx") or not onnx.defs.has(node.op_type, node.domain):
            return self.infer_unknown(node, name, outputs)
        try:
            schema = onnx.defs.get_schema(node.op_type, self.opset, node.domain)
        except onnx.defs.SchemaError as e:
            raise self.error(f"node '{name}' ({node.op_type}): no schema at opset {self.opset}: {e}") from None
        types = {i: self.type_proto(i) for i in inputs if i}
        data = {i: self.const_proto(i) for i in inputs if i in self.out.consts}
        # the serialized-bytes form that onnx.shape_inference.infer_node_outputs wraps (the types and constants are
        # serialized once, cached)
        infer: _InferNodeOutputs = schema._infer_node_outputs  # pyright: ignore[reportAssignmentType]
        try:
            result = infer(node.SerializeToString(), types, data, {}, self.opset_imports, self.model.ir_version)
        except Exception as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise self.error(f"node '{name}' ({node.op_type}): shape inference failed: {first}") from None
        infos = []
        for o in outputs:
            tp = onnx.TypeProto.FromString(result[o]) if o in result else self.value_info.get(o)
            infos.append(self.concrete(tp, o, name, node.op_type))
        return infos

    def infer_unknown(self, node: onnx.NodeProto, name: str, outputs: list[str]) -> list[TensorInfo]:
        """Ops without a schema (custom domains): take the exporter's value_info, which must be concrete."""
        return [self.concrete(self.value_info.get(o), o, name, node.op_type) for o in outputs]

    def concrete(self, tp: onnx.TypeProto | None, value: str, node: str, op_type: str) -> TensorInfo:
        where = f"node '{node}' ({op_type})"
        if tp is None or not tp.HasField("tensor_type"):
            kind = "no type" if tp is None else f"a non-tensor type ({tp.WhichOneof('value')})"
            raise self.error(f"{where}: output '{value}' has {kind} after shape inference")
        tt = tp.tensor_type
        if not tt.HasField("shape"):
            raise self.error(f"{where}: output '{value}' has an unknown rank")
        shape = []
        for i, d in enumerate(tt.shape.dim):
            if not d.HasField("dim_value"):
                sym = d.dim_param or "?"
                raise self.error(f"{where}: output '{value}' has an unresolvable dim {i} ('{sym}')")
            shape.append(d.dim_value)
        check_shape(shape, f"{self.source}: {where}: output '{value}'")
        return TensorInfo(tt.elem_type, tuple(shape))


def _with_inputs(node: onnx.NodeProto, inputs: list[str]) -> onnx.NodeProto:
    if list(node.input) == inputs:
        return node
    copy = onnx.NodeProto()
    copy.CopyFrom(node)
    del copy.input[:]
    copy.input.extend(inputs)
    return copy


def resolve_graph(model: onnx.ModelProto, source: str | Path, dims: dict[str, int] | None = None) -> ResolvedGraph:
    """Bind `dims`, fold compile-time values and give every value a concrete type (see module doc)."""
    if model.functions:
        try:
            model = inliner.inline_local_functions(model)
        except Exception as e:  # the inliner raises its own C++ exception types
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ModelImportError(f"{source}: cannot inline the model's local functions: {first}") from None
    return _Resolver(model, str(source), dict(dims or {})).run()
