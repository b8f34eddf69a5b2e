"""Deployment precisions: the element type every byte and FLOP is costed at.

Exporters write fp32 graphs; deployments run fp16, bf16, fp8 or int8. `--dtype`
(annotate-cost's `dtype` option, recorded on the module as `pimc.dtype`) makes
every tensor cost `DTYPE_BYTES[dtype]` bytes per element, whatever its element
type in the graph, except integer index tensors (token ids, positions), which
keep their own width. Without `--dtype`, costs assume fp16 (`DEFAULT_DTYPE`); the
report states the precision it used.
"""

from __future__ import annotations

from xdsl.dialects.builtin import ModuleOp, StringAttr

from pimc.errors import CompileError

DTYPE_BYTES: dict[str, int] = {"fp32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1}
"""Bytes per element of each deployment precision."""

DTYPES = tuple(DTYPE_BYTES)

DTYPE_ATTR = "pimc.dtype"
"""Module attribute recording the deployment precision annotate-cost used."""

DEFAULT_DTYPE = "fp16"
"""The precision costs assume when no `--dtype` is given: what LLM deployments and the PIM MAC lanes use."""


def dtype_for_module(module: ModuleOp, dtype: str | None) -> str:
    """The deployment precision: the pass option, else the module's `pimc.dtype`, else fp16; recorded on the module."""
    if dtype is None:
        attr = module.attributes.get(DTYPE_ATTR)
        dtype = attr.data if isinstance(attr, StringAttr) else DEFAULT_DTYPE
    if dtype not in DTYPES:
        raise CompileError(f"unknown dtype '{dtype}' (expected one of {', '.join(DTYPES)})")
    module.attributes[DTYPE_ATTR] = StringAttr(dtype)
    return dtype
