"""The schedule as a Chrome / Perfetto trace (Trace Event Format, JSON object form).

The scheduler's timeline (one dict per op or transfer, absolute `start_ns` /
`end_ns`) becomes complete events ("ph": "X") that chrome://tracing and
ui.perfetto.dev open directly, so the overlap between devices, links and
sub-batch streams can be inspected visually. Layout: one process (the model);
one thread per resource, devices first then links, each in first-seen order;
a "phases" thread on top with one slice per phase spanning its events.

The format counts time in microseconds; ts and dur stay floats (ns / 1000) so
that ns-scale ops keep a visible, exact width.
"""

from __future__ import annotations

import math
from typing import Any

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


def chrome_trace(events: list[dict[str, Any]], model: str, system: str) -> dict[str, Any]:
    """The Trace Event Format object for a schedule timeline (see the module docstring).

    Each event's name gains the suffix " [sbN]" when the timeline has sub-batch
    streams (some stream > 0); its args carry the event's own args plus phase,
    stream, start_ns and end_ns. Raises ValueError on a non-finite start or end.
    """
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
        out.append({
            "name": f"{e['name']} [sb{e['stream']}]" if streams else e["name"],
            "cat": e["kind"], "ph": "X", "pid": PID, "tid": tids[e["resource"]],
            "ts": start / 1e3, "dur": (end - start) / 1e3,
            "args": {**_json_safe(e["args"]), "phase": e["phase"], "stream": e["stream"],
                     "start_ns": start, "end_ns": end},
        })
    for phase, (start, end) in spans.items():
        out.append({"name": phase, "cat": "phase", "ph": "X", "pid": PID, "tid": tids[PHASES_TRACK],
                    "ts": start / 1e3, "dur": (end - start) / 1e3,
                    "args": {"start_ns": start, "end_ns": end}})
    return {"traceEvents": out, "displayTimeUnit": "ns",
            "otherData": {"generator": "pimc", "model": model, "system": system}}
