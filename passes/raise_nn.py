"""raise-nn: recognise decomposed layers in imported graphs and raise them to semantic `nn` ops.

Exporters write a transformer as dozens of small ONNX ops per layer. The
partitioners reason about the layers the papers name, so this pass rewrites:

- linear: MatMul(x, W) or MatMul(x, Transpose(W)) with W a weight, a following
  Add of a per-output bias folded in; Gemm with a weight B (alpha = beta = 1)
  -> `nn.linear`;
- RMSNorm: w * (x * Reciprocal(Sqrt(ReduceMean(x^2) + eps))) (or x / Sqrt(..))
  -> `nn.rms_norm`;
- GELU, erf and tanh forms -> `nn.gelu`; SiLU x * Sigmoid(x) -> `nn.silu`;
- rotary embedding x * cos + concat(-x2, x1) * sin, and GPT-J's interleaved form
  x * cos + stack(-x[1::2], x[::2]) * sin -> `nn.rotary`;
- KV-cache append: Concat(past input, new) -> `nn.kv_append`;
- attention: MatMul(q, k^T) -> scale -> mask (additive, or a boolean one by Where) -> Softmax -> (NaN guard) ->
  MatMul(p, v), with GQA's repeat of K/V heads -> `nn.attention`.

Every raised op keeps the name of the node that produced its result in `name`
and the names of all the nodes it replaces in `onnx_nodes`. A matched op that
still has other users stays in the graph (its value is still computed).
Each rewrite is exact: the raised op computes the same tensor as the ops it
replaces, which the shapes and constants are checked against.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, IntegerAttr, ModuleOp, StringAttr, TensorType
from xdsl.ir import Attribute, Block, BlockArgument, Operation, OpResult, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.utils.hints import isa

from pimc.dialects import nn

ONNX_NODES_ATTR = "onnx_nodes"

_NN_KINDS: dict[type[Operation], str] = {
    nn.MatMulOp: "MatMul",
    nn.GemmOp: "Gemm",
    nn.AddOp: "Add",
    nn.MulOp: "Mul",
    nn.SoftmaxOp: "Softmax",
    nn.ReshapeOp: "Reshape",
    nn.TransposeOp: "Transpose",
    nn.ConcatOp: "Concat",
    nn.GatherOp: "Gather",
    nn.LayerNormOp: "LayerNormalization",
}

_COMMUTATIVE = ("Add", "Mul")


def kind(op: Operation | None) -> str | None:
    """The ONNX op type an `nn` op stands for (generic ops carry theirs; one of a custom domain is
    `domain.type`, so it never matches a standard op of the same name)."""
    if op is None:
        return None
    if isinstance(op, nn.OnnxOp):
        if op.domain is not None and op.domain.data not in ("", "ai.onnx"):
            return f"{op.domain.data}.{op.op_type.data}"
        return op.op_type.data
    return _NN_KINDS.get(type(op))


def producer(v: SSAValue) -> Operation | None:
    return v.owner if isinstance(v, OpResult) else None


def scalar(v: SSAValue) -> float | None:
    """The value of a one-element constant, else None."""
    op = producer(v)
    if isinstance(op, nn.ConstantOp) and len(op.value) == 1:
        value = op.value.get_values()[0]
        assert not isinstance(value, tuple)  # nn.constant holds no complex numbers
        return float(value)
    return None


def constant_ints(v: SSAValue) -> list[int] | None:
    op = producer(v)
    if isinstance(op, nn.ConstantOp):
        return [int(x) for x in op.value.get_values() if not isinstance(x, tuple)]
    return None


def perm_of(op: nn.TransposeOp) -> list[int]:
    return [p.value.data for p in op.perm.data]


def shape(v: SSAValue) -> tuple[int, ...]:
    return nn.tensor_shape(v.type)


# -- a small tree matcher ------------------------------------------------------------
# A template is a tuple (kind, arg, ...) whose kind may carry a tag ("Mul@m") to
# find the matched op afterwards; an argument is a template, a variable name
# ("x": binds any value, the same name must bind the same value), a float (a
# one-element constant within 1e-4 relative), a capture ("#eps": any one-element
# constant, bound to its value) or "*" as the last argument (any further operands).
# Add and Mul match their two operands in either order.

Template: TypeAlias = tuple["Template", ...] | str | float


@dataclass
class Match:
    values: dict[str, SSAValue]
    consts: dict[str, float]
    ops: dict[str, Operation]
    visited: list[Operation]


def match(template: Template, v: SSAValue) -> Match | None:
    m = Match({}, {}, {}, [])
    return m if _match(template, v, m) else None


def _match(t: Template, v: SSAValue, m: Match) -> bool:
    if isinstance(t, (int, float)):
        c = scalar(v)
        return c is not None and math.isclose(c, t, rel_tol=1e-4, abs_tol=1e-12)
    if isinstance(t, str):
        if t.startswith("#"):
            c = scalar(v)
            if c is None:
                return False
            m.consts[t[1:]] = c
            return True
        if t in m.values:
            return m.values[t] is v
        m.values[t] = v
        return True
    head, *args = t
    assert isinstance(head, str)
    k, _, tag = head.partition("@")
    op = producer(v)
    if op is None or kind(op) != k:
        return False
    operands = list(op.operands)
    rest = bool(args) and args[-1] == "*"
    if rest:
        args = args[:-1]
    if len(operands) < len(args) or (not rest and len(operands) != len(args)):
        return False
    orders = [operands]
    if k in _COMMUTATIVE and len(operands) == 2:
        orders.append(operands[::-1])
    for order in orders:
        trial = Match(dict(m.values), dict(m.consts), dict(m.ops), list(m.visited))
        if all(_match(a, o, trial) for a, o in zip(args, order)):
            trial.visited.append(op)
            if tag:
                trial.ops[tag] = op
            m.values, m.consts, m.ops, m.visited = trial.values, trial.consts, trial.ops, trial.visited
            return True
    return False


def first_match(templates: Sequence[Template], v: SSAValue) -> Match | None:
    for t in templates:
        found = match(t, v)
        if found is not None:
            return found
    return None


# -- rewriting -------------------------------------------------------------------------


def replace(
    root: Operation, new: Operation, absorbed: Sequence[Operation], rewriter: Rewriter, named: Operation | None = None
) -> None:
    """Put `new` before `root`, forward root's result to it and erase the absorbed ops left dead.

    `new` keeps the node name of `named` (default: root); `onnx_nodes` lists every
    absorbed node's name.
    """
    names: list[str] = []
    for op in [*absorbed, root]:
        label = op.attributes.get("name")
        if isinstance(label, StringAttr) and label.data not in names:
            names.append(label.data)
        inner = op.attributes.get(ONNX_NODES_ATTR)
        if isa(inner, ArrayAttr[Attribute]):
            names.extend(a.data for a in inner.data if isinstance(a, StringAttr) and a.data not in names)
    label = (named or root).attributes.get("name")
    if isinstance(label, StringAttr):
        new.attributes["name"] = label
    new.attributes[ONNX_NODES_ATTR] = ArrayAttr([StringAttr(n) for n in names])
    rewriter.insert_op(new, InsertPoint.before(root))
    root.results[0].replace_all_uses_with(new.results[0])
    erase_dead([root, *absorbed], rewriter)


def erase_dead(ops: Sequence[Operation], rewriter: Rewriter) -> None:
    """Erase those of `ops` whose results are unused, repeatedly (users before producers)."""
    pending = [op for op in ops if op.parent is not None]
    changed = True
    while changed:
        changed = False
        for op in list(pending):
            if op.parent is not None and all(not r.uses for r in op.results):
                rewriter.erase_op(op)
                pending.remove(op)
                changed = True


# -- linear ---------------------------------------------------------------------------


def _weight_operand(v: SSAValue) -> tuple[SSAValue, bool, Operation | None] | None:
    """(weight value, transposed?, the Transpose op) when `v` is a 2-D weight or its transpose."""
    op = producer(v)
    if isinstance(op, nn.WeightOp) and len(shape(v)) == 2:
        return v, False, None
    if isinstance(op, nn.TransposeOp) and isinstance(producer(op.input), nn.WeightOp):
        if len(shape(op.input)) == 2 and perm_of(op) == [1, 0]:
            return op.input, True, op
    return None


def raise_linear(op: Operation, rewriter: Rewriter) -> bool:
    absorbed: list[Operation] = []
    if isinstance(op, nn.MatMulOp):
        w = _weight_operand(op.rhs)
        if w is None or len(shape(op.lhs)) < 1:
            return False
        x, bias = op.lhs, None
        weight, transposed, transpose_op = w
    elif isinstance(op, nn.GemmOp):
        plain = op.trans_a.value.data == 0 and op.alpha.value.data == 1.0 and op.beta.value.data == 1.0
        w = _weight_operand(op.b)
        if not plain or w is None:
            return False
        weight, transposed, transpose_op = w
        transposed ^= op.trans_b.value.data == 1
        n = shape(op.result)[1]
        if op.c is not None and shape(op.c) not in ((n,), (1, n)):
            return False
        x, bias = op.a, op.c
    else:
        return False
    if transpose_op is not None:
        absorbed.append(transpose_op)
    root: Operation = op
    result_type = op.results[0].type
    n = shape(op.results[0])[-1]
    use = op.results[0].get_unique_use()
    if bias is None and use is not None and isinstance(use.operation, nn.AddOp):
        add = use.operation
        other = add.rhs if add.lhs is op.results[0] else add.lhs
        if (
            isinstance(producer(other), nn.WeightOp)
            and shape(other) in ((n,), (1, n))
            and add.result.type == result_type
        ):
            bias, root = other, add
            absorbed.append(op)
    assert isa(result_type, TensorType[Attribute])
    new = nn.LinearOp(x, weight, bias, result_type, transpose_w=transposed)
    replace(root, new, absorbed, rewriter, named=op)
    return True


# -- normalisation and activations ------------------------------------------------------

_RMS_CORE = ("Add", ("ReduceMean@mean", ("Pow", "x", 2.0), "*"), "#eps")
_RMS = [
    ("Mul", "w", ("Mul", "x", ("Reciprocal", ("Sqrt", _RMS_CORE)))),
    ("Mul", "w", ("Div", "x", ("Sqrt", _RMS_CORE))),
    ("Mul", "w", ("Cast", ("Mul", "x", ("Reciprocal", ("Sqrt", _RMS_CORE))))),
    ("Mul", "w", ("Cast", ("Div", "x", ("Sqrt", _RMS_CORE)))),
]


def raise_rms_norm(op: Operation, rewriter: Rewriter) -> bool:
    if not isinstance(op, nn.MulOp):
        return False
    m = first_match(_RMS, op.result)
    if m is None:
        return False
    x, w = m.values["x"], m.values["w"]
    mean = m.ops["mean"]
    rank = len(shape(x))
    axes = constant_ints(mean.operands[1]) if len(mean.operands) > 1 else None
    if axes is None and isinstance(mean, nn.OnnxOp) and "axes" in mean.onnx_attrs.data:
        axes_attr = mean.onnx_attrs.data["axes"]
        assert isa(axes_attr, ArrayAttr[IntegerAttr])
        axes = [int(a.value.data) for a in axes_attr.data]
    keepdims = mean.onnx_attrs.data.get("keepdims") if isinstance(mean, nn.OnnxOp) else None
    if (
        axes is None
        or [a % rank for a in axes] != [rank - 1]
        or (isinstance(keepdims, IntegerAttr) and keepdims.value.data != 1)
    ):
        return False
    if nn.broadcast_shapes(shape(x), shape(w)) != shape(x) or shape(op.result) != shape(x):
        return False
    new = nn.RmsNormOp(x, w, op.result.type, epsilon=m.consts["eps"])
    replace(op, new, m.visited[:-1], rewriter)
    return True


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_TANH_CORE = ("Add", ("Tanh", ("Mul", ("Add", "x", ("Mul", ("Pow", "x", 3.0), 0.044715)), _SQRT_2_OVER_PI)), 1.0)
_ERF_CORES = [
    ("Add", ("Erf", ("Div", "x", math.sqrt(2.0))), 1.0),
    ("Add", ("Erf", ("Mul", "x", 1.0 / math.sqrt(2.0))), 1.0),
]
_GELU = [
    ("tanh", t)
    for t in (
        ("Mul", ("Mul", "x", 0.5), _TANH_CORE),
        ("Mul", ("Mul", "x", _TANH_CORE), 0.5),
        ("Mul", "x", ("Mul", _TANH_CORE, 0.5)),
    )
] + [
    ("none", t)
    for core in _ERF_CORES
    for t in (
        ("Mul", ("Mul", "x", 0.5), core),
        ("Mul", ("Mul", "x", core), 0.5),
        ("Mul", "x", ("Mul", core, 0.5)),
    )
]


def raise_gelu(op: Operation, rewriter: Rewriter) -> bool:
    if not isinstance(op, nn.MulOp):
        return False
    for approximate, template in _GELU:
        m = match(template, op.result)
        if m is not None and m.values["x"].type == op.result.type:
            replace(op, nn.GeluOp(m.values["x"], approximate), m.visited[:-1], rewriter)
            return True
    return False


def raise_silu(op: Operation, rewriter: Rewriter) -> bool:
    if not isinstance(op, nn.MulOp):
        return False
    m = match(("Mul", "x", ("Sigmoid", "x")), op.result)
    if m is None or m.values["x"].type != op.result.type:
        return False
    replace(op, nn.SiluOp(m.values["x"]), m.visited[:-1], rewriter)
    return True


# -- rotary embedding ---------------------------------------------------------------------

# The rotate_half branch comes first so that it binds x before x * cos is matched (in either operand order).
_ROTARY = (
    "Add",
    ("Mul", ("Concat@cat", ("Neg", ("Slice@hi", "x", "*")), ("Slice@lo", "x", "*")), "sin"),
    ("Mul", "x", "cos"),
)


def _slice_range(op: Operation, dim: int, rank: int) -> tuple[int, int] | None:
    """(start, end) of a constant Slice along the last axis with step 1, clamped to [0, dim]."""
    vals = [constant_ints(v) for v in op.operands[1:]]
    ints = [v[0] for v in vals if v is not None and len(v) == 1]
    if len(ints) != len(vals):
        return None
    starts, ends = ints[0], ints[1]
    axis = ints[2] if len(ints) > 2 else 0
    step = ints[3] if len(ints) > 3 else 1
    if axis % rank != rank - 1 or step != 1:
        return None
    return _clamp(starts, dim), _clamp(ends, dim)


def _clamp(i: int, dim: int) -> int:
    """A Slice bound (negative: from the end) clamped to [0, dim]."""
    return max(0, min(dim, i + dim if i < 0 else i))


# GPT-J's rotate_every_two: stack((-x[..., 1::2], x[..., ::2]), -1).flatten(-2), the stack as two Unsqueezes
# (reshapes) and a Concat on the new last axis
_ROTARY_INTERLEAVED = (
    "Add",
    (
        "Mul",
        (
            "Reshape@flat",
            (
                "Concat@stack",
                ("Reshape@u_odd", ("Neg", ("Slice@odd", "x", "*"))),
                ("Reshape@u_even", ("Slice@even", "x", "*")),
            ),
        ),
        "sin",
    ),
    ("Mul", "x", "cos"),
)


def _slice_steps(op: Operation, dim: int, rank: int) -> tuple[int, int, int] | None:
    """(start, end, step) of a constant Slice along the last axis, start and end clamped to [0, dim]."""
    vals = [constant_ints(v) for v in op.operands[1:]]
    ints = [v[0] for v in vals if v is not None and len(v) == 1]
    if len(vals) < 3 or len(ints) != len(vals):
        return None
    starts, ends, axis = ints[0], ints[1], ints[2]
    step = ints[3] if len(ints) > 3 else 1
    if axis % rank != rank - 1 or step <= 0:
        return None
    return _clamp(starts, dim), _clamp(ends, dim), step


def _raise_interleaved_rotary(op: nn.AddOp, rewriter: Rewriter) -> bool:
    m = match(_ROTARY_INTERLEAVED, op.result)
    if m is None:
        return False
    x = m.values["x"]
    xs = shape(x)
    rank, d = len(xs), xs[-1] if xs else 0
    if rank == 0 or d % 2 or shape(op.result) != xs or shape(m.ops["flat"].results[0]) != xs:
        return False
    if _slice_steps(m.ops["odd"], d, rank) != (1, d, 2) or _slice_steps(m.ops["even"], d, rank) != (0, d, 2):
        return False
    half = (*xs[:-1], d // 2)
    for tag in ("u_odd", "u_even"):  # each half gains a last axis of 1
        if shape(m.ops[tag].results[0]) != (*half, 1):
            return False
    stack = m.ops["stack"]
    assert isinstance(stack, nn.ConcatOp)
    if stack.axis.value.data % (rank + 1) != rank or shape(stack.result) != (*half, 2):
        return False
    cos, sin = m.values["cos"], m.values["sin"]
    if nn.broadcast_shapes(xs, shape(cos)) != xs or nn.broadcast_shapes(xs, shape(sin)) != xs:
        return False
    replace(op, nn.RotaryOp(x, cos, sin, interleaved=True), m.visited[:-1], rewriter)
    return True


def raise_rotary(op: Operation, rewriter: Rewriter) -> bool:
    if not isinstance(op, nn.AddOp):
        return False
    m = match(_ROTARY, op.result)
    if m is None:
        return _raise_interleaved_rotary(op, rewriter)
    x = m.values["x"]
    xs = shape(x)
    rank, d = len(xs), xs[-1] if xs else 0
    cat = m.ops["cat"]
    assert isinstance(cat, nn.ConcatOp)
    if rank == 0 or d % 2 or cat.axis.value.data % rank != rank - 1 or shape(op.result) != xs:
        return False
    if _slice_range(m.ops["hi"], d, rank) != (d // 2, d) or _slice_range(m.ops["lo"], d, rank) != (0, d // 2):
        return False
    cos, sin = m.values["cos"], m.values["sin"]
    if nn.broadcast_shapes(xs, shape(cos)) != xs or nn.broadcast_shapes(xs, shape(sin)) != xs:
        return False
    replace(op, nn.RotaryOp(x, cos, sin), m.visited[:-1], rewriter)
    return True


# -- KV-cache append ------------------------------------------------------------------------


def raise_kv_append(op: Operation, rewriter: Rewriter) -> bool:
    if not isinstance(op, nn.ConcatOp) or len(op.inputs) != 2:
        return False
    cache, new = op.inputs
    rank = len(shape(cache))
    if not isinstance(cache, BlockArgument) or rank < 3:
        return False
    replace(op, nn.KvAppendOp(cache, new, op.result.type, op.axis.value.data), [], rewriter)
    return True


# -- attention --------------------------------------------------------------------------------


def _repeated_kv(v: SSAValue) -> tuple[SSAValue, list[Operation]]:
    """Undo GQA's repeat_kv: Reshape(Expand(Unsqueeze(kv, 2))) from [B, Hkv, T, D] to [B, Hkv*r, T, D]."""
    reshape = producer(v)
    if kind(reshape) != "Reshape" or len(shape(v)) != 4:
        return v, []
    assert reshape is not None
    root = _expanded_kv(reshape.operands[0])
    if root is None:
        return v, []
    kv, ops = root
    b, h, t, d = shape(v)
    ks = shape(kv)
    if (ks[0], ks[1] * shape(reshape.operands[0])[2], *ks[2:]) != (b, h, t, d):
        return v, []
    return kv, [reshape, *ops]


def _expanded_kv(u: SSAValue) -> tuple[SSAValue, list[Operation]] | None:
    """kv when `u` is Expand(Unsqueeze(kv, 2)): [B, Hkv, T, D] -> [B, Hkv, r, T, D]."""
    expand = producer(u)
    if kind(expand) != "Expand" or len(shape(u)) != 5:
        return None
    assert expand is not None
    unsq = producer(expand.operands[0])
    if kind(unsq) != "Reshape" or unsq is None:
        return None
    kv = unsq.operands[0]
    b, hkv, _, t, d = shape(u)
    if shape(kv) != (b, hkv, t, d) or shape(unsq.results[0]) != (b, hkv, 1, t, d):
        return None
    return kv, [expand, unsq]


def _transposed_key(v: SSAValue) -> tuple[SSAValue, list[Operation]] | None:
    """k when `v` is k with its last two dims swapped: Transpose(k, [0,1,3,2]) or
    Reshape(Transpose(Reshape(k, [B*H, T, D]), [0,2,1]), [B, H, D, T]) (torch's SDPA export)."""
    op = producer(v)
    if isinstance(op, nn.TransposeOp):
        if perm_of(op) == [0, 1, 3, 2]:
            return op.input, [op]
        return None
    if not isinstance(op, nn.ReshapeOp) or len(shape(v)) != 4:
        return None
    b, h, d, t = shape(v)
    tr = producer(op.input)
    if not isinstance(tr, nn.TransposeOp) or perm_of(tr) != [0, 2, 1]:
        return None
    inner = producer(tr.input)
    if not isinstance(inner, nn.ReshapeOp) or shape(tr.input) != (b * h, t, d):
        return None
    if shape(inner.input) == (b, h, t, d):
        return inner.input, [op, tr, inner]
    repeated = _expanded_kv(inner.input)  # GQA repeat folded into the same reshape (optimised exports)
    if repeated is not None and shape(inner.input)[1] * shape(inner.input)[2] == h:
        return repeated[0], [op, tr, inner, *repeated[1]]
    return None


def _scaled(v: SSAValue) -> tuple[SSAValue, float, list[Operation]]:
    """Peel Mul/Div by one-element constants: (value, factor, ops)."""
    factor, ops = 1.0, list[Operation]()
    while True:
        op = producer(v)
        k = kind(op)
        if k not in ("Mul", "Div") or op is None:
            return v, factor, ops
        a, b = op.operands
        if k == "Mul" and scalar(a) is not None and scalar(b) is None:
            a, b = b, a
        c = scalar(b)
        if c is None or c == 0.0 or a.type != op.results[0].type:
            return v, factor, ops
        factor *= c if k == "Mul" else 1.0 / c
        ops.append(op)
        v = a


def _is_causal(mask: SSAValue | None, s: int, t: int) -> bool:
    """Does the mask hide key positions after each query's own (j > i + t - s)?"""
    if mask is None:
        return False
    op = producer(mask)
    if isinstance(op, nn.ConstantOp):
        values = np.array(op.value.get_values()).reshape(shape(mask))
        tail = values.reshape(-1, *values.shape[-2:])[0] if values.ndim >= 2 else None
        if tail is None or tail.shape != (s, t):
            return False
        future = np.triu(np.ones((s, t), bool), k=t - s + 1)
        hidden = (tail == 0) if values.dtype == bool else (tail < -1e4)
        return bool(np.array_equal(hidden, future))
    # not constant: look for the position comparison or triangle that builds it
    seen: set[Operation] = set()
    frontier = [op]
    for _ in range(16):
        nxt: list[Operation | None] = []
        for o in frontier:
            if o is None or o in seen:
                continue
            seen.add(o)
            if kind(o) in ("LessOrEqual", "Less", "Greater", "GreaterOrEqual", "Trilu"):
                return True
            nxt.extend(producer(x) for x in o.operands)
        frontier = nxt
    return False


def raise_attention(op: Operation, rewriter: Rewriter) -> bool:
    if not isinstance(op, nn.SoftmaxOp):
        return False
    rank = len(shape(op.input))
    if rank != 4 or op.axis.value.data % rank != 3:
        return False
    absorbed: list[Operation] = [op]
    # after the softmax: an optional NaN guard Where(IsNaN(p), 0, p), then p @ v
    p = op.result
    use = p.get_unique_use() if p.uses.get_length() != 2 else None
    if p.uses.get_length() == 2:
        users = {u.operation for u in p.uses}
        guard = next((u for u in users if kind(u) == "Where"), None)
        isnan = next((u for u in users if kind(u) == "IsNaN"), None)
        if guard is None or isnan is None or guard.operands[0] is not isnan.results[0] or guard.operands[2] is not p:
            return False
        if scalar(guard.operands[1]) != 0.0:
            return False
        absorbed += [isnan, guard]
        p = guard.results[0]
        use = p.get_unique_use()
    if use is None or not isinstance(use.operation, nn.MatMulOp) or use.index != 0:
        return False
    context = use.operation
    v, v_ops = _repeated_kv(context.rhs)
    # before the softmax: scale and mask in any order, down to q @ k^T
    s = op.input
    scale, mask, mask_fill = 1.0, None, None
    while True:
        s, f, ops = _scaled(s)
        scale *= f
        absorbed += ops
        pre = producer(s)
        if mask is None and isinstance(pre, nn.AddOp):
            if scale != 1.0:  # (scores + mask) * c would need a scaled mask: not this op's semantics
                return False
            a, b = pre.lhs, pre.rhs
            if kind(producer(b)) in ("MatMul", "Mul", "Div") and kind(producer(a)) not in ("MatMul", "Mul", "Div"):
                a, b = b, a
            mask, s = b, a
            absorbed.append(pre)
            # an additive mask made from a boolean one, Where(m, 0, fill) with fill <= -1e30 (the float32
            # lowest, or -inf): s + where(m, 0, fill) == where(m, s, fill) in float32 for any |s| < 1e31
            where = producer(mask)
            if kind(where) == "Where" and where is not None and scalar(where.operands[1]) == 0.0:
                fill_value = scalar(where.operands[2])
                cond = where.operands[0]
                if (
                    fill_value is not None
                    and fill_value <= -1e30
                    and isa(cond.type, TensorType[Attribute])
                    and str(cond.type.element_type) == "i1"
                ):
                    mask, mask_fill = cond, fill_value
                    if where.results[0].uses.get_length() == 1:
                        absorbed.append(where)
            continue
        if mask is None and kind(pre) == "Where" and pre is not None:
            cond, kept, fill = pre.operands
            fill_value = scalar(fill)
            if fill_value is None:
                return False
            # where(m, s, fill) * c == where(m, s * c, fill * c): the scale found so far also scales the fill
            mask, mask_fill, s = cond, fill_value * scale, kept
            absorbed.append(pre)
            continue
        break
    score = producer(s)
    if not isinstance(score, nn.MatMulOp):
        return False
    absorbed.append(score)
    q, fq, q_ops = _scaled(score.lhs)
    kt, fk, k_ops = _scaled(score.rhs)
    key = _transposed_key(kt)
    if key is None:
        return False
    k, kt_ops = key
    k, kr_ops = _repeated_kv(k)
    scale *= fq * fk
    if len(shape(q)) != 4 or len(shape(k)) != 4 or len(shape(v)) != 4:
        return False
    b, hq, sq, _ = shape(q)
    if shape(k)[1] != shape(v)[1] or hq % shape(k)[1]:
        return False
    t = shape(k)[2]
    if mask is not None and nn.broadcast_shapes((b, hq, sq, t), shape(mask)) != (b, hq, sq, t):
        return False
    new = nn.AttentionOp(q, k, v, mask, scale=scale, causal=_is_causal(mask, sq, t), mask_fill=mask_fill)
    if new.result.type != context.result.type:
        return False
    replace(context, new, [*absorbed, *q_ops, *k_ops, *kt_ops, *kr_ops, *v_ops], rewriter)
    return True


# -- the pass ------------------------------------------------------------------------------------

_RULES: list[Callable[[Operation, Rewriter], bool]] = [
    raise_linear,
    raise_rms_norm,
    raise_gelu,
    raise_silu,
    raise_rotary,
    raise_kv_append,
    raise_attention,
]


def raise_block(block: Block) -> int:
    """Apply every rule to every op of `block`, rule by rule in program order; returns the rewrites done."""
    rewriter = Rewriter()
    count = 0
    for rule in _RULES:
        for op in list(block.ops):
            if op.parent is block and rule(op, rewriter):
                count += 1
    for op in list(block.ops):  # constants only the raised patterns read (exponents, epsilons, scales)
        if isinstance(op, nn.ConstantOp) and not op.result.uses:
            rewriter.erase_op(op)
    return count


@dataclass(frozen=True)
class RaiseNnPass(ModulePass):
    """Raise decomposed layers (linear, RMSNorm, GELU, SiLU, rotary, KV append, attention)
    into semantic `nn` ops in every function; see the module docstring for the patterns.
    """

    name = "raise-nn"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for fn in op.walk():
            if isinstance(fn, func.FuncOp) and fn.body.blocks:
                raise_block(fn.body.blocks[0])
