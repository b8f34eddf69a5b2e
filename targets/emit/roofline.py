"""roofline.png (target `pimc-roofline`): every op of a compiled model against the roofs of the system's devices.

x = operational intensity (FLOP/byte), y = attained GFLOP/s (FLOPs / latency in
ns), both log scale (Williams, Waterman & Patterson, "Roofline", CACM 2009). One
point per placed op, coloured by its device and shaped by its phase; each
device's roof min(peak, bandwidth x intensity) is drawn in the device's colour.
An op below its device's roof loses time to something the roofline does not
see (launch overhead, array fill, PIM row activations).

Plots are built on `matplotlib.figure.Figure` with the Agg canvas, never pyplot:
no global figure registry, no GUI backend, safe to call from several threads.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from itertools import cycle
from pathlib import Path
from typing import IO, Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.utils.target import Target

from pimc.targets.models.cost import device_roofs
from pimc.targets.system import System, recorded_system

PHASE_MARKERS = {"prefill": "o", "decode": "^"}
OTHER_MARKERS = ("s", "D", "v", "P", "X")


def _figure(report: dict[str, Any], system: System) -> Figure:
    roofs = device_roofs(system, report["dtype"])
    ops = [
        o
        for o in report["ops"]
        if o["device"] is not None
        and o["flops"] > 0
        and (o["latency_ns"] or 0) > 0
        and o["intensity"] > 0
        and math.isfinite(o["flops"] / o["latency_ns"])
        and math.isfinite(o["intensity"])
    ]
    names = list(dict.fromkeys([*system.devices, *(o["device"] for o in ops)]))
    colours = {d: f"C{i % 10}" for i, d in enumerate(names)}
    phases = list(dict.fromkeys(o["phase"] or "unknown" for o in ops))
    others = cycle(OTHER_MARKERS)
    markers = {p: PHASE_MARKERS.get(p) or next(others) for p in phases}

    # a fixed layout: the legend sits right of the axes (a constrained layout measures every text twice)
    fig = Figure(figsize=(11, 6))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.07, 0.09, 0.55, 0.83))
    ax.set_xscale("log")
    ax.set_yscale("log")

    groups: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    for o in ops:
        xs, ys = groups.setdefault((o["device"], o["phase"] or "unknown"), ([], []))
        xs.append(o["intensity"])
        ys.append(o["flops"] / o["latency_ns"])
    for (dev, phase), (xs, ys) in sorted(groups.items(), key=lambda g: (names.index(g[0][0]), phases.index(g[0][1]))):
        ax.scatter(
            xs,
            ys,
            s=14,
            c=colours[dev],
            marker=markers[phase],
            alpha=0.7,
            linewidths=0,
            label=f"{dev} {phase} ({len(xs)})",
        )

    ridges = [r for r in (peak / bw for peak, bw in roofs.values()) if math.isfinite(r) and r > 0]
    intensities = [o["intensity"] for o in ops]
    lo = min([*intensities, *ridges], default=1.0) / 10
    hi = max([*intensities, *ridges], default=100.0) * 10
    x = np.geomspace(lo, hi, 256)
    for dev, (peak, bw) in roofs.items():
        ax.plot(
            x,
            np.minimum(peak, bw * x),
            color=colours[dev],
            linewidth=1.5,
            label=f"{dev} roof: {peak / 1e3:.3g} TFLOP/s, {bw:,.0f} GB/s, ridge {peak / bw:.3g} FLOP/B",
        )
        ax.plot([peak / bw], [peak], marker="|", markersize=10, color=colours[dev])
    ax.set_xlim(lo, hi)

    ax.set_xlabel("operational intensity (FLOP/byte)")
    ax.set_ylabel("attained GFLOP/s")
    ax.set_title(f"{report['model']} on {system.name}: strategy {report['strategy']}, {report['dtype']}")
    ax.grid(True, which="major", alpha=0.3)
    if groups or roofs:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return fig


def roofline_png(report: dict[str, Any], system: System, path_or_buffer: str | Path | IO[bytes]) -> None:
    """Write the roofline plot of `report` (schema: docs/report.md) on `system` as a PNG."""
    _figure(report, system).savefig(path_or_buffer, format="png", dpi=120)


def roofline_png_bytes(report: dict[str, Any], system: System) -> bytes:
    """The roofline plot as PNG bytes, rendered in memory."""
    buf = io.BytesIO()
    roofline_png(report, system, buf)
    return buf.getvalue()


@dataclass(frozen=True)
class RooflineTarget(Target):
    """roofline.png of a compiled module, written to the file `path` (a PNG is binary: it does not go to the text
    stream xDSL targets write to, which gets one line naming the file)."""

    name = "pimc-roofline"

    path: str = ""

    def emit(self, ctx: Context, module: ModuleOp, output: IO[str]) -> None:
        from pimc.errors import PimcError
        from pimc.targets.emit.report import roofline_view

        if not self.path:
            raise PimcError("pimc-roofline writes a PNG file: name it, e.g. -t 'pimc-roofline{path=\"roofline.png\"}'")
        target = Path(self.path)
        png = roofline_png_bytes(roofline_view(module), recorded_system(module))
        try:
            target.write_bytes(png)
        except OSError as e:
            raise PimcError(f"{target}: cannot write the roofline: {e.strerror or e}") from None
        output.write(f"wrote {target}\n")
