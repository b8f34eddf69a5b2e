"""The execution model: when each op and transfer of a phase runs, on which resource, and the phase's makespan.

The partitioner and the scheduler share one model of execution, defined here, so
that `optimal` (targets/placement/optimal.py) minimises exactly the latency the report shows:

- A phase is a DAG of costed ops (`PhaseGraph`). An op takes its latency on its
  device (annotate-cost). Weights, constants and function arguments are resident
  wherever they are read (loaded before inference, or arriving with the request).
- Resources: each device runs one op at a time. On a memory whose `pim_sharing`
  is "conflict" (one row buffer per bank, IANUS), the memory itself is a resource
  taken by every op of every device on it, so a PIM op and an NPU op reading that
  memory never overlap; with "concurrent" (dual row buffers, NeuPIMs) they may.
  An op that costs 0 ns (a reshape) takes no resource.
- A value consumed on a device of another memory is copied once per destination
  memory (`place.transfer`): it starts when its producer ends and takes the link's
  latency + bytes / bandwidth. Transfers do not contend for a link (each is a
  fixed delay); an op waits for its producers and its incoming transfers.
- Each resource runs its ops in the order of a given priority list (a topological
  order: program order unless the partitioner reordered ops), each op as early as
  its inputs and resources allow: the semi-active schedule of those sequences,
  which is the earliest any schedule with those per-resource orders can finish.
- Sub-batch interleaving (NeuPIMs): the batch is split into `streams` sub-batches,
  each a copy of the phase's graph costed at the sub-batch size; the copies are
  independent, so one sub-batch's attention on PIM overlaps the other's FC on the NPU.
  The priority list interleaves them op by op.

Units are ns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from pimc.errors import CompileError
from pimc.targets.system import System


@dataclass
class PhaseGraph:
    """The costed ops of one phase and the values between them.

    `latency[i]` / `energy[i]`: {device: ns / pJ} for the devices that can run op i.
    `values[(u, r)]`: bytes of result r of op u at the deployment precision;
    `operands[v]`: the (u, r) values op v reads from costed producers (in operand
    order, repeats removed).
    """

    phase: str
    names: list[str]
    latency: list[dict[str, float]]
    energy: list[dict[str, float]]
    operands: list[list[tuple[int, int]]]
    values: dict[tuple[int, int], int]
    roles: list[str] = field(default_factory=list)
    """Per op: "attention", "kv_append", "fc" (a GEMV-able product with a weight), "matrix", "vector"."""
    rows: list[int] = field(default_factory=list)
    """Per op: rows M of an "fc" (tokens sharing one weight read: batch x new tokens), else 0."""
    _preds: list[list[int]] | None = field(default=None, repr=False)
    _results: list[int] | None = field(default=None, repr=False)
    _consumers: dict[tuple[int, int], list[int]] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.names)

    def consumers(self) -> dict[tuple[int, int], list[int]]:
        """Per value, the ops that read it (computed once; the graph is not changed after construction)."""
        if self._consumers is None:
            out: dict[tuple[int, int], list[int]] = {val: [] for val in self.values}
            for v, ins in enumerate(self.operands):
                for val in ins:
                    out[val].append(v)
            self._consumers = out
        return self._consumers

    def preds(self, v: int) -> list[int]:
        """The costed producers op v reads, ascending."""
        if self._preds is None:
            self._preds = [sorted({u for u, _ in ins}) for ins in self.operands]
        return self._preds[v]

    def results(self, u: int) -> int:
        """How many results op u has."""
        if self._results is None:
            self._results = [0] * len(self.names)
            for g, r in self.values:
                self._results[g] = max(self._results[g], r + 1)
        return self._results[u]


@dataclass(frozen=True)
class Event:
    """One scheduled op or transfer (the timeline's unit; see timeline.json)."""

    name: str
    kind: str  # "op" | "transfer"
    resource: str  # a device, or "link <memory>-<memory>"
    phase: str
    stream: int
    start_ns: float
    end_ns: float
    index: int  # op index in the phase graph (the producer's for a transfer)
    args: dict[str, Any]
    result: int = 0  # for a transfer: which result of the producer it copies


@dataclass
class PhaseSchedule:
    phase: str
    events: list[Event]
    makespan_ns: float
    transfers: list[tuple[int, int, str, float, int]]  # (u, r, dst memory, latency, bytes) per stream 0


def transfer_ns(system: System, n_bytes: int, src_memory: str, dst_memory: str) -> float:
    """Link latency + bytes / bandwidth; inf when no link joins the two memories."""
    link = system.link(src_memory, dst_memory)
    return math.inf if link is None else link.time_ns(n_bytes)


def resources(system: System, device: str) -> tuple[str, ...]:
    """What an op of positive latency on `device` occupies: the device, and its memory if that is shared under conflict."""
    memory = system.devices[device].memory
    if system.memories[memory].pim_sharing == "conflict" and shares_with_pim(system, memory):
        return (device, f"memory {memory}")
    return (device,)


def shares_with_pim(system: System, memory: str) -> bool:
    """Whether a PIM device and another device both work on `memory`."""
    kinds = [d.kind for d in system.devices.values() if d.memory == memory]
    return "pim" in kinds and any(k != "pim" for k in kinds)


def check_placement(graph: PhaseGraph, placement: list[str], system: System) -> None:
    """A placement the execution model can run, else a CompileError naming the op: one device per op, each a
    device of `system` that has a cost for the op, and a link wherever an op reads a value from another memory
    (a placement read from an IR file may break any of these; the strategies never do)."""
    if len(placement) != len(graph):
        raise CompileError(f"phase {graph.phase}: {len(placement)} devices for {len(graph)} ops")
    for i, device in enumerate(placement):
        if device not in system.devices:
            raise CompileError(
                f"op '{graph.names[i]}' is placed on device '{device}', which system '{system.name}' "
                f"does not have (devices: {', '.join(system.devices)})"
            )
        if device not in graph.latency[i]:
            raise CompileError(
                f"op '{graph.names[i]}' is placed on device '{device}', which has no cost for it "
                f"(devices with a cost: {', '.join(graph.latency[i]) or 'none'}): run partition again"
            )
    for v, ins in enumerate(graph.operands):
        dst = system.devices[placement[v]].memory
        for u, _ in ins:
            src = system.devices[placement[u]].memory
            if src != dst and system.link(src, dst) is None:
                raise CompileError(
                    f"op '{graph.names[v]}' on '{placement[v]}' (memory {dst}) reads a result of op "
                    f"'{graph.names[u]}' on '{placement[u]}' (memory {src}), and system "
                    f"'{system.name}' has no link between {src} and {dst}"
                )


def schedule_phase(
    graph: PhaseGraph,
    placement: list[str],
    system: System,
    order: list[int] | None = None,
    streams: int = 1,
    start_ns: float = 0.0,
) -> PhaseSchedule:
    """List-schedule one phase (module docstring): every op on `placement[i]`, per-resource order = `order`."""
    order = list(range(len(graph))) if order is None else order
    mem = [system.devices[d].memory for d in placement]
    consumers = graph.consumers()
    out_memories: dict[tuple[int, int], list[str]] = {}
    for val, users in consumers.items():
        targets = {mem[v] for v in users if mem[v] != mem[val[0]]}
        out_memories[val] = [m for m in system.memories if m in targets]
    res = [resources(system, d) for d in placement]
    free: dict[str, float] = {}
    events: list[Event] = []
    transfers: list[tuple[int, int, str, float, int]] = []
    finish: dict[tuple[int, int], float] = {}  # (stream, op) -> end
    arrive: dict[tuple[int, int, int, str], float] = {}  # (stream, u, r, memory) -> end of transfer
    for i in order:
        for s in range(streams):
            ready = start_ns
            for u, r in graph.operands[i]:
                t = finish[(s, u)] if mem[u] == mem[i] else arrive[(s, u, r, mem[i])]
                ready = max(ready, t)
            duration = graph.latency[i][placement[i]]
            begin = ready
            if duration > 0:
                begin = max([ready] + [free.get(r, start_ns) for r in res[i]])
                for r in res[i]:
                    free[r] = begin + duration
            end = begin + duration
            finish[(s, i)] = end
            role = {"role": graph.roles[i]} if graph.roles else {}
            events.append(Event(graph.names[i], "op", placement[i], graph.phase, s, begin, end, i, role))
            for r_index in range(graph.results(i)):
                for m in out_memories.get((i, r_index), ()):
                    n_bytes = graph.values[(i, r_index)]
                    t = transfer_ns(system, n_bytes, mem[i], m)
                    arrive[(s, i, r_index, m)] = end + t
                    a, b = sorted((mem[i], m))
                    events.append(
                        Event(
                            f"transfer {graph.names[i]}",
                            "transfer",
                            f"link {a}-{b}",
                            graph.phase,
                            s,
                            end,
                            end + t,
                            i,
                            {"bytes": n_bytes, "src": mem[i], "dst": m},
                            r_index,
                        )
                    )
                    if s == 0:
                        transfers.append((i, r_index, m, t, n_bytes))
    makespan = max((e.end_ns for e in events), default=start_ns) - start_ns
    return PhaseSchedule(graph.phase, events, makespan, transfers)


def schedule_energy_pj(
    graph: PhaseGraph, placement: list[str], sched: PhaseSchedule, system: System, streams: int = 1
) -> float:
    """Dynamic energy of a scheduled phase: ops on their devices + transfers over their links, per sub-batch."""
    total = math.fsum(graph.energy[i][d] for i, d in enumerate(placement))
    for i, _, dst, _, n_bytes in sched.transfers:
        total += system.link_between(system.devices[placement[i]].memory, dst).energy_pj(n_bytes)
    return total * streams
