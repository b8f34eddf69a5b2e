"""lower-to-pim: PIM-placed matrix-vector products become `pim.gemv`, attention `pim.attention`, with a bank layout."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.ir import Attribute, Operation
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter
from xdsl.utils.hints import isa

from pimc.dialects import nn, pim
from pimc.dialects.place import device_of
from pimc.errors import CompileError
from pimc.targets.models.cost import pim_weight
from pimc.targets.models.pim_timing import AttentionMapping, attention_mapping, gemv_geometry
from pimc.targets.system import Device, system_for_module


@dataclass
class RowAllocator:
    """Hands out DRAM rows, the same rows in every bank, weight by weight in program order."""

    rows_per_bank: int
    next_row: int = 0
    placed: dict[str, int] = field(default_factory=dict[str, int])
    """First row of each weight, keyed by name and orientation."""

    def rows_for(self, key: str, rows: int, label: str, what: str) -> int:
        """First row of the matrix `key` (a weight in one orientation, a KV cache in one layout); a key
        seen before gets its rows again. `what` names the matrix in the error."""
        if key in self.placed:
            return self.placed[key]
        if self.next_row + rows > self.rows_per_bank:
            raise CompileError(
                f"op '{label}': {what} needs rows {self.next_row}..{self.next_row + rows - 1} "
                f"but a PIM bank has {self.rows_per_bank} rows"
            )
        self.placed[key] = self.next_row
        self.next_row += rows
        return self.placed[key]


def gemv_layout(
    k: int, n: int, dev: Device, rows: RowAllocator, weight: str, transposed: bool, label: str
) -> pim.GemvLayoutAttr:
    """The bank layout of a K x N weight (`pim_timing.gemv_geometry`): per_row output neurons per bank per
    pass (1 unless the device packs several short K vectors in a row); each DRAM row holds k_tile =
    min(row_bytes, gb_bytes) / 2 elements of K.

    The weight gets passes x row tiles rows from `rows` (shared with earlier GEMVs
    that read the same weight in the same orientation).
    """
    geo = gemv_geometry(k, n, dev)
    key = f"{weight}{' (transposed)' if transposed else ''}"  # a new orientation gets new rows
    base = rows.rows_for(key, geo.rows(k, n), label, f"weight {weight!r}")
    return pim.GemvLayoutAttr(geo.channels, geo.banks, geo.k_tile, base)


def _cache_keys(op: nn.AttentionOp, mapping: AttentionMapping, t: int) -> tuple[str, str]:
    """Row-allocation keys of an attention's K and V caches: the op's name (unnamed ops are told apart
    by identity) and everything that fixes where a key or value sits in the banks, so prefill's and
    decode's attention of one layer share the cache's rows only when they lay it out identically."""
    label = nn.op_label(op) if "name" in op.attributes else f"{op.name}@{id(op):x}"
    shape = f"T {t}, {mapping.head_channels} ch/head, {mapping.heads} heads"
    k, v = mapping.k, mapping.v
    return (
        f"{label} K cache ({shape}, {k.channels} ch x {k.per_row}/row, k_tile {k.k_tile})",
        f"{label} V cache ({shape}, {v.channels} ch x {v.per_row}/row, k_tile {v.k_tile})",
    )


def lower_attention(op: nn.AttentionOp, dev: Device, rows: RowAllocator, rewriter: Rewriter) -> None:
    """Replace a PIM-placed nn.attention by pim.attention with its KV cache laid out on the banks.

    `attention_mapping` spreads the B * Hkv heads over groups of channels; the
    heads of one wave sit side by side in the same rows of their groups' banks, so
    the cache takes waves * (passes(T) * tiles(D) K rows + passes(Dv) * tiles(T) V
    rows) per bank, allocated from `rows` under the op's name and the cache layout:
    prefill's and decode's attention of one layer share the cache's rows when they
    lay it out identically (same T and mapping), else each holds its own. The
    scale, mask fill value and causal flag become the pim.attention's properties;
    a scale that is not finite and positive, or a NaN or +inf fill, is an error.
    """
    b, hq, hkv, s, t, d, dv = op.dims()
    label = nn.op_label(op)
    scale = op.scale.value.data
    fill = None if op.mask_fill is None else op.mask_fill.value.data
    if not (math.isfinite(scale) and scale > 0):
        raise CompileError(f"op '{label}': a PIM attention needs a finite positive scale, got {scale}")
    if fill is not None and (math.isnan(fill) or fill == math.inf):
        raise CompileError(f"op '{label}': a PIM attention's mask_fill must not be NaN or +inf, got {fill}")
    mapping = attention_mapping(b, hq, hkv, s, t, d, dv, dev)
    k_rows, v_rows = mapping.head_rows(t, d, dv)
    k_key, v_key = _cache_keys(op, mapping, t)
    k_base = rows.rows_for(k_key, mapping.waves * k_rows, label, "its K cache")
    v_base = rows.rows_for(v_key, mapping.waves * v_rows, label, "its V cache")
    kg, vg = mapping.k, mapping.v
    new = pim.AttentionOp(
        op.q,
        op.k,
        op.v,
        op.mask,
        op.result.type,
        pim.GemvLayoutAttr(kg.channels, kg.banks, kg.k_tile, k_base),
        pim.GemvLayoutAttr(vg.channels, vg.banks, vg.k_tile, v_base),
        mapping.head_channels,
        scale=scale,
        mask_fill=fill,
        causal=op.causal is not None,
    )
    new.attributes.update(op.attributes)
    rewriter.replace_op(op, new)


def lower_op(op: Operation, dev: Device, rows: RowAllocator, rewriter: Rewriter) -> None:
    """Replace a PIM-placed nn.linear / nn.matmul / nn.gemm by a pim.gemv with the same result."""
    w = pim_weight(op)
    label = nn.op_label(op)
    if w is None:
        raise CompileError(f"op '{label}' is placed on PIM device '{dev.name}' but is not a matrix-vector product")
    assert isinstance(w.owner, nn.WeightOp)
    transpose_w = (isinstance(op, nn.GemmOp) and op.trans_b.value.data == 1) or (
        isinstance(op, nn.LinearOp) and op.transpose_w is not None
    )
    k, n = nn.tensor_shape(w.type)
    if transpose_w:
        k, n = n, k
    layout = gemv_layout(k, n, dev, rows, w.owner.sym_name.data, transpose_w, label)
    if isinstance(op, nn.GemmOp):
        x, bias = op.a, op.c
    elif isinstance(op, nn.LinearOp):
        x, bias = op.input, op.bias
    else:
        assert isinstance(op, nn.MatMulOp)
        x, bias = op.lhs, None
    result_type = op.results[0].type
    assert isa(result_type, TensorType[Attribute])
    gemv = pim.GemvOp(x, w, bias, result_type, layout, transpose_w)
    gemv.attributes.update(op.attributes)
    rewriter.replace_op(op, gemv)


@dataclass(frozen=True)
class LowerToPimPass(ModulePass):
    """Turn every op placed on a PIM device into a PIM macro.

    A matrix product with a weight operand becomes `pim.gemv` (batched over the
    leading dims of its input) whose `layout` tiles the weight onto channels x
    banks x rows: one output neuron per bank per pass, K in row tiles of
    min(row_bytes, gb_bytes) / 2 FP16 elements, weights allocated rows in program order (a
    weight used twice shares its rows). Attention becomes `pim.attention`, its
    KV cache laid out per head as two GEMV matrices, heads spread over channel
    groups (`lower_attention`); attention in two phases shares a cache's rows when
    it lays the cache out identically. It is an error if a weight or cache does not fit
    in the rows of a bank.
    """

    name = "lower-to-pim"

    system: str | None = None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        system = system_for_module(op, self.system)
        rewriter = Rewriter()
        allocators: dict[str, RowAllocator] = {}
        for inner in list(op.walk()):
            device = device_of(inner)
            if device is None or isinstance(inner, pim.PIM_MACROS):
                continue
            dev = system.devices.get(device)
            if dev is None:
                raise CompileError(
                    f"op '{nn.op_label(inner)}' is placed on device '{device}', "
                    f"which system '{system.name}' does not have"
                )
            if dev.kind != "pim":
                continue
            rows = allocators.setdefault(device, RowAllocator(dev.pim.rows_per_bank))
            if isinstance(inner, nn.AttentionOp):
                lower_attention(inner, dev, rows, rewriter)
            elif isinstance(inner, nn.KvAppendOp):
                continue  # a write of the step's keys/values into the cache rows: no PIM command to emit
            else:
                lower_op(inner, dev, rows, rewriter)
