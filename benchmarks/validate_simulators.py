"""pimc's PIM timing against the real simulators: every PIM op kind of each case, pimc ns, simulator ns, error.

Cases (the figures issue-style targets are stated for): the bundled example (examples/llama2-7b.pim,
32 layers), Llama-2-7B one-layer decode at batch 1 and 16 over 512..4096 keys, and a prefill GEMM
(pim-only, so the prefill projections run on PIM), on npu-aim (GDDR6-AiM, the AiM trace simulator)
and attacc (HBM3-PIM, AttAcc's Ramulator 2). Each op kind is simulated once per case (ops of equal
command streams time alike: compiler/validate.py), the whole trace too.

    PIMC_AIM_SIM=... PIMC_ATTACC_SIM=... python benchmarks/validate_simulators.py [--quick] [--only aim|attacc]

--quick leaves out the 32-layer example and the batch-16 cases (minutes of simulation each); --case TEXT
runs the cases whose label contains TEXT. At batch 16 (a 4-token prompt, so that the prefill stays
short) the strategy is BATCH16_STRATEGY's.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from pimc.compiler.driver import compile_model
from pimc.compiler.validate import SIMULATORS, validate_module
from pimc.errors import PimcError

REPO = Path(__file__).resolve().parents[1]
LLAMA = REPO / "examples" / "llama2-7b.pim"

CASES: list[tuple[str, dict[str, str], str, bool]] = [
    ("bundled example (32 layers)", {}, "optimal", False),
    *[
        (f"1 layer, batch 1, {t} keys", {"layers": "1", "past": str(t - 1)}, "optimal", True)
        for t in (512, 1024, 2048, 4096)
    ],
    *[
        (
            f"1 layer, batch 16, {t} keys (prompt 4)",
            {"layers": "1", "batch": "16", "past": str(t - 1), "seq": "4"},
            "pim-only",
            False,
        )
        for t in (512, 1024, 2048, 4096)
    ],
    ("prefill GEMM, 1 layer, seq 32 (pim-only)", {"layers": "1", "seq": "32", "past": "31"}, "pim-only", True),
]
BATCH16_STRATEGY = {"aim": "pim-only", "attacc": "optimal"}
"""At batch 16: on npu-aim pim-only puts the projections on PIM (optimal puts them on the NPU); on attacc
optimal puts attention on HBM3-PIM and the projections on the GPUs, the system's design (pim-only's
batch-16 projections would be a trace of ~58 million lines, over the limit pimc writes)."""
SYSTEMS = {"aim": "npu-aim", "attacc": "attacc"}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=sorted(SYSTEMS))
    parser.add_argument("--case", default="", help="only the cases whose label contains this text")
    args = parser.parse_args()
    worst = 0.0
    for isa, system in SYSTEMS.items():
        if args.only and isa != args.only:
            continue
        sim = SIMULATORS[isa]
        if not os.environ.get(sim.env):
            print(f"{sim.label}: skipped ({sim.env} is not set)")
            continue
        print(f"\n{sim.label} simulator ({os.environ[sim.env]}), system {system}")
        print(f"{'case':<42} {'op':<40} {'pimc ns':>12} {'sim ns':>12} {'error':>8}")
        for label, dims, strategy, quick in CASES:
            if (args.quick and not quick) or args.case not in label:
                continue
            start = time.perf_counter()
            strategy = BATCH16_STRATEGY[isa] if dims.get("batch") == "16" else strategy
            try:
                result = compile_model(LLAMA, system, strategy, dims=dims, baselines=False, emit=[])
                assert result.system is not None
                checked = validate_module(result.module, result.report["model"], result.system, {isa: None})
            except PimcError as e:
                print(f"{label[:42]:<42} {strategy}: {e}")
                continue
            seen = set()
            for r in checked.rows:
                key = (r.phase, r.kind)
                if key in seen:
                    continue
                seen.add(key)
                worst = max(worst, abs(r.error))
                print(
                    f"{label[:42]:<42} {(r.phase + ' ' + r.kind)[:40]:<40} {r.pimc_ns:>12.1f} {r.sim_ns:>12.1f} "
                    f"{100 * r.error:>+7.1f}%"
                )
            for t in checked.totals:
                worst = max(worst, abs(t.error))
                print(
                    f"{label[:42]:<42} {f'whole trace, {t.ops} ops':<40} {t.pimc_cycles * t.tck_ns:>12.1f} "
                    f"{t.sim_cycles * t.tck_ns:>12.1f} {100 * t.error:>+7.1f}%  ({time.perf_counter() - start:.0f} s)"
                )
    print(f"\nmax |error| {100 * worst:.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
