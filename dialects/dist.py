"""The `dist` dialect: the collectives of MLIR's `shard` dialect that xDSL 0.74 does not ship.

pimc writes a multi-chip program as the program of one chip of a `shard.grid` (xDSL's `shard`
dialect, MLIR's former `mesh`), with `shard.all_reduce` where tensor parallelism sums partial
results. MLIR's dialect also has all-gather, reduce-scatter and all-to-all
(https://mlir.llvm.org/docs/Dialects/Shard/); xDSL 0.74 has all_reduce, broadcast, gather,
scatter, reduce, send, recv and shift only. These ops fill the gap with the same operands,
properties and syntax as MLIR's (on the same `CollectiveCommunicationOp` base as xDSL's shard ops),
under their own dialect name because xDSL's universe refuses a second dialect named `shard`.
"""

from __future__ import annotations

from xdsl.dialects.builtin import IndexType, IntegerAttr, TensorType
from xdsl.dialects.shard import CollectiveCommunicationOp
from xdsl.ir import Attribute, Dialect
from xdsl.irdl import irdl_op_definition, operand_def, prop_def, result_def, traits_def
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.hints import isa


def _rank(t: Attribute) -> int:
    assert isa(t, TensorType[Attribute])
    return t.get_num_dims()


def _check_axis(op: CollectiveCommunicationOp, axis: int, rank: int) -> None:
    if not 0 <= axis < rank:
        raise VerifyException(f"'{op.name}': axis {axis} is out of range for a rank-{rank} tensor")


@irdl_op_definition
class AllGatherOp(CollectiveCommunicationOp):
    """All-gather over a device grid (MLIR `shard.all_gather`): every chip of the group receives the
    concatenation along `gather_axis` of every chip's input, so that dim of the result is the input's
    times the group size."""

    name = "dist.all_gather"

    input = operand_def(TensorType)
    gather_axis = prop_def(IntegerAttr[IndexType])
    result = result_def(TensorType)

    traits = traits_def(Pure())

    assembly_format = (
        "$input `on` $grid (`grid_axes` `=` $grid_axes^)? `gather_axis` `=` $gather_axis "
        "attr-dict `:` type($input) `->` type($result)"
    )

    def verify_(self) -> None:
        _check_axis(self, self.gather_axis.value.data, _rank(self.input.type))


@irdl_op_definition
class ReduceScatterOp(CollectiveCommunicationOp):
    """Reduce-scatter over a device grid (MLIR `shard.reduce_scatter`): the group's inputs are summed and
    chip i keeps the i-th part along `scatter_axis`, so that dim of the result is the input's over the
    group size."""

    name = "dist.reduce_scatter"

    input = operand_def(TensorType)
    scatter_axis = prop_def(IntegerAttr[IndexType])
    result = result_def(TensorType)

    traits = traits_def(Pure())

    assembly_format = (
        "$input `on` $grid (`grid_axes` `=` $grid_axes^)? `scatter_axis` `=` $scatter_axis "
        "attr-dict `:` type($input) `->` type($result)"
    )

    def verify_(self) -> None:
        _check_axis(self, self.scatter_axis.value.data, _rank(self.input.type))


@irdl_op_definition
class AllToAllOp(CollectiveCommunicationOp):
    """All-to-all over a device grid (MLIR `shard.all_to_all`): each chip splits its input along
    `split_axis` into one part per chip of the group, sends part j to chip j, and concatenates what it
    receives along `concat_axis`."""

    name = "dist.all_to_all"

    input = operand_def(TensorType)
    split_axis = prop_def(IntegerAttr[IndexType])
    concat_axis = prop_def(IntegerAttr[IndexType])
    result = result_def(TensorType)

    traits = traits_def(Pure())

    assembly_format = (
        "$input `on` $grid (`grid_axes` `=` $grid_axes^)? `split_axis` `=` $split_axis "
        "`concat_axis` `=` $concat_axis attr-dict `:` type($input) `->` type($result)"
    )

    def verify_(self) -> None:
        rank = _rank(self.input.type)
        _check_axis(self, self.split_axis.value.data, rank)
        _check_axis(self, self.concat_axis.value.data, rank)


Dist = Dialect("dist", [AllGatherOp, ReduceScatterOp, AllToAllOp], [])
