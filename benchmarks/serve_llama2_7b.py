"""`pimc serve` on Llama-2-7B: 10,000 requests, with the step-cost cache warm, against a floor.

    python benchmarks/serve_llama2_7b.py [--system h100] [--requests 10000] [--rate 10] [--repeat 3]

First a warm-up run fills a fresh cost cache (its compiles are reported, not timed); then the median wall
time of N runs of `pimc serve examples/llama2-7b.pim --system S --rate R --num-requests N` in a fresh
interpreter, as a user runs it, with prompts uniform in 64..1024 and outputs in 16..512 tokens. The floor,
measured the same way in the same run, is a fresh interpreter that imports numpy and matplotlib and writes
one PNG: what any command that plots pays at least. Target (issue 17): <= 10 s on this machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOOR = (
    "import io, numpy; from matplotlib.figure import Figure; from matplotlib.backends.backend_agg import "
    "FigureCanvasAgg; f = Figure(); FigureCanvasAgg(f); f.subplots().plot(numpy.arange(10)); "
    "f.savefig(io.BytesIO(), format='png')"
)


def wall(argv: list[str], repeat: int, env: dict[str, str]) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(repeat):
        t = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, env=env)
        times.append(time.perf_counter() - t)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr}")
        out = done.stdout
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    ap.add_argument("--system", default="h100")
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--rate", default="10")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PIMC_CACHE_DIR": str(Path(tmp) / "cache")}
        argv = [sys.executable, "-m", "pimc.compiler.cli", "serve", str(ROOT / "examples" / "llama2-7b.pim")]
        argv += ["--system", args.system, "--rate", args.rate, "--num-requests", str(args.requests)]
        argv += ["-o", str(Path(tmp) / "out")]
        cold, out = wall(argv, 1, env)
        print(f"cold run (fills the cost cache): {cold:.1f} s; {out.splitlines()[0]}")
        floor, _ = wall([sys.executable, "-c", FLOOR], args.repeat, env)
        warm, out = wall(argv, args.repeat, env)
        print(out.rstrip())
        print(f"\nfloor (python + numpy + matplotlib, one PNG): {floor:.2f} s")
        print(f"{args.requests} requests, warm cache: {warm:.2f} s = {warm / floor:.1f} x floor (target <= 10 s)")


if __name__ == "__main__":
    main()
