"""Chrome trace export of schedule timelines and the roofline plot, on synthetic events and reports."""

from __future__ import annotations

import io
import json
import math
import threading
from typing import Any

import pytest

from pimc.targets.emit.roofline import roofline_png, roofline_png_bytes
from pimc.targets.emit.timeline import chrome_trace
from pimc.targets.models.cost import device_roofs
from pimc.targets.system import load_system

PNG = b"\x89PNG\r\n\x1a\n"


def _event(
    name: str,
    resource: str,
    start: float,
    end: float,
    phase: str = "prefill",
    stream: int = 0,
    kind: str = "op",
    **args: Any,
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


EVENTS = [
    _event("layers.0.q_proj", "npu", 0.0, 1234.5, op="MatMul", flops=100),
    _event("transfer x", "link gddr6-hbm", 1234.5, 3234.5, kind="transfer", bytes=64),
    _event("layers.0.attn", "gpu", 3234.5, 3300.25, intensity=float("inf")),
    _event("layers.0.q_proj", "pim", 4000.0, 4000.5, phase="decode"),
    _event("layers.0.k_proj", "npu", 4000.5, 4100.0, phase="decode"),
]


def _x(trace: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in trace["traceEvents"] if e["ph"] == "X" and e["cat"] != "phase"]


def _thread_names(trace: dict[str, Any]) -> dict[int, str]:
    return {e["tid"]: e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "thread_name"}


def test_trace_is_strict_json_with_one_complete_event_per_schedule_event() -> None:
    trace = chrome_trace(EVENTS, "gpt2", "npu-aim")
    text = json.dumps(trace, allow_nan=False)  # the inf intensity became null
    assert json.loads(text)["displayTimeUnit"] == "ns"
    for e in trace["traceEvents"]:
        assert {"ph", "pid", "tid"} <= e.keys()
        if e["ph"] == "X":
            assert {"ts", "dur", "name", "cat", "args"} <= e.keys()
    xs = _x(trace)
    assert len(xs) == len(EVENTS)
    for src, e in zip(EVENTS, xs):
        assert e["ts"] == src["start_ns"] / 1000
        assert e["dur"] == pytest.approx((src["end_ns"] - src["start_ns"]) / 1000)
        assert e["name"] == src["name"] and e["cat"] == src["kind"]
        assert e["args"]["phase"] == src["phase"] and e["args"]["start_ns"] == src["start_ns"]
    assert xs[3]["dur"] == pytest.approx(0.0005)  # a 0.5 ns op keeps its width
    assert xs[0]["args"]["flops"] == 100 and xs[2]["args"]["intensity"] is None


def test_trace_tracks_devices_then_links_and_events_stay_on_their_resource() -> None:
    trace = chrome_trace(EVENTS, "gpt2", "npu-aim")
    names = _thread_names(trace)
    sort = {e["tid"]: e["args"]["sort_index"] for e in trace["traceEvents"] if e["name"] == "thread_sort_index"}
    ordered = [names[t] for t in sorted(names, key=sort.__getitem__)]
    assert ordered == ["phases", "npu", "gpu", "pim", "link gddr6-hbm"]
    per_track: dict[str, list[str]] = {}
    for e in _x(trace):
        per_track.setdefault(names[e["tid"]], []).append(e["name"])
    assert per_track == {
        "npu": ["layers.0.q_proj", "layers.0.k_proj"],
        "link gddr6-hbm": ["transfer x"],
        "gpu": ["layers.0.attn"],
        "pim": ["layers.0.q_proj"],
    }
    assert {e["pid"] for e in trace["traceEvents"]} == {1}
    assert any(e["name"] == "process_name" and "gpt2" in e["args"]["name"] for e in trace["traceEvents"])


def test_trace_phase_slices_span_their_events() -> None:
    trace = chrome_trace(EVENTS, "gpt2", "npu-aim")
    phases = {e["name"]: e for e in trace["traceEvents"] if e.get("cat") == "phase"}
    assert phases["prefill"]["ts"] == 0.0 and phases["prefill"]["dur"] == pytest.approx(3.30025)
    assert phases["decode"]["ts"] == 4.0 and phases["decode"]["dur"] == pytest.approx(0.1)
    assert {_thread_names(trace)[e["tid"]] for e in phases.values()} == {"phases"}


def test_trace_names_sub_batch_streams_only_when_there_are_several() -> None:
    plain = _x(chrome_trace(EVENTS, "m", "s"))
    assert not any("[sb" in e["name"] for e in plain)
    events = [_event("a", "npu", 0, 10, stream=0), _event("a", "pim", 5, 15, stream=1)]
    assert [e["name"] for e in _x(chrome_trace(events, "m", "s"))] == ["a [sb0]", "a [sb1]"]


def test_trace_rejects_non_finite_times() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        chrome_trace([_event("a", "npu", 0, float("nan"))], "m", "s")


def test_trace_of_ten_thousand_events() -> None:
    # (its speed is not asserted here: a timed test fails on a loaded machine)
    events = [
        _event(
            f"op{i}",
            ("npu", "pim", "gpu", "link a-b")[i % 4],
            i * 10.0,
            i * 10.0 + 7.5,
            "prefill" if i < 5000 else "decode",
            i % 2,
            op="MatMul",
            flops=i,
        )
        for i in range(10_000)
    ]
    trace = chrome_trace(events, "m", "s")
    assert len(_x(trace)) == 10_000
    json.dumps(trace, allow_nan=False)


def test_device_roofs_follow_from_preset_parameters() -> None:
    s = load_system("npu-aim")
    roofs = device_roofs(s, "fp16")
    npu, pim, gpu = s.devices["npu"], s.devices["pim"], s.devices["gpu"]
    assert roofs["npu"] == pytest.approx(
        (
            2 * npu.npu.array_rows * npu.npu.array_cols * npu.npu.cores * npu.npu.clock_ghz,
            s.memories["gddr6"].bandwidth_gbps,
        )
    )
    assert roofs["gpu"] == pytest.approx(
        (
            gpu.gpu.peak_tflops["fp16"] * 1e3 * gpu.gpu.compute_efficiency,
            s.memories["hbm"].bandwidth_gbps * gpu.gpu.memory_efficiency,
        )
    )
    elements = pim.pim.column_bytes // 2  # fp16 elements per column access
    v = max(1, pim.pim.mac_lanes // elements)  # input vectors a column serves
    column_ns = pim.pim.mac_interval_cycles * math.ceil(v * elements / pim.pim.mac_lanes) * pim.pim.tck_ns
    one_vector_ns = pim.pim.mac_interval_cycles * math.ceil(elements / pim.pim.mac_lanes) * pim.pim.tck_ns
    banks = pim.pim.channels * pim.pim.banks_per_channel
    assert roofs["pim"] == pytest.approx(
        (2 * banks * elements * v / column_ns, banks * pim.pim.column_bytes / one_vector_ns)
    )
    assert list(roofs) == ["npu", "pim", "gpu"]


def test_device_roofs_apply_efficiencies_and_skip_devices_without_the_dtype() -> None:
    s = load_system("attacc")
    gpu = s.devices["gpu"]
    roofs = device_roofs(s, "fp16")
    assert gpu.gpu.compute_efficiency < 1 and gpu.gpu.memory_efficiency < 1
    assert roofs["gpu"] == pytest.approx(
        (
            gpu.gpu.peak_tflops["fp16"] * 1e3 * gpu.gpu.compute_efficiency,
            s.memories["hbm"].bandwidth_gbps * gpu.gpu.memory_efficiency,
        )
    )
    assert "pim" in roofs
    assert "fp32" in gpu.gpu.peak_tflops and "fp32" not in s.devices["pim"].pim.dtypes
    assert list(device_roofs(s, "fp32")) == ["gpu"]
    assert "fp8" not in gpu.gpu.peak_tflops
    assert device_roofs(s, "fp8") == {}


def _report(system: str, ops: list[dict[str, Any]], dtype: str = "fp16") -> dict[str, Any]:
    return {
        "model": "gpt2",
        "system": {"name": system, "source": system},
        "dtype": dtype,
        "strategy": "greedy",
        "ops": ops,
    }


def _op(device: str | None, phase: str, flops: float, n_bytes: float, latency: float | None) -> dict[str, Any]:
    return {
        "name": "x",
        "op": "MatMul",
        "phase": phase,
        "device": device,
        "flops": flops,
        "bytes": n_bytes,
        "intensity": flops / n_bytes if n_bytes else 0.0,
        "latency_ns": latency,
        "energy_pj": 1.0,
        "bound": "memory",
        "start_ns": 0.0,
        "end_ns": latency,
    }


def test_roofline_png_renders_ops_and_skips_unplottable_ones(tmp_path) -> None:
    s = load_system("npu-aim")
    ops = [
        _op("npu", "prefill", 2e9, 1e7, 2e6),
        _op("pim", "decode", 2e7, 1e7, 1e4),
        _op("gpu", "decode", 1e6, 1e6, 2e3),
        _op("npu", "decode", 0, 100, 5.0),  # no FLOPs
        _op("npu", "prefill", 100, 0, 5.0),
        _op(None, "prefill", 100, 10, None),  # no bytes; unplaced
        _op("pim", "other", 10, 10, 1.0),
    ]
    png = roofline_png_bytes(_report("npu-aim", ops), s)
    assert png.startswith(PNG)
    path = tmp_path / "roofline.png"
    roofline_png(_report("npu-aim", ops), s, path)
    assert path.read_bytes().startswith(PNG)
    buf = io.BytesIO()
    roofline_png(_report("npu-aim", ops), s, buf)
    assert buf.getvalue().startswith(PNG)


def test_roofline_png_without_roof_or_ops() -> None:
    s = load_system("attacc")
    ops = [_op("gpu", "decode", 2e6, 1e6, 1e3), _op("pim", "decode", 2e6, 1e6, 1e3)]
    assert roofline_png_bytes(_report("attacc", ops, "fp8"), s).startswith(PNG)  # ops whose device has no roof
    assert roofline_png_bytes(_report("attacc", []), s).startswith(PNG)
    assert roofline_png_bytes(_report("attacc", [], "fp8"), s).startswith(PNG)  # nothing to draw


def test_roofline_png_of_five_thousand_ops_is_thread_safe() -> None:
    s = load_system("npu-aim")
    ops = [
        _op(
            ("npu", "pim", "gpu")[i % 3],
            ("prefill", "decode")[i % 2],
            1e6 * (1 + i % 97),
            1e4 * (1 + i % 13),
            1e3 * (1 + i % 7),
        )
        for i in range(5000)
    ]
    assert roofline_png_bytes(_report("npu-aim", ops), s).startswith(PNG)
    out: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: out.append(roofline_png_bytes(_report("npu-aim", ops[:50]), s)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 3 and all(p.startswith(PNG) for p in out)
