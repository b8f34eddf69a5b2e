"""The `nn` dialect: tensor-level neural-network ops with ONNX semantics.

Every value is a ranked `tensor<...>` with a concrete shape once the frontend is
done. Weights are `nn.weight` ops that name a parameter whose data stays outside
the IR (pimc needs only shapes and dtypes to compile). Any ONNX node without a
dedicated op is kept as `nn.onnx` with its op type, attributes, operands and
results, so that no node of a model is ever dropped.

Ops carry the ONNX node name in the discardable attribute `name`; passes add
`cost` (annotate-cost) and `device` (partition) as discardable attributes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from xdsl.dialects import func
from xdsl.dialects.builtin import (
    I64,
    ArrayAttr,
    DenseIntOrFPElementsAttr,
    DictionaryAttr,
    FloatAttr,
    IntegerAttr,
    StringAttr,
    TensorType,
    UnitAttr,
    i64,
)
from xdsl.ir import Attribute, Dialect, Operation, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.hints import isa


def tensor_shape(value_type: Attribute) -> tuple[int, ...]:
    """The shape of a tensor type as a tuple (-1 marks a dynamic dim)."""
    assert isinstance(value_type, TensorType)
    return tuple(value_type.get_shape())


def is_static(shape: Sequence[int]) -> bool:
    return all(d >= 0 for d in shape)


def broadcast_shapes(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...] | None:
    """Numpy/ONNX multidirectional broadcast of two static shapes, or None if incompatible."""
    out: list[int] = []
    for i in range(max(len(a), len(b))):
        da = a[len(a) - 1 - i] if i < len(a) else 1
        db = b[len(b) - 1 - i] if i < len(b) else 1
        if da == db or db == 1:
            out.append(da)
        elif da == 1:
            out.append(db)
        else:
            return None
    return tuple(reversed(out))


def matmul_shape(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...] | None:
    """Result shape of numpy.matmul for static shapes, or None if they do not contract."""
    if len(a) == 0 or len(b) == 0:
        return None
    a2 = (1, *a) if len(a) == 1 else tuple(a)
    b2 = (*b, 1) if len(b) == 1 else tuple(b)
    if a2[-1] != b2[-2]:
        return None
    batch = broadcast_shapes(a2[:-2], b2[:-2])
    if batch is None:
        return None
    out = [*batch, a2[-2], b2[-1]]
    if len(a) == 1:
        out.pop(-2)
    if len(b) == 1:
        out.pop(-1)
    return tuple(out)


def _check_axis(axis: int, rank: int, what: str) -> None:
    if not -rank <= axis < rank:
        raise VerifyException(f"{what} axis {axis} is out of range for rank {rank}")


def _static_shapes(*types: Attribute) -> list[tuple[int, ...]] | None:
    shapes = [tensor_shape(t) for t in types]
    return shapes if all(is_static(s) for s in shapes) else None


def op_label(op: Operation) -> str:
    """The name users know an op by: its ONNX node name (`name` attribute), else its weight name or op name."""
    attr = op.attributes.get("name")
    if isinstance(attr, StringAttr):
        return attr.data
    if isinstance(op, WeightOp):
        return op.sym_name.data
    return op.name


class _NamedOp(IRDLOperation):
    """Common helpers: the ONNX node name kept for diagnostics and reports.

    Properties print inside the attribute dictionary in the custom form.
    """

    irdl_options = (ParsePropInAttrDict(),)


@irdl_op_definition
class WeightOp(_NamedOp):
    """A model parameter (an ONNX initializer) identified by its name.

    The data is not held in the IR: compiling needs only the shape and dtype.
    `sym_name` is the initializer's name in the ONNX graph.
    """

    name = "nn.weight"

    sym_name = prop_def(StringAttr)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    assembly_format = "$sym_name attr-dict `:` type($result)"

    def __init__(self, sym_name: str, result_type: TensorType):
        super().__init__(properties={"sym_name": StringAttr(sym_name)}, result_types=[result_type])

    def verify_(self) -> None:
        if not is_static(tensor_shape(self.result.type)):
            raise VerifyException(f"weight '{self.sym_name.data}' must have a static shape")


@irdl_op_definition
class ConstantOp(_NamedOp):
    """A small constant tensor held in the IR (ONNX Constant or a tiny initializer)."""

    name = "nn.constant"

    value = prop_def(DenseIntOrFPElementsAttr)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    assembly_format = "$value attr-dict `:` type($result)"

    def __init__(self, value: DenseIntOrFPElementsAttr):
        super().__init__(properties={"value": value}, result_types=[value.type])

    def verify_(self) -> None:
        if self.value.type != self.result.type:
            raise VerifyException("constant value type must equal the result type")


@irdl_op_definition
class MatMulOp(_NamedOp):
    """ONNX MatMul: numpy.matmul with batch broadcasting.

    FLOPs = 2 * prod(result batch dims) * M * N * K (one multiply and one add per MAC).
    """

    name = "nn.matmul"

    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    assembly_format = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)"

    def __init__(self, lhs: SSAValue, rhs: SSAValue, result_type: TensorType):
        super().__init__(operands=[lhs, rhs], result_types=[result_type])

    def verify_(self) -> None:
        shapes = _static_shapes(self.lhs.type, self.rhs.type, self.result.type)
        if shapes is None:
            return
        expected = matmul_shape(shapes[0], shapes[1])
        if expected is None:
            raise VerifyException(f"matmul operands {shapes[0]} and {shapes[1]} do not contract")
        if expected != shapes[2]:
            raise VerifyException(f"matmul result shape {shapes[2]} should be {expected}")


@irdl_op_definition
class GemmOp(_NamedOp):
    """ONNX Gemm: Y = alpha * op(A) * op(B) + beta * C, A and B 2-D, op() an optional transpose."""

    name = "nn.gemm"

    a = operand_def(TensorType)
    b = operand_def(TensorType)
    c = opt_operand_def(TensorType)
    result = result_def(TensorType)

    alpha = prop_def(FloatAttr, default_value=FloatAttr(1.0, 32))
    beta = prop_def(FloatAttr, default_value=FloatAttr(1.0, 32))
    trans_a = prop_def(IntegerAttr[I64], default_value=IntegerAttr(0, 64))
    trans_b = prop_def(IntegerAttr[I64], default_value=IntegerAttr(0, 64))

    traits = traits_def(Pure())
    assembly_format = "$a `,` $b (`,` $c^)? attr-dict `:` functional-type(operands, results)"

    def __init__(
        self,
        a: SSAValue,
        b: SSAValue,
        c: SSAValue | None,
        result_type: TensorType,
        *,
        alpha: float = 1.0,
        beta: float = 1.0,
        trans_a: int = 0,
        trans_b: int = 0,
    ):
        super().__init__(
            operands=[a, b, c],
            result_types=[result_type],
            properties={
                "alpha": FloatAttr(alpha, 32),
                "beta": FloatAttr(beta, 32),
                "trans_a": IntegerAttr(trans_a, 64),
                "trans_b": IntegerAttr(trans_b, 64),
            },
        )

    def mnk(self) -> tuple[int, int, int]:
        """(M, N, K) of the product after the optional transposes."""
        sa, sb = tensor_shape(self.a.type), tensor_shape(self.b.type)
        m, k = (sa[1], sa[0]) if self.trans_a.value.data else (sa[0], sa[1])
        n = sb[0] if self.trans_b.value.data else sb[1]
        return m, n, k

    def verify_(self) -> None:
        sa, sb, sy = (tensor_shape(t) for t in (self.a.type, self.b.type, self.result.type))
        if len(sa) != 2 or len(sb) != 2:
            raise VerifyException("gemm operands A and B must be 2-D")
        if not is_static(sa + sb + sy):
            return
        m, n, k = self.mnk()
        kb = sb[1] if self.trans_b.value.data else sb[0]
        if k != kb:
            raise VerifyException(f"gemm inner dimensions differ: {k} vs {kb}")
        if sy != (m, n):
            raise VerifyException(f"gemm result shape {sy} should be {(m, n)}")
        if self.c is not None:
            sc = tensor_shape(self.c.type)
            if is_static(sc) and broadcast_shapes((m, n), sc) != (m, n):
                raise VerifyException(f"gemm C of shape {sc} does not broadcast to {(m, n)}")


class _BinaryElementwiseOp(_NamedOp):
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    assembly_format = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)"

    def __init__(self, lhs: SSAValue, rhs: SSAValue, result_type: TensorType):
        super().__init__(operands=[lhs, rhs], result_types=[result_type])

    def verify_(self) -> None:
        shapes = _static_shapes(self.lhs.type, self.rhs.type, self.result.type)
        if shapes is None:
            return
        expected = broadcast_shapes(shapes[0], shapes[1])
        if expected is None:
            raise VerifyException(f"operands {shapes[0]} and {shapes[1]} do not broadcast")
        if expected != shapes[2]:
            raise VerifyException(f"result shape {shapes[2]} should be {expected}")


@irdl_op_definition
class AddOp(_BinaryElementwiseOp):
    """ONNX Add: element-wise sum with multidirectional broadcasting."""

    name = "nn.add"


@irdl_op_definition
class MulOp(_BinaryElementwiseOp):
    """ONNX Mul: element-wise product with multidirectional broadcasting."""

    name = "nn.mul"


@irdl_op_definition
class SoftmaxOp(_NamedOp):
    """ONNX Softmax (opset 13+): exp(x - max) / sum(exp(x - max)) along `axis`."""

    name = "nn.softmax"

    input = operand_def(TensorType)
    result = result_def(TensorType)
    axis = prop_def(IntegerAttr[I64], default_value=IntegerAttr(-1, 64))

    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, axis: int = -1):
        super().__init__(operands=[input], result_types=[input.type], properties={"axis": IntegerAttr(axis, 64)})

    def verify_(self) -> None:
        if self.input.type != self.result.type:
            raise VerifyException("softmax result type must equal its input type")
        _check_axis(self.axis.value.data, len(tensor_shape(self.input.type)), "softmax")


@irdl_op_definition
class LayerNormOp(_NamedOp):
    """ONNX LayerNormalization: normalise over the dims from `axis` on, then scale and shift."""

    name = "nn.layer_norm"

    input = operand_def(TensorType)
    scale = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    result = result_def(TensorType)
    axis = prop_def(IntegerAttr[I64], default_value=IntegerAttr(-1, 64))
    epsilon = prop_def(FloatAttr, default_value=FloatAttr(1e-5, 32))

    traits = traits_def(Pure())
    assembly_format = "$input `,` $scale (`,` $bias^)? attr-dict `:` functional-type(operands, results)"

    def __init__(
        self, input: SSAValue, scale: SSAValue, bias: SSAValue | None, *, axis: int = -1, epsilon: float = 1e-5
    ):
        super().__init__(
            operands=[input, scale, bias],
            result_types=[input.type],
            properties={"axis": IntegerAttr(axis, 64), "epsilon": FloatAttr(epsilon, 32)},
        )

    def verify_(self) -> None:
        shape = tensor_shape(self.input.type)
        axis = self.axis.value.data
        _check_axis(axis, len(shape), "layer_norm")
        if tensor_shape(self.result.type) != shape:
            raise VerifyException("layer_norm result shape must equal its input shape")
        normalized = shape[axis % len(shape) :]
        for what, value in (("scale", self.scale), ("bias", self.bias)):
            if value is None:
                continue
            s = tensor_shape(value.type)
            if is_static(s + normalized) and broadcast_shapes(normalized, s) != tuple(normalized):
                raise VerifyException(f"layer_norm {what} of shape {s} does not broadcast to {tuple(normalized)}")


@irdl_op_definition
class ReshapeOp(_NamedOp):
    """ONNX Reshape with its target shape folded into the result type (same elements, new shape)."""

    name = "nn.reshape"

    input = operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, result_type: TensorType):
        super().__init__(operands=[input], result_types=[result_type])

    def verify_(self) -> None:
        shapes = _static_shapes(self.input.type, self.result.type)
        if shapes is None:
            return
        a, b = (math.prod(s) for s in shapes)
        if a != b:
            raise VerifyException(f"reshape changes the element count: {a} -> {b}")


@irdl_op_definition
class TransposeOp(_NamedOp):
    """ONNX Transpose: result dim i is input dim perm[i]."""

    name = "nn.transpose"

    input = operand_def(TensorType)
    result = result_def(TensorType)
    perm = prop_def(ArrayAttr[IntegerAttr[I64]])

    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, perm: Sequence[int], result_type: TensorType):
        super().__init__(
            operands=[input],
            result_types=[result_type],
            properties={"perm": ArrayAttr([IntegerAttr(p, 64) for p in perm])},
        )

    def verify_(self) -> None:
        perm = [p.value.data for p in self.perm.data]
        shape = tensor_shape(self.input.type)
        if sorted(perm) != list(range(len(shape))):
            raise VerifyException(f"transpose perm {perm} is not a permutation of rank {len(shape)}")
        expected = tuple(shape[p] for p in perm)
        if tensor_shape(self.result.type) != expected:
            raise VerifyException(f"transpose result shape should be {expected}")


@irdl_op_definition
class ConcatOp(_NamedOp):
    """ONNX Concat: join tensors along `axis`; all other dims must agree."""

    name = "nn.concat"

    inputs = var_operand_def(TensorType)
    result = result_def(TensorType)
    axis = prop_def(IntegerAttr[I64])

    traits = traits_def(Pure())
    assembly_format = "$inputs attr-dict `:` functional-type(operands, results)"

    def __init__(self, inputs: Sequence[SSAValue], axis: int, result_type: TensorType):
        super().__init__(operands=[inputs], result_types=[result_type], properties={"axis": IntegerAttr(axis, 64)})

    def verify_(self) -> None:
        if len(self.inputs) == 0:
            raise VerifyException("concat needs at least one input")
        shapes = _static_shapes(*(v.type for v in self.inputs), self.result.type)
        if shapes is None:
            return
        *ins, out = shapes
        rank = len(out)
        axis = self.axis.value.data
        _check_axis(axis, rank, "concat")
        axis %= rank
        for s in ins:
            if len(s) != rank or any(s[i] != out[i] for i in range(rank) if i != axis):
                raise VerifyException(f"concat input {s} does not match result {out} off axis {axis}")
        if sum(s[axis] for s in ins) != out[axis]:
            raise VerifyException("concat result dim along axis must be the sum of the inputs'")


@irdl_op_definition
class GatherOp(_NamedOp):
    """ONNX Gather: result = data indexed along `axis` by `indices` (e.g. an embedding lookup)."""

    name = "nn.gather"

    data = operand_def(TensorType)
    indices = operand_def(TensorType)
    result = result_def(TensorType)
    axis = prop_def(IntegerAttr[I64], default_value=IntegerAttr(0, 64))

    traits = traits_def(Pure())
    assembly_format = "$data `,` $indices attr-dict `:` functional-type(operands, results)"

    def __init__(self, data: SSAValue, indices: SSAValue, axis: int, result_type: TensorType):
        super().__init__(
            operands=[data, indices], result_types=[result_type], properties={"axis": IntegerAttr(axis, 64)}
        )

    def verify_(self) -> None:
        shapes = _static_shapes(self.data.type, self.indices.type, self.result.type)
        if shapes is None:
            return
        data, idx, out = shapes
        axis = self.axis.value.data
        _check_axis(axis, len(data), "gather")
        axis %= len(data)
        expected = (*data[:axis], *idx, *data[axis + 1 :])
        if out != expected:
            raise VerifyException(f"gather result shape {out} should be {expected}")


@irdl_op_definition
class OnnxOp(_NamedOp):
    """Any other ONNX node, kept whole: its op type, attributes, operands and results.

    Costed as element-wise over its tensors until a dedicated op exists.
    """

    name = "nn.onnx"

    op_type = prop_def(StringAttr)
    onnx_attrs = prop_def(DictionaryAttr)
    domain = opt_prop_def(StringAttr)
    input_slots = opt_prop_def(ArrayAttr[IntegerAttr[I64]])
    """The ONNX input position of each operand, present only when an optional input before
    a given one was omitted (e.g. Clip(x, "", max) has operands (x, max) in slots [0, 2])."""
    inputs = var_operand_def()
    outputs = var_result_def()

    assembly_format = "$op_type `(` $inputs `)` $onnx_attrs attr-dict `:` functional-type($inputs, $outputs)"

    def __init__(
        self,
        op_type: str,
        inputs: Sequence[SSAValue],
        result_types: Sequence[Attribute],
        onnx_attrs: dict[str, Attribute] | None = None,
    ):
        super().__init__(
            operands=[inputs],
            result_types=[result_types],
            properties={"op_type": StringAttr(op_type), "onnx_attrs": DictionaryAttr(onnx_attrs or {})},
        )

    def verify_(self) -> None:
        if not self.op_type.data:
            raise VerifyException("nn.onnx needs a non-empty op_type")


# -- semantic ops: what the frontends raise decomposed patterns into ----------


@irdl_op_definition
class LinearOp(_NamedOp):
    """A fully-connected layer: y = x @ W (+ bias), W a model weight.

    `w` is [K, N] (x's last dim is K), or [N, K] when `transpose_w` is set (the
    torch.nn.Linear layout, y = x @ W^T). The result is x's shape with its last dim
    replaced by N. Raised from MatMul or Gemm with a constant weight, a Transpose
    of that weight and an Add of a per-output bias folded in.
    FLOPs = 2 * (elements of y) * K, + elements of y for the bias.
    """

    name = "nn.linear"

    input = operand_def(TensorType)
    w = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    result = result_def(TensorType)
    transpose_w = opt_prop_def(UnitAttr)
    """Present when `w` is stored [N, K] (out_features x in_features)."""

    traits = traits_def(Pure())
    assembly_format = "$input `,` $w (`,` $bias^)? attr-dict `:` functional-type(operands, results)"

    def __init__(
        self, input: SSAValue, w: SSAValue, bias: SSAValue | None, result_type: TensorType, *, transpose_w: bool
    ):
        super().__init__(
            operands=[input, w, bias],
            result_types=[result_type],
            properties={"transpose_w": UnitAttr()} if transpose_w else {},
        )

    def kn(self) -> tuple[int, int]:
        """(K, N): the contracted and the output feature size."""
        w = tensor_shape(self.w.type)
        return (w[1], w[0]) if self.transpose_w is not None else (w[0], w[1])

    def verify_(self) -> None:
        x, w, y = (tensor_shape(v.type) for v in (self.input, self.w, self.result))
        if len(w) != 2:
            raise VerifyException(f"linear weight must be 2-D, got shape {w}")
        if len(x) == 0:
            raise VerifyException("linear input must have at least one dim")
        k, n = self.kn()
        if x[-1] != k:
            raise VerifyException(f"linear input's last dim {x[-1]} does not match the weight's K = {k}")
        if y != (*x[:-1], n):
            raise VerifyException(f"linear result shape {y} should be {(*x[:-1], n)}")
        if self.bias is not None and tensor_shape(self.bias.type) not in ((n,), (1, n)):
            raise VerifyException(f"linear bias of shape {tensor_shape(self.bias.type)} should be ({n},)")


def attention_dims(q: Attribute, v: Attribute) -> tuple[int, int, int, int, int, int, int]:
    """(B, Hq, Hkv, S, T, D, Dv) of attention over q [B, Hq, S, D] and v [B, Hkv, T, Dv]."""
    b, hq, s, d = tensor_shape(q)
    _, hkv, t, dv = tensor_shape(v)
    return b, hq, hkv, s, t, d, dv


def verify_attention_shapes(op: IRDLOperation, what: str) -> None:
    """q [B, Hq, S, D], k [B, Hkv, T, D], v [B, Hkv, T, Dv], Hq a multiple of Hkv, result [B, Hq, S, Dv];
    shared by nn.attention and pim.attention, `what` names the op in the messages."""
    q, k, v, y = (tensor_shape(getattr(op, x).type) for x in ("q", "k", "v", "result"))
    if not (len(q) == len(k) == len(v) == 4):
        raise VerifyException(f"{what} q, k, v must be 4-D [B, H, seq, head_dim], got {q}, {k}, {v}")
    if k[:3] != v[:3] or k[0] != q[0] or k[3] != q[3]:
        raise VerifyException(f"{what} shapes do not agree: q {q}, k {k}, v {v}")
    if k[1] == 0 or q[1] % k[1] != 0:
        raise VerifyException(f"{what} query heads {q[1]} are not a multiple of the K/V heads {k[1]}")
    if y != (*q[:3], v[3]):
        raise VerifyException(f"{what} result shape {y} should be {(*q[:3], v[3])}")


@irdl_op_definition
class AttentionOp(_NamedOp):
    """Scaled dot-product attention over heads, with grouped K/V heads (GQA/MQA).

    q: [B, Hq, S, D], k: [B, Hkv, T, D], v: [B, Hkv, T, Dv], Hq a multiple of Hkv
    (query head h reads K/V head h // (Hq / Hkv)); result [B, Hq, S, Dv].
    scores = scale * q @ k^T; with a `mask` operand the scores get `scores + mask`
    (an additive float mask), or, when `mask_fill` is set, `where(mask, scores,
    mask_fill)` (a boolean mask); p = softmax(scores, last dim), with p = 0 in a row
    whose every score is -inf (fully masked; torch's SDPA export guards it the same
    way with Where(IsNaN(p), 0, p)); result = p @ v.
    `causal` records that the mask hides future positions (found in the mask's
    computation, or declared in the DSL); it does not change the semantics.
    Raised from score MatMul -> (scale) -> (mask) -> Softmax -> context MatMul.
    """

    name = "nn.attention"

    q = operand_def(TensorType)
    k = operand_def(TensorType)
    v = operand_def(TensorType)
    mask = opt_operand_def(TensorType)
    result = result_def(TensorType)
    scale = prop_def(FloatAttr)
    mask_fill = opt_prop_def(FloatAttr)
    causal = opt_prop_def(UnitAttr)

    traits = traits_def(Pure())
    assembly_format = "$q `,` $k `,` $v (`,` $mask^)? attr-dict `:` functional-type(operands, results)"

    def __init__(
        self,
        q: SSAValue,
        k: SSAValue,
        v: SSAValue,
        mask: SSAValue | None,
        *,
        scale: float,
        causal: bool = False,
        mask_fill: float | None = None,
    ):
        qs, vs = tensor_shape(q.type), tensor_shape(v.type)
        assert isa(q.type, TensorType[Attribute])
        props: dict[str, Attribute] = {"scale": FloatAttr(scale, 64)}
        if causal:
            props["causal"] = UnitAttr()
        if mask_fill is not None:
            props["mask_fill"] = FloatAttr(mask_fill, 64)
        super().__init__(
            operands=[q, k, v, mask],
            result_types=[TensorType(q.type.element_type, [*qs[:-1], vs[-1]])],
            properties=props,
        )

    def dims(self) -> tuple[int, int, int, int, int, int, int]:
        """(B, Hq, Hkv, S, T, D, Dv)."""
        return attention_dims(self.q.type, self.v.type)

    def verify_(self) -> None:
        verify_attention_shapes(self, "attention")
        if self.mask is not None:
            q, k = tensor_shape(self.q.type), tensor_shape(self.k.type)
            m = tensor_shape(self.mask.type)
            scores = (q[0], q[1], q[2], k[2])
            if broadcast_shapes(scores, m) != scores:
                raise VerifyException(f"attention mask of shape {m} does not broadcast to the scores {scores}")


@irdl_op_definition
class RmsNormOp(_NamedOp):
    """RMSNorm (Zhang & Sennrich 2019): x / sqrt(mean(x^2, last dim) + epsilon) * scale.

    Raised from Pow/ReduceMean/Add/Sqrt/Reciprocal (or Div)/Mul/Mul, or ONNX
    RMSNormalization (opset 23).
    """

    name = "nn.rms_norm"

    input = operand_def(TensorType)
    scale = operand_def(TensorType)
    result = result_def(TensorType)
    epsilon = prop_def(FloatAttr, default_value=FloatAttr(1e-6, 32))

    traits = traits_def(Pure())
    assembly_format = "$input `,` $scale attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, scale: SSAValue, result_type: Attribute, *, epsilon: float):
        super().__init__(
            operands=[input, scale], result_types=[result_type], properties={"epsilon": FloatAttr(epsilon, 32)}
        )

    def verify_(self) -> None:
        x, s, y = (tensor_shape(v.type) for v in (self.input, self.scale, self.result))
        if len(x) == 0 or y != x:
            raise VerifyException(f"rms_norm result shape {y} must equal its input shape {x}")
        if broadcast_shapes(x, s) != x:
            raise VerifyException(f"rms_norm scale of shape {s} does not broadcast to {x}")


_GELU_APPROXIMATIONS = ("none", "tanh")


@irdl_op_definition
class GeluOp(_NamedOp):
    """GELU (Hendrycks & Gimpel 2016): x * Phi(x), exact (erf) or the tanh approximation.

    `approximate` is "none" (0.5 x (1 + erf(x / sqrt 2))) or "tanh"
    (0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), GPT-2's "gelu_new").
    """

    name = "nn.gelu"

    input = operand_def(TensorType)
    result = result_def(TensorType)
    approximate = prop_def(StringAttr, default_value=StringAttr("none"))

    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, approximate: str = "none"):
        super().__init__(
            operands=[input], result_types=[input.type], properties={"approximate": StringAttr(approximate)}
        )

    def verify_(self) -> None:
        if self.approximate.data not in _GELU_APPROXIMATIONS:
            raise VerifyException(
                f"gelu approximate must be one of {_GELU_APPROXIMATIONS}, got '{self.approximate.data}'"
            )
        if self.input.type != self.result.type:
            raise VerifyException("gelu result type must equal its input type")


@irdl_op_definition
class SiluOp(_NamedOp):
    """SiLU / swish (Elfwing et al. 2018): x * sigmoid(x). Raised from Mul(x, Sigmoid(x))."""

    name = "nn.silu"

    input = operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue):
        super().__init__(operands=[input], result_types=[input.type])

    def verify_(self) -> None:
        if self.input.type != self.result.type:
            raise VerifyException("silu result type must equal its input type")


@irdl_op_definition
class RotaryOp(_NamedOp):
    """Rotary position embedding (Su et al., RoFormer 2021).

    result = x * cos + rot(x) * sin; x: [..., S, D]; cos and sin broadcast to x.
    Half-split form (GPT-NeoX, Llama): rot(x) = concat(-x[..., D/2:], x[..., :D/2]).
    `interleaved` (GPT-J's rotate_every_two, the RoFormer paper's pairing):
    rot(x)[2i] = -x[2i+1], rot(x)[2i+1] = x[2i].
    Raised from the Slice/Neg/Concat/Mul/Add patterns HuggingFace's apply_rotary_pos_emb
    and GPT-J's apply_rotary_pos_emb export to.
    """

    name = "nn.rotary"

    input = operand_def(TensorType)
    cos = operand_def(TensorType)
    sin = operand_def(TensorType)
    result = result_def(TensorType)
    interleaved = opt_prop_def(UnitAttr)
    """Pairs are adjacent elements (2i, 2i+1) instead of the two halves."""

    traits = traits_def(Pure())
    assembly_format = "$input `,` $cos `,` $sin attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, cos: SSAValue, sin: SSAValue, *, interleaved: bool = False):
        super().__init__(
            operands=[input, cos, sin],
            result_types=[input.type],
            properties={"interleaved": UnitAttr()} if interleaved else {},
        )

    def verify_(self) -> None:
        x = tensor_shape(self.input.type)
        if len(x) == 0 or x[-1] % 2 != 0:
            raise VerifyException(f"rotary needs an even last dim, got shape {x}")
        if tensor_shape(self.result.type) != x:
            raise VerifyException("rotary result shape must equal its input shape")
        for what, value in (("cos", self.cos), ("sin", self.sin)):
            s = tensor_shape(value.type)
            if broadcast_shapes(x, s) != x:
                raise VerifyException(f"rotary {what} of shape {s} does not broadcast to {x}")


@irdl_op_definition
class KvAppendOp(_NamedOp):
    """Append this step's keys or values to a KV cache: concat(cache, new) along `axis`.

    `cache` is the past KV-cache input (e.g. [B, Hkv, past, D]) and `new` the step's
    [B, Hkv, S, D]; the result holds past + S positions. Costed as an in-place append
    (only `new` is written), as a serving system keeps the cache resident.
    """

    name = "nn.kv_append"

    cache = operand_def(TensorType)
    new = operand_def(TensorType)
    result = result_def(TensorType)
    axis = prop_def(IntegerAttr[I64], default_value=IntegerAttr(-2, 64))

    traits = traits_def(Pure())
    assembly_format = "$cache `,` $new attr-dict `:` functional-type(operands, results)"

    def __init__(self, cache: SSAValue, new: SSAValue, result_type: Attribute, axis: int = -2):
        super().__init__(operands=[cache, new], result_types=[result_type], properties={"axis": IntegerAttr(axis, 64)})

    def verify_(self) -> None:
        c, n, y = (tensor_shape(v.type) for v in (self.cache, self.new, self.result))
        axis = self.axis.value.data
        _check_axis(axis, len(c), "kv_append")
        a = axis % len(c)
        if len(n) != len(c) or any(c[i] != n[i] for i in range(len(c)) if i != a):
            raise VerifyException(f"kv_append cache {c} and new {n} differ outside the axis {axis}")
        expected = tuple(c[i] + n[i] if i == a else c[i] for i in range(len(c)))
        if y != expected:
            raise VerifyException(f"kv_append result shape {y} should be {expected}")


# -- mixture of experts: top-k gating, dispatch of the routed tokens, the weighted combine ---------------------

MOE_SCORINGS = ("softmax", "sigmoid")
"""How a router turns its logits into scores: softmax (Mixtral, Qwen-MoE, DeepSeek-V2) or an element-wise sigmoid
(DeepSeek-V3)."""


@irdl_op_definition
class MoeGateOp(_NamedOp):
    """Top-k gating of a mixture-of-experts layer (Shazeer et al. 2017; Mixtral, Qwen-MoE, DeepSeek-V3).

    logits [..., E] (the router's linear) -> weights [..., k] and indices [..., k] (i64): s = softmax(logits) or
    sigmoid(logits) (`scoring`); indices = the k experts of the largest scores, best first (ties to the lower
    index); weights = s at those indices, divided by their sum when `normalize` is set (Mixtral's softmax over
    the top-k logits, DeepSeek-V3's norm_topk_prob), times `scale` (DeepSeek-V3's routed_scaling_factor).
    DeepSeek-V3's selection bias and group-limited routing change which experts are chosen, not the cost, and are
    not modelled.
    """

    name = "nn.moe_gate"

    logits = operand_def(TensorType)
    weights = result_def(TensorType)
    indices = result_def(TensorType)
    top_k = prop_def(IntegerAttr[I64])
    scoring = prop_def(StringAttr, default_value=StringAttr("softmax"))
    normalize = opt_prop_def(UnitAttr)
    scale = prop_def(FloatAttr, default_value=FloatAttr(1.0, 64))

    traits = traits_def(Pure())
    assembly_format = "$logits attr-dict `:` functional-type(operands, results)"

    def __init__(
        self, logits: SSAValue, top_k: int, *, scoring: str = "softmax", normalize: bool = False, scale: float = 1.0
    ):
        assert isa(logits.type, TensorType[Attribute])
        lead = tensor_shape(logits.type)[:-1]
        props: dict[str, Attribute] = {
            "top_k": IntegerAttr(top_k, 64),
            "scoring": StringAttr(scoring),
            "scale": FloatAttr(scale, 64),
        }
        if normalize:
            props["normalize"] = UnitAttr()
        super().__init__(
            operands=[logits],
            result_types=[TensorType(logits.type.element_type, [*lead, top_k]), TensorType(i64, [*lead, top_k])],
            properties=props,
        )

    def verify_(self) -> None:
        x = tensor_shape(self.logits.type)
        k = self.top_k.value.data
        if len(x) == 0:
            raise VerifyException("moe_gate logits need at least one dim (the experts)")
        if not 1 <= k <= x[-1]:
            raise VerifyException(f"moe_gate top_k {k} must be between 1 and the {x[-1]} experts")
        if self.scoring.data not in MOE_SCORINGS:
            raise VerifyException(f"moe_gate scoring must be one of {MOE_SCORINGS}, got '{self.scoring.data}'")
        for what, value in (("weights", self.weights), ("indices", self.indices)):
            if tensor_shape(value.type) != (*x[:-1], k):
                raise VerifyException(f"moe_gate {what} shape {tensor_shape(value.type)} should be {(*x[:-1], k)}")


def _verify_routing(op: IRDLOperation, what: str, tokens: int, indices: SSAValue) -> None:
    idx = tensor_shape(indices.type)
    if len(idx) != 2 or idx[0] != tokens:
        raise VerifyException(f"{what} indices {idx} should be [{tokens}, top_k]")


@irdl_op_definition
class MoeDispatchOp(_NamedOp):
    """The tokens routed to one expert: x [T, H], indices [T, k] (moe_gate's) -> [C, H].

    Row i of the result is the i-th token t (in token order) whose indices hold `expert`, for i < C, and zero
    rows after the last; tokens past the first C are dropped. C is the expert's capacity (GShard, Lepikhin et al.
    2021; Switch Transformer): pimc sets it to the expert's expected load for the step's batch
    (targets/models/expert_load.py), so the products that follow are costed at the batch the expert receives.
    """

    name = "nn.moe_dispatch"

    input = operand_def(TensorType)
    indices = operand_def(TensorType)
    result = result_def(TensorType)
    expert = prop_def(IntegerAttr[I64])

    traits = traits_def(Pure())
    assembly_format = "$input `,` $indices attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, indices: SSAValue, expert: int, capacity: int):
        assert isa(input.type, TensorType[Attribute])
        hidden = tensor_shape(input.type)[-1]
        super().__init__(
            operands=[input, indices],
            result_types=[TensorType(input.type.element_type, [capacity, hidden])],
            properties={"expert": IntegerAttr(expert, 64)},
        )

    def capacity(self) -> int:
        return tensor_shape(self.result.type)[0]

    def verify_(self) -> None:
        x, y = tensor_shape(self.input.type), tensor_shape(self.result.type)
        if len(x) != 2 or len(y) != 2 or y[1] != x[1]:
            raise VerifyException(f"moe_dispatch takes x [T, H] to [C, H], got {x} -> {y}")
        if not 0 <= y[0] <= x[0]:
            raise VerifyException(f"moe_dispatch capacity {y[0]} must be between 0 and the {x[0]} tokens")
        if self.expert.value.data < 0:
            raise VerifyException(f"moe_dispatch expert {self.expert.value.data} must not be negative")
        _verify_routing(self, "moe_dispatch", x[0], self.indices)


@irdl_op_definition
class MoeCombineOp(_NamedOp):
    """The gate-weighted sum of the experts' outputs: weights, indices [T, k] and one [C_i, H] output per expert of
    `experts` -> [T, H].

    out[t] = sum over j of weights[t, j] * y_e[slot], e = indices[t, j], for the experts e the op lists, slot = the
    rank of t among the tokens routed to e (moe_dispatch's order); a token past an expert's capacity C_e or routed
    to an expert not listed contributes nothing. A shared expert (DeepSeek, Qwen-MoE) is an ordinary FFN added to
    the result.
    """

    name = "nn.moe_combine"

    weights = operand_def(TensorType)
    indices = operand_def(TensorType)
    outputs = var_operand_def(TensorType)
    result = result_def(TensorType)
    experts = prop_def(ArrayAttr[IntegerAttr[I64]])

    traits = traits_def(Pure())
    assembly_format = "$weights `,` $indices `,` `[` $outputs `]` attr-dict `:` functional-type(operands, results)"

    def __init__(
        self, weights: SSAValue, indices: SSAValue, outputs: Sequence[SSAValue], experts: Sequence[int], hidden: int
    ):
        assert isa(weights.type, TensorType[Attribute])
        tokens = tensor_shape(weights.type)[0]
        super().__init__(
            operands=[weights, indices, list(outputs)],
            result_types=[TensorType(weights.type.element_type, [tokens, hidden])],
            properties={"experts": ArrayAttr([IntegerAttr(e, 64) for e in experts])},
        )

    def expert_ids(self) -> list[int]:
        return [e.value.data for e in self.experts.data]

    def verify_(self) -> None:
        w, y = tensor_shape(self.weights.type), tensor_shape(self.result.type)
        if len(w) != 2 or len(y) != 2 or y[0] != w[0]:
            raise VerifyException(f"moe_combine weights {w} [T, k] and result {y} [T, H] do not agree")
        _verify_routing(self, "moe_combine", w[0], self.indices)
        if tensor_shape(self.indices.type) != w:
            raise VerifyException(f"moe_combine indices {tensor_shape(self.indices.type)} should be {w}")
        ids = self.expert_ids()
        if len(ids) != len(self.outputs) or len(set(ids)) != len(ids) or any(e < 0 for e in ids):
            raise VerifyException(
                f"moe_combine needs one distinct expert id per output: {len(self.outputs)} outputs, experts {ids}"
            )
        for out in self.outputs:
            s = tensor_shape(out.type)
            if len(s) != 2 or s[1] != y[1] or s[0] > w[0]:
                raise VerifyException(f"moe_combine expert output {s} should be [C <= {w[0]}, {y[1]}]")


PHASES = ("prefill", "decode")
"""The inference phases: prefill (the prompt, no KV cache yet) and decode (new tokens against a cached past)."""
PHASE_ATTR = "phase"
"""The discardable attribute naming the phase an op belongs to (each function of a model is one phase)."""


def phase_of(op: Operation) -> str | None:
    """The phase an op belongs to: its own `phase` attribute, else the name of its function (each function of a
    module is one phase; an .mlir file may name its functions otherwise); None outside any function."""
    attr = op.attributes.get(PHASE_ATTR)
    if isinstance(attr, StringAttr):
        return attr.data
    parent = op.parent_op()
    while parent is not None and not isinstance(parent, func.FuncOp):
        parent = parent.parent_op()
    return parent.sym_name.data if isinstance(parent, func.FuncOp) else None


NN = Dialect(
    "nn",
    [
        WeightOp,
        ConstantOp,
        MatMulOp,
        GemmOp,
        AddOp,
        MulOp,
        SoftmaxOp,
        LayerNormOp,
        ReshapeOp,
        TransposeOp,
        ConcatOp,
        GatherOp,
        OnnxOp,
        LinearOp,
        AttentionOp,
        RmsNormOp,
        GeluOp,
        SiluOp,
        RotaryOp,
        KvAppendOp,
        MoeGateOp,
        MoeDispatchOp,
        MoeCombineOp,
    ],
    [],
)
