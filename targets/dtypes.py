"""Deployment precisions: the element type every byte and FLOP is costed at.

Exporters write fp32 graphs; deployments run fp16, bf16, fp8 or int8. `--dtype`
(annotate-cost's `dtype` option, recorded on the module as `pimc.dtype`) makes
every tensor cost `DTYPE_BYTES[dtype]` bytes per element, whatever its element
type in the graph, except integer index tensors (token ids, positions), which
keep their own width. Without `--dtype`, costs assume fp16 (`DEFAULT_DTYPE`); the
report states the precision it used.
"""

from __future__ import annotations

DTYPE_BYTES: dict[str, int] = {"fp32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1}
"""Bytes per element of each deployment precision."""

DTYPES = tuple(DTYPE_BYTES)

DTYPE_ATTR = "pimc.dtype"
"""Module attribute recording the deployment precision annotate-cost used."""

DEFAULT_DTYPE = "fp16"
"""The precision costs assume when no `--dtype` is given: what LLM deployments and the PIM MAC lanes use."""
