"""The `optimal` partition: the placement (and per-device op order) of least phase latency, solved exactly.

Objective: the makespan of the phase under the execution model of
targets/schedule.py (op latencies on their devices, transfers between memories,
one op at a time per device, a conflict-shared memory serialising PIM and its
host), then, among placements of that makespan, the least energy (ops + transfers).

Decomposition (exact). A *barrier* is an op c such that every other op is an
ancestor or a descendant of c and no edge jumps over it (from an ancestor of c to
a descendant of c). Nothing can overlap a barrier, so the phase latency is the sum
over the segments between consecutive barriers of (end of the segment's last
barrier - end of its first), and each term depends only on the placement inside
the segment. A dynamic program over the barriers' devices combines the segments
exactly; in a transformer the barriers are the residual adds, so a segment is half
a layer and identical layers are solved once (segments are cached by signature).

Each segment is a mixed-integer program solved by HiGHS (highspy) to a zero gap:
- x[i,d] = 1 when op i runs on device d (one per op);
- s[i] >= 0 its start, p[i] = sum_d latency[i,d] x[i,d] its duration;
- every edge u -> v: s[v] >= s[u] + p[u], and for every pair of memories (a, b)
  s[v] >= s[u] + p[u] + t_ab (X[u,a] + X[v,b] - 1), t_ab the transfer time of
  the value from a to b (X[i,m] = sum of x[i,d] over devices on memory m);
  no link between a and b: X[u,a] + X[v,b] <= 1;
- every pair of ops not ordered by the DAG that may share a resource (a device, or
  a conflict-shared memory) gets an order variable o and big-M disjunctions
  s[v] >= s[u] + p[u] - M(1 - o) - M(2 - R[u,r] - R[v,r]), and the converse with o;
- minimise the end of the segment's last barrier (or the latest end when the
  segment closes the phase); then, with that makespan fixed, the energy.
The start times order each device's ops; list scheduling in that order
(targets/schedule.py) reproduces the solved makespan (a semi-active schedule
finishes no later than any schedule with the same per-resource orders).
"""

from __future__ import annotations

import functools
import heapq
import math
from dataclasses import dataclass

import highspy

from pimc.compiler.errors import CompileError
from pimc.targets.schedule import PhaseGraph, resources, schedule_phase, transfer_ns
from pimc.targets.system import System

TIME_LIMIT_S = 20.0
"""Per segment; a segment not proven optimal in this time keeps the best placement found (reported)."""


@dataclass
class Solution:
    placement: list[str]
    order: list[int]
    makespan_ns: float
    """The schedule's makespan of `placement` in `order` (targets/schedule.py)."""
    solver_ns: float
    """The same as the solver computed it (equal up to its tolerances)."""
    energy_pj: float
    proven: bool
    segments: int
    solved: int  # distinct segments solved (the rest reused a cached solution)


def barriers(graph: PhaseGraph) -> list[int]:
    """Ops nothing can overlap (module docstring), in program order (which is topological)."""
    n = len(graph)
    if n == 0:
        return []
    cover = [0] * (n + 1)
    has_succ = [False] * n
    last_source = 0
    for v in range(n):
        ps = graph.preds(v)
        if not ps:
            last_source = v
        for u in ps:
            has_succ[u] = True
            if v - u > 1:  # positions u+1 .. v-1 are jumped over
                cover[u + 1] += 1
                cover[v] -= 1
    first_sink = next((u for u in range(n) if not has_succ[u]), n - 1)
    out, running = [], 0
    for i in range(n):
        running += cover[i]
        if last_source <= i <= first_sink and running == 0:
            out.append(i)
    return out


def _segment_signature(graph: PhaseGraph, ops: list[int], fixed: dict[int, str], has_start: bool) -> tuple:
    """What the segment's solution depends on: costs, local edges, result sizes and fixed devices (a fixed
    start barrier contributes only its device and result sizes; its cost belongs to the segment before)."""
    local = {g: k for k, g in enumerate(ops)}
    sig = []
    for k, g in enumerate(ops):
        results = tuple(graph.values[(g, r)] for r in range(graph.results(g)))
        if k == 0 and has_start:
            sig.append((fixed[g], results))
            continue
        operands = tuple((local[u], r) for u, r in graph.operands[g])
        sig.append((tuple(sorted(graph.latency[g].items())), tuple(sorted(graph.energy[g].items())), operands,
                    results, fixed.get(g)))
    return tuple(sig)


def _subgraph(graph: PhaseGraph, ops: list[int], has_start: bool) -> PhaseGraph:
    """The segment as a graph of its own (local indices); the start barrier's inputs are dropped."""
    local = {g: k for k, g in enumerate(ops)}
    return PhaseGraph(
        phase=graph.phase,
        names=[graph.names[g] for g in ops],
        latency=[graph.latency[g] for g in ops],
        energy=[graph.energy[g] for g in ops],
        operands=[[] if k == 0 and has_start else [(local[u], r) for u, r in graph.operands[g]]
                  for k, g in enumerate(ops)],
        values={(local[g], r): b for g in ops for r in range(graph.results(g)) for b in [graph.values[(g, r)]]},
    )


def _heuristic(sub: PhaseGraph, fixed: list[str | None], system: System) -> tuple[list[str], float] | None:
    """A feasible placement of the segment (each free op on its fastest device) and its makespan: the upper
    bound that sizes the big-M constants and seeds the solver."""
    placement = []
    for k in range(len(sub)):
        d = fixed[k] or min(sub.latency[k], key=sub.latency[k].__getitem__)
        placement.append(d)
    makespan = schedule_phase(sub, placement, system).makespan_ns
    return (placement, makespan) if math.isfinite(makespan) else None


def _solve_segment(graph: PhaseGraph, ops: list[int], fixed: dict[int, str], has_start: bool, has_end: bool,
                   system: System) -> tuple[float, float, list[str], list[float], bool] | None:
    """Min (makespan, energy) of one segment; None when no placement is feasible."""
    k = len(ops)
    devices = list(system.devices)
    mem_of = {d: system.devices[d].memory for d in devices}
    memories = list(system.memories)
    allowed = []
    for i, g in enumerate(ops):
        lat = graph.latency[g]
        allowed.append([fixed[g]] if g in fixed else [d for d in devices if d in lat])
        if not allowed[-1] or allowed[-1][0] not in lat:
            return None
    sub = _subgraph(graph, ops, has_start)
    edges = [(u, v, sub.values[(u, r)]) for v, ins in enumerate(sub.operands) for u, r in ins]  # local
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("mip_abs_gap", 1e-9)
    h.setOptionValue("time_limit", TIME_LIMIT_S)
    x = [{d: h.addBinary() for d in allowed[i]} for i in range(k)]
    for i in range(k):
        h.addConstr(sum(x[i].values()) == 1)
    seed = _heuristic(sub, [fixed.get(g) for g in ops], system)
    if seed is not None:
        big_m = seed[1] * (1 + 1e-9) + 1e-6  # no op of an optimal solution ends later than a feasible makespan
    else:
        big_m = sum(max(graph.latency[g][d] for d in allowed[i]) for i, g in enumerate(ops))
        for u, v, n_bytes in edges:
            big_m += max([0.0] + [t for a in memories for b in memories if a != b
                                  if math.isfinite(t := transfer_ns(system, n_bytes, a, b))])
        big_m = big_m * 1.01 + 1.0
    s = [h.addVariable(lb=0.0, ub=big_m) for _ in range(k)]
    if has_start:
        h.addConstr(s[0] == 0)

    def dur(i: int):
        g = ops[i]
        return sum(graph.latency[g][d] * x[i][d] for d in allowed[i])

    def in_mem(i: int, m: str):
        terms = [x[i][d] for d in allowed[i] if mem_of[d] == m]
        return sum(terms) if terms else None

    for i in range(k):
        h.addConstr(s[i] + dur(i) <= big_m)
    energy_terms = [graph.energy[g][d] * x[i][d] for i, g in enumerate(ops) for d in allowed[i]
                    if not (i == 0 and has_start)]
    transfer_vars: dict[tuple[int, str, str], object] = {}
    for u, v, n_bytes in edges:
        h.addConstr(s[v] >= s[u] + dur(u))
        for a in memories:
            xa = in_mem(u, a)
            if xa is None:
                continue
            for b in memories:
                xb = in_mem(v, b)
                if a == b or xb is None:
                    continue
                t = transfer_ns(system, n_bytes, a, b)
                if not math.isfinite(t):
                    h.addConstr(xa + xb <= 1)
                    continue
                h.addConstr(s[v] >= s[u] + dur(u) + t * (xa + xb - 1))
                key = (u, a, b)
                if key not in transfer_vars:  # one copy per (value, destination memory)
                    z = transfer_vars[key] = h.addVariable(lb=0.0, ub=1.0)
                    energy_terms.append(system.link_between(a, b).energy_pj(n_bytes) * z)
                h.addConstr(transfer_vars[key] >= xa + xb - 1)
    # resource disjunctions between ops the DAG leaves unordered
    reach = [1 << i for i in range(k)]
    succ: list[list[int]] = [[] for _ in range(k)]
    for u, v, _ in edges:
        succ[u].append(v)
    for i in reversed(range(k)):
        for v in succ[i]:
            reach[i] |= reach[v]
    usage: list[dict[str, list]] = []
    for i, g in enumerate(ops):
        use: dict[str, list] = {}
        for d in allowed[i]:
            if graph.latency[g][d] > 0:
                for r in resources(system, d):
                    use.setdefault(r, []).append(x[i][d])
        usage.append(use)
    for u in range(k):
        for v in range(u + 1, k):
            if reach[u] >> v & 1 or reach[v] >> u & 1:
                continue
            shared = [r for r in usage[u] if r in usage[v]]
            if not shared:
                continue
            o = h.addBinary()
            for r in shared:
                both = sum(usage[u][r]) + sum(usage[v][r])
                h.addConstr(s[v] >= s[u] + dur(u) - big_m * (1 - o) - big_m * (2 - both))
                h.addConstr(s[u] >= s[v] + dur(v) - big_m * o - big_m * (2 - both))
    if has_end:
        makespan = s[k - 1] + dur(k - 1)
    else:
        makespan = h.addVariable(lb=0.0, ub=2 * big_m)
        for i in range(k):
            h.addConstr(makespan >= s[i] + dur(i))
    h.minimize(makespan)
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:
        return None
    proven = status == highspy.HighsModelStatus.kOptimal
    if h.getInfo().primal_solution_status != 2:  # no feasible solution within the time limit
        raise CompileError(f"optimal: no placement found for a {k}-op segment of phase '{graph.phase}' "
                           f"within {TIME_LIMIT_S:g} s")
    best = h.getInfo().objective_function_value
    h.addConstr(makespan <= best + max(1e-9 * best, 1e-6))
    h.minimize(sum(energy_terms))
    proven = proven and h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    placement = [max(x[i], key=lambda d: h.val(x[i][d])) for i in range(k)]
    starts = [h.val(s[i]) for i in range(k)]
    energy = h.getInfo().objective_function_value
    start_offset = graph.latency[ops[0]][placement[0]] if has_start else 0.0
    return best - start_offset, energy, placement, starts, proven


def solve_optimal(graph: PhaseGraph, system: System) -> Solution:
    """The exact placement and per-device order of least makespan (then energy) for one phase."""
    n = len(graph)
    if n == 0:
        return Solution([], [], 0.0, 0.0, 0.0, True, 0, 0)
    cuts = barriers(graph)
    bounds: list[tuple[int, int, bool, bool]] = []  # (lo, hi, has_start, has_end), inclusive
    prev = None
    for c in cuts:  # ascending
        bounds.append((0 if prev is None else prev, c, prev is not None, True))
        prev = c
    if prev is None:
        bounds.append((0, n - 1, False, False))
    elif prev < n - 1:
        bounds.append((prev, n - 1, True, False))
    cache: dict[tuple, tuple | None] = {}
    solved = 0
    proven = True
    # DP over the devices of the barrier closing each segment
    state: dict[str | None, tuple[float, float, list[tuple[int, str | None, str | None]]]] = {None: (0.0, 0.0, [])}
    results: dict[tuple[int, str | None, str | None], tuple] = {}
    for seg_index, (lo, hi, has_start, has_end) in enumerate(bounds):
        ops = list(range(lo, hi + 1))
        ends: list[str | None] = [d for d in system.devices if d in graph.latency[hi]] if has_end else [None]
        new_state: dict[str | None, tuple[float, float, list]] = {}
        for start_dev, (t0, e0, path) in state.items():
            for end_dev in ends:
                fixed: dict[int, str] = {}
                if has_start:
                    assert start_dev is not None
                    fixed[lo] = start_dev
                if end_dev is not None:
                    fixed[hi] = end_dev
                sig = (has_start, has_end, _segment_signature(graph, ops, fixed, has_start))
                if sig not in cache:
                    cache[sig] = _solve_segment(graph, ops, fixed, has_start, has_end, system)
                    solved += 1
                res = cache[sig]
                if res is None:
                    continue
                results[(seg_index, start_dev, end_dev)] = res
                cand = (t0 + res[0], e0 + res[1], path + [(seg_index, start_dev, end_dev)])
                if end_dev not in new_state or _better(cand, new_state[end_dev]):
                    new_state[end_dev] = cand
        if not new_state:
            raise CompileError(f"optimal: no feasible placement for phase '{graph.phase}' "
                               f"(ops {graph.names[lo]} .. {graph.names[hi]}: no device chain links them)")
        state = new_state
    best = functools.reduce(lambda a, b: b if _better(b, a) else a, state.values())
    placement: list[str] = [""] * n
    order: list[int] = []
    for seg_index, start_dev, end_dev in best[2]:
        lo, hi, has_start, has_end = bounds[seg_index]
        _, _, local_placement, starts, seg_proven = results[(seg_index, start_dev, end_dev)]
        proven = proven and seg_proven
        ops = list(range(lo, hi + 1))
        for g, d in zip(ops, local_placement):
            placement[g] = d
        order += _topological_by_start(graph, ops, starts, skip_first=has_start)
    makespan = schedule_phase(graph, placement, system, order).makespan_ns
    return Solution(placement, order, makespan, best[0], best[1], proven, len(bounds), solved)


def _better(a: tuple, b: tuple) -> bool:
    """Whether (makespan, energy, ...) `a` beats `b`: a shorter makespan, or an equal one (within the
    solver's tolerance) and less energy."""
    tol = max(1e-9 * min(a[0], b[0]), 1e-6)
    if a[0] < b[0] - tol:
        return True
    return abs(a[0] - b[0]) <= tol and a[1] < b[1]


def _topological_by_start(graph: PhaseGraph, ops: list[int], starts: list[float], skip_first: bool) -> list[int]:
    """The segment's ops in a topological order that follows the solved start times (ties: program order)."""
    members = set(ops[1:] if skip_first else ops)
    start = dict(zip(ops, starts))
    indegree = {g: sum(1 for u in graph.preds(g) if u in members) for g in members}
    succ: dict[int, list[int]] = {g: [] for g in members}
    for g in members:
        for u in graph.preds(g):
            if u in members:
                succ[u].append(g)
    heap = [(start[g], g) for g in members if indegree[g] == 0]
    heapq.heapify(heap)
    out = []
    while heap:
        _, g = heapq.heappop(heap)
        out.append(g)
        for v in succ[g]:
            indegree[v] -= 1
            if indegree[v] == 0:
                heapq.heappush(heap, (start[v], v))
    return out
