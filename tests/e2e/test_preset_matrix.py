"""Every system preset x every partition strategy compiles both example model kinds, or refuses in one line.

For each preset (`pimc systems`), each strategy (targets/placement/strategies.py STRATEGIES) and two models (the
ONNX export examples/gpt2-tiny-decode.onnx and the DSL examples/llama2-7b.pim at small dims, both phases),
`compile_model` (in-process, no baselines, no traces) must either succeed with a finite, fully placed
schedule, or raise a one-line PimcError. A strategy fails exactly when the system lacks a device kind it
needs (`REQUIRES`); any other outcome, and any other exception, fails the test. A system whose devices
compute no fp16 is compiled at the first of bf16 and its own precisions it has.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import pytest

from pimc.compiler.driver import compile_model
from pimc.errors import PimcError
from pimc.targets.placement.strategies import STRATEGIES
from pimc.targets.system import System, load_system, preset_names

REPO = Path(__file__).resolve().parents[2]
MODELS = {
    "gpt2-tiny-decode.onnx": (REPO / "examples" / "gpt2-tiny-decode.onnx", {}),
    "llama2-7b.pim": (
        REPO / "examples" / "llama2-7b.pim",
        {
            "layers": "2",
            "hidden": "256",
            "heads": "4",
            "kv_heads": "4",
            "ffn": "512",
            "vocab": "1000",
            "seq": "32",
            "past": "31",
        },
    ),
}

XPU = ("gpu", "accelerator", "npu")
REQUIRES: dict[str, list[tuple[str, ...]]] = {
    "gpu-only": [("gpu", "accelerator")],
    "npu-only": [("npu",)],
    "pim-only": [("pim",)],
    "attacc": [("pim",), XPU],
    "neupims": [("pim",), XPU],
    "ianus": [("pim",), XPU],
    "papi": [("pim",), XPU],
    "hybe": [("gpu", "accelerator"), ("npu",)],
}
"""Per strategy, the device kinds it needs: one of each tuple (docs/partition.md; the others need none)."""


@functools.cache
def _system(name: str) -> System:
    return load_system(name)


def _dtype(system: System) -> str:
    """fp16 when the system computes it, else bf16, else the first precision its devices have rates for."""
    dtypes = system.dtypes()
    return next(d for d in ("fp16", "bf16", *dtypes) if d in dtypes)


def _missing(system: System, strategy: str) -> tuple[str, ...] | None:
    """The first device-kind requirement of `strategy` that `system` does not meet, if any."""
    kinds = {d.kind for d in system.devices.values()}
    return next((need for need in REQUIRES.get(strategy, []) if not kinds & set(need)), None)


CASES = [(s, t, m) for s in preset_names() for t in STRATEGIES for m in MODELS]


@pytest.mark.parametrize(("system_name", "strategy", "model"), CASES, ids=[f"{s}:{t}:{m}" for s, t, m in CASES])
def test_preset_strategy_model(system_name: str, strategy: str, model: str) -> None:
    system = _system(system_name)
    path, dims = MODELS[model]
    missing = _missing(system, strategy)
    try:
        result = compile_model(
            path,
            system=system_name,
            strategy=strategy,
            dims=dims,
            dtype=_dtype(system),
            baselines=False,
            emit=[],
            tp=system.chips,  # every chip in one group (4 heads on 8 chips: the shard pass's whole-operand rules)
        )
    except PimcError as e:
        message = str(e)
        assert "\n" not in message, message
        assert missing is not None, f"{system_name}:{strategy} should compile {model}: {message}"
        assert f"strategy '{strategy}' needs" in message and f"system '{system_name}' has none" in message, message
        return
    assert missing is None, f"{system_name}:{strategy} lacks a device of kind {' or '.join(missing)}, yet compiled"
    report = result.report
    latencies = {phase: entry["latency_ns"] for phase, entry in report["phases"].items()}
    assert latencies and all(math.isfinite(ns) and ns > 0 for ns in latencies.values()), latencies
    assert math.isfinite(report["totals"]["energy_pj"]) and report["totals"]["energy_pj"] > 0
    ops = report["ops"]
    assert ops and all(op["device"] in system.devices for op in ops)
    assert all(math.isfinite(op["latency_ns"]) and op["latency_ns"] >= 0 for op in ops)
