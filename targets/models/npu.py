"""NPU (systolic array) cost model: GEMM cycles equal to SCALE-Sim v3, DRAM traffic, latency.

Pure functions of numbers (no IR, no system loader). Units: cycles and bytes are
counts; clocks are GHz (cycles per ns); bandwidth is GB/s, decimal
(1 GB/s = 1e9 byte/s = 1 byte/ns); times are ns; SRAM sizes are KiB (1024 B)
in the device keys (SCALE-Sim's `*SramSzkB`, which it multiplies by 1024) and
bytes in `gemm_dram_bytes`.

Reference: SCALE-Sim v3 (Samajdar et al., "A Systematic Methodology for
Characterizing Scalability of DNN Accelerators using SCALE-Sim", ISPASS 2020;
Raj et al., "SCALE-Sim v3", 2025), PyPI `scalesim` 3.0.0 (scalesim-project/scale-sim-v3).
What it does, read from its source (site-packages/scalesim) and checked by
running it (tests/unit/test_npu_scalesim.py, benchmarks/npu_vs_scalesim.py):

- GEMM topology row `Layer,M,N,K,` (topology_utils.load_arrays_gemm) becomes a
  1 x K "convolution" over an M x K ifmap with N filters, so the operand
  matrices (compute/operand_matrix.py) are ifmap A = M x K, filter B = K x N,
  ofmap = M x N: C[M,N] = A[M,K] @ B[K,N]. (The docstring of
  `get_transformed_mnk_dimensions` names them differently; the matrices are
  the above.)
- An R x C array (ArrayHeight x ArrayWidth) maps per dataflow
  (compute/systolic_compute_{os,ws,is}.py; Sr x Sc is the spatial extent, T the
  temporal one):

  ====  ==========  ==========  ========  ================================
  df    Sr (rows)   Sc (cols)   T         stationary in the PEs
  ====  ==========  ==========  ========  ================================
  os    M           N           K         outputs (A streamed, B streamed)
  ws    K           N           M         B tiles (A streamed)
  is    K           M           N         A tiles (B streamed)
  ====  ==========  ==========  ========  ================================

  and it runs ceil(Sr/R) * ceil(Sc/C) folds, loop order `for col fold: for
  row fold` (the column folds outermost), each fold lasting a fixed number of
  demand rows (cycles).
- COMPUTE_REPORT.csv "Total Cycles" is the *index* of the last cycle at which
  an ofmap write is serviced (memory/double_buffered_scratchpad_mem.py:
  `max(ofmap_serviced_cycles)`, cycles counted from 0), i.e. the number of
  demand rows minus 1 when nothing stalls: hence the "- 1" in every formula.
  The "Total Cycles (incl. prefetch)" column adds the initial DRAM prefetch.
- Its memory model is a double-buffered scratchpad per operand
  (active_buf_frac = 0.5: half serves the array, half prefetches), word size
  1 byte (hard-coded in single_layer_sim.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pimc.targets.system import NpuParams

DATAFLOWS = ("os", "ws", "is")

DOUBLE_BUFFER_FRACTION = 0.5
"""Fraction of each SRAM that can hold resident data: the active half of a double buffer.

SCALE-Sim: single_layer_sim.py `active_buf_frac = 0.5` for the ifmap, filter
and ofmap buffers (the other half prefetches the next data / drains outputs).
"""


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _check(m: int, n: int, k: int, rows: int, cols: int, dataflow: str) -> None:
    if dataflow not in DATAFLOWS:
        raise ValueError(f"unknown dataflow {dataflow!r}; expected one of {DATAFLOWS}")
    if rows < 1 or cols < 1:
        raise ValueError(f"array must be at least 1 x 1, got {rows} x {cols}")
    if min(m, n, k) < 0:
        raise ValueError(f"negative GEMM dimension in M={m} N={n} K={k}")


def gemm_compute_cycles(m: int, n: int, k: int, rows: int, cols: int, dataflow: str) -> int:
    """Cycles of C[M,N] = A[M,K] @ B[K,N] on one `rows` x `cols` systolic array, no memory stalls.

    Equals SCALE-Sim 3.0.0's "Total Cycles" (COMPUTE_REPORT.csv) for the GEMM
    topology row `Layer,M,N,K,` on an ArrayHeight=rows x ArrayWidth=cols array
    whenever its Stall Cycles are 0 (large SRAM, enough bandwidth), verified
    exactly over hundreds of shapes (tests/unit/test_npu_scalesim.py). With
    R = rows, C = cols:

    - os (output stationary): ceil(M/R) * ceil(N/C) * (R + C + K - 2) - 1.
      Per fold an R x C block of outputs: K cycles of streaming A rows and B
      columns, R - 1 + C - 1 cycles of skew fill/drain (scalesim/compute/
      systolic_compute_os.py: ofmap demand per fold = K - 1 gap + R rows +
      C - 1 skew).
    - ws (weight stationary): ceil(K/R) * ceil(N/C) * (2R + C + M - 2) - 1.
      Per fold an R x C tile of B: R cycles to load it, M rows of A streamed,
      R - 1 + C - 1 skew (scalesim/compute/systolic_compute_ws.py).
    - is (input stationary): ceil(K/R) * ceil(M/C) * (2R + C + N - 2) - 1.
      The ws formula with A and B swapped: an R x C tile of A^T (K on the rows,
      M on the columns) is loaded, the N columns of B are streamed
      (systolic_compute_is.py: Sr = K, Sc = M, T = N; per fold the filter
      demand is R load rows + N + C - 1 drain rows + R - 1 skew rows). Derived
      from the source and verified against the tool.

    The trailing "- 1" is SCALE-Sim's: "Total Cycles" is the 0-based index of
    the last ofmap write, not a count. An empty GEMM (any dimension 0) is 0.
    """
    _check(m, n, k, rows, cols, dataflow)
    if min(m, n, k) == 0:
        return 0
    r, c = rows, cols
    if dataflow == "os":
        return _ceil(m, r) * _ceil(n, c) * (r + c + k - 2) - 1
    if dataflow == "ws":
        return _ceil(k, r) * _ceil(n, c) * (2 * r + c + m - 2) - 1
    return _ceil(k, r) * _ceil(m, c) * (2 * r + c + n - 2) - 1


@dataclass(frozen=True)
class GemmTraffic:
    """DRAM bytes of one GEMM, per operand (see `gemm_dram_traffic`)."""

    ifmap_bytes: int
    """Reads of A (M x K)."""
    filter_bytes: int
    """Reads of B (K x N)."""
    ofmap_bytes: int
    """Writes of C (M x N), plus partial-sum reads and re-writes when they spill."""

    @property
    def total(self) -> int:
        return self.ifmap_bytes + self.filter_bytes + self.ofmap_bytes


def _fits(n_bytes: int, sram_bytes: int) -> bool:
    return n_bytes <= sram_bytes * DOUBLE_BUFFER_FRACTION


def gemm_dram_traffic(
    m: int,
    n: int,
    k: int,
    rows: int,
    cols: int,
    dataflow: str,
    ifmap_sram_bytes: int,
    filter_sram_bytes: int,
    ofmap_sram_bytes: int,
    elem_bytes: int,
) -> GemmTraffic:
    """DRAM traffic of C[M,N] = A[M,K] @ B[K,N] on one array with per-operand SRAMs, in bytes.

    Model (pimc's, derived from SCALE-Sim's fold loop order; every element is
    `elem_bytes`, partial sums included). Each SRAM is double-buffered, so data
    kept resident for reuse must fit in half of it (`DOUBLE_BUFFER_FRACTION`,
    SCALE-Sim's active_buf_frac = 0.5). An operand is read from DRAM once when
    the data it reuses fits; otherwise it is re-read once per pass of the loop
    that reuses it. R = rows, C = cols, folds as in `gemm_compute_cycles`; the
    loop order is SCALE-Sim's `for column fold: for row fold: stream T`:

    - os (`for N/C column folds: for M/R row folds: stream K`):
      A (M x K) is needed again by every column fold: read once if all of A
      fits in the ifmap SRAM, else ceil(N/C) times. The B column panel
      (K x min(N, C)) is reused by every row fold of its column fold: B read once
      if a panel fits in the filter SRAM, else ceil(M/R) times. Outputs
      accumulate in the PEs: C written once.
    - ws (`for N/C column folds: for K/R row folds: stream M`): each R x C tile
      of B is loaded into the PEs once: B read once. A is streamed once per
      column fold: read once if all of A fits in the ifmap SRAM, else ceil(N/C)
      times. The output panel (M x min(N, C)) accumulates over the ceil(K/R)
      row folds in the ofmap SRAM: written once if it fits (or K <= R), else
      its partial sums spill: written ceil(K/R) times and read back
      ceil(K/R) - 1 times, C traffic = M*N*(2*ceil(K/R) - 1).
    - is (`for M/C column folds: for K/R row folds: stream N`): each R x C tile
      of A^T is loaded once: A read once. B is streamed once per column fold:
      read once if all of B fits in the filter SRAM, else ceil(M/C) times. The
      output panel (min(M, C) x N) accumulates over the ceil(K/R) row folds:
      as ws.

    No line/burst granularity, no padding of partial folds, ideal reuse of
    whatever fits.

    Against SCALE-Sim 3.0.0 (its DETAILED_ACCESS_REPORT "DRAM IFMAP/Filter
    Reads" and "DRAM OFMAP Writes", in words = bytes at its 1-byte word), it
    matches qualitatively, not exactly:

    - SRAMs large enough: both read each operand about once. SCALE-Sim counts
      whole request lines of `bandwidth` words including the null padding of
      partial folds, so it rounds up (64x64x64 on 8x8, 64 KiB SRAMs: 4096 /
      4096 / 4096 in both; 10x12x20 on 4x4, 100-word lines: A 300 vs 200,
      B 300 vs 240).
    - Outputs: os matches (M*N). For ws and is SCALE-Sim writes every row
      fold's partial sums to DRAM and never reads them back: M*N*ceil(K/R)
      (10x12x20 on 4x4 ws: 600 vs pimc's 120 with the panel in SRAM).
    - SRAMs too small: the streamed operand is re-read about ceil(N/C) (os,
      ws) or ceil(M/C) (is) times in both (64x64x32 on 8x8, 1 KiB SRAMs: A
      20480 vs 16384 in os and ws, B 20480 vs 16384 in is). But SCALE-Sim's
      read buffer is a FIFO window sliding over the operand in prefetch order:
      a reused tile that straddles a window boundary makes it wrap round the
      whole operand, so the reused operand's reads blow up (os B: 67584 vs
      2048; ws B: 8192 vs 2048) and its counts are not monotonic in SRAM size
      (2 KiB: os A 32768). pimc models the ideal reuse instead.
    """
    _check(m, n, k, rows, cols, dataflow)
    if min(m, n, k) == 0:
        return GemmTraffic(0, 0, 0)
    r, c, e = rows, cols, elem_bytes
    a, b, out = m * k, k * n, m * n
    k_folds = _ceil(k, r)
    spilled_out = out * (2 * k_folds - 1)
    if dataflow == "os":
        a_reads = a if _fits(a * e, ifmap_sram_bytes) else a * _ceil(n, c)
        b_reads = b if _fits(k * min(n, c) * e, filter_sram_bytes) else b * _ceil(m, r)
        writes = out
    elif dataflow == "ws":
        a_reads = a if _fits(a * e, ifmap_sram_bytes) else a * _ceil(n, c)
        b_reads = b
        fits = k_folds == 1 or _fits(m * min(n, c) * e, ofmap_sram_bytes)
        writes = out if fits else spilled_out
    else:
        a_reads = a
        b_reads = b if _fits(b * e, filter_sram_bytes) else b * _ceil(m, c)
        fits = k_folds == 1 or _fits(min(m, c) * n * e, ofmap_sram_bytes)
        writes = out if fits else spilled_out
    return GemmTraffic(a_reads * e, b_reads * e, writes * e)


def gemm_dram_bytes(
    m: int,
    n: int,
    k: int,
    rows: int,
    cols: int,
    dataflow: str,
    ifmap_sram_bytes: int,
    filter_sram_bytes: int,
    ofmap_sram_bytes: int,
    elem_bytes: int,
) -> int:
    """Total DRAM bytes (reads + writes) of one GEMM on one array: `gemm_dram_traffic(...).total`.

    See `gemm_dram_traffic` for the model and how it compares with SCALE-Sim.
    SRAM sizes are bytes per array (a device's `*_sram_kb` x 1024).
    """
    return gemm_dram_traffic(
        m, n, k, rows, cols, dataflow, ifmap_sram_bytes, filter_sram_bytes, ofmap_sram_bytes, elem_bytes
    ).total


@dataclass(frozen=True)
class NpuGemmCost:
    """Latency of a (batched) GEMM on an NPU and what bounds it."""

    cycles: int
    """Cycles of the busiest core (`gemm_compute_cycles` summed over its share)."""
    dram_bytes: int
    """DRAM bytes of all cores together."""
    compute_ns: float
    """cycles / clock_ghz."""
    memory_ns: float
    """dram_bytes / bandwidth_gbps."""

    @property
    def latency_ns(self) -> float:
        """max(compute_ns, memory_ns): transfers overlap compute (double buffering)."""
        return max(self.compute_ns, self.memory_ns)

    @property
    def bound(self) -> str:
        """Which side bounds the latency: "compute" when compute_ns >= memory_ns, else "memory"."""
        return "compute" if self.compute_ns >= self.memory_ns else "memory"


def _core_shares(size: int, cols: int, parts: int) -> list[int]:
    """Split `size` into at most `parts` chunks of whole `cols`-wide folds, largest first."""
    per = _ceil(_ceil(size, cols), parts) * cols
    return [min(per, size - i) for i in range(0, size, per)]


def npu_gemm_cost(
    m: int,
    n: int,
    k: int,
    batch: int = 1,
    *,
    rows: int,
    cols: int,
    cores: int,
    clock_ghz: float,
    dataflow: str,
    ifmap_sram_kb: float,
    filter_sram_kb: float,
    ofmap_sram_kb: float,
    bandwidth_gbps: float,
    elem_bytes: int,
) -> NpuGemmCost:
    """Cost of `batch` independent GEMMs C[M,N] = A[M,K] @ B[K,N] on `cores` arrays sharing one memory.

    Each GEMM has its own A and B (attention's per-head products); a product
    whose weight is shared by the batch (a linear layer over B x S tokens)
    should be passed as one GEMM with m = B * S, which reads the weight once.

    Work split over the cores (pimc's choice; SCALE-Sim simulates one array):

    - batch >= cores: whole GEMMs go round-robin to the cores; the busiest
      core runs ceil(batch / cores) of them back to back:
      cycles = ceil(batch / cores) * gemm_compute_cycles(M, N, K).
    - batch < cores: each GEMM gets g = cores // batch cores (the rest idle)
      and is split along the output dimension the array's columns hold (N for
      os and ws, M for is) into at most g chunks of whole C-wide column folds;
      cycles = gemm_compute_cycles of the largest chunk. Each core reads the
      other operand in full.

    Compute: compute_ns = cycles / clock_ghz (cycles from
    `gemm_compute_cycles`, so equal to SCALE-Sim's Total Cycles per array when
    compute-bound). Memory: dram_bytes = the sum of `gemm_dram_bytes` over every
    core's share, with each core's own SRAMs (`*_sram_kb` x 1024 bytes);
    memory_ns = dram_bytes / bandwidth_gbps (GB/s = byte/ns, the device
    memory's bandwidth, shared by all cores). Latency = max(compute_ns,
    memory_ns) (`NpuGemmCost.latency_ns`; double buffering overlaps the
    transfers with compute), bound by whichever is larger
    (`NpuGemmCost.bound`).

    Parameters: rows/cols/cores/clock_ghz/dataflow/*_sram_kb are the device
    keys array_rows, array_cols, cores, clock_ghz, dataflow, ifmap_sram_kb,
    filter_sram_kb, ofmap_sram_kb (`npu_gemm_cost_from_params` maps them);
    elem_bytes is the deployment precision's size (targets/dtypes.py).
    """
    _check(m, n, k, rows, cols, dataflow)
    if cores < 1 or batch < 0 or clock_ghz <= 0 or bandwidth_gbps <= 0:
        raise ValueError(f"bad NPU parameters: cores={cores} batch={batch} clock={clock_ghz} bw={bandwidth_gbps}")
    sram = (int(ifmap_sram_kb * 1024), int(filter_sram_kb * 1024), int(ofmap_sram_kb * 1024))

    def traffic(mm: int, nn: int) -> int:
        return gemm_dram_bytes(mm, nn, k, rows, cols, dataflow, *sram, elem_bytes)

    if batch == 0 or min(m, n, k) == 0:
        cycles, n_bytes = 0, 0
    elif batch >= cores:
        cycles = _ceil(batch, cores) * gemm_compute_cycles(m, n, k, rows, cols, dataflow)
        n_bytes = batch * traffic(m, n)
    else:
        group = cores // batch
        if dataflow == "is":
            shares = _core_shares(m, cols, group)
            cycles = gemm_compute_cycles(shares[0], n, k, rows, cols, dataflow)
            n_bytes = batch * sum(traffic(s, n) for s in shares)
        else:
            shares = _core_shares(n, cols, group)
            cycles = gemm_compute_cycles(m, shares[0], k, rows, cols, dataflow)
            n_bytes = batch * sum(traffic(m, s) for s in shares)
    return NpuGemmCost(cycles, n_bytes, cycles / clock_ghz, n_bytes / bandwidth_gbps)


def npu_gemm_ns(m: int, n: int, k: int, batch: int = 1, **device: Any) -> float:
    """Latency in ns of `batch` independent M x K @ K x N GEMMs: `npu_gemm_cost(...).latency_ns`
    (same keyword arguments).

    latency = max(cycles / clock_ghz, dram_bytes / bandwidth_gbps); the regime
    (compute- or memory-bound) is `npu_gemm_cost(...).bound`. See
    `npu_gemm_cost` for the multi-core split and the parameters.
    """
    return npu_gemm_cost(m, n, k, batch, **device).latency_ns


def npu_gemm_cost_from_params(
    m: int, n: int, k: int, batch: int, params: NpuParams, *, bandwidth_gbps: float, elem_bytes: int
) -> NpuGemmCost:
    """`npu_gemm_cost` with the array, clock, dataflow and SRAMs of an npu device's parameters."""
    return npu_gemm_cost(
        m,
        n,
        k,
        batch,
        rows=params.array_rows,
        cols=params.array_cols,
        cores=params.cores,
        clock_ghz=params.clock_ghz,
        dataflow=params.dataflow,
        ifmap_sram_kb=params.ifmap_sram_kb,
        filter_sram_kb=params.filter_sram_kb,
        ofmap_sram_kb=params.ofmap_sram_kb,
        bandwidth_gbps=bandwidth_gbps,
        elem_bytes=elem_bytes,
    )


def npu_vector_ns(
    flops: float, n_bytes: float, *, vector_lanes: int, cores: int, clock_ghz: float, bandwidth_gbps: float
) -> float:
    """Latency in ns of vector-unit work (softmax, norms, element-wise) on the NPU.

    max(flops / (vector_lanes * cores * clock_ghz), n_bytes / bandwidth_gbps):
    every core's vector unit retires one FLOP per lane per cycle (the device key
    `vector_lanes`, per core; NeuPIMs/ONNXim vector units of 128 lanes, see the
    npu preset), all in parallel; the bytes stream over the device memory
    (GB/s = byte/ns) and overlap the arithmetic (roofline, Williams et al.,
    CACM 2009).
    """
    if vector_lanes < 1 or cores < 1 or clock_ghz <= 0 or bandwidth_gbps <= 0:
        raise ValueError("vector_lanes, cores, clock_ghz and bandwidth_gbps must be positive")
    return max(flops / (vector_lanes * cores * clock_ghz), n_bytes / bandwidth_gbps)


__all__ = [
    "DATAFLOWS",
    "DOUBLE_BUFFER_FRACTION",
    "GemmTraffic",
    "NpuGemmCost",
    "gemm_compute_cycles",
    "gemm_dram_bytes",
    "gemm_dram_traffic",
    "npu_gemm_cost",
    "npu_gemm_cost_from_params",
    "npu_gemm_ns",
    "npu_vector_ns",
]
