"""pimc's NPU cost model (targets/models/npu.py) against the real SCALE-Sim 3.0.0, plus plain unit tests.

SCALE-Sim runs in-process (scalesim.scale_sim.scalesim, the class its CLI
scale.py drives) on topology/config/layout files written to tmp_path, with its
prints swallowed. One run per (array, dataflow) simulates every shape as one
layer of a GEMM topology; COMPUTE_REPORT.csv then has one row per layer.
The config uses USER bandwidth mode with wide DRAM ports and large SRAMs, so
nothing stalls (asserted) and "Total Cycles" is pure compute.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import math
import warnings
from pathlib import Path
from typing import Any

import pytest

from pimc.targets.models.npu import (
    gemm_compute_cycles,
    gemm_dram_bytes,
    gemm_dram_traffic,
    npu_gemm_cost,
    npu_gemm_cost_from_params,
    npu_gemm_ns,
    npu_vector_ns,
)
from pimc.targets.system import NpuParams

# (M, N, K): C[M,N] = A[M,K] @ B[K,N]. Non-multiples of every array size, GEMVs
# (M = 1), K smaller than the array, tall (M >> N) and wide (N >> M) products.
SHAPES = [
    (1, 1, 1),
    (1, 37, 29),
    (1, 64, 64),
    (3, 5, 7),
    (8, 8, 8),
    (9, 17, 33),
    (64, 3, 5),
    (2, 70, 3),
    (5, 5, 100),
    (33, 1, 1),
    (16, 16, 2),
    (40, 24, 12),
    (13, 31, 6),
]
ARRAYS = [(4, 4), (8, 8), (8, 4), (16, 16)]

_CONFIG = """\
[general]
run_name = pimc

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: {sram_kb}
FilterSramSzkB: {sram_kb}
OfmapSramSzkB: {sram_kb}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: {bw}
Dataflow: {dataflow}
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {bw}
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {bw}
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: USER
UseRamulatorTrace: False
"""


def _scalesim_class():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pytest.importorskip("scalesim")
        from scalesim.scale_sim import scalesim

    return scalesim


def run_scalesim(
    tmp: Path, shapes: list[tuple[int, int, int]], rows: int, cols: int, dataflow: str, *, sram_kb: int, bw: int
) -> list[dict[str, int]]:
    """Run SCALE-Sim on `shapes` (one layer each); per layer its total/stall cycles and DRAM accesses (words).

    In USER mode SCALE-Sim's ifmap/filter DRAM port width is the [layout]
    *SRAMBankBandwidth and the ofmap's the first `Bandwidth` entry (words per
    cycle); a layout file must exist even without custom layouts.
    """
    scalesim = _scalesim_class()
    tmp.mkdir(parents=True, exist_ok=True)
    topology = tmp / "gemm.csv"
    topology.write_text("Layer,M,N,K,\n" + "".join(f"L{i},{m},{n},{k},\n" for i, (m, n, k) in enumerate(shapes)))
    layout = tmp / "layout.csv"
    layout.write_text("Layer,\n")
    config = tmp / "pimc.cfg"
    config.write_text(_CONFIG.format(rows=rows, cols=cols, dataflow=dataflow, sram_kb=sram_kb, bw=bw))
    # SCALE-Sim leaves its input files open (ResourceWarning when they are freed) and calls
    # numpy's deprecated array-to-scalar conversion (DeprecationWarning); pyproject turns
    # warnings into errors, so those two are ignored around the run, and its prints swallowed.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        sim = scalesim(
            save_disk_space=True,
            verbose=False,
            config=str(config),
            topology=str(topology),
            layout=str(layout),
            input_type_gemm=True,
        )
        sim.run_scale(top_path=str(tmp / "out"))
        del sim
        gc.collect()
    report = tmp / "out" / "pimc"

    def rows_of(name: str) -> list[dict[str, str]]:
        with open(report / name, newline="") as f:
            return [{k.strip(): v.strip() for k, v in row.items() if k} for row in csv.DictReader(f)]

    out = []
    for comp, detail in zip(rows_of("COMPUTE_REPORT.csv"), rows_of("DETAILED_ACCESS_REPORT.csv"), strict=True):
        out.append(
            {
                "total": int(comp["Total Cycles"]),
                "stall": int(comp["Stall Cycles"]),
                "ifmap_reads": int(detail["DRAM IFMAP Reads"]),
                "filter_reads": int(detail["DRAM Filter Reads"]),
                "ofmap_writes": int(detail["DRAM OFMAP Writes"]),
            }
        )
    assert len(out) == len(shapes)
    return out


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
@pytest.mark.parametrize(("rows", "cols"), ARRAYS, ids=[f"{r}x{c}" for r, c in ARRAYS])
def test_compute_cycles_equal_scalesim_total_cycles(tmp_path: Path, rows: int, cols: int, dataflow: str) -> None:
    results = run_scalesim(tmp_path, SHAPES, rows, cols, dataflow, sram_kb=4096, bw=1000)
    got = {shape: gemm_compute_cycles(*shape, rows, cols, dataflow) for shape in SHAPES}
    want = {shape: r["total"] for shape, r in zip(SHAPES, results)}
    assert all(r["stall"] == 0 for r in results), results
    assert got == want


def test_dram_traffic_against_scalesim(tmp_path: Path) -> None:
    """Where pimc's DRAM model matches SCALE-Sim's access counts and where it differs (gemm_dram_traffic)."""
    rows = cols = 8
    # SRAMs hold everything: each operand read once in both; outputs written once (os) or once per
    # K/R fold by SCALE-Sim (ws, is: it never accumulates partial sums on chip), once by pimc.
    m, n, k = 64, 64, 64
    for df in ("os", "ws", "is"):
        (r,) = run_scalesim(tmp_path / f"big-{df}", [(m, n, k)], rows, cols, df, sram_kb=64, bw=8)
        t = gemm_dram_traffic(m, n, k, rows, cols, df, 64 * 1024, 64 * 1024, 64 * 1024, 1)
        assert (r["ifmap_reads"], r["filter_reads"]) == (t.ifmap_bytes, t.filter_bytes) == (m * k, k * n)
        assert t.ofmap_bytes == m * n
        assert r["ofmap_writes"] == m * n * (1 if df == "os" else math.ceil(k / rows))
    # 1 KiB SRAMs: A (os, ws) or B (is) no longer fits and is re-read per column fold in both
    # (SCALE-Sim's sliding-window buffer re-reads somewhat more).
    m, n, k = 64, 64, 32
    for df, operand in (("os", "ifmap"), ("ws", "ifmap"), ("is", "filter")):
        (r,) = run_scalesim(tmp_path / f"small-{df}", [(m, n, k)], rows, cols, df, sram_kb=1, bw=8)
        t = gemm_dram_traffic(m, n, k, rows, cols, df, 1024, 1024, 1024, 1)
        once = m * k if operand == "ifmap" else k * n
        model = t.ifmap_bytes if operand == "ifmap" else t.filter_bytes
        assert model == once * 8  # ceil(64 / 8) column folds
        assert model <= r[f"{operand}_reads"] <= 1.5 * model


# --- plain unit tests -------------------------------------------------------------------------

NPU: dict[str, Any] = dict(
    rows=128,
    cols=128,
    cores=8,
    clock_ghz=1.0,
    ifmap_sram_kb=64,
    filter_sram_kb=64,
    ofmap_sram_kb=128,
    bandwidth_gbps=1024.0,
    elem_bytes=2,
)


def test_formulas() -> None:
    assert gemm_compute_cycles(10, 12, 20, 4, 4, "os") == 3 * 3 * (4 + 4 + 20 - 2) - 1
    assert gemm_compute_cycles(10, 12, 20, 4, 4, "ws") == 5 * 3 * (8 + 4 + 10 - 2) - 1
    assert gemm_compute_cycles(10, 12, 20, 4, 4, "is") == 5 * 3 * (8 + 4 + 12 - 2) - 1
    assert gemm_compute_cycles(0, 12, 20, 4, 4, "os") == 0
    with pytest.raises(ValueError):
        gemm_compute_cycles(1, 1, 1, 4, 4, "rs")


def test_big_k_is_compute_bound_and_equals_cycles_over_clock() -> None:
    params = {**NPU, "cores": 1, "clock_ghz": 0.5}
    cost = npu_gemm_cost(128, 128, 65536, 1, dataflow="os", **params)
    cycles = gemm_compute_cycles(128, 128, 65536, 128, 128, "os")
    assert cost.cycles == cycles == 128 + 128 + 65536 - 2 - 1
    assert cost.bound == "compute"
    assert cost.latency_ns == cost.compute_ns == cycles / 0.5
    assert npu_gemm_ns(128, 128, 65536, 1, dataflow="os", **params) == cycles / 0.5


def test_gemv_is_memory_bound() -> None:
    # Decode: one token through a 4096 x 4096 fp16 weight on 8 output-stationary 128x128 arrays.
    cost = npu_gemm_cost(1, 4096, 4096, 1, dataflow="os", **NPU)
    weight = 4096 * 4096 * 2
    assert cost.bound == "memory"
    assert cost.dram_bytes >= weight
    assert cost.latency_ns == cost.memory_ns == cost.dram_bytes / 1024.0
    # N is split over the 8 cores in whole 128-column folds: 512 columns each.
    assert cost.cycles == gemm_compute_cycles(1, 512, 4096, 128, 128, "os")


def test_multicore_split() -> None:
    one = gemm_compute_cycles(64, 64, 64, 128, 128, "ws")
    # batch >= cores: whole GEMMs per core, the busiest runs ceil(20 / 8) = 3.
    cost = npu_gemm_cost(64, 64, 64, 20, dataflow="ws", **NPU)
    assert cost.cycles == 3 * one
    assert cost.dram_bytes == 20 * gemm_dram_bytes(64, 64, 64, 128, 128, "ws", 65536, 65536, 131072, 2)
    # batch < cores: 2 GEMMs x 4 cores each; N = 1000 -> 8 folds -> 2 folds (256 columns) per core.
    cost = npu_gemm_cost(64, 1000, 64, 2, dataflow="ws", **NPU)
    assert cost.cycles == gemm_compute_cycles(64, 256, 64, 128, 128, "ws")
    # is splits M (the dimension its columns hold).
    cost = npu_gemm_cost(1000, 64, 64, 1, dataflow="is", **NPU)
    assert cost.cycles == gemm_compute_cycles(128, 64, 64, 128, 128, "is")


def test_dram_bytes_fit_reads_each_operand_once() -> None:
    m, n, k, e = 64, 48, 80, 2
    big = 1 << 20
    for df in ("os", "ws", "is"):
        assert gemm_dram_bytes(m, n, k, 8, 8, df, big, big, big, e) == (m * k + k * n + m * n) * e


def test_dram_bytes_small_sram_rereads_streamed_operand() -> None:
    m, n, k, e, r = 64, 48, 80, 2, 8
    big, tiny = 1 << 20, 1024
    # os / ws: A re-read once per N/C column fold when it does not fit.
    for df in ("os", "ws"):
        t = gemm_dram_traffic(m, n, k, r, r, df, tiny, big, big, e)
        assert (t.ifmap_bytes, t.filter_bytes, t.ofmap_bytes) == (m * k * e * 6, k * n * e, m * n * e)
    # os: the K x C filter panel does not fit -> B re-read once per M/R row fold.
    t = gemm_dram_traffic(m, n, k, r, r, "os", big, tiny, big, e)
    assert t.filter_bytes == k * n * e * 8
    # is: B re-read once per M/C column fold.
    t = gemm_dram_traffic(m, n, k, r, r, "is", big, tiny, big, e)
    assert (t.ifmap_bytes, t.filter_bytes) == (m * k * e, k * n * e * 8)
    # ws: the M x C output panel does not fit -> partial sums spill over the K/R = 10 folds.
    t = gemm_dram_traffic(m, n, k, r, r, "ws", big, big, tiny, e)
    assert t.ofmap_bytes == m * n * e * (2 * 10 - 1)
    assert gemm_dram_bytes(m, n, k, r, r, "ws", tiny, tiny, tiny, e) > gemm_dram_bytes(
        m, n, k, r, r, "ws", big, big, big, e
    )


def test_from_params_uses_device_keys() -> None:
    device = NpuParams(
        array_rows=128,
        array_cols=128,
        cores=8,
        clock_ghz=1.0,
        dataflow="ws",
        ifmap_sram_kb=64,
        filter_sram_kb=64,
        ofmap_sram_kb=128,
        vector_lanes=128,
        energy_pj_per_mac=0.0,
        vector_energy_pj_per_flop=0.0,
    )
    got = npu_gemm_cost_from_params(512, 4096, 4096, 1, device, bandwidth_gbps=1024.0, elem_bytes=2)
    assert got == npu_gemm_cost(512, 4096, 4096, 1, dataflow="ws", **NPU)


def test_vector_ns() -> None:
    kw: dict[str, Any] = dict(vector_lanes=128, cores=8, clock_ghz=1.0, bandwidth_gbps=1024.0)
    assert npu_vector_ns(1024 * 1000, 10, **kw) == 1000.0  # compute: 1024 FLOP/ns
    assert npu_vector_ns(10, 1024 * 500, **kw) == 500.0  # memory: 1024 byte/ns
