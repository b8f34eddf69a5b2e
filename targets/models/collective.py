"""Collectives over an interconnect: latency, bytes on the links and energy, per algorithm and topology.

The latency-bandwidth (alpha-beta) model of collective algorithms (Thakur, Rabenseifner and Gropp,
"Optimization of Collective Communication Operations in MPICH", IJHPCA 2005; Chan et al.,
"Collective communication: theory, practice, and experience", CCPE 2007). A collective over `p`
chips moves `S` bytes: for all-reduce S is the tensor each chip holds (input = output), for
all-gather the gathered output, for reduce-scatter the input before scattering, for all-to-all what
each chip holds before the exchange, for send/recv the tensor sent. alpha = the interconnect's
`latency_ns` per algorithm step, beta = its `bandwidth_gbps` (bytes/ns one chip sends per direction
over all its links); every collective over more than one chip adds the interconnect's
`launch_latency_ns` once (NCCL's tuning model, src/graph/tuning.cc, likewise adds a base latency per
collective to hwLat per step).

- ring (each chip linked to two neighbours, beta split over the two; two rings in opposite
  directions carry half the data each, so a ring algorithm streams at beta):
  all-reduce 2(p-1) alpha + 2 (p-1)/p S / beta (reduce-scatter then all-gather, each p-1 steps);
  all-gather and reduce-scatter (p-1) alpha + (p-1)/p S / beta; all-to-all (p-1) alpha +
  floor(p^2/4) S / (p beta) (each chip's S/p to every other chip along the shorter way round: the
  busiest link carries floor(p^2/4) S / (2p) at beta / 2); send/recv alpha + S / (beta / 2) (one
  link).
- switch (every chip one hop from every other, as NVSwitch): the direct algorithms, each chip
  sending (p-1)/p of its data once per phase through its port (TensorRT-LLM's custom "two-shot"
  all-reduce over NVSwitch: a direct reduce-scatter, then a direct all-gather): all-reduce 2 alpha + 2 (p-1)/p S /
  beta (NCCL's bus bandwidth of all-reduce is its algorithm bandwidth x 2(p-1)/p: the same
  bytes per chip, NCCL tests' PERFORMANCE.md); all-gather, reduce-scatter and all-to-all alpha +
  (p-1)/p S / beta; send/recv alpha + S / beta.
- torus (2-D, `torus_x` x `chips / torus_x`, as TPU v4 slices' ICI; a dimension's ring uses two of
  the chip's four links, beta / 2): dimension by dimension. all-reduce = reduce-scatter along x,
  all-reduce along y of the 1/x shard, all-gather along x: 2(x-1) alpha + 2 (x-1)/x S / (beta/2) +
  2(y-1) alpha + 2 (y-1)/y (S/x) / (beta/2); all-gather along x of S/y pieces then along y (and
  reduce-scatter the reverse, the same time); all-to-all along x then along y as ring all-to-alls
  at beta / 2; send/recv over one link (beta / 4). A group smaller than the torus (a tensor-parallel
  group of a row) is timed as a ring at beta / 2.

A collective runs on the interconnect device, one at a time (the schedule's resource is the
device), and costs no compute device time: the reduction's adds are counted as its FLOPs (p-1)/p per
element, which NCCL runs on a few SMs that pimc does not take from the GPU. Its memory traffic on
the chip (reading and writing the buffers) is not counted. Energy = bytes each chip puts on links,
hop by hop, x 8 x `energy_pj_per_bit`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xdsl.dialects import shard
from xdsl.dialects.builtin import DenseArrayBase, SymbolRefAttr
from xdsl.ir import Operation
from xdsl.traits import SymbolTable

from pimc.dialects import dist
from pimc.errors import CompileError
from pimc.targets.system import InterconnectParams

COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv")


@dataclass(frozen=True)
class CollectiveCost:
    """One collective on one chip: latency (ns), bytes it sends over links counted per hop, energy (pJ)."""

    latency_ns: float
    link_bytes: float
    energy_pj: float


def _ring(kind: str, p: int, s: float, alpha: float, beta: float) -> tuple[float, float]:
    """(ns, byte-hops per chip) of a collective over a ring of p chips streaming at beta (bytes/ns)."""
    if p == 1:
        return 0.0, 0.0
    if kind == "all_reduce":
        data = 2 * (p - 1) / p * s
        return 2 * (p - 1) * alpha + data / beta, data
    if kind in ("all_gather", "reduce_scatter"):
        data = (p - 1) / p * s
        return (p - 1) * alpha + data / beta, data
    if kind == "all_to_all":
        hops = (p * p // 4) * s / p  # every chip's S/p to each other chip along the shorter way
        return (p - 1) * alpha + hops / beta, hops
    assert kind == "send_recv", kind
    return alpha + s / (beta / 2), s


def _switch(kind: str, p: int, s: float, alpha: float, beta: float) -> tuple[float, float]:
    """(ns, bytes per chip) of the direct algorithms through a switch."""
    if p == 1:
        return 0.0, 0.0
    if kind == "all_reduce":
        data = 2 * (p - 1) / p * s
        return 2 * alpha + data / beta, data
    if kind in ("all_gather", "reduce_scatter", "all_to_all"):
        data = (p - 1) / p * s
        return alpha + data / beta, data
    assert kind == "send_recv", kind
    return alpha + s / beta, s


def _torus(kind: str, x: int, y: int, s: float, alpha: float, beta: float) -> tuple[float, float]:
    """(ns, byte-hops per chip) on an x-by-y torus, dimension by dimension, each dimension's ring at beta / 2."""
    half = beta / 2
    if kind == "all_reduce":
        t1, b1 = _ring("reduce_scatter", x, s, alpha, half)
        t2, b2 = _ring("all_reduce", y, s / x, alpha, half)
        t3, b3 = _ring("all_gather", x, s, alpha, half)
        return t1 + t2 + t3, b1 + b2 + b3
    if kind in ("all_gather", "reduce_scatter"):
        t1, b1 = _ring(kind, x, s / y, alpha, half)
        t2, b2 = _ring(kind, y, s, alpha, half)
        return t1 + t2, b1 + b2
    if kind == "all_to_all":
        t1, b1 = _ring(kind, x, s, alpha, half)
        t2, b2 = _ring(kind, y, s, alpha, half)
        return t1 + t2, b1 + b2
    assert kind == "send_recv", kind
    return alpha + s / (beta / 4), s


def collective_cost(kind: str, n_bytes: float, group: int, p: InterconnectParams) -> CollectiveCost:
    """A collective of `kind` moving `n_bytes` (module docstring) among `group` chips of interconnect `p`."""
    if kind not in COLLECTIVES:
        raise ValueError(f"unknown collective {kind!r}")
    if not 1 <= group <= p.chips:
        raise ValueError(f"a group of {group} chips on an interconnect of {p.chips}")
    alpha, beta = p.latency_ns, p.bandwidth_gbps
    if p.topology == "switch":
        t, hops = _switch(kind, group, n_bytes, alpha, beta)
    elif p.topology == "torus" and group == p.chips:
        t, hops = _torus(kind, p.torus_x, p.chips // p.torus_x, n_bytes, alpha, beta)
    elif p.topology == "torus":
        t, hops = _ring(kind, group, n_bytes, alpha, beta / 2)
    else:
        t, hops = _ring(kind, group, n_bytes, alpha, beta)
    if group > 1:
        t += p.launch_latency_ns
    return CollectiveCost(t, hops, hops * 8 * p.energy_pj_per_bit)


def describe_interconnect(p: InterconnectParams) -> str:
    """One line for `pimc systems NAME`: the topology and what an all-reduce of 1 MB over all chips takes."""
    shape = f"{p.torus_x} x {p.chips // p.torus_x} torus" if p.topology == "torus" else p.topology
    one_mb = collective_cost("all_reduce", 1e6, p.chips, p)
    return (
        f"{p.chips} chips, {shape}, {p.bandwidth_gbps:g} GB/s per chip per direction, {p.latency_ns:g} ns per step; "
        f"all-reduce of 1 MB over {p.chips} chips {one_mb.latency_ns / 1e3:.2f} us"
    )


COLLECTIVE_OPS = {
    shard.AllReduceOp.name: "all_reduce",
    dist.AllGatherOp.name: "all_gather",
    dist.ReduceScatterOp.name: "reduce_scatter",
    dist.AllToAllOp.name: "all_to_all",
    shard.SendOp.name: "send_recv",
    shard.RecvOp.name: "send_recv",
}
"""The collective each op name performs (one of COLLECTIVES): xDSL's shard ops and pimc's dist ops."""


def collective_kind(op: Operation) -> str | None:
    """The collective an op performs (one of COLLECTIVES), or None for any other op."""
    return COLLECTIVE_OPS.get(op.name)


def collective_group(op: Operation) -> int:
    """Chips in the group of a collective: the product of its `shard.grid`'s shape (along its grid axes)."""
    ref = op.properties.get("grid")
    grid = SymbolTable.lookup_symbol(op, ref) if isinstance(ref, SymbolRefAttr) else None
    if not isinstance(grid, shard.GridOp):
        raise CompileError(f"{op.name}: its grid {ref} is not a shard.grid of the module")
    shape = grid.shape.get_values()
    axes = op.properties.get("grid_axes")
    chosen = list(axes.get_values()) if isinstance(axes, DenseArrayBase) and axes.get_values() else range(len(shape))
    return math.prod(shape[a] for a in chosen)


def collective_bytes(op: Operation, elem_bytes: int | None) -> int:
    """S of the module docstring for a collective op: the gathered output of an all-gather, else its input."""
    from pimc.targets.models.cost import tensor_bytes

    kind = collective_kind(op)
    value = op.results[0] if kind == "all_gather" else op.operands[0]
    return tensor_bytes(value.type, elem_bytes)
