"""timeline.json (target `pimc-timeline`): the schedule as a Chrome / Perfetto trace (Trace Event Format, JSON
object form).

The schedule the IR records (`start_ns` / `end_ns` / `sub_batch_ns` on every op and
transfer, passes/schedule.py) is read back as one event per op or transfer and
sub-batch (`timeline_events`), which become complete events ("ph": "X") that chrome://tracing and
ui.perfetto.dev open directly, so the overlap between devices, links and
sub-batch streams can be inspected visually. Layout: one process (the model);
one thread per resource, devices first then links, each in first-seen order;
a "phases" thread on top with one slice per phase spanning its events. A program of one chip of a
tensor-parallel group has one process per chip of the group, each with the same events.

The format counts time in microseconds; ts and dur stay floats (ns / 1000) so
that ns-scale ops keep a visible, exact width.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import IO, Any

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation
from xdsl.utils.target import Target

from pimc.dialects.place import TransferOp, device_of
from pimc.errors import CompileError
from pimc.targets.annotations import (
    model_name,
    op_times,
    phase_graph,
    phase_times,
    placed_device,
    schedule_streams,
    tensor_parallel,
)
from pimc.targets.dtypes import DTYPE_BYTES, dtype_for_module
from pimc.targets.system import recorded_system

PID = 1
PHASES_TRACK = "phases"


def _json_safe(value: Any) -> Any:
    """`value` with every non-finite float replaced by None (strict JSON has no NaN or Infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _metadata(name: str, tid: int, args: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "ph": "M", "pid": PID, "tid": tid, "args": args}


def chrome_trace(events: list[dict[str, Any]], model: str, system: str, chips: int = 1) -> dict[str, Any]:
    """The Trace Event Format object for a schedule timeline (see the module docstring).

    Each event's name gains the suffix " [sbN]" when the timeline has sub-batch
    streams (some stream > 0); its args carry the event's own args plus phase,
    stream, start_ns and end_ns. Raises ValueError on a non-finite start or end.
    `chips` > 1 (a tensor-parallel group, the shard pass): one process per chip ("chip i"), each with the
    same events, as every chip of the group runs the same program at the same time and meets the others in
    each collective.
    """
    if chips > 1:
        one = chrome_trace(events, model, system)
        out: list[dict[str, Any]] = []
        for chip in range(chips):
            for e in one["traceEvents"]:
                if e["ph"] == "M" and e["name"] == "process_name":
                    e = {**e, "args": {"name": f"chip {chip}: {model} on {system}"}}
                out.append({**e, "pid": PID + chip})
        return {**one, "traceEvents": out, "otherData": {**one["otherData"], "chips": chips}}
    devices = list(dict.fromkeys(e["resource"] for e in events if not e["resource"].startswith("link ")))
    links = list(dict.fromkeys(e["resource"] for e in events if e["resource"].startswith("link ")))
    tids = {r: i for i, r in enumerate([PHASES_TRACK, *devices, *links])}
    out = [_metadata("process_name", 0, {"name": f"{model} on {system}"})]
    for resource, tid in tids.items():
        out.append(_metadata("thread_name", tid, {"name": resource}))
        out.append(_metadata("thread_sort_index", tid, {"sort_index": tid}))

    streams = any(e["stream"] > 0 for e in events)
    spans: dict[str, list[float]] = {}
    for e in events:
        start, end = float(e["start_ns"]), float(e["end_ns"])
        if not (math.isfinite(start) and math.isfinite(end)):
            raise ValueError(f"event '{e['name']}' has non-finite times {start}..{end}")
        span = spans.setdefault(e["phase"], [start, end])
        span[0], span[1] = min(span[0], start), max(span[1], end)
        out.append(
            {
                "name": f"{e['name']} [sb{e['stream']}]" if streams else e["name"],
                "cat": e["kind"],
                "ph": "X",
                "pid": PID,
                "tid": tids[e["resource"]],
                "ts": start / 1e3,
                "dur": (end - start) / 1e3,
                "args": {
                    **_json_safe(e["args"]),
                    "phase": e["phase"],
                    "stream": e["stream"],
                    "start_ns": start,
                    "end_ns": end,
                },
            }
        )
    for phase, (start, end) in spans.items():
        out.append(
            {
                "name": phase,
                "cat": "phase",
                "ph": "X",
                "pid": PID,
                "tid": tids[PHASES_TRACK],
                "ts": start / 1e3,
                "dur": (end - start) / 1e3,
                "args": {"start_ns": start, "end_ns": end},
            }
        )
    return {
        "traceEvents": out,
        "displayTimeUnit": "ns",
        "otherData": {"generator": "pimc", "model": model, "system": system},
    }


def timeline_events(module: ModuleOp) -> list[dict[str, Any]]:
    """Every scheduled op and transfer of `module` in every sub-batch, in the scheduler's order: per phase, per op in
    program order, per sub-batch, the op and then the copies of its results (in the system's memory order), then the
    phase's KV hand-offs. Each: name, kind ("op" | "transfer"), resource (a device or "link A-B"), phase, stream,
    start_ns, end_ns, args (the op's role; a transfer's bytes, src and dst memories). A CompileError if the module
    was not scheduled."""
    schedule_streams(module)  # the module has a schedule
    system = recorded_system(module)
    elem_bytes = DTYPE_BYTES[dtype_for_module(module, None)]
    memory_order = list(system.memories)
    events: list[dict[str, Any]] = []
    for t in phase_times(module):
        graph, ops = phase_graph(t.function, elem_bytes, system)
        index = {op: i for i, op in enumerate(ops)}
        copies: dict[int, list[tuple[int, str, TransferOp]]] = {}
        handoffs: list[TransferOp] = []
        for op in t.function.body.block.ops:
            if not isinstance(op, TransferOp):
                continue
            if op.kv_handoff is not None:
                handoffs.append(op)
                continue
            producer = op.input.owner
            if isinstance(producer, Operation) and producer in index:
                r = producer.results.index(op.input)
                copies.setdefault(index[producer], []).append((r, system.devices[op.dst.device_name].memory, op))
        for i, op in enumerate(ops):
            device = placed_device(op, system)
            if device is None:
                raise CompileError(f"op '{graph.names[i]}' has a schedule but no device")
            src = system.devices[device].memory
            outgoing = sorted(copies.get(i, []), key=lambda c: (c[0], memory_order.index(c[1])))
            copy_times = [op_times(c) for _, _, c in outgoing]
            for s, (start, end) in enumerate(op_times(op)):
                events.append(
                    _event(
                        graph.names[i],
                        "op",
                        device,
                        t.phase,
                        s,
                        start,
                        end,
                        {"role": graph.roles[i]} if graph.roles else {},
                    )
                )
                for (r, dst, _), times in zip(outgoing, copy_times, strict=True):
                    a, b = sorted((src, dst))
                    events.append(
                        _event(
                            f"transfer {graph.names[i]}",
                            "transfer",
                            f"link {a}-{b}",
                            t.phase,
                            s,
                            *times[s],
                            {"bytes": graph.values[(i, r)], "src": src, "dst": dst},
                        )
                    )
        for h in handoffs:
            producer = h.input.owner
            assert isinstance(producer, Operation) and producer in index
            u = index[producer]
            src, dst = system.devices[_device(producer)].memory, system.devices[h.dst.device_name].memory
            a, b = sorted((src, dst))
            n_bytes = graph.values[(u, producer.results.index(h.input))]
            for s, (start, end) in enumerate(op_times(h)):
                events.append(
                    _event(
                        f"kv handoff {graph.names[u]}",
                        "transfer",
                        f"link {a}-{b}",
                        t.phase,
                        s,
                        start,
                        end,
                        {"bytes": n_bytes, "src": src, "dst": dst, "kv_handoff": True},
                    )
                )
    return events


def _device(op: Operation) -> str:
    device = device_of(op)
    assert device is not None, f"a scheduled op without a device: {op.name}"
    return device


def _event(
    name: str, kind: str, resource: str, phase: str, stream: int, start: float, end: float, args: dict[str, Any]
) -> dict[str, Any]:
    return {
        "name": name,
        "kind": kind,
        "resource": resource,
        "phase": phase,
        "stream": stream,
        "start_ns": start,
        "end_ns": end,
        "args": args,
    }


def timeline_json(module: ModuleOp) -> str:
    """timeline.json's text for a scheduled module."""
    trace = chrome_trace(
        timeline_events(module), model_name(module), recorded_system(module).name, tensor_parallel(module)
    )
    return json.dumps(trace, allow_nan=False) + "\n"


@dataclass(frozen=True)
class TimelineTarget(Target):
    """timeline.json: the schedule recorded in the IR as a Chrome / Perfetto trace (module docstring)."""

    name = "pimc-timeline"

    def emit(self, ctx: Context, module: ModuleOp, output: IO[str]) -> None:
        output.write(timeline_json(module))
