"""`pimc sweep`: compile one model over a grid of systems and dims; tabulate and plot the results.

A design-space question ("where does PIM stop paying off as the batch grows?")
needs the same model compiled at many points. `run_sweep` compiles every
combination of the swept dims on every system and reduces each report to one
row of end-to-end metrics (TTFT, TPOT, tokens/s, energy per token); a point that
fails to compile (e.g. the KV cache no longer fits) becomes a row with an
`error` instead of ending the sweep, since where a design stops fitting is part
of the answer. `write_sweep` writes the rows as `sweep.csv` and a two-panel plot
`sweep.png` (throughput and energy per token against the first swept dim),
rendered in memory and written atomically like the compile outputs.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pimc.errors import PimcError
from pimc.targets.emit.table import si

Row = dict[str, Any]

FIXED_COLUMNS = ("system", "strategy", "dtype")
METRIC_COLUMNS = (
    "ttft_ns",
    "tpot_ns",
    "decode_tokens",
    "decode_tokens_per_s",
    "decode_energy_per_token_uj",
    "prefill_tokens",
    "prefill_tokens_per_s",
    "prefill_energy_per_token_uj",
    "energy_pj",
)


def parse_sweep_dims(specs: Sequence[str]) -> dict[str, list[str]]:
    """`["batch=1,4,16", "past=511"]` -> {"batch": ["1", "4", "16"], "past": ["511"]}."""
    dims: dict[str, list[str]] = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        name = name.strip()
        items = [v.strip() for v in values.split(",")]
        if not sep or not name or not values.strip():
            raise PimcError(f"--dim {spec}: expected NAME=V1,V2,..., e.g. --dim batch=1,4,16")
        if not all(items):
            raise PimcError(f"--dim {spec}: empty value in the list")
        if name in dims:
            raise PimcError(f"--dim {name} is given twice")
        if name in {*FIXED_COLUMNS, *METRIC_COLUMNS, "error"}:
            raise PimcError(f"--dim {name}: the name of a sweep column; it cannot be swept as a dim")
        dims[name] = items
    return dims


def _ratio(num: float | None, den: float | None, scale: float) -> float | None:
    return num / den * scale if num is not None and den else None


def metrics_row(report: Mapping[str, Any]) -> Row:
    """The sweep metrics of one compile report; a metric the report lacks is None."""
    phases = report.get("phases", {})
    schedule = report.get("schedule", {})
    row: Row = {"ttft_ns": schedule.get("ttft_ns"), "tpot_ns": schedule.get("tpot_ns")}
    for phase in ("decode", "prefill"):
        tokens = phases.get(phase, {}).get("tokens")
        latency = phases.get(phase, {}).get("latency_ns")  # the whole step: a decode step yields `tokens`
        row[f"{phase}_tokens"] = tokens
        row[f"{phase}_tokens_per_s"] = _ratio(tokens, latency, 1e9)
        row[f"{phase}_energy_per_token_uj"] = _ratio(phases.get(phase, {}).get("energy_pj"), tokens, 1e-6)
    row["energy_pj"] = report.get("totals", {}).get("energy_pj")
    return row


def point_error(e: Exception) -> str:
    """The `error` of a failed point, one line: a PimcError's message (the user's input is at fault), else
    `internal error: <type>: <message>` (a bug in pimc, kept visible rather than passed off as a result)."""
    if isinstance(e, PimcError):
        text = str(e).strip().splitlines()
        return text[0] if text else type(e).__name__
    detail = " ".join(str(e).split())
    return f"internal error: {type(e).__name__}: {detail}" if detail else f"internal error: {type(e).__name__}"


def run_sweep(
    model: str | Path,
    systems: Sequence[str],
    dims: Mapping[str, Sequence[str]],
    strategy: str = "optimal",
    dtype: str | None = None,
    speculate: int | None = None,
) -> list[Row]:
    """Compile `model` on each system at each combination of `dims`; one row per point.

    A system may name its own strategy as `SYSTEM:STRATEGY` (e.g. `attacc:gpu-only`,
    the AttAcc machine with everything on its GPU); otherwise `strategy` applies.

    A point that fails for any reason gets an `error` (`point_error`) and empty
    metrics, and the sweep goes on. `speculate` is passed to compile_model only
    when given, so the sweep runs with compile_model's default otherwise.
    """
    from pimc.compiler.driver import compile_model, import_model
    from pimc.targets.placement.strategies import STRATEGIES
    from pimc.targets.system import load_system

    targets = []
    for spec in systems:  # a misspelt system fails the sweep up front, not once per point
        system, colon, own = spec.rpartition(":")
        if not colon or own not in STRATEGIES:  # no strategy suffix: the whole spec names the system
            system, own = spec, strategy
        load_system(system)
        targets.append((spec, system, own))
    extra: dict[str, Any] = {} if speculate is None else {"speculate": speculate}  # passed only when given
    imported: dict[tuple[str, ...], Any] = {}  # a point's dims -> its imported module, or why it failed

    def module_at(point: dict[str, str]) -> Any:
        """The model imported at `point` once for every system; each compile gets a clone."""
        key = tuple(point.values())
        if key not in imported:
            import_dims = {**point, **({"speculate": str(speculate)} if speculate is not None else {})}
            try:
                imported[key] = import_model(model, import_dims)
            except Exception as e:  # the error is the row of every system at this point
                imported[key] = e
        if isinstance(imported[key], Exception):
            raise imported[key]
        return imported[key].clone()

    rows: list[Row] = []
    for label, system, point_strategy in targets:
        for values in itertools.product(*dims.values()):
            point = dict(zip(dims, values))
            row: Row = {"system": label, "strategy": point_strategy, "dtype": dtype, **point}
            try:
                report = compile_model(
                    model,
                    system=system,
                    strategy=point_strategy,
                    dims=point,
                    dtype=dtype,
                    baselines=False,
                    imported=module_at(point),
                    **extra,
                ).report
                metrics = {"dtype": report.get("dtype", dtype), **metrics_row(report), "error": None}
            except Exception as e:  # every failure is one row; the sweep goes on
                row.update(dict.fromkeys(METRIC_COLUMNS), error=point_error(e))
            else:
                row.update(metrics)
            rows.append(row)
    return rows


def dim_columns(rows: Sequence[Row]) -> list[str]:
    """The swept dim names of `rows`, in sweep order."""
    known = {*FIXED_COLUMNS, *METRIC_COLUMNS, "error"}
    return [k for k in rows[0] if k not in known] if rows else []


def sweep_csv_text(rows: Sequence[Row]) -> str:
    columns = [*FIXED_COLUMNS, *dim_columns(rows), *METRIC_COLUMNS, "error"]
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: "" if row.get(c) is None else row[c] for c in columns})
    return out.getvalue()


def x_dim_of(rows: Sequence[Row]) -> str:
    """The dim to plot against: the first one swept over more than one value (else the first)."""
    dims = dim_columns(rows)
    if not dims:
        raise PimcError("a sweep needs at least one --dim to plot against")
    return next((d for d in dims if len({r[d] for r in rows}) > 1), dims[0])


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def sweep_png_bytes(rows: Sequence[Row], x_dim: str) -> bytes:
    """Two panels against `x_dim`: throughput and energy per token, one line per system and other-dim values.

    Decode metrics when any point has a decode phase, else prefill. A
    positive-integer x axis is log2; otherwise values are placed in order.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    phase = "decode" if any(r.get("decode_tokens_per_s") for r in rows) else "prefill"
    xs = list(dict.fromkeys(r[x_dim] for r in rows))
    ints = [_as_int(x) for x in xs]
    log2_x = all(i is not None and i > 0 for i in ints)
    position = {x: (i if log2_x else n) for n, (x, i) in enumerate(zip(xs, ints))}
    varying = [d for d in dim_columns(rows) if d != x_dim and len({r[d] for r in rows}) > 1]

    fig = Figure(figsize=(11, 4.2))
    FigureCanvasAgg(fig)
    panels = [
        (f"{phase}_tokens_per_s", f"{phase} throughput (tokens/s)"),
        (f"{phase}_energy_per_token_uj", f"{phase} energy per token (µJ)"),
    ]
    for ax, (metric, ylabel) in zip(fig.subplots(1, 2), panels):
        lines: dict[str, list[tuple[Any, float]]] = {}
        for r in rows:
            label = " ".join([r["system"], *(f"{d}={r[d]}" for d in varying)])
            points = lines.setdefault(label, [])
            if isinstance(r.get(metric), (int, float)) and r[metric] > 0:
                points.append((position[r[x_dim]], r[metric]))
        for label, points in lines.items():
            if points:
                ax.plot(*zip(*sorted(points)), marker="o", label=label)
        if log2_x:
            ax.set_xscale("log", base=2)
        ax.set_xticks([position[x] for x in xs], xs)
        ax.minorticks_off()
        if any(lines.values()):
            ax.set_yscale("log")
            ax.legend(fontsize="small")
        ax.set_xlabel(x_dim)
        ax.set_ylabel(ylabel)
        ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=120)
    return out.getvalue()


def write_sweep(rows: Sequence[Row], outdir: str | Path) -> list[Path]:
    """Write sweep.csv and sweep.png into `outdir`: both rendered first, each written atomically."""
    from pimc.compiler.driver import write_files

    files = {"sweep.csv": sweep_csv_text(rows), "sweep.png": sweep_png_bytes(rows, x_dim_of(rows))}
    return write_files(files, outdir)


def format_sweep_table(rows: Sequence[Row]) -> str:
    """A fixed-width table: system, dims, TTFT, TPOT, tokens/s and µJ/token (decode, else prefill)."""
    dims = dim_columns(rows)
    keys = [("system", *dims)] + [(r["system"], *(str(r[d]) for d in dims)) for r in rows]
    metrics: list[tuple[str, ...]] = [("ttft_ns", "tpot_ns", "tokens/s", "uJ/token")]
    for r in rows:
        phase = "decode" if r.get("decode_tokens_per_s") is not None else "prefill"
        metrics.append(
            (f"error: {r['error']}",)
            if r.get("error")
            else (
                si(r["ttft_ns"]),
                si(r["tpot_ns"]),
                si(r[f"{phase}_tokens_per_s"]),
                si(r[f"{phase}_energy_per_token_uj"]),
            )
        )
    key_w = [max(len(k[i]) for k in keys) for i in range(len(keys[0]))]
    metric_w = [max(len(m[i]) for m in metrics if len(m) == 4) for i in range(4)]
    lines = []
    for k, m in zip(keys, metrics):
        cells = [c.ljust(w) for c, w in zip(k, key_w)]
        cells += [c.rjust(w) for c, w in zip(m, metric_w)] if len(m) == 4 else list(m)
        lines.append("  ".join(cells))
    return "\n".join(lines)
