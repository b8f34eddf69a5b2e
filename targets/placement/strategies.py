"""The names of the partition strategies (targets/placement/placement.py implements them, docs/partition.md describes
them), in a module that imports nothing, so that the command line can list them without loading xDSL."""

from __future__ import annotations

STRATEGIES = (
    "optimal",
    "roofline",
    "greedy",
    "gpu-only",
    "npu-only",
    "pim-only",
    "attacc",
    "neupims",
    "ianus",
    "papi",
    "hybe",
)
"""Every strategy `partition{strategy=...}` accepts; `optimal` first (the default)."""

BASELINES = ("gpu-only", "npu-only", "pim-only")
"""The strategies the report compares the chosen one with."""
