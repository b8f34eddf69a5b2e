"""Registers pimc's dialects and passes with xDSL (entry point group `xdsl.universe`).

After `pip install pimc`, stock `xdsl-opt` knows the nn, dist, place, pim, aim and attacc
dialects, the raise-nn, shard, annotate-cost, partition, schedule, check-capacity, baselines, lower-to-pim,
convert-pim-to-aim and convert-pim-to-attacc passes, and the pimc-plan, pimc-report, pimc-table, pimc-timeline,
pimc-roofline, pimc-aim-trace and pimc-attacc-trace targets.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from xdsl.ir import Dialect
from xdsl.passes import ModulePass
from xdsl.universe import Universe
from xdsl.utils.target import Target


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


def _dist() -> Dialect:
    from pimc.dialects.dist import Dist

    return Dist


def _shard() -> type[ModulePass]:
    from pimc.passes.shard import ShardPass

    return ShardPass


def _raise_nn() -> type[ModulePass]:
    from pimc.passes.raise_nn import RaiseNnPass

    return RaiseNnPass


def _annotate_cost() -> type[ModulePass]:
    from pimc.passes.annotate_cost import AnnotateCostPass

    return AnnotateCostPass


def _partition() -> type[ModulePass]:
    from pimc.passes.partition import PartitionPass

    return PartitionPass


def _schedule() -> type[ModulePass]:
    from pimc.passes.schedule import SchedulePass

    return SchedulePass


def _check_capacity() -> type[ModulePass]:
    from pimc.passes.check_capacity import CheckCapacityPass

    return CheckCapacityPass


def _baselines() -> type[ModulePass]:
    from pimc.passes.baselines import BaselinesPass

    return BaselinesPass


def _lower_to_pim() -> type[ModulePass]:
    from pimc.passes.lower_to_pim import LowerToPimPass

    return LowerToPimPass


def _convert_pim_to_aim() -> type[ModulePass]:
    from pimc.passes.convert_pim_to_aim import ConvertPimToAimPass

    return ConvertPimToAimPass


def _convert_pim_to_attacc() -> type[ModulePass]:
    from pimc.passes.convert_pim_to_attacc import ConvertPimToAttaccPass

    return ConvertPimToAttaccPass


DIALECTS: dict[str, Callable[[], Dialect]] = {
    "nn": _nn,
    "dist": _dist,
    "place": _place,
    "pim": _pim,
    "aim": _aim,
    "attacc": _attacc,
}
"""pimc's dialects; the compile also loads xDSL's `shard` (stock xdsl-opt has it already)."""
PASSES: dict[str, Callable[[], type[ModulePass]]] = {
    "raise-nn": _raise_nn,
    "shard": _shard,
    "annotate-cost": _annotate_cost,
    "partition": _partition,
    "schedule": _schedule,
    "check-capacity": _check_capacity,
    "baselines": _baselines,
    "lower-to-pim": _lower_to_pim,
    "convert-pim-to-aim": _convert_pim_to_aim,
    "convert-pim-to-attacc": _convert_pim_to_attacc,
}


def _target(module: str, name: str) -> Callable[[], type[Target]]:
    def load() -> type[Target]:
        import importlib

        return getattr(importlib.import_module(f"pimc.targets.emit.{module}"), name)

    return load


TARGETS: dict[str, Callable[[], type[Target]]] = {
    "pimc-plan": _target("plan", "PlanTarget"),
    "pimc-report": _target("report", "ReportTarget"),
    "pimc-table": _target("table", "TableTarget"),
    "pimc-timeline": _target("timeline", "TimelineTarget"),
    "pimc-roofline": _target("roofline", "RooflineTarget"),
    "pimc-aim-trace": _target("aim_trace", "AimTraceTarget"),
    "pimc-attacc-trace": _target("attacc_trace", "AttaccTraceTarget"),
}
"""pimc's outputs as xDSL targets (`xdsl-opt -t NAME`): target `pimc-X` is `targets/emit/X.py` (with `-` as `_`)."""

PIMC_UNIVERSE = Universe(all_dialects=DIALECTS, all_passes=PASSES, all_targets=TARGETS)


def _report_pimc_errors(exc_type, exc, tb, _previous=sys.excepthook) -> None:
    """An uncaught PimcError (a pimc pass failing under stock `xdsl-opt`: an unknown strategy or system, an op
    with no cost yet, PIM rows exhausted) prints as one `<program>: error: <message>` line, exit status 1, as
    `pimc opt` prints it; everything else goes to the previous hook (a traceback).

    xDSL's xDSLOptMain prints a DiagnosticException (which PimcError is) without a traceback only under
    `--verify-diagnostics` and re-raises it otherwise; this hook, installed when xDSL loads pimc's universe,
    covers the default mode.
    """
    from pimc.errors import PimcError

    if isinstance(exc, PimcError):
        from pimc.compiler.cli import format_error

        program = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "xdsl-opt"
        sys.stderr.write(format_error(exc).replace("pimc: error:", f"{program}: error:", 1) + "\n")
        return  # the interpreter then exits with status 1, as after any uncaught exception
    _previous(exc_type, exc, tb)


if sys.excepthook is sys.__excepthook__:  # do not override a hook someone else installed
    sys.excepthook = _report_pimc_errors
