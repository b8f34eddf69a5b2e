"""End-to-end compile time of Llama-2-7B (and 70B) against the onnx.load + shape-inference floor, and how it
grows with the layer count.

    python benchmarks/compile_llama2_7b.py [--repeat N] [--layers 1,2,4,8,16,32,64,80]

Each compile is `pimc compile MODEL -o DIR` with default options (strategy optimal, baselines, every
output including the PIM traces and roofline.png) in a fresh interpreter, as a user runs it; the figure is
the median wall time of N runs. The floor, measured in the same run and the same way, is a fresh
interpreter that imports onnx, loads the 7B decode graph without its (absent) weights and runs
onnx.shape_inference on it: what any shape-aware tool pays at least. Targets (issue 14): each 7B graph and
the DSL model <= 3 s, i.e. <= 30x the floor; Llama-2-70B <= 6 s; time linear in the layers.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "tests" / "models"
FLOOR = (
    f"import onnx; m = onnx.load({str(MODELS / 'llama2-7b-decode.onnx')!r}, load_external_data=False); "
    "onnx.shape_inference.infer_shapes(m)"
)
CASES = [
    ("llama2-7b-decode.onnx", [str(MODELS / "llama2-7b-decode.onnx")]),
    ("llama2-7b-prefill.onnx", [str(MODELS / "llama2-7b-prefill.onnx")]),
    ("llama2-7b-decode-gen.onnx (rotary/mask at the top)", [str(MODELS / "llama2-7b-decode-gen.onnx")]),
    ("llama2-7b-prefill-gen.onnx", [str(MODELS / "llama2-7b-prefill-gen.onnx")]),
    ("examples/llama2-7b.pim (both phases)", [str(ROOT / "examples" / "llama2-7b.pim")]),
    (
        "examples/llama2-70b.pim (both phases, mi300x)",
        [str(ROOT / "examples" / "llama2-70b.pim"), "--system", "mi300x"],
    ),
]


def wall(argv: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr}")
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--layers", default="1,2,4,8,16,32,64,80")
    args = ap.parse_args()
    pimc = [sys.executable, "-m", "pimc.compiler.cli", "compile"]
    floor = wall([sys.executable, "-c", FLOOR], args.repeat)
    print(f"floor (python + import onnx + load + shape inference, 7B decode): {floor:.2f} s")
    print(f"{'model':52s} {'wall s':>7s} {'x floor':>8s}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, argv in CASES:
            t = wall([*pimc, *argv, "-o", str(Path(tmp) / "out")], args.repeat)
            print(f"{name:52s} {t:7.2f} {t / floor:8.1f}")
        print("\nexamples/llama2-7b.pim --system hybe --dim layers=L (both phases; 80 layers fit its 160 GB):")
        print(f"{'layers':>7s} {'wall s':>7s} {'ms per added layer':>19s}")
        prev: tuple[int, float] | None = None
        for layers in [int(x) for x in args.layers.split(",")]:
            t = wall(
                [
                    *pimc,
                    str(ROOT / "examples" / "llama2-7b.pim"),
                    "--system",
                    "hybe",
                    "--dim",
                    f"layers={layers}",
                    "-o",
                    str(Path(tmp) / "out"),
                ],
                args.repeat,
            )
            step = f"{(t - prev[1]) / (layers - prev[0]) * 1e3:19.1f}" if prev else f"{'':19s}"
            print(f"{layers:7d} {t:7.2f} {step}")
            prev = (layers, t)


if __name__ == "__main__":
    main()
