"""GPU (and roofline accelerator) per-op cost model: a roofline with efficiencies and a launch overhead.

Pure functions of numbers (no IR). Units: FLOPs and bytes are counts; peak rates
are dense TFLOP/s (1 TFLOP/s = 1e12 FLOP/s = 1e3 FLOP/ns); bandwidth is GB/s,
decimal (1 GB/s = 1e9 byte/s = 1 byte/ns); times are ns.

Model (Williams, Waterman & Patterson, "Roofline", CACM 2009; the form GenZ uses)::

    compute_ns = flops / (1e3 * peak[dtype] * compute_efficiency)
    memory_ns  = bytes / (bandwidth_gbps * memory_efficiency)
    latency_ns = max(compute_ns, memory_ns) + launch_overhead_ns

`peak` is `peak_tflops` (tensor cores) for engine "matrix" and `vector_tflops`
(CUDA cores / SIMT lanes) for engine "vector", looked up by the deployment
precision (targets/dtypes.py). An op that neither computes nor moves data
(reshape: metadata only) launches no kernel and costs 0.

What GenZ (PyPI genz-llm 0.0.16) does, read from its source:

- GenZ/operator_base.py `Operator.get_roofline`: exec_time =
  max(compute_time / compute_efficiency, memory_time / memory_efficiency,
  comm_time); no launch overhead. Special case: an op with compute_time == 0
  also gets memory_time = 0 (its Repeat/EndRepeat markers and zero-length
  Logit/Attend rows cost nothing). pimc does not copy that rule: a pure copy
  (transpose, kv_append) still streams its bytes.
- `get_compute_time`: MACs * compute_multiplier[bits] / op_per_sec with
  op_per_sec = flops / 2 (GenZ/system.py `System`), i.e. 2 * MACs / peak at bf16;
  compute_multiplier = {bf16: 1, f32: 2, fp8/int8: 0.5}: fp32 at half the bf16
  peak, fp8/int8 at twice it. pimc's per-dtype `peak_tflops` table expresses this per dtype
  (the h100 preset: bf16/fp16 989, fp8/int8 1979, fp32 66.9 TFLOP/s dense).
  GenZ has one peak for every op: its LLM models contain only GEMMs, Logit and
  Attend (no norms, activations or softmax), so no vector rate appears.
- `get_memory_time`: sum over the three tensors (input_a, input_w, output) of
  elements * mem_multiplier[bits] bytes / bandwidth of the tensor's location:
  off-chip (HBM) or on-chip (SRAM, default 18000 GiB/s, not settable through a
  system dict). Off-chip bytes over HBM bandwidth is pimc's `memory_ns`; pimc
  has no on-chip tier: what a fused kernel keeps on chip is not in its bytes.
- Units (GenZ/unit.py `Unit`): compute 'Tflops' is decimal (x 1e12); bandwidth
  'GBsec' and memory 'MB' are *binary* (x 2**30 and x 2**20). GenZ's 'H100_GPU'
  preset (Systems/system_configs.py: Flops 989, Memory_BW 3400, Memory_size 80)
  therefore means 989e12 FLOP/s and 3400 * 2**30 B/s = 3650.7 GB/s here. To give
  GenZ a bandwidth of B GB/s (decimal), pass Memory_BW = B * 1e9 / 2**30
  (`genz_memory_bw`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ENGINES = ("matrix", "vector")


@dataclass(frozen=True)
class GpuOpTime:
    """The parts of one op's roofline latency, all in ns."""

    compute_ns: float
    memory_ns: float
    launch_ns: float

    @property
    def total_ns(self) -> float:
        """max(compute, memory) + launch overhead (0 for an op that does nothing)."""
        if self.compute_ns == 0 and self.memory_ns == 0:
            return 0.0
        return max(self.compute_ns, self.memory_ns) + self.launch_ns

    @property
    def bound(self) -> str:
        """ "compute" or "memory": which side of the roofline sets the time."""
        return "compute" if self.compute_ns > self.memory_ns else "memory"


def peak_for(engine: str, dtype: str, peak_tflops: Mapping[str, float], vector_tflops: Mapping[str, float]) -> float:
    """Dense TFLOP/s of `engine` ("matrix": tensor cores; "vector": SIMT lanes) at `dtype`.

    Raises ValueError naming the engine or the dtype when the tables have no rate for it.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine '{engine}' (expected one of {', '.join(ENGINES)})")
    table, key = (peak_tflops, "peak_tflops") if engine == "matrix" else (vector_tflops, "vector_tflops")
    if dtype not in table:
        have = ", ".join(sorted(table)) or "none"
        raise ValueError(f"no {key} rate for dtype '{dtype}' (the table has: {have})")
    rate = float(table[dtype])
    if not rate > 0:
        raise ValueError(f"{key}.{dtype} must be > 0, got {table[dtype]}")
    return rate


def gpu_op_time(
    flops: float,
    n_bytes: float,
    engine: str,
    *,
    peak_tflops: Mapping[str, float],
    vector_tflops: Mapping[str, float],
    compute_efficiency: float,
    memory_efficiency: float,
    launch_overhead_ns: float,
    bandwidth_gbps: float,
    dtype: str,
) -> GpuOpTime:
    """Compute time, memory time and launch overhead of one op (ns); see the module docstring.

    compute_ns = flops / (1e3 * peak_TFLOPs * compute_efficiency) (1 TFLOP/s = 1e3 FLOP/ns);
    memory_ns = n_bytes / (bandwidth_gbps * memory_efficiency) (1 GB/s = 1 byte/ns).
    """
    if flops < 0 or n_bytes < 0:
        raise ValueError(f"flops and bytes must be >= 0, got {flops} and {n_bytes}")
    for name, eff in (("compute_efficiency", compute_efficiency), ("memory_efficiency", memory_efficiency)):
        if not 0 < eff <= 1:
            raise ValueError(f"{name} must be in (0, 1], got {eff}")
    if not bandwidth_gbps > 0:
        raise ValueError(f"bandwidth_gbps must be > 0, got {bandwidth_gbps}")
    if launch_overhead_ns < 0:
        raise ValueError(f"launch_overhead_ns must be >= 0, got {launch_overhead_ns}")
    peak = peak_for(engine, dtype, peak_tflops, vector_tflops)
    return GpuOpTime(
        compute_ns=flops / (1e3 * peak * compute_efficiency),
        memory_ns=n_bytes / (bandwidth_gbps * memory_efficiency),
        launch_ns=float(launch_overhead_ns),
    )


def gpu_op_ns(flops: float, n_bytes: float, engine: str, **device: Any) -> float:
    """Latency of one op on a GPU in ns: `gpu_op_time(...).total_ns` (same keyword arguments).

    max(flops / (1e3 * peak[dtype] * compute_efficiency), n_bytes / (bandwidth_gbps * memory_efficiency))
    + launch_overhead_ns, with peak = peak_tflops (engine "matrix") or vector_tflops
    (engine "vector") in dense TFLOP/s and bandwidth in decimal GB/s (byte/ns); 0 for
    an op with no FLOPs and no bytes. ValueError if `dtype` has no rate in the table
    the engine uses (the message names the dtype), for an unknown engine, or for
    out-of-range parameters.
    """
    return gpu_op_time(flops, n_bytes, engine, **device).total_ns


def genz_memory_bw(bandwidth_gbps: float) -> float:
    """GenZ's `Memory_BW` (binary GiB/s, GenZ/unit.py) for a decimal bandwidth in GB/s: x 1e9 / 2**30."""
    return bandwidth_gbps * 1e9 / 2**30


def gbps_from_genz(memory_bw: float) -> float:
    """Decimal GB/s of a GenZ `Memory_BW` value (GiB/s): x 2**30 / 1e9 (GenZ 'H100_GPU' 3400 -> 3650.7)."""
    return memory_bw * 2**30 / 1e9
