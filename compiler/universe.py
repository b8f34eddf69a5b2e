"""Registers pimc's dialects and passes with xDSL (entry point group `xdsl.universe`).

After `pip install pimc`, stock `xdsl-opt` knows the nn, place, pim, aim and attacc
dialects and the raise-nn, annotate-cost, partition, lower-to-pim and pim-to-commands passes.
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.ir import Dialect
from xdsl.passes import ModulePass
from xdsl.universe import Universe


def _nn() -> Dialect:
    from pimc.dialects.nn import NN

    return NN


def _place() -> Dialect:
    from pimc.dialects.place import Place

    return Place


def _pim() -> Dialect:
    from pimc.dialects.pim import PIM

    return PIM


def _aim() -> Dialect:
    from pimc.dialects.aim import AIM

    return AIM


def _attacc() -> Dialect:
    from pimc.dialects.attacc import ATTACC

    return ATTACC


def _raise_nn() -> type[ModulePass]:
    from pimc.passes.raise_nn import RaiseNnPass

    return RaiseNnPass


def _annotate_cost() -> type[ModulePass]:
    from pimc.passes.annotate_cost import AnnotateCostPass

    return AnnotateCostPass


def _partition() -> type[ModulePass]:
    from pimc.passes.partition import PartitionPass

    return PartitionPass


def _lower_to_pim() -> type[ModulePass]:
    from pimc.passes.lower_to_pim import LowerToPimPass

    return LowerToPimPass


def _pim_to_commands() -> type[ModulePass]:
    from pimc.passes.pim_to_commands import PimToCommandsPass

    return PimToCommandsPass


DIALECTS: dict[str, Callable[[], Dialect]] = {"nn": _nn, "place": _place, "pim": _pim, "aim": _aim, "attacc": _attacc}
PASSES: dict[str, Callable[[], type[ModulePass]]] = {
    "raise-nn": _raise_nn,
    "annotate-cost": _annotate_cost,
    "partition": _partition,
    "lower-to-pim": _lower_to_pim,
    "pim-to-commands": _pim_to_commands,
}

PIMC_UNIVERSE = Universe(all_dialects=DIALECTS, all_passes=PASSES)
