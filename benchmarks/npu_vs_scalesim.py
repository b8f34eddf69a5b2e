"""pimc's NPU GEMM cycles (targets/models/npu.py) against SCALE-Sim 3.0.0's "Total Cycles", Llama-2-7B projections.

    python benchmarks/npu_vs_scalesim.py [--full] [--budget-s S] [--dataflows os,ws]
        [--phases decode,prefill] [--proj q/k/v/o,gate/up,down,lm_head]

Workload: the Llama-2-7B projection GEMMs C[M,N] = A[M,K] @ W[K,N] of one layer
(q/k/v/o 4096 -> 4096, gate/up 4096 -> 11008, down 11008 -> 4096) and the
lm_head (4096 -> 32000), for a decode step (batch 1: M = 1) and a 512-token
prefill (M = 512), on one 128 x 128 systolic array, output- and
weight-stationary. pimc's side is `gemm_compute_cycles` (closed form, instant).

SCALE-Sim (PyPI scalesim 3.0.0, a test-only dependency that needs numpy<2.3;
imported in-process) gets the GEMM topology row `Layer,M,N,K,` and runs in
CALC (estimate-bandwidth) mode, which its source declares stall-free
(memory/read_buffer_estimate_bw.py), so its Total Cycles are pure compute;
Stall Cycles are printed to show it. SCALE-Sim is slow and memory-hungry on
LLM-sized shapes (it materialises every operand address and every cycle's
demand), so each run is estimated first: seconds ~ 1.2e-6 x operand elements
+ 3e-6 x SRAM accesses, RAM ~ 170 B per operand element + 24 B per array
column per cycle (its three demand matrices), calibrated on a 2-core machine
and good to ~1.5x either way depending on its load. Only shapes estimated
under --budget-s seconds (default 120: the decode q/k/v/o shape) are run; the
others print "not run". --full runs every shape that fits in the available
RAM (hours). Identical shapes (q/k/v/o) are simulated once.

Prints the command, per row pimc's cycles, SCALE-Sim's Total Cycles and Stall
Cycles, the ratio pimc / SCALE-Sim, and the wall time of each SCALE-Sim run.
Target: ratio 1.000000 on every row that ran; exit status 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gc
import importlib.metadata
import io
import sys
import tempfile
import time
import warnings
from pathlib import Path

from pimc.targets.models.npu import gemm_compute_cycles

ROWS = COLS = 128
PROJECTIONS = [("q/k/v/o", 4096, 4096), ("gate/up", 4096, 11008), ("down", 11008, 4096), ("lm_head", 4096, 32000)]
"""(name, K, N) of C[M,N] = A[M,K] @ W[K,N]."""
PHASES = [("decode", 1), ("prefill", 512)]

_CONFIG = """\
[general]
run_name = pimc

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: 1024
FilterSramSzkB: 1024
OfmapSramSzkB: 1024
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: 1000
Dataflow: {dataflow}
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 1000
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 1000
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def estimate(m: int, n: int, k: int, dataflow: str) -> tuple[float, float]:
    """Rough SCALE-Sim wall time (s) and peak RAM (GB) for one GEMM on a ROWS x COLS array."""
    elems = m * k + k * n + m * n
    if dataflow == "os":
        sram = m * k * _ceil(n, COLS) + k * n * _ceil(m, ROWS) + m * n
    elif dataflow == "ws":
        sram = m * k * _ceil(n, COLS) + k * n + m * n * _ceil(k, ROWS)
    else:
        sram = m * k + k * n * _ceil(m, COLS) + m * n * _ceil(k, ROWS)
    demand_rows = gemm_compute_cycles(m, n, k, ROWS, COLS, dataflow) + 1
    return 1.2e-6 * elems + 3e-6 * sram, (170 * elems + 24 * demand_rows * max(ROWS, COLS)) / 1e9


def available_ram_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1e6
    except OSError:
        pass
    return float("inf")


def run_scalesim(m: int, n: int, k: int, dataflow: str) -> tuple[int, int]:
    """SCALE-Sim's (Total Cycles, Stall Cycles) for C[M,N] = A[M,K] @ B[K,N], in-process, prints swallowed."""
    from scalesim.scale_sim import scalesim

    with tempfile.TemporaryDirectory(prefix="pimc-scalesim-") as d:
        tmp = Path(d)
        (tmp / "gemm.csv").write_text(f"Layer,M,N,K,\nL0,{m},{n},{k},\n")
        (tmp / "layout.csv").write_text("Layer,\n")
        (tmp / "pimc.cfg").write_text(_CONFIG.format(rows=ROWS, cols=COLS, dataflow=dataflow))
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sim = scalesim(
                save_disk_space=True,
                verbose=False,
                config=str(tmp / "pimc.cfg"),
                topology=str(tmp / "gemm.csv"),
                layout=str(tmp / "layout.csv"),
                input_type_gemm=True,
            )
            sim.run_scale(top_path=str(tmp / "out"))
            del sim
            gc.collect()
        with open(tmp / "out" / "pimc" / "COMPUTE_REPORT.csv", newline="") as f:
            row = next(csv.DictReader(f, skipinitialspace=True))
        return int(row["Total Cycles"]), int(row["Stall Cycles"])


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--full", action="store_true", help="run SCALE-Sim on every shape that fits in RAM")
    parser.add_argument("--budget-s", type=float, default=120.0, help="run shapes estimated under this (s)")
    parser.add_argument("--dataflows", default="os,ws", help="comma-separated subset of os,ws,is")
    parser.add_argument("--phases", default="decode,prefill", help="comma-separated subset of decode,prefill")
    parser.add_argument("--proj", default=",".join(p[0] for p in PROJECTIONS), help="comma-separated projections")
    args = parser.parse_args()
    dataflows = args.dataflows.split(",")
    phases = [p for p in PHASES if p[0] in args.phases.split(",")]
    projections = [p for p in PROJECTIONS if p[0] in args.proj.split(",")]

    print("command:", " ".join([Path(sys.executable).name, *sys.argv]))
    try:
        version = importlib.metadata.version("scalesim")
    except importlib.metadata.PackageNotFoundError:
        version = None
    print(f"scalesim {version or 'not installed'}, array {ROWS}x{COLS}, one core, SCALE-Sim in CALC mode")
    mode = "--full" if args.full else f"budget {args.budget_s:g} s per SCALE-Sim run"
    print(f"run policy: {mode}; available RAM {available_ram_gb():.1f} GB")
    print()
    header = (
        f"{'phase':8} {'proj':8} {'M':>4} {'N':>6} {'K':>6} {'df':3} {'pimc cycles':>12} "
        f"{'SCALE-Sim':>12} {'stall':>6} {'ratio':>9} {'sim s':>8}"
    )
    print(header)
    print("-" * len(header))

    cache: dict[tuple[int, int, int, str], tuple[int, int, float]] = {}
    start = time.perf_counter()
    ok = True
    for phase, m in phases:
        for name, k, n in projections:
            for df in dataflows:
                t0 = time.perf_counter()
                ours = gemm_compute_cycles(m, n, k, ROWS, COLS, df)
                pimc_s = time.perf_counter() - t0
                assert pimc_s < 0.01
                est_s, est_gb = estimate(m, n, k, df)
                key = (m, n, k, df)
                theirs, note = "", ""
                if key in cache:
                    total, stall, sim_s = cache[key]
                    note = "(same shape)"
                elif version is None:
                    note = "not run (scalesim not installed)"
                elif est_gb > 0.8 * available_ram_gb():
                    note = f"not run (needs ~{est_gb:.0f} GB RAM)"
                elif not args.full and est_s > args.budget_s:
                    note = f"not run (est. {est_s:.0f} s; --full)"
                else:
                    t0 = time.perf_counter()
                    total, stall = run_scalesim(m, n, k, df)
                    sim_s = time.perf_counter() - t0
                    cache[key] = (total, stall, sim_s)
                if key in cache:
                    total, stall, sim_s = cache[key]
                    ratio = ours / total
                    ok &= ours == total and stall == 0
                    theirs = f"{total:>12} {stall:>6} {ratio:>9.6f} {sim_s:>8.1f} {note}"
                else:
                    theirs = f"{'':>12} {'':>6} {'':>9} {'':>8} {note}"
                print(f"{phase:8} {name:8} {m:>4} {n:>6} {k:>6} {df:3} {ours:>12} {theirs}".rstrip(), flush=True)
    print()
    print(f"total wall time {time.perf_counter() - start:.1f} s; {len(cache)} SCALE-Sim runs")
    print("all SCALE-Sim runs equal pimc:", "yes" if ok else "NO")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
