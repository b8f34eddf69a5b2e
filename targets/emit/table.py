"""The per-op table and summary `pimc compile` prints (target `pimc-table`), from report.json's content."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Any

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.utils.target import Target

from pimc.errors import CompileError
from pimc.targets.emit.report import build_report


def si(x: float | None) -> str:
    """`x` with an SI prefix for the tables: k, M or G and two decimals from 1000 up (1.23G, 6920.17G),
    three significant digits below (715, 0.5); "-" for a missing value."""
    if x is None:
        return "-"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.2f}{suffix}"
    return f"{x:.3g}"


TABLE_ALL_UP_TO = 100
"""Models with more ops than this show only the TABLE_TOP slowest in the table by default."""
TABLE_TOP = 25


def format_table(report: dict[str, Any], max_name: int = 34, top: int | None = None) -> str:
    """A fixed-width table: one row per op (or, with `top` N > 0, the N slowest, in program order; by default
    every op of a model of up to TABLE_ALL_UP_TO ops, else the TABLE_TOP slowest), then transfers and totals."""
    head = ("#", "name", "op", "shapes", "FLOPs", "bytes", "FLOP/B", "device", "latency")
    rows: list[tuple[str, ...]] = []
    ops = report["ops"]
    if top is None:
        top = 0 if len(ops) <= TABLE_ALL_UP_TO else TABLE_TOP
    shown = set(range(len(ops)))
    if 0 < top < len(ops):
        shown = set(sorted(range(len(ops)), key=lambda i: (-(ops[i]["latency_ns"] or 0.0), i))[:top])
    for i, e in enumerate(ops):
        if i not in shown:
            continue
        name = e["name"] if len(e["name"]) <= max_name else "…" + e["name"][-(max_name - 1) :]
        shapes = (
            ",".join(s.rsplit("x", 1)[0] for s in e["inputs"])
            + "->"
            + ",".join(s.rsplit("x", 1)[0] for s in e["outputs"])
        )
        rows.append(
            (
                str(i),
                name,
                e["op"],
                shapes,
                si(e["flops"]),
                si(e["bytes"]),
                f"{e['intensity']:.2f}",
                e["device"] or "-",
                f"{e['latency_ns']:.1f} ns",
            )
        )
    widths = [max(len(h), *(len(r[c]) for r in rows)) if rows else len(h) for c, h in enumerate(head)]
    right = {0, 4, 5, 6, 8}

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    out = [fmt(head), fmt(tuple("-" * w for w in widths))]
    out += [fmt(r) for r in rows]
    t = report["totals"]
    if len(shown) < len(ops):
        out.append(f"(the {len(shown)} slowest of {len(ops)} ops; --top 0 shows every op, report.json has them all)")
    out.append("")
    out.append(f"transfers: {len(report['transfers'])}, {si(t['transfer_bytes'])}B, {t['transfer_latency_ns']:.1f} ns")
    split = ", ".join(
        f"{d} {t['ops_by_device'][d]} ops {t['latency_ns_by_device'][d]:.1f} ns" for d in t["latency_ns_by_device"]
    )
    out.append(f"devices: {split}")
    out.append(
        f"total ({report['execution_model']}): {t['latency_ns']:.1f} ns (serial {t['serial_ns']:.1f} ns), "
        f"{si(t['flops'])} FLOPs, {si(t['bytes'])}B over {t['ops']} ops, {t['energy_pj'] / 1e6:.3f} uJ; "
        f"system {report['system']['name']}, strategy {report['strategy']}, dtype {report['dtype']}"
    )
    out += summary_lines(report)
    par = report.get("parallel")
    if par and par["chips"] > 1:
        coll = "; ".join(
            f"{phase} {c['count']} collectives "
            f"({', '.join(f'{n} {k}' for k, n in sorted(c['kinds'].items()))}) {c['latency_ns'] / 1e3:.1f} us"
            for phase, c in par["collectives"].items()
        )
        out.append(
            f"parallel: tp {par['tp']} of {par['chips']} chips ({par['replicas']} replica(s)); figures per chip"
            + (f"; {coll}" if coll else "")
        )
        for row in par.get("search", []):
            head = f"  tp {row['tp']} x {row['replicas']} replica(s): "
            if "error" in row:
                out.append(head + row["error"])
                continue
            figures = [f"latency {row['latency_ns'] / 1e6:.3g} ms"]
            if "ttft_ns" in row:
                figures.append(f"TTFT {row['ttft_ns'] / 1e6:.3g} ms")
            if "tpot_ns" in row:
                figures += [f"TPOT {row['tpot_ns'] / 1e6:.3g} ms", f"{row['tokens_per_s']:.4g} tokens/s"]
            out.append(head + ", ".join(figures) + (" (chosen: least latency)" if row["chosen"] else ""))
    for name, m in report["memory"].items():
        phase_bytes = [m["kv_cache_bytes"].get(p, 0) + m["activations_bytes"].get(p, 0) for p in report["phases"]]
        out.append(
            f"memory {name}: {si(m['total_bytes'])}B of {si(m['capacity_bytes'])}B ({100 * m['utilisation']:.2f}%): "
            f"weights {si(m['weights_bytes'])}B, KV cache + activations {si(max([0, *phase_bytes]))}B"
        )
    return "\n".join(out)


def _ns(x: float | None) -> str:
    if x is None:
        return "-"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g} {unit}"
    return f"{x:.3g} ns"


def summary_lines(report: dict[str, Any], top: int = 5) -> list[str]:
    """The readable summary: latency per phase, device split, top ops, speedups against the baselines."""
    sched = report.get("schedule", {})
    out = []
    phases = ", ".join(
        f"{p} {_ns(v['latency_ns'])}" + (f" ({v['tokens']} tokens)" if v.get("tokens") else "")
        for p, v in report["phases"].items()
    )
    line = f"phases: {phases}"
    if sched.get("ttft_ns") is not None:
        line += f"; TTFT {_ns(sched['ttft_ns'])}"
    if sched.get("tpot_ns") is not None:
        line += f", TPOT {_ns(sched['tpot_ns'])}"
    if sched.get("kv_handoff_ns"):
        line += f", KV hand-off exposed {_ns(sched['kv_handoff_ns'])}"
    if sched.get("sub_batches", 1) > 1:
        line += f"; {sched['sub_batches']} interleaved sub-batches"
    out.append(line)
    devices = ", ".join(
        f"{d} {v['ops']} ops busy {_ns(v['busy_ns'])} ({100 * v['utilisation']:.0f}%)"
        for d, v in report.get("devices", {}).items()
        if v["ops"]
    )
    out.append(f"utilisation: {devices}")
    ranked = sorted(report["ops"], key=lambda e: -(e["latency_ns"] or 0.0))[:top]
    total = sum(e["latency_ns"] or 0.0 for e in report["ops"]) or 1.0
    out.append(
        "top ops: "
        + "; ".join(
            f"{e['name']} on {e['device']} {_ns(e['latency_ns'])} ({100 * (e['latency_ns'] or 0) / total:.1f}%)"
            for e in ranked
        )
    )
    proofs = []
    for phase, ok in sched.get("optimal_proven", {}).items():
        bound = sched.get("optimal_bound_ns", {}).get(phase)
        gap = sched.get("optimal_gap", {}).get(phase, 0.0)
        proofs.append(
            f"{phase} proven least" if ok else f"{phase} within {100 * gap:.3g}% of the proven lower bound {_ns(bound)}"
        )
    if proofs:
        out.append("optimal: " + "; ".join(proofs))
    baselines = report.get("baselines", {})
    parts = []
    for name, b in baselines.get("strategies", {}).items():
        if name == report["strategy"]:
            continue
        speedup = None if "error" in b else baselines["speedup"][name]["latency"]
        parts.append(f"{name} n/a" if speedup is None else f"{name} {speedup:.2f}x")
    if parts:
        out.append(f"speedup of {report['strategy']} over: " + ", ".join(parts))
    return out


@dataclass(frozen=True)
class TableTarget(Target):
    """The table and summary `pimc compile` prints: `top` N > 0 shows the N slowest ops, 0 every op, and by default
    every op of a model of up to TABLE_ALL_UP_TO ops, else the TABLE_TOP slowest (`format_table`)."""

    name = "pimc-table"

    top: int | None = None
    tokens_per_step: int = 1

    def emit(self, ctx: Context, module: ModuleOp, output: IO[str]) -> None:
        if self.top is not None and self.top < 0:
            raise CompileError(f"pimc-table: top={self.top}: the number of rows cannot be negative")
        output.write(format_table(build_report(module, self.tokens_per_step), top=self.top) + "\n")
