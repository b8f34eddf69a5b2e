"""GPU roofline (targets/models/gpu.py) against hand arithmetic; GenZ comparison when a GenZ interpreter is at hand."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pimc.targets.models.gpu import gbps_from_genz, genz_memory_bw, gpu_op_ns, gpu_op_time, peak_for

PEAK = {"fp32": 494.5, "bf16": 989.0, "fp16": 989.0, "fp8": 1979.0}
VECTOR = {"fp32": 66.9, "bf16": 133.8}


def _ns(flops, n_bytes, engine="matrix", dtype="bf16", **kw):
    args = dict(
        peak_tflops=PEAK,
        vector_tflops=VECTOR,
        compute_efficiency=1.0,
        memory_efficiency=1.0,
        launch_overhead_ns=0.0,
        bandwidth_gbps=3350.0,
        dtype=dtype,
    )
    args.update(kw)
    return gpu_op_ns(flops, n_bytes, engine, **args)


def test_compute_bound_gemm() -> None:
    # prefill down proj: 2 * 512 * 4096 * 11008 FLOPs at 989 TFLOP/s = 989e3 FLOP/ns
    flops = 2 * 512 * 4096 * 11008
    n_bytes = 2 * (512 * 11008 + 11008 * 4096 + 512 * 4096)
    assert _ns(flops, n_bytes) == pytest.approx(flops / 989e3)
    t = gpu_op_time(
        flops,
        n_bytes,
        "matrix",
        peak_tflops=PEAK,
        vector_tflops=VECTOR,
        compute_efficiency=1.0,
        memory_efficiency=1.0,
        launch_overhead_ns=0.0,
        bandwidth_gbps=3350.0,
        dtype="bf16",
    )
    assert t.bound == "compute"
    assert t.memory_ns == pytest.approx(n_bytes / 3350.0)


def test_memory_bound_gemv() -> None:
    # decode out proj: a 4096 x 4096 bf16 weight streamed at 3350 GB/s = 3350 byte/ns
    n_bytes = 2 * (4096 * 4096 + 2 * 4096)
    assert _ns(2 * 4096 * 4096, n_bytes) == pytest.approx(n_bytes / 3350.0)


def test_efficiencies_divide_the_peaks() -> None:
    assert _ns(1e9, 0, compute_efficiency=0.5) == pytest.approx(1e9 / 989e3 / 0.5)
    assert _ns(1, 1e9, memory_efficiency=0.8) == pytest.approx(1e9 / 3350.0 / 0.8)


def test_launch_overhead_is_added_once() -> None:
    base = _ns(1e6, 1e6)
    assert _ns(1e6, 1e6, launch_overhead_ns=4000.0) == pytest.approx(base + 4000.0)
    # an op that moves nothing and computes nothing (reshape) launches no kernel
    assert _ns(0, 0, launch_overhead_ns=4000.0) == 0.0
    # a pure copy (transpose, kv_append) streams its bytes and pays the launch
    assert _ns(0, 3350, launch_overhead_ns=10.0) == pytest.approx(1.0 + 10.0)


def test_dtype_selects_the_rate_of_the_engine() -> None:
    assert _ns(1e9, 0, dtype="fp8") == pytest.approx(1e9 / 1979e3)
    assert _ns(1e9, 0, dtype="fp32") == pytest.approx(1e9 / 494.5e3)
    # vector work runs at the vector table's rate, not the tensor cores'
    assert _ns(1e9, 0, engine="vector") == pytest.approx(1e9 / 133.8e3)
    assert peak_for("vector", "fp32", PEAK, VECTOR) == 66.9


def test_missing_dtype_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match="int8"):
        _ns(1e9, 1e6, dtype="int8")
    # fp8 has a tensor-core rate but no vector rate in these tables
    with pytest.raises(ValueError, match=r"vector_tflops.*'fp8'"):
        _ns(1e9, 1e6, engine="vector", dtype="fp8")


@pytest.mark.parametrize(
    "kw",
    [
        {"compute_efficiency": 0.0},
        {"memory_efficiency": 1.5},
        {"bandwidth_gbps": 0.0},
        {"launch_overhead_ns": -1.0},
        {"peak_tflops": {"bf16": 0.0}},
    ],
)
def test_bad_parameters_are_value_errors(kw) -> None:
    with pytest.raises(ValueError):
        _ns(1e9, 1e6, **kw)


def test_unknown_engine() -> None:
    with pytest.raises(ValueError, match="engine"):
        _ns(1e9, 1e6, engine="tensor")


def test_genz_bandwidth_units_are_binary() -> None:
    # GenZ's Memory_BW is GiB/s (GenZ/unit.py binary 'G'); its H100_GPU 3400 is 3650.7 GB/s
    assert gbps_from_genz(3400) == pytest.approx(3400 * 2**30 / 1e9)
    assert gbps_from_genz(genz_memory_bw(3350.0)) == pytest.approx(3350.0)


def test_h100_preset_is_the_genz_reference_machine() -> None:
    from pimc.targets.system import load_system

    h100 = load_system("h100")  # benchmarks/gpu_vs_genz.py configures GenZ from it
    assert h100.devices["gpu"].gpu.peak_tflops["bf16"] == 989.0
    assert h100.memory_of("gpu").bandwidth_gbps == 3350.0


def _genz_python() -> str:
    """An interpreter with GenZ: this one, $GENZ_PYTHON or /tmp/refvenv/bin/python; else skip."""
    if importlib.util.find_spec("GenZ") is not None:
        return sys.executable
    for candidate in (os.environ.get("GENZ_PYTHON"), "/tmp/refvenv/bin/python"):
        if candidate and Path(candidate).exists():
            ok = subprocess.run([candidate, "-c", "import GenZ"], capture_output=True).returncode == 0
            if ok:
                return candidate
    pytest.skip("GenZ (PyPI genz-llm) not installed here; set GENZ_PYTHON to an interpreter that has it")


def test_per_op_latency_within_2_percent_of_genz() -> None:
    genz = _genz_python()
    bench = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_vs_genz.py"
    done = subprocess.run([sys.executable, str(bench), "--genz-python", genz], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "PASS" in done.stdout
