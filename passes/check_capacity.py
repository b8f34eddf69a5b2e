"""check-capacity: what every memory of the system holds for the placed model, and the check that it fits.

Reads the placement (partition) and records on the module

    pimc.memory = {<memory> = {weights_bytes, weights, kv_cache_bytes = {<phase> = n},
                               activations_bytes = {<phase> = n}, total_bytes}, ...}

(bytes at the deployment precision; the rules are targets/placement/capacity.py's). A memory whose
footprint exceeds its capacity is an error naming it and what it holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import DictionaryAttr, IntegerAttr, ModuleOp
from xdsl.passes import ModulePass

from pimc.targets.annotations import MEMORY_ATTR, chosen_strategy, schedule_streams
from pimc.targets.dtypes import DTYPE_BYTES, dtype_for_module
from pimc.targets.placement.capacity import MemoryUse, check_capacity
from pimc.targets.system import system_for_module


def _counts(values: dict[str, int]) -> DictionaryAttr:
    return DictionaryAttr({k: IntegerAttr(v, 64) for k, v in values.items()})


def memory_attr(use: dict[str, MemoryUse]) -> DictionaryAttr:
    """The `pimc.memory` attribute of what each memory holds (module docstring)."""
    return DictionaryAttr(
        {
            name: DictionaryAttr(
                {
                    "weights_bytes": IntegerAttr(u.weight_bytes, 64),
                    "weights": IntegerAttr(len(u.weights), 64),
                    "kv_cache_bytes": _counts(u.kv_cache),
                    "activations_bytes": _counts(u.activations),
                    "total_bytes": IntegerAttr(u.total_bytes, 64),
                }
            )
            for name, u in use.items()
        }
    )


@dataclass(frozen=True)
class CheckCapacityPass(ModulePass):
    """Check that every memory of the system holds the weights, KV cache and peak activations placed on it
    (targets/placement/capacity.py), and record each memory's footprint as `pimc.memory`."""

    name = "check-capacity"

    system: str | None = None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        chosen_strategy(op)  # the module is partitioned: what a memory holds depends on the placement
        system = system_for_module(op, self.system)
        use = check_capacity(op, system, DTYPE_BYTES[dtype_for_module(op, None)], schedule_streams(op))
        op.attributes[MEMORY_ATTR] = memory_attr(use)
