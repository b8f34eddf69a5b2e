"""ONNX frontend: load a model (never its external weight data), resolve shapes, import into `nn`.

The graph first goes through `shapes.resolve_graph`: named dims are bound
from `--dim`, shape computations are folded at compile time and every value gets
a concrete type (an unresolvable dim is an error naming the value and node).
Each remaining node becomes one `nn` op carrying the node name in its `name`
attribute; Reshape/Unsqueeze/Squeeze/Flatten become `nn.reshape`, Gelu
`nn.gelu`, and nodes without a dedicated op become `nn.onnx`. Initializers
become `nn.weight` (data stays outside the IR); one-element ones and folded
values that a kept node reads become `nn.constant`. Graph inputs become
arguments of `func.func @main`, graph outputs its results; the driver then
raises patterns (passes/raise_nn.py) and renames the function after its phase.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper
from xdsl.builder import Builder
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    AnyFloat,
    ArrayAttr,
    DenseIntOrFPElementsAttr,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    Signedness,
    StringAttr,
    TensorType,
    bf16,
    f16,
    f32,
    f64,
    i1,
    i8,
    i16,
    i32,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.rewriter import InsertPoint
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.hints import isa

from pimc.compiler.frontend.onnx.shapes import ResolvedGraph, TensorInfo, node_attr, resolve_graph
from pimc.dialects import nn
from pimc.errors import ModelImportError

_DTYPES: dict[int, Attribute] = {
    onnx.TensorProto.FLOAT: f32,
    onnx.TensorProto.FLOAT16: f16,
    onnx.TensorProto.BFLOAT16: bf16,
    onnx.TensorProto.DOUBLE: f64,
    onnx.TensorProto.INT64: i64,
    onnx.TensorProto.INT32: i32,
    onnx.TensorProto.INT16: i16,
    onnx.TensorProto.INT8: i8,
    onnx.TensorProto.UINT8: IntegerType(8, Signedness.UNSIGNED),
    onnx.TensorProto.BOOL: i1,
}


def load_onnx(path: str | Path) -> onnx.ModelProto:
    """Read the model proto without its external weight data and check every node against its schema."""
    path = Path(path)
    if not path.is_file():
        raise ModelImportError(f"{path}: no such file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf raises DecodeError and friends
        raise ModelImportError(f"{path}: not a readable ONNX model ({type(e).__name__}: {e})") from None
    if len(model.graph.node) == 0:
        raise ModelImportError(f"{path}: the ONNX graph has no nodes (truncated or empty file?)")
    _check_names(model, path)
    opsets = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    newest = onnx.defs.onnx_opset_version()
    if not opsets:
        raise ModelImportError(f"{path}: the model imports no opset of the default ONNX domain (opset_import is empty)")
    if not 1 <= opsets[0] <= newest:
        raise ModelImportError(
            f"{path}: ONNX opset {opsets[0]} is not supported (this onnx package knows opsets 1 to {newest})"
        )
    _check_nodes(model, path)
    return model


def _check_names(model: onnx.ModelProto, path: Path) -> None:
    """Every name the importer reads must be text: protobuf hands over a string field that is not valid
    UTF-8 (a corrupted file) as bytes."""
    g = model.graph
    for index, node in enumerate(g.node):
        fields = [node.name, node.op_type, node.domain, *node.input, *node.output, *(a.name for a in node.attribute)]
        if not all(isinstance(f, str) for f in fields):
            raise ModelImportError(
                f"{path}: node {index} ({node.op_type!r}) has a name that is not valid UTF-8 (corrupted file?)"
            )
    for what, items in (
        ("initializer", g.initializer),
        ("graph input", g.input),
        ("graph output", g.output),
        ("value_info", g.value_info),
    ):
        for i, item in enumerate(items):
            if not isinstance(item.name, str):
                raise ModelImportError(f"{path}: {what} {i} has a name that is not valid UTF-8 (corrupted file?)")
    if not isinstance(g.name, str) or not all(isinstance(o.domain, str) for o in model.opset_import):
        raise ModelImportError(f"{path}: the graph name or an opset domain is not valid UTF-8 (corrupted file?)")


def _check_nodes(model: onnx.ModelProto, path: Path) -> None:
    """Check every node against its op schema (arity, attributes) without touching weight data.

    onnx.checker.check_model would also demand the external data files, which a
    compile does not need.
    """
    ctx = onnx.checker.C.CheckerContext()
    ctx.ir_version = model.ir_version
    ctx.opset_imports = {o.domain: o.version for o in model.opset_import}
    lex = onnx.checker.C.LexicalScopeContext()
    for index, node in enumerate(model.graph.node):
        if node.domain not in ("", "ai.onnx"):
            continue  # custom domains have no schema here; they are kept as generic ops
        try:
            onnx.checker.C.check_node(node.SerializeToString(), ctx, lex)
        except Exception as e:
            name = node.name or f"{node.op_type}_{index}"
            first_line = str(e).strip().splitlines()[0]
            raise ModelImportError(f"{path}: node '{name}' ({node.op_type}): {first_line}") from None


class _Importer:
    def __init__(self, resolved: ResolvedGraph, source: str):
        self.r = resolved
        self.source = source
        self.graph = resolved.graph
        self.opset = resolved.opset
        self.values: dict[str, SSAValue] = {}
        self.types: dict[TensorInfo, TensorType] = {}

    # -- types ---------------------------------------------------------------

    def tensor_type(self, name: str, node: str) -> TensorType:
        info = self.r.info.get(self.r.resolve(name))
        if info is None:
            raise ModelImportError(f"{self.source}: node '{node}': value '{name}' has no inferred tensor type")
        t = self.types.get(info)
        if t is None:
            t = TensorType(self._dtype(info.elem_type, name, node), list(info.shape))
            self.types[info] = t
        return t

    def _dtype(self, code: int, name: str, node: str) -> Attribute:
        if code not in _DTYPES:
            dtype = onnx.TensorProto.DataType.Name(code) if code in onnx.TensorProto.DataType.values() else code
            raise ModelImportError(f"{self.source}: node '{node}': value '{name}' has unsupported dtype {dtype}")
        return _DTYPES[code]

    # -- values --------------------------------------------------------------

    def operand(self, name: str, node: str) -> SSAValue:
        name = self.r.resolve(name)
        if name in self.values:
            return self.values[name]
        if name in self.r.initializers and not _is_compile_time_constant(self.r.consts.get(name)):
            op: Operation = nn.WeightOp(name, self.tensor_type(name, node))  # a model parameter, even a small one
        elif name in self.r.consts:
            try:
                op = nn.ConstantOp(_dense(self.r.consts[name], self.tensor_type(name, node)))
            except (VerifyException, ValueError, TypeError, OverflowError) as e:
                raise ModelImportError(
                    f"{self.source}: node '{node}': constant '{name}' cannot be imported: {_first_line(e)}"
                ) from None
            op.attributes["name"] = StringAttr(name)
        else:
            raise ModelImportError(f"{self.source}: node '{node}': input '{name}' is used before it is defined")
        op.results[0].name_hint = _hint(name)
        self.init_builder.insert(op)
        self.values[name] = op.results[0]
        return op.results[0]

    # -- nodes ---------------------------------------------------------------

    def run(self) -> ModuleOp:
        initializers = self.r.initializers
        arg_names = [i.name for i in self.graph.input if i.name not in initializers]
        arg_types = [self.tensor_type(n, "<graph input>") for n in arg_names]
        block = Block(arg_types=arg_types)
        for name, arg in zip(arg_names, block.args, strict=True):
            arg.name_hint = _hint(name)
            self.values[name] = arg
        self.init_builder = Builder(InsertPoint.at_end(block))
        body = Block()
        self.builder = Builder(InsertPoint.at_end(body))
        for node, name in zip(self.r.nodes, self.r.names, strict=True):
            self.import_node(node, name)
        out_values = [self.operand(o.name, "<graph output>") for o in self.graph.output]
        # weights and constants first, then the nodes in ONNX (topological) order
        for op in list(body.ops):
            op.detach()
            block.add_op(op)
        block.add_op(func.ReturnOp(*out_values))
        fn = func.FuncOp("main", ([*arg_types], [v.type for v in out_values]), Region(block))
        module = ModuleOp([fn])
        module.attributes["pimc.model"] = StringAttr(self.graph.name or Path(self.source).stem)
        module.attributes["pimc.onnx_opset"] = IntegerAttr(self.opset, 64)  # the meaning of generic ops
        return module

    def import_node(self, node: onnx.NodeProto, name: str) -> None:
        if node.domain not in ("", "ai.onnx"):
            op = self._generic(node, name)
        else:
            importer = _IMPORTERS.get(node.op_type)
            try:
                op = importer(self, node, name) if importer is not None else None
            except ModelImportError:
                raise
            except (VerifyException, ValueError, TypeError, IndexError, KeyError, AttributeError, OverflowError) as e:
                # a node whose attributes or operands the schema check and shape inference let through but
                # that does not make an op (a perm of the wrong length, an attribute of the wrong type, ...)
                raise ModelImportError(
                    f"{self.source}: node '{name}' ({node.op_type}): cannot import it: "
                    f"{_first_line(e) or type(e).__name__}"
                ) from None
            if op is None:
                op = self._generic(node, name)
        op.attributes["name"] = StringAttr(name)
        try:
            op.verify()
        except VerifyException as e:
            raise ModelImportError(f"{self.source}: node '{name}' ({node.op_type}): {e}") from None
        self.builder.insert(op)
        for out_name, result in zip(_outputs(node), op.results, strict=True):
            result.name_hint = _hint(out_name)
            self.values[out_name] = result

    def _generic(self, node: onnx.NodeProto, name: str) -> Operation:
        slots = [i for i, n in enumerate(node.input) if n]
        inputs = [self.operand(node.input[i], name) for i in slots]
        outputs = [self.tensor_type(o, name) for o in _outputs(node)]
        attrs = {a.name: self._attr(a, name) for a in node.attribute}
        op = nn.OnnxOp(node.op_type, inputs, outputs, attrs)
        if slots != list(range(len(slots))):  # an omitted optional input before a given one
            op.properties["input_slots"] = ArrayAttr([IntegerAttr(i, 64) for i in slots])
        if node.domain not in ("", "ai.onnx"):
            op.properties["domain"] = StringAttr(node.domain)
        return op

    def _attr(self, a: onnx.AttributeProto, node: str) -> Attribute:
        A = onnx.AttributeProto
        if a.type == A.INT:
            return IntegerAttr(a.i, 64)
        if a.type == A.FLOAT:
            return FloatAttr(a.f, 32)
        if a.type == A.STRING:
            return StringAttr(a.s.decode("utf-8", "replace"))
        if a.type == A.INTS:
            return ArrayAttr([IntegerAttr(v, 64) for v in a.ints])
        if a.type == A.FLOATS:
            return ArrayAttr([FloatAttr(v, 32) for v in a.floats])
        if a.type == A.STRINGS:
            return ArrayAttr([StringAttr(s.decode("utf-8", "replace")) for s in a.strings])
        if a.type == A.TENSOR:
            t = a.t
            if (
                t.data_location != onnx.TensorProto.EXTERNAL
                and 0 <= min(t.dims, default=0)
                and math.prod(t.dims) <= 1024
            ):
                ttype = TensorType(self._dtype(t.data_type, a.name, node), list(t.dims))
                if _is_dense_type(ttype):
                    try:
                        return _dense(numpy_helper.to_array(t), ttype)
                    except (VerifyException, ValueError, TypeError, OverflowError) as e:
                        raise ModelImportError(
                            f"{self.source}: node '{node}': attribute '{a.name}': its tensor does "
                            f"not match its dims and dtype ({_first_line(e)})"
                        ) from None
            return StringAttr(f"<tensor {list(t.dims)}>")
        return StringAttr(f"<{A.AttributeType.Name(a.type).lower()} attribute>")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _is_compile_time_constant(value: np.ndarray | None) -> bool:
    """Small initializers that are not layer parameters: scalars, and (with <= 1024 elements) integer or
    boolean tensors and tensors of rank >= 3 (the masks and index tables optimised exports fold into
    initializers). Parameters (weights, biases, norm scales) are float tensors of rank 1 or 2."""
    if value is None:
        return False
    return value.size == 1 or value.dtype.kind in "biu" or value.ndim >= 3


def _is_dense_type(t: TensorType) -> bool:
    return t.element_type in (f32, f16, f64, i64, i32, i16, i8)


def _dense(array: np.ndarray, t: TensorType) -> DenseIntOrFPElementsAttr:
    flat = array.reshape(-1)
    if isa(t, TensorType[AnyFloat]):
        return DenseIntOrFPElementsAttr.from_list(t, [float(v) for v in flat])
    assert isa(t, TensorType[IntegerType])
    return DenseIntOrFPElementsAttr.from_list(t, [int(v) for v in flat])


def _hint(name: str) -> str | None:
    cleaned = "".join(c if c.isalnum() or c == "_" else "_" for c in name).strip("_")
    if not cleaned or cleaned[0].isdigit():
        return None
    return cleaned


def _outputs(node: onnx.NodeProto) -> list[str]:
    return [o for o in node.output if o]


def _matmul(imp: _Importer, node: onnx.NodeProto, name: str) -> Operation:
    a, b = (imp.operand(i, name) for i in node.input)
    return nn.MatMulOp(a, b, imp.tensor_type(node.output[0], name))


def _gemm(imp: _Importer, node: onnx.NodeProto, name: str) -> Operation:
    a, b = (imp.operand(i, name) for i in node.input[:2])
    c = imp.operand(node.input[2], name) if len(node.input) > 2 and node.input[2] else None
    return nn.GemmOp(
        a,
        b,
        c,
        imp.tensor_type(node.output[0], name),
        alpha=node_attr(node, "alpha", 1.0),
        beta=node_attr(node, "beta", 1.0),
        trans_a=node_attr(node, "transA", 0),
        trans_b=node_attr(node, "transB", 0),
    )


def _binary(cls: type[nn.AddOp] | type[nn.MulOp]) -> Callable[[_Importer, onnx.NodeProto, str], Operation]:
    def build(imp: _Importer, node: onnx.NodeProto, name: str) -> Operation:
        a, b = (imp.operand(i, name) for i in node.input)
        return cls(a, b, imp.tensor_type(node.output[0], name))

    return build


def _softmax(imp: _Importer, node: onnx.NodeProto, name: str) -> Operation | None:
    if imp.opset < 13:  # opset < 13 flattens to 2-D around `axis`: keep it generic
        return None
    return nn.SoftmaxOp(imp.operand(node.input[0], name), node_attr(node, "axis", -1))


def _layer_norm(imp: _Importer, node: onnx.NodeProto, name: str) -> Operation | None:
    if len(_outputs(node)) != 1 or node_attr(node, "stash_type", 1) != 1:
        return None
    x = imp.operand(node.input[0], name)
    scale = imp.operand(node.input[1], name)
    bias = imp.operand(node.input[2], name) if len(node.input) > 2 and node.input[2] else None
    return nn.LayerNormOp(x, scale, bias, axis=node_attr(node, "axis", -1), epsilon=node_attr(node, "epsilon", 1e-5))


def _transpose(imp: _Importer, node: onnx.NodeProto, name: str) -> Operation:
    x = imp.operand(node.input[0], name)
    rank = len(nn.tensor_shape(x.type))
    perm = node_attr(node, "perm") or list(reversed(range(rank)))
    return nn.TransposeOp(x, perm, imp.tensor_type(node.output[0], name))


def _concat(imp: _Importer, node: onnx.NodeProto, name: str) -> Operation:
    inputs = [imp.operand(i, name) for i in node.input if i]
    return nn.ConcatOp(inputs, node_attr(node, "axis", 0), imp.tensor_type(node.output[0], name))


def _gather(imp: _Importer, node: onnx.NodeProto, name: str) -> Operation:
    data, idx = (imp.operand(i, name) for i in node.input)
    return nn.GatherOp(data, idx, node_attr(node, "axis", 0), imp.tensor_type(node.output[0], name))


def _constant(imp: _Importer, node: onnx.NodeProto, name: str) -> Operation:
    """A Constant too large to fold: data that lives in the model file, like an initializer."""
    return nn.WeightOp(node.output[0], imp.tensor_type(node.output[0], name))


def _as_reshape(imp: _Importer, node: onnx.NodeProto, name: str) -> Operation:
    """Reshape, Unsqueeze, Squeeze and Flatten only relabel the dims: one nn.reshape."""
    return nn.ReshapeOp(imp.operand(node.input[0], name), imp.tensor_type(node.output[0], name))


def _gelu(imp: _Importer, node: onnx.NodeProto, name: str) -> Operation | None:
    approximate = node_attr(node, "approximate", b"none").decode()
    return nn.GeluOp(imp.operand(node.input[0], name), approximate)


def _rms_norm(imp: _Importer, node: onnx.NodeProto, name: str) -> Operation | None:
    x = imp.operand(node.input[0], name)
    if node_attr(node, "axis", -1) not in (-1, len(nn.tensor_shape(x.type)) - 1):
        return None
    return nn.RmsNormOp(
        x,
        imp.operand(node.input[1], name),
        imp.tensor_type(node.output[0], name),
        epsilon=node_attr(node, "epsilon", 1e-5),
    )


_IMPORTERS: dict[str, Callable[[_Importer, onnx.NodeProto, str], Operation | None]] = {
    "MatMul": _matmul,
    "Gemm": _gemm,
    "Add": _binary(nn.AddOp),
    "Mul": _binary(nn.MulOp),
    "Softmax": _softmax,
    "LayerNormalization": _layer_norm,
    "Reshape": _as_reshape,
    "Unsqueeze": _as_reshape,
    "Squeeze": _as_reshape,
    "Flatten": _as_reshape,
    "Gelu": _gelu,
    "RMSNormalization": _rms_norm,
    "Transpose": _transpose,
    "Concat": _concat,
    "Gather": _gather,
    "Constant": _constant,
}


def import_onnx(path: str | Path, dims: dict[str, int] | None = None) -> ModuleOp:
    """Load `path`, bind `dims`, fold and resolve every shape, and return `func.func @main` in nn."""
    model = load_onnx(path)
    return import_resolved(resolve_graph(model, path, dims), path)


def import_resolved(resolved: ResolvedGraph, source: str | Path) -> ModuleOp:
    """The nn module of a graph `resolve_graph` has made concrete (see import_onnx)."""
    return _Importer(resolved, str(source)).run()
