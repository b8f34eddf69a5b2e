"""The `optimal` partition: the placement (and per-device op order) of least phase latency, with a proof.

Objective: the makespan of the phase under the execution model of
targets/placement/execution.py (op latencies on their devices, transfers between memories,
one op at a time per device, a conflict-shared memory serialising PIM and its
host), then, among placements of that makespan, the least energy (ops + transfers).

The answer is never worse than the best heuristic placement it is given
(`incumbents`: the other strategies' placements): that placement seeds every
segment's solver as a feasible solution, and the final schedule is compared with
it. Nothing depends on the wall clock: the solver runs on one thread with a fixed
seed and a node limit per segment (`NODE_LIMIT`), so the same graph and system give
the same placement on any machine, however loaded. Every solution carries a proven
lower bound on the makespan of any placement and order; `proven` says they meet.

Decomposition:

1. **Dominated devices.** Device a dominates device b for an op when both are on
   one memory, a is no slower and needs no more energy, and a takes no resource
   that b's op would not order already (a takes none, at 0 ns, or both take the
   memory, a conflict-shared one). Moving the op from b to a never lengthens any
   schedule nor adds energy, so b is dropped for that op. On a conflict-shared
   NPU + PIM memory this leaves each op the faster of the two.
2. **Barriers.** A barrier is an op c such that every other op is an ancestor or a
   descendant of c and no edge jumps over it. Nothing can overlap a barrier, so the
   phase latency is the sum over the segments between consecutive barriers of (end
   of the segment's last barrier - end of its first), and each term depends only on
   the placement inside the segment. A dynamic program over the barriers' devices
   combines the segments exactly; in a transformer the barriers are the residual
   adds, so a segment is half a layer (a whole layer with parallel attention and
   MLP), and identical layers are solved once (segments are cached by signature).
3. **Hoisted values.** Rotary tables, masks and position ids are computed once,
   before any matrix product, and read by every layer: their edges jump over every
   residual add. When a segment would exceed `HOIST_AT` ops, the ops that depend on
   no matrix product (FC, attention, matmul) are *hoisted*: barriers are found among
   the other ops (edges from hoisted ops left out), and segments read hoisted values
   as resident inputs, as they read weights. A hoisted op that the head segment's end
   barrier needs is solved there, exactly. The others *float*: they are placed after
   the segments (`_place_floating`), each right before its first reader. The bound
   treats floating ops as free and hoisted values as present in every memory, a
   relaxation; the replay of the whole phase counts their time and their copies (one
   per value and memory), so what they cost shows as a gap.
4. **Pruned dynamic program.** A pair of boundary devices is skipped when even a quick
   lower bound (the critical path, and each resource's work run preemptively in
   Jackson's order) cannot beat the best seed. A barrier device is dropped when
   another delivers every result to every memory strictly earlier (`_dominates`); a
   pair dominated past some end time is solved with that cutoff.

Each segment is a mixed-integer program solved by HiGHS (highspy):
- x[i,d] = 1 when op i runs on device d (one per op, among its undominated devices);
- s[i] >= 0 its start, p[i] = sum_d latency[i,d] x[i,d] its duration;
- every edge u -> v: s[v] >= s[u] + p[u], and for every pair of memories (a, b)
  s[v] >= s[u] + p[u] + t_ab (X[u,a] + X[v,b] - 1), t_ab the transfer time of
  the value from a to b (X[i,m] = sum of x[i,d] over devices on memory m);
  no link between a and b: X[u,a] + X[v,b] <= 1;
- every pair of ops not ordered by the DAG that may share a resource (a device, or
  a conflict-shared memory) gets an order variable o and big-M disjunctions
  s[v] >= s[u] + p[u] - M(1 - o) - M(2 - R[u,r] - R[v,r]), and the converse with o;
  M is the makespan of the seeding placement, which no op of a better schedule
  ends after;
- valid cuts that make the LP bound tight: each op starts no earlier than its
  per-device earliest start; the makespan is at least each op's start plus its
  least remaining time, at least each resource's earliest start plus its total work
  plus its least remaining time, and at least the quick bound;
- minimise the end of the segment's last barrier (or the latest end when the
  segment closes the phase); then, for the segments on a path of least makespan,
  the energy with that makespan fixed.
Devices whose earliest start, latency and least remaining time exceed the seed's
makespan are fixed out first. The start times order each device's ops; list
scheduling in that order (targets/placement/execution.py) gives the makespan reported (a
semi-active schedule finishes no later than any schedule with the same
per-resource orders).

A segment with more than `MAX_MIP_OPS` ops that have a choice, or more than `MAX_ORDER_OPS` ops in all
(a mixture-of-experts layer of many parallel experts), is not given to the solver: it keeps the seeding
placement and order, bounded below by its quick bound.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import math
import os
import sys
from collections.abc import Generator, Sequence
from dataclasses import dataclass

import highspy
import numpy as np
import numpy.typing as npt

from pimc.errors import CompileError
from pimc.targets.placement.execution import PhaseGraph, resources, schedule_energy_pj, schedule_phase, transfer_ns
from pimc.targets.system import System

NODE_LIMIT = 1_000
"""Branch-and-bound nodes per segment MIP: a deterministic work limit (there is no time limit). A segment
that reaches it keeps the best placement found, and its proven bound enters the phase's bound."""

MAX_MIP_OPS = 120
"""Ops with a choice of device beyond which a segment keeps its seeding placement instead of a MIP."""

MAX_ORDER_OPS = 160
"""Ops beyond which a segment keeps its seeding placement and order instead of a MIP, whatever their choices:
the disjunctive order variables grow with the square of the ops that may share a resource (a mixture-of-experts
layer's parallel experts), and HiGHS's node limit bounds the nodes, not the time one takes."""

HOIST_AT = 64
"""Ops in a segment beyond which values produced before the first matrix product are hoisted (module
docstring); below it the plain barriers stand and nothing floats."""

MATRIX_ROLES = ("fc", "matrix", "attention")
"""PhaseGraph roles of matrix products: ops that depend on none of them are hoisted."""

_REL_TOL = 1e-9
_ABS_TOL = 1e-6


@dataclass
class Solution:
    placement: list[str]
    order: list[int]
    makespan_ns: float
    """The schedule's makespan of `placement` in `order` (targets/placement/execution.py)."""
    solver_ns: float
    """The same as the segment solutions add up to (equal up to the solver's tolerances when proven)."""
    energy_pj: float
    proven: bool
    """Whether `makespan_ns` is proven least: it equals `bound_ns` within the solver's tolerance."""
    segments: int
    solved: int  # distinct segments solved (the rest reused a cached solution)
    bound_ns: float = 0.0
    """A proven lower bound on the makespan of any placement and order."""
    source: str = "optimal"
    """"optimal" when the segment solutions were kept, else the heuristic placement that was better."""


# -- the solver --------------------------------------------------------------------


@contextlib.contextmanager
def _stdout_silenced() -> Generator[None, None, None]:
    """The process's stdout (file descriptor 1, which HiGHS's C++ code writes to) pointed at /dev/null."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            try:
                yield
            finally:
                os.dup2(saved, 1)
    finally:
        os.close(saved)


def new_highs() -> highspy.Highs:
    """A HiGHS instance that prints nothing (highspy 1.16 prints its banner on stdout when constructed,
    before any option can be set), runs on one thread with a fixed seed and has no time limit."""
    with _stdout_silenced():
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", _ABS_TOL)
    h.setOptionValue("mip_max_nodes", NODE_LIMIT)
    # every MIP is seeded with a feasible schedule: of HiGHS's primal heuristics only RINS (which searches
    # around that incumbent) pays for its time on these models
    for heuristic in ("root_reduced_cost", "zi_round", "shifting", "rens", "feasibility_jump"):
        h.setOptionValue(f"mip_heuristic_run_{heuristic}", False)
    return h


class _Mip:
    """A MIP assembled as arrays (columns, then rows in CSR form) and handed to HiGHS in one call."""

    def __init__(self) -> None:
        self.lower: list[float] = []
        self.upper: list[float] = []
        self.integer: list[int] = []
        self.row_lower: list[float] = []
        self.row_upper: list[float] = []
        self.starts: list[int] = []
        self.index: list[int] = []
        self.value: list[float] = []

    def var(self, lower: float, upper: float, integer: bool = False) -> int:
        self.lower.append(lower)
        self.upper.append(upper)
        if integer:
            self.integer.append(len(self.lower) - 1)
        return len(self.lower) - 1

    def row(self, terms: dict[int, float], lower: float = -math.inf, upper: float = math.inf) -> None:
        self.starts.append(len(self.index))
        for j, a in terms.items():
            if a != 0.0:
                self.index.append(j)
                self.value.append(a)
        self.row_lower.append(lower)
        self.row_upper.append(upper)

    def highs(self) -> highspy.Highs:
        h = new_highs()
        n = len(self.lower)
        h.addVars(n, np.array(self.lower, dtype=np.float64), np.array(self.upper, dtype=np.float64))
        if self.integer:
            h.changeColsIntegrality(
                len(self.integer), np.array(self.integer, dtype=np.int32), np.full(len(self.integer), 1, dtype=np.uint8)
            )
        h.addRows(
            len(self.row_lower),
            np.array(self.row_lower, dtype=np.float64),
            np.array(self.row_upper, dtype=np.float64),
            len(self.index),
            np.array(self.starts, dtype=np.int32),
            np.array(self.index, dtype=np.int32),
            np.array(self.value, dtype=np.float64),
        )
        return h


def _add(terms: dict[int, float], j: int, a: float) -> None:
    terms[j] = terms.get(j, 0.0) + a


# -- structure ---------------------------------------------------------------------


def _device_dominates(a: str, b: str, lat: dict[str, float], energy: dict[str, float], system: System) -> bool:
    """Whether, for an op of these latencies and energies, device a dominates device b (module docstring)."""
    if (
        system.devices[a].memory != system.devices[b].memory
        or lat[a] > lat[b]
        or energy.get(a, 0.0) > energy.get(b, 0.0)
    ):
        return False
    res_a, res_b = resources(system, a), resources(system, b)
    if not (lat[a] == 0.0 or (len(res_a) > 1 and res_a[1] in res_b)):  # a may take a resource b leaves free
        return False
    if lat[a] < lat[b] or energy.get(a, 0.0) < energy.get(b, 0.0):
        return True
    devices = list(system.devices)
    return devices.index(a) < devices.index(b)  # equal: keep the first


def device_choices(graph: PhaseGraph, system: System) -> list[list[str]]:
    """Per op, the devices that can run it and are not dominated (module docstring), in system order."""
    out: list[list[str]] = []
    for lat, energy in zip(graph.latency, graph.energy, strict=True):
        able = [d for d in system.devices if d in lat]
        out.append([b for b in able if not any(_device_dominates(a, b, lat, energy, system) for a in able if a != b)])
    return out


def hoisted(graph: PhaseGraph) -> list[bool]:
    """Per op, whether it depends on no matrix product (module docstring); none without roles."""
    n = len(graph)
    if not graph.roles:
        return [False] * n
    dep = [False] * n
    for v in range(n):
        dep[v] = graph.roles[v] in MATRIX_ROLES or any(dep[u] for u in graph.preds(v))
    return [not d for d in dep]


def barriers(graph: PhaseGraph, skip: Sequence[bool] | None = None) -> list[int]:
    """Ops nothing can overlap (module docstring), in program order (which is topological). Ops marked in
    `skip` (hoisted) and their edges are left out."""
    keep = [v for v in range(len(graph)) if not (skip and skip[v])]
    n = len(keep)
    if n == 0:
        return []
    pos = {v: p for p, v in enumerate(keep)}
    cover = [0] * (n + 1)
    has_succ = [False] * n
    last_source = 0
    for p, v in enumerate(keep):
        ps = [pos[u] for u in graph.preds(v) if u in pos]
        if not ps:
            last_source = p
        for q in ps:
            has_succ[q] = True
            if p - q > 1:  # positions q+1 .. p-1 are jumped over
                cover[q + 1] += 1
                cover[p] -= 1
    first_sink = next((q for q in range(n) if not has_succ[q]), n - 1)
    out: list[int] = []
    running = 0
    for q in range(n):
        running += cover[q]
        if last_source <= q <= first_sink and running == 0:
            out.append(keep[q])
    return out


@dataclass(frozen=True)
class _Segment:
    ops: tuple[int, ...]
    """Graph indices in a topological order; the start barrier first, the end barrier last."""
    has_start: bool
    has_end: bool


def _segments(graph: PhaseGraph, hoist: list[bool]) -> tuple[list[_Segment], list[int]]:
    """The phase cut at its barriers, and the hoisted ops that float (module docstring).

    A hoisted op joins the head segment when its first reader is there and it is an ancestor of the head's
    end barrier (or the head closes the phase): there it is solved exactly. Every other hoisted op floats:
    the segments read its value as resident input, and it is placed after them."""
    n = len(graph)
    cuts = barriers(graph, hoist)
    seg_of = [-1] * n
    bounds: list[tuple[int | None, int | None]] = []  # (start barrier, end barrier)
    prev: int | None = None
    for c in cuts:
        bounds.append((prev, c))
        prev = c
    if prev is None or prev < max((v for v in range(n) if not hoist[v]), default=-1):
        bounds.append((prev, None))
    # non-hoisted ops: the segment whose range holds them (a barrier belongs to the segment it ends)
    k = 0
    for v in range(n):
        if hoist[v]:
            continue
        while (end := bounds[k][1]) is not None and v > end:
            k += 1
        seg_of[v] = k
    consumers: list[list[int]] = [[] for _ in range(n)]
    for v in range(n):
        for u in graph.preds(v):
            consumers[u].append(v)
    head_end = bounds[0][1]
    ancestors: set[int] = set()
    stack = [head_end] if head_end is not None else []
    while stack:
        for u in graph.preds(stack.pop()):
            if u not in ancestors:
                ancestors.add(u)
                stack.append(u)
    floating: list[int] = []
    for v in reversed(range(n)):
        if hoist[v]:
            readers = [seg_of[w] for w in consumers[v] if seg_of[w] >= 0]
            if readers and min(readers) == 0 and (head_end is None or v in ancestors):
                seg_of[v] = 0
            else:
                floating.append(v)
    members: list[list[int]] = [[] for _ in bounds]
    for v in range(n):
        if seg_of[v] >= 0:
            members[seg_of[v]].append(v)
    out: list[_Segment] = []
    for k, (start, end) in enumerate(bounds):
        middle = [v for v in members[k] if v != start and v != end]
        ops = ([start] if start is not None else []) + middle + ([end] if end is not None else [])
        if ops:  # (every op of a phase without barriers may float)
            out.append(_Segment(tuple(ops), start is not None, end is not None))
    return out, sorted(floating)


def _subgraph(graph: PhaseGraph, ops: Sequence[int], has_start: bool) -> PhaseGraph:
    """The segment as a graph of its own (local indices): the start barrier's inputs, and inputs from
    outside the segment (hoisted values, resident), are dropped."""
    local = {g: k for k, g in enumerate(ops)}
    return PhaseGraph(
        phase=graph.phase,
        names=[graph.names[g] for g in ops],
        latency=[graph.latency[g] for g in ops],
        energy=[graph.energy[g] for g in ops],
        operands=[
            [] if k == 0 and has_start else [(local[u], r) for u, r in graph.operands[g] if u in local]
            for k, g in enumerate(ops)
        ],
        values={(local[g], r): graph.values[(g, r)] for g in ops for r in range(graph.results(g))},
    )


def _signature(
    sub: PhaseGraph, fixed: list[str | None], choices: list[list[str]], has_start: bool, has_end: bool
) -> _Signature:
    """What a segment's solution depends on: costs, local edges, result sizes, device choices and fixed
    devices (a fixed start barrier contributes only its device and result sizes; its cost belongs to the
    segment before)."""
    sig: list[tuple[object, ...]] = [(has_start, has_end)]
    for k in range(len(sub)):
        results = tuple(sub.values[(k, r)] for r in range(sub.results(k)))
        if k == 0 and has_start:
            sig.append((fixed[k], results))
            continue
        sig.append(
            (
                tuple(sorted(sub.latency[k].items())),
                tuple(sorted(sub.energy[k].items())),
                tuple(sub.operands[k]),
                results,
                fixed[k],
                tuple(choices[k]),
            )
        )
    return tuple(sig)


def _min_transfer(system: System, n_bytes: int, a: list[str], b: list[str]) -> float:
    """The least copy time of a value from any memory in `a` to any in `b` (0 when they share one)."""
    if set(a) & set(b):
        return 0.0
    return min(transfer_ns(system, n_bytes, x, y) for x in a for y in b)


_Signature = tuple[tuple[object, ...], ...]
"""What a segment's solution depends on (`_signature`): problems with equal signatures are one problem."""
_Seed = tuple[list[str], list[float], float]
"""A feasible solution to start the MIP from: (placement, starts, makespan)."""
_Highs = tuple[highspy.Highs, int, list[dict[str, int]], list[int], dict[int, float], npt.NDArray[np.int32]]
"""A built segment MIP kept for the energy re-solve: (solver, end column, x columns, start columns,
energy objective, all columns)."""


class _SegmentProblem:
    """One segment with its boundary devices fixed: bounds, the makespan MIP, then the energy MIP.

    Times are from the start of the segment's first op; `offset` (the start barrier's own latency, which
    belongs to the segment before) is subtracted from every figure handed out."""

    def __init__(
        self,
        sub: PhaseGraph,
        fixed: list[str | None],
        choices: list[list[str]],
        has_start: bool,
        has_end: bool,
        system: System,
    ) -> None:
        self.sub, self.system = sub, system
        self.has_start, self.has_end = has_start, has_end
        k = len(sub)
        self.allowed: list[list[str]] = [[f] if (f := fixed[i]) is not None else list(choices[i]) for i in range(k)]
        self.feasible = all(a and a[0] in sub.latency[i] for i, a in enumerate(self.allowed))
        self.offset = sub.latency[0][self.allowed[0][0]] if has_start and self.feasible else 0.0
        self.edges = [(u, v, sub.values[(u, r)]) for v, ins in enumerate(sub.operands) for u, r in ins]
        self.mip_result: _SegmentResult | None = None
        self._highs: _Highs | None = None
        self._seed_for_energy: tuple[float, _Seed] | None = None
        self._bounded = False
        self.beaten_above: float | None = None
        """No schedule of the segment takes at most this (set by `solve` with a cutoff)."""
        self.solved = False
        self.result: _SegmentResult | None = None
        if not self.feasible:
            return
        mem = {d: system.devices[d].memory for d in system.devices}
        self.min_lat = [min(sub.latency[i][d] for d in self.allowed[i]) for i in range(k)]
        mems = [sorted({mem[d] for d in a}) for a in self.allowed]
        delay = {(u, v): _min_transfer(system, n, mems[u], mems[v]) for u, v, n in self.edges}
        self.head = [0.0] * k  # earliest start: the longest path of least latencies and copies
        for v in range(k):
            for u, _ in sub.operands[v]:
                self.head[v] = max(self.head[v], self.head[u] + self.min_lat[u] + delay[(u, v)])
        self.tail = [0.0] * k  # least time from an op's end to the segment's end along its successors
        succ: list[list[int]] = [[] for _ in range(k)]
        for u, v, _ in self.edges:
            succ[u].append(v)
        for u in reversed(range(k)):
            for v in succ[u]:
                self.tail[u] = max(self.tail[u], delay[(u, v)] + self.min_lat[v] + self.tail[v])
        self.lower = max(self.head[i] + self.min_lat[i] + self.tail[i] for i in range(k))

    def quick_bound(self) -> float:
        """A lower bound on the segment's makespan without solving: the critical path with each op on its best
        device, and each resource's ops run preemptively (`_fix_by_bounds`)."""
        if not self.feasible:
            return math.inf
        if not self._bounded:
            self._fix_by_bounds(math.inf, [a[0] for a in self.allowed])
            self._bounded = True
        return self.lower - self.offset

    def solve(self, proposals: list[list[str]], cutoff: float | None = None) -> _SegmentResult | None:
        """The least makespan (energy: that of the placement found); None when no placement is feasible, or
        when none is at most `cutoff` (then `beaten_above` is set to it: the caller has a better choice)."""
        if not self.feasible:
            return None
        sub, system = self.sub, self.system
        seed = _seed(sub, self.allowed, system, proposals)
        if seed is None:
            return self._solve_unseeded()
        placement, upper, starts = seed
        big_m = upper * (1 + _REL_TOL) + _ABS_TOL  # no op of a schedule as good as the seed's ends later
        self._fix_by_bounds(big_m, placement)
        if len(sub) > MAX_ORDER_OPS:
            return self._result(upper, min(self.lower, upper), placement, starts, exact_energy=False)
        if cutoff is not None and upper - self.offset > cutoff:
            if self.lower - self.offset > cutoff:
                self.beaten_above = cutoff
                return None
            result = self._mip(big_m, None, cutoff=cutoff + self.offset)
            if result is None:
                self.beaten_above = cutoff
            return result
        free = sum(1 for a in self.allowed if len(a) > 1)
        if free > MAX_MIP_OPS:
            return self._result(upper, min(self.lower, upper), placement, starts, exact_energy=False)
        if self.lower >= upper * (1 - _REL_TOL) - _ABS_TOL:  # the seed's makespan is proven least
            result = self._result(upper, upper, placement, starts, exact_energy=free == 0)
            self.mip_result = result
            self._seed_for_energy = (big_m, (placement, starts, upper))
            return result
        return self._mip(big_m, (placement, starts, upper))

    def _fix_by_bounds(self, big_m: float, keep: list[str]) -> None:
        """Drop device d of op i when even the earliest start of i on d plus its latency and the least time
        after it exceeds `big_m` (no schedule that good places i on d), until nothing changes; then set the
        per-device earliest starts (`head_on`) and least remaining times (`tail_on`) the MIP's cuts use."""
        sub, system = self.sub, self.system
        k = len(sub)
        mem = {d: system.devices[d].memory for d in system.devices}
        succ: list[list[tuple[int, int]]] = [[] for _ in range(k)]
        for u, v, n_bytes in self.edges:
            succ[u].append((v, n_bytes))
        while True:
            head = [{d: 0.0 for d in a} for a in self.allowed]
            for v in range(k):
                for u, r in sub.operands[v]:
                    n_bytes = sub.values[(u, r)]
                    for d in self.allowed[v]:
                        arrive = min(
                            head[u][e] + sub.latency[u][e] + _min_transfer(system, n_bytes, [mem[e]], [mem[d]])
                            for e in self.allowed[u]
                        )
                        head[v][d] = max(head[v][d], arrive)
            tail = [{d: 0.0 for d in a} for a in self.allowed]
            for u in reversed(range(k)):
                for v, n_bytes in succ[u]:
                    for d in self.allowed[u]:
                        rest = min(
                            _min_transfer(system, n_bytes, [mem[d]], [mem[e]]) + sub.latency[v][e] + tail[v][e]
                            for e in self.allowed[v]
                        )
                        tail[u][d] = max(tail[u][d], rest)
            pruned = [
                [d for d in a if head[i][d] + sub.latency[i][d] + tail[i][d] <= big_m or d == keep[i]]
                for i, a in enumerate(self.allowed)
            ]
            if pruned == self.allowed:
                break
            self.allowed = pruned
        self.head_on, self.tail_on = head, tail
        self.min_lat = [min(sub.latency[i][d] for d in self.allowed[i]) for i in range(k)]
        self.head = [min(head[i].values()) for i in range(k)]
        self.tail = [min(tail[i][d] + sub.latency[i][d] for d in self.allowed[i]) - self.min_lat[i] for i in range(k)]
        self.lower = max(
            self.lower, max(min(head[i][d] + sub.latency[i][d] + tail[i][d] for d in self.allowed[i]) for i in range(k))
        )
        # one resource at a time: the ops every allowed device of which takes it, preemptively (Jackson)
        jobs: dict[str, list[tuple[float, float, float]]] = {}
        for i in range(k):
            taken: set[str] | None = None
            for d in self.allowed[i]:
                r_d = set(resources(system, d)) if sub.latency[i][d] > 0 else set[str]()
                taken = r_d if taken is None else taken & r_d
            for r in sorted(taken or ()):
                jobs.setdefault(r, []).append(
                    (
                        min(head[i][d] for d in self.allowed[i]),
                        min(sub.latency[i][d] for d in self.allowed[i]),
                        min(tail[i][d] for d in self.allowed[i]),
                    )
                )
        for r_jobs in jobs.values():
            self.lower = max(self.lower, _jackson_bound(r_jobs))

    def _solve_unseeded(self) -> _SegmentResult | None:
        """No proposal can run the segment (each needs a missing link): the MIP alone decides feasibility."""
        sub, system = self.sub, self.system
        memories = list(system.memories)
        big_m = sum(max(sub.latency[i][d] for d in a) for i, a in enumerate(self.allowed))
        for _, _, n_bytes in self.edges:
            big_m += max(
                [0.0]
                + [
                    t
                    for a in memories
                    for b in memories
                    if a != b
                    if math.isfinite(t := transfer_ns(system, n_bytes, a, b))
                ]
            )
        return self._mip(big_m * 1.01 + 1.0, None)

    def _result(
        self, makespan: float, bound: float, placement: list[str], starts: list[float], exact_energy: bool
    ) -> _SegmentResult:
        sched = schedule_phase(self.sub, placement, self.system)
        energy = schedule_energy_pj(self.sub, placement, sched, self.system)
        if self.has_start:
            energy -= self.sub.energy[0].get(placement[0], 0.0)
        return _SegmentResult(makespan - self.offset, bound - self.offset, energy, placement, starts, exact_energy)

    def _mip(
        self, big_m: float, seed: _Seed | None, build_only: bool = False, cutoff: float | None = None
    ) -> _SegmentResult | None:
        """Build the segment MIP (module docstring), seeded with (placement, starts, makespan), and minimise
        the makespan (`build_only`: keep the model for `refine_energy`, whose makespan is already proven;
        `cutoff`: only schedules ending by then, None when there is none)."""
        sub, system, allowed, edges = self.sub, self.system, self.allowed, self.edges
        k = len(sub)
        head, tail, min_lat = self.head, self.tail, self.min_lat
        mem_of = {d: system.devices[d].memory for d in system.devices}
        memories = list(system.memories)
        m = _Mip()
        x = [{d: m.var(0.0, 1.0, integer=True) for d in allowed[i]} for i in range(k)]
        for i in range(k):
            m.row({x[i][d]: 1.0 for d in allowed[i]}, 1.0, 1.0)
        s = [m.var(head[i], max(head[i], big_m - min_lat[i] - tail[i])) for i in range(k)]
        if self.has_start:
            m.upper[s[0]] = 0.0
        end = m.var(min(self.lower, big_m), big_m if cutoff is None else min(big_m, cutoff))  # bounds as cuts

        def dur(i: int, terms: dict[int, float], sign: float = 1.0) -> None:
            for d in allowed[i]:
                _add(terms, x[i][d], sign * sub.latency[i][d])

        def in_mem(i: int, mem: str) -> list[int]:
            return [x[i][d] for d in allowed[i] if mem_of[d] == mem]

        head_on = getattr(self, "head_on", None)
        tail_on = getattr(self, "tail_on", None)
        for i in range(k):  # end >= s_i + p_i + tail_i, and with the per-device bounds
            terms = {end: 1.0, s[i]: -1.0}
            if tail_on is not None and len(allowed[i]) > 1:
                for d in allowed[i]:
                    _add(terms, x[i][d], -(sub.latency[i][d] + tail_on[i][d]))
                m.row(terms, 0.0)
            else:
                dur(i, terms, -1.0)
                m.row(terms, tail[i])
            if head_on is not None and len(allowed[i]) > 1:  # s_i >= the earliest start on its device
                m.row({s[i]: 1.0, **{x[i][d]: -head_on[i][d] for d in allowed[i]}}, 0.0)
        if self.has_end:  # the objective is the end of the end barrier
            terms = {end: 1.0, s[k - 1]: -1.0}
            dur(k - 1, terms, -1.0)
            m.row(terms, 0.0, 0.0)
        energy: dict[int, float] = {}
        for i in range(k):
            if i == 0 and self.has_start:
                continue
            for d in allowed[i]:
                _add(energy, x[i][d], sub.energy[i].get(d, 0.0))
        transfer: dict[tuple[int, str, str], int] = {}
        for u, v, n_bytes in edges:
            terms = {s[v]: 1.0, s[u]: -1.0}
            dur(u, terms, -1.0)
            m.row(terms, 0.0)
            for a in memories:
                xa = in_mem(u, a)
                if not xa:
                    continue
                for b in memories:
                    xb = in_mem(v, b)
                    if a == b or not xb:
                        continue
                    t = transfer_ns(system, n_bytes, a, b)
                    if not math.isfinite(t):
                        m.row({j: 1.0 for j in xa + xb}, upper=1.0)
                        continue
                    terms = {s[v]: 1.0, s[u]: -1.0}  # s_v - s_u - p_u - t (X_ua + X_vb) >= -t
                    dur(u, terms, -1.0)
                    for j in xa + xb:
                        _add(terms, j, -t)
                    m.row(terms, -t)
                    key = (u, a, b)
                    if key not in transfer:  # one copy per (value, destination memory)
                        transfer[key] = m.var(0.0, 1.0)
                        _add(energy, transfer[key], system.link_between(a, b).energy_pj(n_bytes))
                    m.row({transfer[key]: 1.0, **{j: -1.0 for j in xa + xb}}, -1.0)
        usage: list[dict[str, list[int]]] = []
        load: dict[str, dict[int, float]] = {}
        for i in range(k):
            use: dict[str, list[int]] = {}
            for d in allowed[i]:
                if sub.latency[i][d] > 0:
                    for r in resources(system, d):
                        use.setdefault(r, []).append(x[i][d])
                        _add(load.setdefault(r, {}), x[i][d], sub.latency[i][d])
            usage.append(use)
        used_vars: list[tuple[int, list[int]]] = []
        for r, terms in load.items():
            # end >= the earliest start of any op that may take r + r's total work + the least time any of
            # them still needs after it ends
            takers = [
                (i, d) for i in range(k) for d in allowed[i] if sub.latency[i][d] > 0 and r in resources(system, d)
            ]
            first = min(head_on[i][d] if head_on is not None else head[i] for i, d in takers)
            last = min(tail_on[i][d] if tail_on is not None else tail[i] for i, d in takers)
            if first + last <= 0.0:
                m.row({end: 1.0, **{j: -a for j, a in terms.items()}}, 0.0)
                continue
            used = m.var(0.0, 1.0)  # >= every x of an op on r: 1 once any op takes r
            used_vars.append((used, list(terms)))
            for j in terms:
                m.row({used: 1.0, j: -1.0}, 0.0)
            m.row({end: 1.0, **{j: -a for j, a in terms.items()}, used: -(first + last)}, 0.0)
        reach = [1 << i for i in range(k)]
        succ: list[list[int]] = [[] for _ in range(k)]
        for u, v, _ in edges:
            succ[u].append(v)
        for i in reversed(range(k)):
            for v in succ[i]:
                reach[i] |= reach[v]
        order_vars: list[tuple[int, int, int]] = []
        for u in range(k):
            for v in range(u + 1, k):
                if reach[u] >> v & 1 or reach[v] >> u & 1:
                    continue
                shared = [r for r in usage[u] if r in usage[v]]
                if not shared:
                    continue
                o = m.var(0.0, 1.0, integer=True)
                order_vars.append((u, v, o))
                for r in shared:
                    both = usage[u][r] + usage[v][r]
                    always = len(usage[u][r]) == len(allowed[u]) and len(usage[v][r]) == len(allowed[v])
                    for first, second, sign in ((u, v, -1.0), (v, u, 1.0)):
                        # o = 1: v after u; o = 0: u after v; inactive unless both take r
                        terms = {s[second]: 1.0, s[first]: -1.0}
                        dur(first, terms, -1.0)
                        _add(terms, o, sign * big_m)
                        rhs = -big_m if sign < 0 else 0.0
                        if not always:
                            for j in both:
                                _add(terms, j, -big_m)
                            rhs -= 2 * big_m
                        m.row(terms, rhs)
        h = m.highs()
        n_cols = len(m.lower)
        columns = np.arange(n_cols, dtype=np.int32)
        if seed is not None:
            placement, starts, makespan = seed
            col = np.zeros(n_cols)
            for i in range(k):
                col[x[i][placement[i]]] = 1.0
                col[s[i]] = min(max(starts[i], m.lower[s[i]]), m.upper[s[i]])
            col[end] = makespan
            for u, v, o in order_vars:
                col[o] = 1.0 if (starts[u], u) <= (starts[v], v) else 0.0
            for (u, a, b), j in transfer.items():
                col[j] = (
                    1.0
                    if mem_of[placement[u]] == a and any(mem_of[placement[w]] == b for uu, w, _ in edges if uu == u)
                    else 0.0
                )
            for used, xs in used_vars:
                col[used] = max(col[j] for j in xs)
            h.setSolution(n_cols, columns, col)
        if build_only:
            self._highs = (h, end, x, s, energy, columns)
            return None
        cost = np.zeros(n_cols)
        cost[end] = 1.0
        h.changeColsCost(n_cols, columns, cost)
        h.run()
        status = h.getModelStatus()
        info = h.getInfo()
        if status == highspy.HighsModelStatus.kInfeasible or info.primal_solution_status != 2:
            if seed is None:  # no schedule (within the cutoff)
                return None
            # the solver kept none (the seed is feasible, so this is a numerical corner): the seed stands
            placement, starts, makespan = seed
            return self._result(makespan, min(self.lower, makespan), placement, starts, exact_energy=False)
        best = info.objective_function_value
        bound = best if status == highspy.HighsModelStatus.kOptimal else info.mip_dual_bound
        bound = max(min(bound, best), self.lower) if math.isfinite(bound) else self.lower
        if cutoff is not None:  # schedules past the cutoff were not searched: none is shorter than it
            bound = min(bound, cutoff)
        values = h.getSolution().col_value
        placement = [max(allowed[i], key=lambda d: values[x[i][d]]) for i in range(k)]
        starts = [values[s[i]] for i in range(k)]
        self._highs = (h, end, x, s, energy, columns)
        result = self._result(best, bound, placement, starts, exact_energy=False)
        self.mip_result = result
        return result

    def refine_energy(self) -> None:
        """Among schedules of the solved makespan, the least energy (ops + copies): re-solve the MIP with the
        makespan fixed and energy as the objective."""
        if self.mip_result is None or self.mip_result.exact_energy:
            return
        if self._highs is None:  # the makespan was proven without the MIP: build it for the energy alone
            assert self._seed_for_energy is not None
            big_m, seed = self._seed_for_energy
            self._mip(big_m, seed, build_only=True)
        assert self._highs is not None
        h, end, x, s, energy, columns = self._highs
        result = self.mip_result
        best = result.makespan_ns + self.offset
        h.changeColBounds(end, 0.0, best + max(_REL_TOL * best, _ABS_TOL))
        cost = np.zeros(len(columns))
        for j, a in energy.items():
            cost[j] = a
        h.changeColsCost(len(columns), columns, cost)
        h.run()
        if h.getInfo().primal_solution_status == 2:
            values = h.getSolution().col_value
            placement = [max(self.allowed[i], key=lambda d: values[x[i][d]]) for i in range(len(self.sub))]
            starts = [values[s[i]] for i in range(len(self.sub))]
            refined = self._result(best, result.bound_ns + self.offset, placement, starts, exact_energy=True)
            if refined.energy_pj <= result.energy_pj:
                result.energy_pj, result.placement, result.starts = refined.energy_pj, placement, starts
        result.exact_energy = True
        self._highs = None


@dataclass
class _SegmentResult:
    makespan_ns: float  # from the end of the start barrier to the end of the segment
    bound_ns: float  # proven lower bound on the same
    energy_pj: float
    placement: list[str]
    starts: list[float]
    exact_energy: bool = False


def _jackson_bound(jobs: list[tuple[float, float, float]]) -> float:
    """The least makespan of jobs (release, duration, tail) on one machine when a job may be interrupted:
    Jackson's preemptive schedule (always run the released job of longest tail), a lower bound on any
    schedule without interruption (Carlier, EJOR 1982)."""
    jobs = sorted(jobs)
    heap: list[tuple[float, int, float]] = []
    t, i, out = 0.0, 0, 0.0
    while i < len(jobs) or heap:
        if not heap:
            t = max(t, jobs[i][0])
        while i < len(jobs) and jobs[i][0] <= t:
            heapq.heappush(heap, (-jobs[i][2], i, jobs[i][1]))
            i += 1
        neg_tail, j, remaining = heapq.heappop(heap)
        run = min(remaining, (jobs[i][0] - t) if i < len(jobs) else remaining)
        t += run
        if remaining - run > 1e-12:
            heapq.heappush(heap, (neg_tail, j, remaining - run))
        else:
            out = max(out, t - neg_tail)
    return out


def _tail_first_order(sub: PhaseGraph, placement: list[str], system: System) -> list[int]:
    """A topological order that starts, among the ready ops, the one with the longest path (latencies and
    copies under `placement`) to the segment's end: Jackson's rule, a good order for one busy device."""
    k = len(sub)
    mem = [system.devices[d].memory for d in placement]
    succ: list[list[tuple[int, int]]] = [[] for _ in range(k)]
    indegree = [0] * k
    for v in range(k):
        for u, r in sub.operands[v]:
            succ[u].append((v, sub.values[(u, r)]))
            indegree[v] += 1
    rest = [0.0] * k
    for u in reversed(range(k)):
        for v, n_bytes in succ[u]:
            copy = 0.0 if mem[u] == mem[v] else transfer_ns(system, n_bytes, mem[u], mem[v])
            rest[u] = max(rest[u], copy + sub.latency[v][placement[v]] + rest[v])
    heap = [(-(sub.latency[v][placement[v]] + rest[v]), v) for v in range(k) if indegree[v] == 0]
    heapq.heapify(heap)
    order: list[int] = []
    while heap:
        _, u = heapq.heappop(heap)
        order.append(u)
        for v, _ in succ[u]:
            indegree[v] -= 1
            if indegree[v] == 0:
                heapq.heappush(heap, (-(sub.latency[v][placement[v]] + rest[v]), v))
    return order


def _seed(
    sub: PhaseGraph, allowed: list[list[str]], system: System, proposals: list[list[str]]
) -> tuple[list[str], float, list[float]] | None:
    """The best feasible placement of the segment among `proposals` (mapped onto each op's allowed devices:
    a dominated device becomes its dominator on the same memory) and each op on its fastest allowed device:
    (placement, makespan, starts)."""
    mem = {d: system.devices[d].memory for d in system.devices}
    candidates: list[list[str]] = []
    fastest = [min(a, key=lambda d, i=i: (sub.latency[i][d], sub.energy[i].get(d, 0.0))) for i, a in enumerate(allowed)]
    for prop in [*proposals, fastest]:
        placement: list[str] = []
        for i, d in enumerate(prop):
            if d not in allowed[i]:
                same = [c for c in allowed[i] if mem[c] == mem.get(d)] or allowed[i]
                d = min(same, key=lambda c, i=i: (sub.latency[i][c], sub.energy[i].get(c, 0.0)))
            placement.append(d)
        if placement not in candidates:
            candidates.append(placement)
    best = None
    for placement in candidates:
        for order in (None, _tail_first_order(sub, placement, system)):
            sched = schedule_phase(sub, placement, system, order)
            if not math.isfinite(sched.makespan_ns):
                break
            energy = schedule_energy_pj(sub, placement, sched, system)
            if best is None or _better((sched.makespan_ns, energy), (best[1], best[3])):
                starts = [0.0] * len(sub)
                for e in sched.events:
                    if e.kind == "op":
                        starts[e.index] = e.start_ns
                best = (placement, sched.makespan_ns, starts, energy)
    return None if best is None else best[:3]


# -- the phase -----------------------------------------------------------------------


def _suffix_bounds(graph: PhaseGraph, choices: list[list[str]], system: System) -> list[float]:
    """Per op, a lower bound on the phase time after it ends: its longest path of least latencies and
    copies to the end of the phase."""
    n = len(graph)
    mem = {d: system.devices[d].memory for d in system.devices}
    mems = [sorted({mem[d] for d in c}) for c in choices]
    min_lat = [min(graph.latency[i][d] for d in choices[i]) for i in range(n)]
    out = [0.0] * n
    for v in reversed(range(n)):
        for u, r in graph.operands[v]:
            delay = _min_transfer(system, graph.values[(u, r)], mems[u], mems[v])
            out[u] = max(out[u], delay + min_lat[v] + out[v])
    return out


def solve_optimal(graph: PhaseGraph, system: System, incumbents: Sequence[list[str]] = ()) -> Solution:
    """The exact placement and per-device order of least makespan (then energy) for one phase, never worse
    than the best of `incumbents` (complete placements, e.g. the heuristic strategies')."""
    n = len(graph)
    if n == 0:
        return Solution([], [], 0.0, 0.0, 0.0, True, 0, 0)
    choices = device_choices(graph, system)
    seeds = _best_incumbents(graph, system, incumbents)
    upper = math.inf
    if seeds:
        upper = schedule_phase(graph, seeds[0], system).makespan_ns
    limit = upper * (1 + _REL_TOL) + _ABS_TOL
    hoist = [False] * n
    segments, floating = _segments(graph, hoist)
    if max((len(seg.ops) for seg in segments), default=0) > HOIST_AT:
        hoist = hoisted(graph)
        segments, floating = _segments(graph, hoist)
    suffix = _suffix_bounds(graph, choices, system)
    problems: dict[_Signature, _SegmentProblem] = {}
    solved = 0
    # pass 1, makespan: forward DP over the devices of the barrier closing each segment, pruned by bounds
    combos: list[dict[tuple[str | None, str | None], _Signature]] = []  # per segment: (start, end) -> signature
    state: dict[str | None, float] = {None: 0.0}  # best makespan up to the segment's start, per start device
    bound_state: dict[str | None, float] = {None: 0.0}
    for seg in segments:
        ops = list(seg.ops)
        sub = _subgraph(graph, ops, seg.has_start)
        sub_choices = [choices[g] for g in ops]
        proposals = [[p[g] for g in ops] for p in seeds]
        ends: list[str | None] = list(choices[ops[-1]]) if seg.has_end else [None]
        after = suffix[ops[-1]] if seg.has_end else 0.0
        new_state: dict[str | None, float] = {}
        new_bound: dict[str | None, float] = {}
        seg_combos: dict[tuple[str | None, str | None], _Signature] = {}
        pairs: list[tuple[float, str | None, str | None, _Signature]] = []
        for start_dev in state:
            for end_dev in ends:
                fixed: list[str | None] = [None] * len(ops)
                if seg.has_start:
                    fixed[0] = start_dev
                if end_dev is not None:
                    fixed[-1] = end_dev
                sig = _signature(sub, fixed, sub_choices, seg.has_start, seg.has_end)
                if sig not in problems:
                    problems[sig] = _SegmentProblem(sub, fixed, sub_choices, seg.has_start, seg.has_end, system)
                lower = bound_state[start_dev] + problems[sig].quick_bound()
                if lower + after > limit:
                    continue  # no placement through this pair can beat the best seed
                pairs.append((lower, start_dev, end_dev, sig))
        device_rank = {d: i for i, d in enumerate([None, *system.devices])}
        pairs.sort(key=lambda p: (p[0], device_rank[p[1]], device_rank[p[2]]))
        for lower, start_dev, end_dev, sig in pairs:  # most promising first: the rest may be dominated
            problem = problems[sig]
            cutoff = None  # the end time past which another end device dominates this one
            if end_dev is not None and end_dev not in new_state and new_state:
                cutoff = min(_dominance_threshold(graph, system, ops[-1], a, t, end_dev) for a, t in new_state.items())
                cutoff -= bound_state[start_dev]
                if lower - bound_state[start_dev] > cutoff:
                    continue
            if not problem.solved:
                if problem.beaten_above is not None and cutoff is not None and cutoff <= problem.beaten_above:
                    continue
                res = problem.solve(proposals, cutoff)
                solved += 1
                if res is None and problem.beaten_above is not None and cutoff is not None:
                    continue  # dominated; a later call with a higher cutoff solves it again
                problem.result, problem.solved = res, True
            res = problem.result
            if res is None:
                continue
            seg_combos[(start_dev, end_dev)] = sig
            new_state[end_dev] = min(new_state.get(end_dev, math.inf), state[start_dev] + res.makespan_ns)
            new_bound[end_dev] = min(new_bound.get(end_dev, math.inf), bound_state[start_dev] + res.bound_ns)
        if not new_state:
            if seeds:  # every pair is pruned or infeasible: the best seed stands
                return _from_seed(graph, system, seeds[0], len(segments), solved, upper)
            names = [graph.names[g] for g in ops]
            raise CompileError(
                f"optimal: no feasible placement for phase '{graph.phase}' "
                f"(ops {names[0]} .. {names[-1]}: no device chain links them)"
            )
        combos.append(seg_combos)
        if seg.has_end:
            _drop_dominated(graph, system, ops[-1], new_state, new_bound)
        state, bound_state = new_state, new_bound
    best_makespan = min(state.values())
    bound = min(min(bound_state.values()), upper)
    # pass 2, energy: refine the pairs on some path of least makespan, then DP on (makespan, energy)
    after_best: dict[str | None, float] = {d: 0.0 for d in state}  # best makespan from a state to the end
    tight: set[_Signature] = set()
    tol = max(_REL_TOL * best_makespan, _ABS_TOL)
    forward = _forward_makespans(combos, problems)
    for k in reversed(range(len(segments))):
        new_after: dict[str | None, float] = {}
        for (start_dev, end_dev), sig in combos[k].items():
            res = problems[sig].result
            assert res is not None  # combos holds the solved pairs only
            if end_dev not in after_best:
                continue
            rest = res.makespan_ns + after_best[end_dev]
            if forward[k].get(start_dev, math.inf) + rest <= best_makespan + tol:
                tight.add(sig)
            new_after[start_dev] = min(new_after.get(start_dev, math.inf), rest)
        after_best = new_after
    for sig in sorted(tight, key=repr):
        problems[sig].refine_energy()
    dp: dict[str | None, tuple[float, float, list[tuple[int, _SegmentResult]]]] = {None: (0.0, 0.0, [])}
    for k in range(len(segments)):
        new_dp: dict[str | None, tuple[float, float, list[tuple[int, _SegmentResult]]]] = {}
        for (start_dev, end_dev), sig in combos[k].items():
            if start_dev not in dp:
                continue
            res = problems[sig].result
            assert res is not None
            t0, e0, path = dp[start_dev]
            cand = (t0 + res.makespan_ns, e0 + res.energy_pj, path + [(k, res)])
            if end_dev not in new_dp or _better(cand, new_dp[end_dev]):
                new_dp[end_dev] = cand
        dp = new_dp
    best = functools.reduce(lambda a, b: b if _better(b, a) else a, dp.values())
    placement: list[str] = [""] * n
    order: list[int] = []
    for k, res in best[2]:
        seg = segments[k]
        for g, d in zip(seg.ops, res.placement):
            placement[g] = d
        order += _topological_by_start(graph, list(seg.ops), res.starts, skip_first=seg.has_start)
    order = _place_floating(graph, system, choices, floating, placement, order)
    sched = schedule_phase(graph, placement, system, order)
    energy = schedule_energy_pj(graph, placement, sched, system)
    solution = Solution(
        placement, order, sched.makespan_ns, best[0], energy, False, len(segments), solved, bound, "optimal"
    )
    if seeds:
        seeded = _from_seed(graph, system, seeds[0], len(segments), solved, bound)
        if _better((seeded.makespan_ns, seeded.energy_pj), (solution.makespan_ns, solution.energy_pj)):
            solution = seeded
    solution.bound_ns = min(max(bound, 0.0), solution.makespan_ns)
    solution.proven = solution.makespan_ns <= solution.bound_ns * (1 + 1e-7) + _ABS_TOL
    return solution


def _dominates(
    graph: PhaseGraph, system: System, barrier: int, a: str | None, t_a: float, b: str | None, t_b: float
) -> bool:
    """Whether the barrier ending by t_a on device a makes ending no earlier than t_b on device b useless.

    It does when, for every memory m that b's results can reach, each result reaches m from a (t_a + copy
    a -> m) strictly earlier than from b (t_b + copy b -> m): whatever follows b's schedule then runs as
    early after a, and device b is not even busy. Ties are kept."""
    if b is None:
        return False
    return t_b > _dominance_threshold(graph, system, barrier, a, t_a, b)


def _dominance_threshold(graph: PhaseGraph, system: System, barrier: int, a: str | None, t_a: float, b: str) -> float:
    """The end time of the barrier on device b past which its ending by t_a on device a dominates it
    (`_dominates`); inf when a never does."""
    if a is None or a == b:
        return math.inf
    mem = {d: system.devices[d].memory for d in system.devices}
    sizes = [graph.values[(barrier, r)] for r in range(graph.results(barrier))] or [0]
    out = -math.inf
    for m in system.memories:
        for n in sizes:
            from_b = 0.0 if mem[b] == m else transfer_ns(system, n, mem[b], m)
            if not math.isfinite(from_b):
                continue  # b's result never reaches m
            from_a = 0.0 if mem[a] == m else transfer_ns(system, n, mem[a], m)
            out = max(out, t_a + from_a - from_b)
    return out + max(_REL_TOL * abs(out), _ABS_TOL) if math.isfinite(out) else math.inf


def _drop_dominated(
    graph: PhaseGraph, system: System, barrier: int, state: dict[str | None, float], bound: dict[str | None, float]
) -> None:
    """Drop the barrier devices that cannot lead to a shorter phase than another (`_dominates`, with a's best
    makespan against b's proven bound)."""
    for b in list(state):
        if any(_dominates(graph, system, barrier, a, t, b, bound[b]) for a, t in state.items()):
            del state[b]
            del bound[b]


def _place_floating(
    graph: PhaseGraph,
    system: System,
    choices: list[list[str]],
    floating: list[int],
    placement: list[str],
    order: list[int],
) -> list[int]:
    """Place the floating hoisted ops (segments read their values as resident) and put each right before
    its first reader in `order`: readers first, each op on the device least in latency plus the copies its
    placed readers and producers would need (then least energy)."""
    if not floating:
        return order
    mem = {d: system.devices[d].memory for d in system.devices}
    readers: list[list[tuple[int, int]]] = [[] for _ in range(len(graph))]
    for v in range(len(graph)):
        for u, r in graph.operands[v]:
            readers[u].append((v, r))
    is_floating = set(floating)
    for h in reversed(floating):

        def cost(d: str, h: int = h) -> tuple[float, float]:
            t = graph.latency[h][d]
            for v, r in readers[h]:
                if mem[placement[v]] != mem[d]:
                    t += transfer_ns(system, graph.values[(h, r)], mem[d], mem[placement[v]])
            for u, r in graph.operands[h]:
                if u not in is_floating and mem[placement[u]] != mem[d]:
                    t += transfer_ns(system, graph.values[(u, r)], mem[placement[u]], mem[d])
            return t, graph.energy[h].get(d, 0.0)

        placement[h] = min(choices[h], key=cost)
    out = list(order)
    for h in reversed(floating):  # readers are in `out` before their producers are inserted
        present = set(out)
        first = min((out.index(v) for v, _ in readers[h] if v in present), default=len(out))
        out.insert(first, h)
    return out


def _forward_makespans(
    combos: list[dict[tuple[str | None, str | None], _Signature]], problems: dict[_Signature, _SegmentProblem]
) -> list[dict[str | None, float]]:
    """Per segment, the least makespan up to its start, per start device."""
    out: list[dict[str | None, float]] = []
    state: dict[str | None, float] = {None: 0.0}
    for seg_combos in combos:
        out.append(state)
        new_state: dict[str | None, float] = {}
        for (start_dev, end_dev), sig in seg_combos.items():
            if start_dev in state:
                res = problems[sig].result
                assert res is not None
                t = state[start_dev] + res.makespan_ns
                new_state[end_dev] = min(new_state.get(end_dev, math.inf), t)
        state = new_state
    return out


def _from_seed(
    graph: PhaseGraph, system: System, placement: list[str], segments: int, solved: int, bound: float
) -> Solution:
    """A Solution that keeps a seed placement in program order."""
    sched = schedule_phase(graph, placement, system)
    energy = schedule_energy_pj(graph, placement, sched, system)
    return Solution(
        list(placement),
        list(range(len(graph))),
        sched.makespan_ns,
        sched.makespan_ns,
        energy,
        False,
        segments,
        solved,
        bound,
        "incumbent",
    )


def _best_incumbents(graph: PhaseGraph, system: System, incumbents: Sequence[list[str]]) -> list[list[str]]:
    """The feasible placements among `incumbents`, best (makespan, energy) first, without repeats."""
    scored: list[tuple[tuple[float, float], list[str]]] = []
    for placement in incumbents:
        if placement in (p for _, p in scored):
            continue
        sched = schedule_phase(graph, placement, system)
        if math.isfinite(sched.makespan_ns):
            scored.append(((sched.makespan_ns, schedule_energy_pj(graph, placement, sched, system)), placement))
    scored.sort(key=lambda t: t[0])
    return [p for _, p in scored]


def _better(a: tuple[float, float, *tuple[object, ...]], b: tuple[float, float, *tuple[object, ...]]) -> bool:
    """Whether (makespan, energy, ...) `a` beats `b`: a shorter makespan, or an equal one (within the
    solver's tolerance) and less energy."""
    tol = max(_REL_TOL * min(a[0], b[0]), _ABS_TOL)
    if a[0] < b[0] - tol:
        return True
    return abs(a[0] - b[0]) <= tol and a[1] < b[1] - max(_REL_TOL * abs(b[1]), _ABS_TOL)


def _topological_by_start(graph: PhaseGraph, ops: list[int], starts: list[float], skip_first: bool) -> list[int]:
    """The segment's ops in a topological order that follows the solved start times (ties: program order)."""
    members = set(ops[1:] if skip_first else ops)
    start = dict(zip(ops, starts))
    indegree = {g: sum(1 for u in graph.preds(g) if u in members) for g in members}
    succ: dict[int, list[int]] = {g: [] for g in members}
    for g in sorted(members):
        for u in graph.preds(g):
            if u in members:
                succ[u].append(g)
    heap = [(start[g], g) for g in members if indegree[g] == 0]
    heapq.heapify(heap)
    out: list[int] = []
    while heap:
        _, g = heapq.heappop(heap)
        out.append(g)
        for v in succ[g]:
            indegree[v] -= 1
            if indegree[v] == 0:
                heapq.heappush(heap, (start[v], v))
    return out
