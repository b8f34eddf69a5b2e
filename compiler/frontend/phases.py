"""Inference phases: prefill (the prompt, no KV cache yet) and decode (new tokens against a cached past).

Each function of a compiled module is one phase and is named after it
(`func.func @prefill`, `func.func @decode`); every op in it carries the
discardable attribute `phase` so that reports and partitioners can group by it.
"""

from __future__ import annotations

from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.ir import BlockArgument

from pimc.dialects import nn
from pimc.dialects.nn import PHASE_ATTR, PHASES


def detect_phase(fn: func.FuncOp) -> str:
    """`decode` when the function appends to a KV cache that arrives as an input (past keys/values), else `prefill`.

    The step's new tokens (one in plain decoding, a few when verifying
    speculated tokens) attend to the cached past; a prefill has no past input.
    """
    for op in fn.body.walk():
        if isinstance(op, nn.KvAppendOp) and isinstance(op.cache, BlockArgument):
            cache = nn.tensor_shape(op.cache.type)
            if cache[op.axis.value.data % len(cache)] > 0:  # an empty past is a prefill
                return "decode"
    return "prefill"


def set_phase(fn: func.FuncOp, phase: str) -> None:
    """Name the function after its phase and tag every op in it with `phase`."""
    assert phase in PHASES, phase
    fn.sym_name = StringAttr(phase)
    attr = StringAttr(phase)
    for op in fn.body.walk():
        op.attributes[PHASE_ATTR] = attr


def assign_phases(module: ModuleOp) -> None:
    """Detect and set the phase of every function of an imported model."""
    for fn in list(module.ops):
        if isinstance(fn, func.FuncOp):
            set_phase(fn, detect_phase(fn))
