"""shard: tensor parallelism: rewrite each phase into the program one chip of a tensor-parallel group runs.

Megatron-LM's split of a transformer (Shoeybi et al., "Megatron-LM", 2019, sec. 3; Narayanan et al.,
SC'21): a linear that reads a replicated activation is column-parallel (each chip holds N / tp of the
weight's output features, its result is split along the last dim); a linear that reads a split
activation along its contracted dim is row-parallel (K / tp of the weight, a partial sum that
`shard.all_reduce` adds up); attention, rotary embedding and the KV cache split along their heads
(each chip holds Hq / tp query and Hkv / tp key/value heads, and its share of the cache); an embedding
whose table rows divide by tp is vocab-parallel (each chip looks up the ids in its rows, and the
partial result is all-reduced, Megatron's VocabParallelEmbedding), which also splits an LM head that
shares the table. A row-parallel linear's bias is added once, after the all-reduce.

The pass propagates a sharding through each function in program order. A value is replicated (every
chip holds it whole), split along one dim (each chip holds 1 / tp of it) or partial (each chip holds a
summand). Rules per op: element-wise ops keep a split that every other operand either shares or
broadcasts along (and a sum of partials is partial, as is a mixture-of-experts combine of partial experts:
each expert's FFN is split as a dense one, and one all-reduce follows the combine); normalisations,
softmax and rotary keep a split off the dims they reduce over; reshape keeps a split whose dim maps
onto an output dim that tp divides
at the same stride; transpose permutes it; an ONNX Split along the split dim into parts that tp divides
splits each part (the fused-QKV layout Megatron-LM stores per chip), and so does an ONNX Slice along it with
constant bounds that tp divides (each chip cuts at start / tp .. end / tp), while a Slice off the split dim
keeps it (partial rotary embeddings); a whole weight that an element-wise op reads along the split dim (a
bias) is split with it; a KV append keeps a split off its
sequence axis and splits its cache input alike, but appends a step split along the head dim whole (one
K/V head, multi-query attention, whose K/V every chip reads whole: the attention of a chip's query heads
over the one K/V head). Any other op, or one whose operands disagree, gets its
operands whole: `dist.all_gather` for a split value, `shard.all_reduce` for a partial one. A function
returns its KV caches (what an attention reads as keys or values) split, each chip keeping its
heads, and every other result whole.

The module gets `shard.grid @tp(shape = tp)`, every collective names it, and `pimc.parallel` records
{tp, chips}. The system must have an interconnect of at least tp chips (targets/system.py). tp = 1
leaves the module as it is.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    DictionaryAttr,
    FunctionType,
    IndexType,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    StringAttr,
    SymbolRefAttr,
    TensorType,
    i64,
)
from xdsl.dialects.shard import AllReduceOp, GridOp
from xdsl.ir import Attribute, Block, BlockArgument, Operation, OpResult, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.utils.hints import isa

from pimc.dialects import nn
from pimc.dialects.dist import AllGatherOp
from pimc.errors import CompileError
from pimc.targets.annotations import PARALLEL_ATTR, phase_functions
from pimc.targets.models.cost import onnx_category
from pimc.targets.system import system_for_module

GRID = "tp"
"""The symbol of the tensor-parallel group's `shard.grid`."""

PARTIAL = -1
"""Sharding state of a partial sum (each chip holds a summand); None = replicated, d >= 0 = split along dim d."""

Sharding = int | None


def _shape(v: SSAValue) -> tuple[int, ...]:
    return nn.tensor_shape(v.type)


def _size_along(v: SSAValue, dim: int, rank: int) -> int:
    """The size of operand `v` along dim `dim` of a rank-`rank` result it broadcasts to (1 where v has no such dim,
    numpy broadcasting aligns the trailing dims)."""
    local = dim - (rank - len(_shape(v)))
    return _shape(v)[local] if local >= 0 else 1


def _resized(t: Attribute, dim: int, num: int, den: int) -> TensorType[Attribute]:
    """Tensor type `t` with dim `dim` times num / den."""
    assert isa(t, TensorType[Attribute])
    shape = list(t.get_shape())
    assert shape[dim] * num % den == 0, (shape, dim, num, den)
    shape[dim] = shape[dim] * num // den
    return TensorType(t.element_type, shape)


class _Sharder:
    """Propagates the shardings of one function and rewrites it (module docstring)."""

    def __init__(self, tp: int, fn: func.FuncOp):
        self.tp = tp
        self.fn = fn
        self.state: dict[SSAValue, Sharding] = {}
        self.gathered: dict[SSAValue, SSAValue] = {}
        self.reduced: dict[SSAValue, SSAValue] = {}
        self.weights: dict[tuple[Operation, int], SSAValue] = {}

    # -- values --------------------------------------------------------------------------------

    def of(self, v: SSAValue) -> Sharding:
        return self.state.get(v)

    def split(self, v: SSAValue, dim: int) -> SSAValue:
        """Give `v` the type of its 1 / tp part along `dim` and mark it split; returns the (new) value."""
        new = Rewriter.replace_value_with_new_type(v, _resized(v.type, dim, 1, self.tp))
        self.state[new] = dim
        return new

    def divisible(self, v: SSAValue, dim: int) -> bool:
        shape = _shape(v)
        return 0 <= dim < len(shape) and shape[dim] % self.tp == 0 and shape[dim] >= self.tp

    def _insert_after(self, v: SSAValue, op: Operation) -> None:
        if isinstance(v, OpResult):
            Rewriter.insert_op(op, InsertPoint.after(v.op))
        else:
            assert isinstance(v, BlockArgument) and isinstance(v.block, Block)
            Rewriter.insert_op(op, InsertPoint.at_start(v.block))

    def whole(self, v: SSAValue) -> SSAValue:
        """`v` as every chip holds it whole: itself, its all-gather or its all-reduce (one per value)."""
        s = self.of(v)
        if s is None:
            return v
        cache = self.reduced if s == PARTIAL else self.gathered
        if v in cache:
            return cache[v]
        if s == PARTIAL:
            op = AllReduceOp.create(operands=[v], result_types=[v.type], properties={"grid": SymbolRefAttr(GRID)})
        else:
            op = AllGatherOp.create(
                operands=[v],
                result_types=[_resized(v.type, s, self.tp, 1)],
                properties={"grid": SymbolRefAttr(GRID), "gather_axis": IntegerAttr(s, IndexType())},
            )
        owner = v.owner
        label = owner.attributes.get("name") if isinstance(owner, Operation) else None
        if isinstance(label, StringAttr):
            op.attributes["name"] = StringAttr(f"{label.data}.{'all_reduce' if s == PARTIAL else 'all_gather'}")
        tagged = owner if isinstance(owner, Operation) else self.fn.body.block.first_op
        phase = tagged.attributes.get("phase") if tagged is not None else None
        op.attributes["phase"] = phase if isinstance(phase, StringAttr) else StringAttr(self.fn.sym_name.data)
        self._insert_after(v, op)
        cache[v] = op.results[0]
        return op.results[0]

    def use_whole(self, op: Operation, indices: range | list[int] | None = None) -> None:
        """Make the operands of `op` (all, or those at `indices`) whole."""
        for i in indices if indices is not None else range(len(op.operands)):
            op.operands[i] = self.whole(op.operands[i])

    def weight(self, op: Operation, index: int, dim: int) -> bool:
        """Give operand `index` of `op`, a weight, its 1 / tp part along `dim` (a copy of the weight op per
        dim, named as the weight); False (nothing changed) when it is not a weight or tp does not divide it."""
        w = op.operands[index]
        owner = w.owner
        if not isinstance(owner, nn.WeightOp) or not self.divisible(w, dim):
            return False
        key = (owner, dim)
        if key not in self.weights:
            clone = nn.WeightOp.create(
                properties=dict(owner.properties),
                attributes={**owner.attributes, "shard_dim": IntegerAttr(dim, 64)},
                result_types=[_resized(w.type, dim, 1, self.tp)],
            )
            Rewriter.insert_op(clone, InsertPoint.after(owner))
            self.weights[key] = clone.results[0]
        op.operands[index] = self.weights[key]
        return True

    # -- ops -----------------------------------------------------------------------------------

    def run(self) -> None:
        for op in list(self.fn.body.block.ops):
            self.visit(op)
        for wop in {wop for wop, _ in self.weights}:  # a weight split two ways is one original
            if not wop.results[0].uses:
                Rewriter.erase_op(wop)
        block = self.fn.body.block
        ret = block.last_op
        assert isinstance(ret, func.ReturnOp)
        self.fn.function_type = FunctionType.from_lists([a.type for a in block.args], [v.type for v in ret.operands])

    def visit(self, op: Operation) -> None:
        if isinstance(op, (nn.WeightOp, nn.ConstantOp, AllReduceOp, AllGatherOp)):
            return
        if isinstance(op, func.ReturnOp):
            for i, v in enumerate(op.operands):
                if not (self.of(v) not in (None, PARTIAL) and _is_kv(v)):
                    op.operands[i] = self.whole(v)
            return
        rule = _RULES.get(type(op))
        if rule is None and isinstance(op, nn.OnnxOp):
            rule = _onnx
        if rule is None:
            rule = _replicated
        rule(self, op)

    def elementwise(self, op: Operation, linear_in: bool) -> None:
        """Element-wise `op` with broadcasting (module docstring); `linear_in`: the op is a sum, so partial
        operands stay partial when every operand is partial."""
        states = [self.of(v) for v in op.operands]
        if linear_in and states and all(s == PARTIAL for s in states):
            self.state[op.results[0]] = PARTIAL
            return
        if PARTIAL in states:
            self.use_whole(op, [i for i, s in enumerate(states) if s == PARTIAL])
            states = [self.of(v) for v in op.operands]
        rank = len(_shape(op.results[0]))
        aligned = {s + rank - len(_shape(v)) for v, s in zip(op.operands, states, strict=True) if s is not None}
        if not aligned:
            return
        if len(aligned) == 1:
            (dim,) = aligned
            weights: list[tuple[int, int]] = []  # whole weights along the split dim (a bias): split alike
            ok = self.divisible(op.results[0], dim)
            for i, (v, s) in enumerate(zip(op.operands, states, strict=True)):
                size = _size_along(v, dim, rank)
                if s is not None or size == 1:
                    continue
                if isinstance(v.owner, nn.WeightOp) and size == _shape(op.results[0])[dim]:
                    weights.append((i, dim - (rank - len(_shape(v)))))
                else:
                    ok = False
            if ok:
                for i, local in weights:
                    self.weight(op, i, local)
                for r in op.results:
                    self.split(r, dim)
                return
        self.use_whole(op)


def _is_kv(v: SSAValue) -> bool:
    """Whether `v` is a KV cache: the keys or values an attention reads (each chip keeps its heads' part)."""
    if isinstance(v.owner, nn.KvAppendOp):
        return True
    return any(isinstance(u.operation, nn.AttentionOp) and u.index in (1, 2) for u in v.uses)


def _replicated(s: _Sharder, op: Operation) -> None:
    """An op without a rule: every operand whole, every result replicated."""
    s.use_whole(op)


def _linear(s: _Sharder, op: Operation) -> None:
    assert isinstance(op, nn.LinearOp)
    st = s.of(op.input)
    if st == PARTIAL:
        s.use_whole(op, [0])
        st = None
    rank = len(_shape(op.input))
    transposed = op.transpose_w is not None
    n_dim, k_dim = (0, 1) if transposed else (1, 0)
    weight = isinstance(op.w.owner, nn.WeightOp)
    bias_weight = op.bias is None or isinstance(op.bias.owner, nn.WeightOp)
    if st is None:  # column-parallel: N / tp output features per chip
        if not (weight and bias_weight and s.divisible(op.w, n_dim)):
            s.use_whole(op)
            return
        s.weight(op, 1, n_dim)
        if op.bias is not None:
            s.weight(op, 2, len(_shape(op.bias)) - 1)
        s.split(op.result, rank - 1)
        return
    if st != rank - 1:  # split along a row dim: each chip multiplies its rows by the whole weight
        s.use_whole(op, list(range(1, len(op.operands))))
        s.split(op.result, st)
        return
    if not weight:
        s.use_whole(op)
        return
    s.weight(op, 1, k_dim)  # row-parallel: K / tp of the weight, a partial sum
    bias = op.bias
    if bias is None:
        s.state[op.result] = PARTIAL
        return
    # with a bias: the partial product, its all-reduce, then the bias added once
    result_type = op.result.type
    assert isa(result_type, TensorType[Attribute])
    product = nn.LinearOp(op.input, op.w, None, result_type, transpose_w=transposed)
    product.attributes.update(op.attributes)
    Rewriter.insert_op(product, InsertPoint.before(op))
    s.state[product.result] = PARTIAL
    total = s.whole(product.result)
    add = nn.AddOp(total, s.whole(bias), result_type)
    add.attributes.update({k: v for k, v in op.attributes.items() if k in ("phase", "onnx_nodes")})
    name = op.attributes.get("name")
    if isinstance(name, StringAttr):
        add.attributes["name"] = StringAttr(f"{name.data}.bias")
    Rewriter.insert_op(add, InsertPoint.before(op))
    op.result.replace_all_uses_with(add.result)
    Rewriter.erase_op(op)


def _gather(s: _Sharder, op: Operation) -> None:
    assert isinstance(op, nn.GatherOp)
    axis = op.axis.value.data % len(_shape(op.data))
    data, idx = s.of(op.data), s.of(op.indices)
    if data is None and idx is None and axis == 0 and len(_shape(op.data)) == 2 and s.weight(op, 0, 0):
        s.state[op.result] = PARTIAL  # vocab-parallel: ids outside a chip's rows look up zeros
        return
    if idx is None and data not in (None, PARTIAL) and data != axis:
        out = data if data < axis else data - 1 + len(_shape(op.indices))
        s.split(op.result, out)
        return
    s.use_whole(op)


def _normalised(s: _Sharder, op: Operation, first_reduced: int) -> None:
    """An op that reduces over the input's dims from `first_reduced` on; its other operands are parameters
    over those dims (scale, bias) or broadcast alike."""
    st = s.of(op.operands[0])
    if st is None or st == PARTIAL or st >= first_reduced or any(s.of(v) is not None for v in op.operands[1:]):
        s.use_whole(op)
        return
    rank = len(_shape(op.operands[0]))
    if any(_size_along(v, st, rank) != 1 for v in op.operands[1:]):  # a parameter varying along the split dim
        s.use_whole(op)
        return
    s.split(op.results[0], st)


def _norm(s: _Sharder, op: Operation) -> None:
    rank = len(_shape(op.operands[0]))
    first = rank - 1
    if isinstance(op, nn.LayerNormOp):
        first = op.axis.value.data % rank
    _normalised(s, op, first)


def _softmax(s: _Sharder, op: Operation) -> None:
    assert isinstance(op, nn.SoftmaxOp)
    rank = len(_shape(op.input))
    axis = op.axis.value.data % rank
    st = s.of(op.input)
    if st is not None and st != PARTIAL and st != axis:
        s.split(op.result, st)
        return
    s.use_whole(op)


def _rotary(s: _Sharder, op: Operation) -> None:
    assert isinstance(op, nn.RotaryOp)
    st = s.of(op.input)
    rank = len(_shape(op.input))
    if st is None or st == PARTIAL or st == rank - 1 or s.of(op.cos) is not None or s.of(op.sin) is not None:
        s.use_whole(op)
        return
    if any(_size_along(table, st, rank) != 1 for table in (op.cos, op.sin)):
        s.use_whole(op)
        return
    s.split(op.result, st)


def _reshape(s: _Sharder, op: Operation) -> None:
    assert isinstance(op, nn.ReshapeOp)
    st = s.of(op.input)
    if st is None:
        return
    if st == PARTIAL:  # a reshape of a partial sum is a partial sum
        s.state[op.result] = PARTIAL
        return
    a = _shape(op.input)
    full = list(a)
    full[st] *= s.tp
    b = list(_shape(op.result))
    prefix = 1
    for d in full[:st]:
        prefix *= d
    running = 1
    for j, n in enumerate(b):
        if running == prefix and n % s.tp == 0 and n >= s.tp:
            s.split(op.result, j)
            return
        running *= n
        if running > prefix:
            break
    s.use_whole(op)


def _transpose(s: _Sharder, op: Operation) -> None:
    assert isinstance(op, nn.TransposeOp)
    st = s.of(op.input)
    if st is None:
        return
    if st == PARTIAL:
        s.state[op.result] = PARTIAL
        return
    perm = [p.value.data for p in op.perm.data]
    s.split(op.result, perm.index(st))


def _concat(s: _Sharder, op: Operation) -> None:
    assert isinstance(op, nn.ConcatOp)
    rank = len(_shape(op.result))
    axis = op.axis.value.data % rank
    states = {s.of(v) for v in op.inputs}
    if states == {None}:
        return
    if len(states) == 1 and (st := next(iter(states))) not in (None, PARTIAL) and st != axis:
        s.split(op.result, st)
        return
    s.use_whole(op)


def _kv_append(s: _Sharder, op: Operation) -> None:
    assert isinstance(op, nn.KvAppendOp)
    rank = len(_shape(op.new))
    axis = op.axis.value.data % rank
    st, cache_st = s.of(op.new), s.of(op.cache)
    if st is None and cache_st is None:
        return
    cache = op.cache
    if st == rank - 1 and cache_st is None:  # split along the head dim (one K/V head, MQA): append it whole
        s.use_whole(op)
        return
    if (
        st not in (None, PARTIAL)
        and st != axis
        and cache_st is None
        and isinstance(cache, BlockArgument)
        and len(list(cache.uses)) == 1
    ):
        s.split(cache, st)
        s.split(op.result, st)
        return
    if st not in (None, PARTIAL) and cache_st == st:
        s.split(op.result, st)
        return
    s.use_whole(op)


def _attention(s: _Sharder, op: Operation) -> None:
    assert isinstance(op, nn.AttentionOp)
    mqa = s.of(op.q) == 1 and s.of(op.k) != 1 and s.of(op.v) != 1 and op.dims()[2] == 1
    if mqa:  # one K/V head (multi-query attention): every chip's query heads read it whole
        s.use_whole(op, [1, 2])
    qkv = {1} if mqa else {s.of(op.q), s.of(op.k), s.of(op.v)}
    if len(qkv) == 1 and (st := next(iter(qkv))) in (0, 1):
        mask_ok = True
        if op.mask is not None:
            m = s.of(op.mask)
            mask_ok = (m is not None and m != PARTIAL and m == st - (4 - len(_shape(op.mask)))) or (
                m is None and _size_along(op.mask, st, 4) == 1
            )
        if mask_ok:
            s.split(op.result, st)
            return
    s.use_whole(op)


def _onnx(s: _Sharder, op: Operation) -> None:
    assert isinstance(op, nn.OnnxOp)
    kind = op.op_type.data
    if kind == "Split" and len(op.inputs) == 1 and op.domain is None and "split" not in op.onnx_attrs.data:
        st = s.of(op.inputs[0])  # along the Split's axis or not, each part splits (fused-QKV layout per chip)
        if st not in (None, PARTIAL) and all(s.divisible(r, st) for r in op.outputs):
            for r in list(op.outputs):
                s.split(r, st)
            return
    if kind == "Slice" and _slice(s, op):
        return
    if op.domain is None and onnx_category(op) == "elementwise" and op.outputs:
        s.elementwise(op, linear_in=kind in ("Add", "Sub", "Neg"))
        return
    if op.domain is None and onnx_category(op) == "metadata" and not op.outputs:
        return
    s.use_whole(op)


def _ints(v: SSAValue) -> list[int] | None:
    """The values of an integer `nn.constant`, else None."""
    owner = v.owner
    if not isinstance(owner, nn.ConstantOp):
        return None
    values = owner.value.get_values()
    ints = [x for x in values if isinstance(x, int)]
    return ints if len(ints) == len(values) else None


def _slice_bounds(op: Operation) -> tuple[list[int], list[int], list[int], list[int]] | None:
    """(starts, ends, axes, steps) of an ONNX Slice whose bounds are constants (axes in range of the data's rank),
    else None (also when an optional input before a given one is omitted: `input_slots`)."""
    if not (isinstance(op, nn.OnnxOp) and op.op_type.data == "Slice" and op.domain is None):
        return None
    if len(op.inputs) < 3 or len(op.outputs) != 1 or op.input_slots is not None:
        return None
    starts, ends = _ints(op.inputs[1]), _ints(op.inputs[2])
    if starts is None or ends is None or len(starts) != len(ends):
        return None
    axes = _ints(op.inputs[3]) if len(op.inputs) > 3 else list(range(len(starts)))
    steps = _ints(op.inputs[4]) if len(op.inputs) > 4 else [1] * len(starts)
    if axes is None or steps is None or not len(axes) == len(steps) == len(starts):
        return None
    rank = len(_shape(op.inputs[0]))
    return starts, ends, [a % rank for a in axes], steps


def _cut(op: Operation, dim: int) -> tuple[int, int] | None:
    """(start, end) along `dim` of an ONNX Slice with constant bounds and unit steps that cuts only `dim`."""
    bounds = _slice_bounds(op)
    if bounds is None or bounds[2] != [dim] or bounds[3] != [1]:
        return None
    return bounds[0][0], bounds[1][0]


def _disjoint_cuts(v: SSAValue, dim: int, full: int) -> bool:
    """Whether every use of `v` is a Slice of `dim` alone and no two overlap: the pieces of a fused product
    (q, k, v) that a chip can cut from its part only if the weight's columns are stored per piece, as
    Megatron-LM stores a fused QKV weight. `full`: the dim's whole size."""
    spans: list[tuple[int, int]] = []
    for u in v.uses:
        cut = _cut(u.operation, dim)
        if cut is None or u.index != 0:
            return False
        spans.append(cut)
    spans = sorted((max(0, a if a >= 0 else a + full), b if b >= 0 else b + full) for a, b in spans)
    return all(b1 <= a2 for (_, b1), (a2, _) in itertools.pairwise(spans))


def _slice(s: _Sharder, op: nn.OnnxOp) -> bool:
    """ONNX Slice of a split value with constant bounds: off the split dim it keeps the split; along it (a fused
    QKV product cut into q, k and v) each chip cuts its part at start / tp .. end / tp, as a Split does. False:
    no rule applies (the caller makes the operands whole)."""
    st = s.of(op.inputs[0])
    bounds = _slice_bounds(op)
    if bounds is None or st is None or st == PARTIAL or any(s.of(v) is not None for v in op.inputs[1:]):
        return False
    starts, ends, axes, steps = bounds
    if st not in axes:
        s.split(op.outputs[0], st)
        return True
    k = axes.index(st)
    full = _shape(op.inputs[0])[st] * s.tp
    lo, hi = (max(0, min(full, x if x >= 0 else x + full)) for x in (starts[k], ends[k]))
    if steps[k] != 1 or lo % s.tp or hi % s.tp or hi <= lo or not _disjoint_cuts(op.inputs[0], st, full):
        return False
    for index, values in ((1, starts), (2, ends)):
        local = list(values)
        local[k] = (lo if index == 1 else hi) // s.tp
        const = op.inputs[index].owner
        assert isinstance(const, nn.ConstantOp)
        t = const.value.type
        assert isa(t, TensorType[IntegerType])
        new = nn.ConstantOp(DenseIntOrFPElementsAttr.from_list(t, local))
        new.attributes.update(const.attributes)
        Rewriter.insert_op(new, InsertPoint.before(op))
        op.operands[index] = new.result
    s.split(op.outputs[0], st)
    return True


def _moe_combine(s: _Sharder, op: Operation) -> None:
    """The gate-weighted sum is linear in the experts' outputs: row-parallel experts' partial sums stay partial
    through it, so one all-reduce of the [T, H] result follows the layer instead of one per expert."""
    assert isinstance(op, nn.MoeCombineOp)
    if s.of(op.weights) is None and s.of(op.indices) is None and all(s.of(v) == PARTIAL for v in op.outputs):
        s.state[op.result] = PARTIAL
        return
    s.use_whole(op)


_RULES: dict[type[Operation], Callable[[_Sharder, Operation], None]] = {
    nn.LinearOp: _linear,
    nn.GatherOp: _gather,
    nn.AddOp: lambda s, op: s.elementwise(op, linear_in=True),
    nn.MulOp: lambda s, op: s.elementwise(op, linear_in=False),
    nn.SiluOp: lambda s, op: s.elementwise(op, linear_in=False),
    nn.GeluOp: lambda s, op: s.elementwise(op, linear_in=False),
    nn.RmsNormOp: _norm,
    nn.LayerNormOp: _norm,
    nn.SoftmaxOp: _softmax,
    nn.RotaryOp: _rotary,
    nn.ReshapeOp: _reshape,
    nn.TransposeOp: _transpose,
    nn.ConcatOp: _concat,
    nn.KvAppendOp: _kv_append,
    nn.AttentionOp: _attention,
    nn.MoeCombineOp: _moe_combine,
}


@dataclass(frozen=True)
class ShardPass(ModulePass):
    """Tensor parallelism over `tp` chips (module docstring): each phase becomes the program of one chip of
    the group, with `shard.all_reduce` / `dist.all_gather` where the chips exchange partial or split results.

    `system` as for annotate-cost; it must have an interconnect of at least `tp` chips, and tp must divide
    them (the other chips form data-parallel replicas).
    """

    name = "shard"

    tp: int = 1
    system: str | None = None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.tp < 1:
            raise CompileError(f"shard: tp = {self.tp}: the tensor-parallel degree is at least 1")
        if PARALLEL_ATTR in op.attributes:
            raise CompileError("shard: the module is sharded already")
        system = system_for_module(op, self.system)
        chips = system.chips
        if self.tp == 1:
            return
        if chips < self.tp or chips % self.tp:
            have = "one chip (no interconnect)" if chips == 1 else f"{chips} chips"
            raise CompileError(
                f"--tp {self.tp}: system '{system.name}' has {have}; tensor parallelism needs an interconnect "
                "whose chips the degree divides"
            )
        op.body.block.insert_op_before(
            GridOp.create(properties={"sym_name": StringAttr(GRID), "shape": DenseArrayBase.from_list(i64, [self.tp])}),
            op.body.block.first_op,  # pyright: ignore[reportArgumentType]
        )
        for fn in phase_functions(op):
            _Sharder(self.tp, fn).run()
        op.attributes[PARALLEL_ATTR] = DictionaryAttr({"tp": IntegerAttr(self.tp, 64), "chips": IntegerAttr(chips, 64)})
