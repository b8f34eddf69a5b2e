"""`pimc serve`: an iteration-level simulation of an LLM serving engine on a compiled system.

Requests arrive (a Poisson process at `--rate`, or the times of a request file), each with a prompt and an
output length. The engine is vLLM's as its papers and scheduler describe it:

- **Continuous batching** (Orca, Yu et al., OSDI 2022): the batch is re-formed every iteration; a request
  joins as soon as it is admitted and leaves when its last token is out.
- **Paged KV cache** (vLLM, Kwon et al., SOSP 2023): the cache is `pages` blocks of `page_tokens` positions;
  a request holds ceil(positions / page_tokens) of them. A request is admitted (first come, first served)
  only when the pages of its first chunk are free; when a running request needs a page and none is free,
  the most recently admitted request is preempted: its pages are freed and it goes back to the head of the
  queue, to recompute its prompt and the tokens it has generated (vLLM's recompute preemption).
- **Chunked prefill** (Sarathi-Serve, Agrawal et al., OSDI 2024; vLLM's default scheduler since v1): each
  iteration takes every running decode (one token each) and fills the rest of a budget of
  `max_tokens` tokens with prompt chunks, partly prefilled requests first, then new ones. Without it
  (`chunked=False`, vLLM v0's default) an iteration is either prefills only (as many waiting prompts as fit
  in the budget, run before any decode) or every running request's decode.

The last chunk of a prompt yields the request's first token; every decode one more. An iteration's latency,
energy and device busy times are pimc's compiled cost of its parts (compiler/step_costs.py): the decodes as
one step of `b` requests, each chunk as a step of its own, added up (each part is a program of its own, so
the weights are streamed once per part: for a fused mixed batch on a memory-bound device this is an upper
bound by up to one weight read per chunk). A system of `chips` chips at tensor-parallel degree `tp` serves
as chips / tp replicas, requests dealt to them in turn.

Metrics follow the serving papers: TTFT (arrival to first token), TPOT (the mean time between a request's
later tokens: (finish - first token) / (output - 1)), end-to-end latency, throughput in requests and output
tokens per second over the run (first arrival to last finish), goodput as requests per second that meet
every SLO given (DistServe, Zhong et al., OSDI 2024), energy per output token and each device's utilisation.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from pimc.compiler.step_costs import StepCosts, StepShape
from pimc.errors import PimcError

MAX_REQUESTS = 10_000_000
MAX_LENGTH = 1 << 24

# -- workload -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dist:
    """A length distribution: `N` (every request N), `uniform:LO:HI` (integers, both ends included),
    `normal:MEAN:STD` and `exp:MEAN` (rounded, at least 1)."""

    kind: str
    args: tuple[float, ...]
    text: str

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.kind == "const":
            values = np.full(n, self.args[0])
        elif self.kind == "uniform":
            values = rng.integers(int(self.args[0]), int(self.args[1]), size=n, endpoint=True)
        elif self.kind == "normal":
            values = np.rint(rng.normal(self.args[0], self.args[1], size=n))
        else:
            values = np.rint(rng.exponential(self.args[0], size=n))
        return np.clip(values, 1, MAX_LENGTH).astype(np.int64)


def parse_dist(text: str, option: str) -> Dist:
    """`512`, `uniform:64:1024`, `normal:512:128`, `exp:256` -> Dist; a PimcError names the option."""
    kind, _, rest = text.strip().partition(":")
    usage = f"{option} {text}: expected N, uniform:LO:HI, normal:MEAN:STD or exp:MEAN (token counts)"
    if not rest:
        try:
            n = int(kind)
        except ValueError:
            raise PimcError(usage) from None
        if not 1 <= n <= MAX_LENGTH:
            raise PimcError(f"{option} {text}: a length must be between 1 and {MAX_LENGTH}")
        return Dist("const", (float(n),), text)
    try:
        args = tuple(float(a) for a in rest.split(":"))
    except ValueError:
        raise PimcError(usage) from None
    arity = {"uniform": 2, "normal": 2, "exp": 1}
    if kind not in arity or len(args) != arity[kind] or not all(math.isfinite(a) for a in args):
        raise PimcError(usage)
    if kind == "uniform" and not (
        1 <= args[0] <= args[1] <= MAX_LENGTH and args[0] == int(args[0]) and args[1] == int(args[1])
    ):
        raise PimcError(f"{option} {text}: uniform needs integers 1 <= LO <= HI <= {MAX_LENGTH}")
    if kind == "normal" and not (0 < args[0] <= MAX_LENGTH and 0 <= args[1] <= MAX_LENGTH):
        raise PimcError(f"{option} {text}: normal needs 0 < MEAN and 0 <= STD (at most {MAX_LENGTH})")
    if kind == "exp" and not 0 < args[0] <= MAX_LENGTH:
        raise PimcError(f"{option} {text}: exp needs 0 < MEAN <= {MAX_LENGTH}")
    return Dist(kind, args, text)


@dataclass(frozen=True)
class Workload:
    """Requests in arrival order: arrival times in seconds (None: drawn from --rate) and lengths."""

    prompt: np.ndarray
    output: np.ndarray
    arrival_s: np.ndarray | None
    source: str


def synthetic_workload(n: int, prompt: Dist, output: Dist, seed: int) -> Workload:
    """`n` requests with lengths drawn from `prompt` and `output` (seeded; the same at every rate)."""
    rng = np.random.default_rng(seed)
    return Workload(prompt.sample(rng, n), output.sample(rng, n), None, f"{n} requests")


def read_workload(path: Path) -> Workload:
    """A CSV with a header naming `prompt_len` and `output_len` and, optionally, `arrival_s` (seconds,
    non-decreasing); one row per request. Errors name the file and line."""
    try:
        text = path.read_text()
    except (OSError, UnicodeError) as e:
        raise PimcError(f"{path}: cannot read the request file: {getattr(e, 'strerror', None) or e}") from None
    rows = csv.DictReader(io.StringIO(text))
    fields = rows.fieldnames or []
    missing = [c for c in ("prompt_len", "output_len") if c not in fields]
    if missing:
        raise PimcError(
            f"{path}:1: the header has no {' or '.join(missing)} column (columns: arrival_s, prompt_len, output_len)"
        )
    timed = "arrival_s" in fields
    prompt, output, arrival = [], [], []
    for line, row in enumerate(rows, start=2):
        try:
            p, o = int(row["prompt_len"]), int(row["output_len"])
            a = float(row["arrival_s"]) if timed else 0.0
        except (TypeError, ValueError):
            raise PimcError(
                f"{path}:{line}: expected integer prompt_len and output_len{' and a number arrival_s' if timed else ''}"
            ) from None
        if not (1 <= p <= MAX_LENGTH and 1 <= o <= MAX_LENGTH):
            raise PimcError(f"{path}:{line}: lengths must be between 1 and {MAX_LENGTH}")
        if timed and (not math.isfinite(a) or a < 0 or (arrival and a < arrival[-1])):
            raise PimcError(f"{path}:{line}: arrival_s must be finite, >= 0 and non-decreasing")
        prompt.append(p)
        output.append(o)
        arrival.append(a)
        if len(prompt) > MAX_REQUESTS:
            raise PimcError(f"{path}: more than {MAX_REQUESTS} requests")
    if not prompt:
        raise PimcError(f"{path}: no requests")
    return Workload(
        np.array(prompt, dtype=np.int64),
        np.array(output, dtype=np.int64),
        np.array(arrival) if timed else None,
        str(path),
    )


def arrivals_ns(workload: Workload, rate: float | None, seed: int) -> np.ndarray:
    """Arrival times in ns: the file's, or a Poisson process at `rate` requests/s (inf: all at 0)."""
    if workload.arrival_s is not None:
        return workload.arrival_s * 1e9
    assert rate is not None
    n = len(workload.prompt)
    if math.isinf(rate):
        return np.zeros(n)
    gaps = np.random.default_rng([seed, 1]).exponential(1.0, size=n)  # unit-rate gaps, scaled per rate
    gaps[0] = 0.0
    return np.cumsum(gaps) * (1e9 / rate)


# -- the engine -----------------------------------------------------------------------------------------


class IterationCosts(Protocol):
    """What the engine asks of a cost model (StepCosts, or a test's hand-written one)."""

    def decode(self, b: int, total_cached: int) -> tuple[float, ...]: ...

    def prefill(self, t: int, cached: int) -> tuple[float, ...]: ...


@dataclass(frozen=True)
class EngineConfig:
    max_batch: int = 256
    max_tokens: int = 2048
    page_tokens: int = 16
    pages: int = 0
    chunked: bool = True


@dataclass
class _Request:
    index: int
    arrival: float
    prompt: int
    output: int
    todo: int = 0  # positions still to prefill (the prompt; after a preemption, prompt + generated)
    kv: int = 0  # positions in the KV cache
    pages: int = 0
    generated: int = 0
    first: float = -1.0
    finish: float = -1.0
    preemptions: int = 0


@dataclass
class RunResult:
    """One simulated run: per request times, per iteration figures."""

    arrival: np.ndarray
    first: np.ndarray
    finish: np.ndarray
    prompt: np.ndarray
    output: np.ndarray
    preemptions: np.ndarray
    replica: np.ndarray
    iterations: list[tuple[Any, ...]] = field(default_factory=list)
    """(replica, start_ns, latency_ns, decodes, prefill_tokens, running, free_pages, energy_pj, *busy_ns)"""

    @property
    def ttft_ns(self) -> np.ndarray:
        return self.first - self.arrival

    @property
    def tpot_ns(self) -> np.ndarray:
        """(finish - first token) / (output - 1); NaN for a request of one output token (it has no TPOT)."""
        later = np.maximum(self.output - 1, 1)
        return np.where(self.output > 1, (self.finish - self.first) / later, np.nan)


def simulate(
    arrival_ns: Sequence[float] | np.ndarray,
    prompt: Sequence[int] | np.ndarray,
    output: Sequence[int] | np.ndarray,
    costs: IterationCosts,
    config: EngineConfig,
    replica: int = 0,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[_Request], list[tuple[Any, ...]]]:
    """Run the engine (module docstring) over requests in arrival order; every request to completion."""
    page = config.page_tokens

    def pages_for(positions: int) -> int:
        return -(-positions // page)

    reqs = [
        _Request(i, float(a), int(p), int(o), todo=int(p))
        for i, (a, p, o) in enumerate(zip(arrival_ns, prompt, output, strict=True))
    ]
    for r in reqs:
        need = pages_for(r.prompt + r.output - 1)  # the last token is never written to the cache
        if need > config.pages:
            raise PimcError(
                f"request {r.index}: a prompt of {r.prompt} and {r.output} output tokens need {need} KV pages of "
                f"{page} positions; the KV cache holds {config.pages}"
            )
    waiting: deque[_Request] = deque()
    running: list[_Request] = []
    free = config.pages
    now = 0.0
    nxt = 0
    done = 0
    iterations: list[tuple[Any, ...]] = []
    preempted = False  # in this iteration

    def preempt(victim: _Request) -> None:
        nonlocal free, preempted
        preempted = True
        running.pop() if running[-1] is victim else running.remove(victim)
        free += victim.pages
        victim.pages = 0
        victim.kv = 0
        victim.todo = victim.prompt + victim.generated
        victim.preemptions += 1
        waiting.appendleft(victim)

    def grow(r: _Request, tokens: int) -> bool:
        """Give `r` the pages for `tokens` more positions, preempting the latest admitted requests as needed;
        False when `r` itself had to go."""
        nonlocal free
        need = pages_for(r.kv + tokens) - r.pages
        while need > free:
            victim = running[-1]
            preempt(victim)
            if victim is r:
                return False
        free -= need
        r.pages += need
        return True

    def admit(r: _Request, t: int) -> bool:
        """Admit the head of the queue with a first chunk of `t` positions if their pages are free."""
        nonlocal free
        need = pages_for(t)
        if need > free:
            return False
        waiting.popleft()
        running.append(r)
        free -= need
        r.pages = need
        chunks.append((r, t))
        return True

    while done < len(reqs):
        while nxt < len(reqs) and reqs[nxt].arrival <= now:
            waiting.append(reqs[nxt])
            nxt += 1
        if not running and not waiting:
            now = reqs[nxt].arrival
            continue
        decodes: list[_Request] = []
        chunks: list[tuple[_Request, int]] = []
        preempted = False
        if config.chunked:
            budget = config.max_tokens
            for r in list(running):
                if r.pages == 0 or budget == 0:  # preempted for an earlier request's page; or no budget left
                    continue
                t = 1 if r.todo == 0 else min(r.todo, budget)
                if grow(r, t):
                    budget -= t
                    (decodes.append(r) if r.todo == 0 else chunks.append((r, t)))
            # a request preempted for a later one's page may have been scheduled already: take it out
            decodes = [r for r in decodes if r.pages]
            chunks = [(r, t) for r, t in chunks if r.pages]
            budget = config.max_tokens - len(decodes) - sum(t for _, t in chunks)
            # as vLLM's scheduler: no new request joins an iteration that had to preempt
            while not preempted and waiting and budget and len(running) < config.max_batch:
                t = min(waiting[0].todo, budget)
                if not admit(waiting[0], t):
                    break
                budget -= t
        else:
            budget = config.max_tokens
            while waiting and len(running) < config.max_batch:
                r = waiting[0]
                if (chunks and r.todo > budget) or not admit(r, r.todo):
                    break
                budget -= r.todo
            if not chunks:
                for r in list(running):
                    if r.pages and grow(r, 1):
                        decodes.append(r)
                decodes = [r for r in decodes if r.pages]
        if not decodes and not chunks:  # everything running was preempted for pages: start again
            continue
        cost: tuple[float, ...] | None = None
        if decodes:
            cost = costs.decode(len(decodes), sum(r.kv for r in decodes))
        for r, t in chunks:
            c = costs.prefill(t, r.kv)
            cost = c if cost is None else tuple(x + y for x, y in zip(cost, c))
        assert cost is not None
        start = now
        now += cost[0]
        iterations.append(
            (replica, start, cost[0], len(decodes), sum(t for _, t in chunks), len(running), free, *cost[1:])
        )
        finished: list[_Request] = []
        for r in decodes:
            r.kv += 1
            r.generated += 1
            if r.generated == r.output:
                finished.append(r)
        for r, t in chunks:
            r.kv += t
            r.todo -= t
            if r.todo == 0:
                r.generated += 1
                if r.first < 0:
                    r.first = now
                if r.generated == r.output:
                    finished.append(r)
        for r in finished:
            r.finish = now
            running.remove(r)
            free += r.pages
            r.pages = 0
        done += len(finished)
        if progress is not None and finished:
            progress(len(finished))
    return reqs, iterations


def run(
    arrival: np.ndarray,
    workload: Workload,
    costs: IterationCosts,
    config: EngineConfig,
    replicas: int = 1,
    progress: Callable[[int], None] | None = None,
) -> RunResult:
    """Deal the requests to `replicas` identical engines in turn and simulate each."""
    n = len(workload.prompt)
    first, finish, pre, rep = np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    iterations: list[tuple[Any, ...]] = []
    for k in range(replicas):
        idx = np.arange(k, n, replicas)
        if not len(idx):
            continue
        reqs, its = simulate(arrival[idx], workload.prompt[idx], workload.output[idx], costs, config, k, progress)
        first[idx] = [r.first for r in reqs]
        finish[idx] = [r.finish for r in reqs]
        pre[idx] = [r.preemptions for r in reqs]
        rep[idx] = k
        iterations += its
    iterations.sort(key=lambda it: (it[1], it[0]))
    return RunResult(arrival, first, finish, workload.prompt, workload.output, pre, rep, iterations)


# -- metrics --------------------------------------------------------------------------------------------

PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class Slo:
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2e_s: float | None = None


def summarise(result: RunResult, devices: Sequence[str], slo: Slo, replicas: int) -> dict[str, Any]:
    """The run's figures (module docstring); latencies in ms (TTFT, TPOT) and s (end to end)."""
    ttft = result.ttft_ns / 1e6
    e2e = (result.finish - result.arrival) / 1e9
    tpot_all = result.tpot_ns / 1e6
    tpot = tpot_all[~np.isnan(tpot_all)]
    its = np.array(result.iterations, dtype=float).reshape(len(result.iterations), 8 + len(devices))
    span_ns = float(result.finish.max() - result.arrival.min())
    span_s = span_ns / 1e9 if span_ns > 0 else float("nan")
    out_tokens = int(result.output.sum())
    energy = float(its[:, 7].sum())
    ok = np.ones(len(ttft), dtype=bool)
    if slo.ttft_ms is not None:
        ok &= ttft <= slo.ttft_ms
    if slo.tpot_ms is not None:
        ok &= ~(tpot_all > slo.tpot_ms)  # a request of one output token has no TPOT to miss
    if slo.e2e_s is not None:
        ok &= e2e <= slo.e2e_s
    busy = dict(zip(devices, its[:, 8:].sum(axis=0).tolist()))

    def pct(values: np.ndarray) -> dict[str, Any]:
        if not len(values):
            return {f"p{p}": None for p in PERCENTILES} | {"mean": None}
        return {f"p{p}": float(np.percentile(values, p)) for p in PERCENTILES} | {"mean": float(values.mean())}

    summary: dict[str, Any] = {
        "requests": len(ttft),
        "duration_s": span_s,
        "requests_per_s": len(ttft) / span_s,
        "output_tokens_per_s": out_tokens / span_s,
        "prompt_tokens": int(result.prompt.sum()),
        "output_tokens": out_tokens,
        "ttft_ms": pct(ttft),
        "tpot_ms": pct(tpot),
        "e2e_s": pct(e2e),
        "iterations": len(result.iterations),
        "mean_decode_batch": float(its[:, 3].mean()) if len(its) else 0.0,
        "preemptions": int(result.preemptions.sum()),
        "energy_j": energy / 1e12,
        "energy_per_output_token_mj": energy / 1e9 / out_tokens,
        "utilisation": {d: b / (span_ns * replicas) for d, b in busy.items()},
    }
    if slo != Slo():
        summary["slo"] = {k: v for k, v in vars(slo).items() if v is not None}
        summary["slo_attainment"] = float(ok.mean())
        summary["goodput_requests_per_s"] = int(ok.sum()) / span_s
    return summary


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


def format_table(runs: Sequence[tuple[str, dict[str, Any]]]) -> str:
    """One row per run: throughput, TTFT / TPOT / end-to-end percentiles, goodput, energy per token."""
    goodput = any("goodput_requests_per_s" in s for _, s in runs)
    head = ["rate", "req/s", "tok/s", "TTFT ms p50/p90/p99", "TPOT ms p50/p90/p99", "E2E s p50/p90/p99"]
    head += ["goodput req/s"] if goodput else []
    head += ["mJ/token", "preempt"]
    rows = [head]
    for label, s in runs:
        row = [label, _fmt(s["requests_per_s"]), _fmt(s["output_tokens_per_s"], 4)]
        for key in ("ttft_ms", "tpot_ms", "e2e_s"):
            row.append("/".join(_fmt(s[key][f"p{p}"]) for p in PERCENTILES))
        if goodput:
            row.append(_fmt(s.get("goodput_requests_per_s")))
        row += [_fmt(s["energy_per_output_token_mj"]), str(s["preemptions"])]
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def requests_csv(runs: Sequence[tuple[str, RunResult]]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(
        [
            "rate",
            "request",
            "replica",
            "arrival_s",
            "prompt_len",
            "output_len",
            "ttft_ms",
            "tpot_ms",
            "e2e_s",
            "preemptions",
        ]
    )
    for label, r in runs:
        ttft, tpot = r.ttft_ns / 1e6, r.tpot_ns / 1e6
        for i in range(len(r.arrival)):
            w.writerow(
                [
                    label,
                    i,
                    int(r.replica[i]),
                    repr(r.arrival[i] / 1e9),
                    int(r.prompt[i]),
                    int(r.output[i]),
                    repr(float(ttft[i])),
                    "" if np.isnan(tpot[i]) else repr(float(tpot[i])),
                    repr((r.finish[i] - r.arrival[i]) / 1e9),
                    int(r.preemptions[i]),
                ]
            )
    return out.getvalue()


def iterations_csv(runs: Sequence[tuple[str, RunResult]], devices: Sequence[str]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(
        [
            "rate",
            "replica",
            "start_ms",
            "latency_ms",
            "decodes",
            "prefill_tokens",
            "running",
            "free_pages",
            "energy_mj",
            *(f"{d}_utilisation" for d in devices),
        ]
    )
    for label, r in runs:
        for it in r.iterations:
            lat = it[2]
            w.writerow(
                [
                    label,
                    it[0],
                    f"{it[1] / 1e6:.6f}",
                    f"{lat / 1e6:.6f}",
                    it[3],
                    it[4],
                    it[5],
                    it[6],
                    f"{it[7] / 1e9:.6f}",
                    *(f"{b / lat:.4f}" for b in it[8:]),
                ]
            )
    return out.getvalue()


def serve_png_bytes(runs: Sequence[tuple[str, RunResult, dict[str, Any]]], devices: Sequence[str]) -> bytes:
    """Four panels: TTFT and TPOT CDFs per rate, throughput against rate, device utilisation over time (the
    last run, in 100 bins)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 8))
    FigureCanvasAgg(fig)
    ax = fig.subplots(2, 2)
    for label, r, _ in runs:
        ttft = np.sort(r.ttft_ns / 1e6)
        ax[0][0].plot(ttft, np.arange(1, len(ttft) + 1) / len(ttft), label=label)
        tpot = np.sort(r.tpot_ns[r.output > 1] / 1e6)
        if len(tpot):
            ax[0][1].plot(tpot, np.arange(1, len(tpot) + 1) / len(tpot), label=label)
    for a, name in ((ax[0][0], "TTFT (ms)"), (ax[0][1], "TPOT (ms)")):
        a.set_xlabel(name)
        a.set_ylabel("fraction of requests")
        a.set_xscale("log")
        a.grid(True, alpha=0.3)
        a.legend(fontsize="small", title="rate")
    rates = [(float(label), s) for label, _, s in runs if label.replace(".", "", 1).isdigit()]
    if rates:
        xs = [x for x, _ in rates]
        ax[1][0].plot(xs, [s["output_tokens_per_s"] for _, s in rates], marker="o", label="output tokens/s")
        if all("goodput_requests_per_s" in s for _, s in rates):
            twin = ax[1][0].twinx()
            twin.plot(xs, [s["goodput_requests_per_s"] for _, s in rates], marker="s", color="C1")
            twin.set_ylabel("goodput (requests/s)", color="C1")
        ax[1][0].set_xlabel("request rate (requests/s)")
        ax[1][0].set_ylabel("output tokens/s")
        ax[1][0].grid(True, alpha=0.3)
    else:
        ax[1][0].set_axis_off()
    label, r, _ = runs[-1]
    if r.iterations:
        its = np.array([it[1:3] + it[8:] for it in r.iterations], dtype=float)
        end = float((its[:, 0] + its[:, 1]).max())
        edges = np.linspace(0.0, end, 101)
        replicas = max(1, int(r.replica.max()) + 1)
        start, lat = its[:, 0:1], its[:, 1:2]
        covered = np.clip(edges[None, :] - start, 0.0, lat)  # of each iteration, the part before each edge
        for i, d in enumerate(devices):
            # the device's busy share of each iteration spread evenly over it, per bin, replicas averaged
            busy = np.diff((covered * (its[:, 2 + i : 3 + i] / lat)).sum(axis=0))
            ax[1][1].plot(edges[:-1] / 1e9, busy / (edges[1] - edges[0]) / replicas, label=d)
        ax[1][1].set_xlabel(f"time (s), rate {label}")
        ax[1][1].set_ylabel("utilisation")
        ax[1][1].legend(fontsize="small")
        ax[1][1].grid(True, alpha=0.3)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=110)
    return out.getvalue()


# -- the command ----------------------------------------------------------------------------------------


def _context(model: Path, dims: dict[str, str], system: Any, strategy: str, dtype: str | None) -> dict[str, Any]:
    """What a node's cost depends on but its shape and the tensor-parallel degree (the cache file's key)."""
    from pimc.compiler.step_costs import CACHE_VERSION, source_digest

    return {
        "version": CACHE_VERSION,
        "model": hashlib.sha256(model.read_bytes()).hexdigest(),
        "dims": sorted(dims.items()),
        "system": repr(system),
        "strategy": strategy,
        "dtype": dtype,
        "pimc": source_digest(),
    }


def step_compiler(
    model: Path, system: str, strategy: str, dims: dict[str, str], dtype: str | None, tp: int
) -> Callable[[StepShape], dict[str, Any]]:
    """compile_node for StepCosts: the model's decode phase at the node's batch, tokens and cached positions,
    the function named after the node's phase, the other phases dropped."""
    from xdsl.dialects import func

    from pimc.compiler.driver import compile_model, import_model
    from pimc.compiler.frontend.phases import set_phase

    def compile_node(shape: StepShape) -> dict[str, Any]:
        at = {**dims, "batch": str(shape.batch), "speculate": str(shape.tokens), "past": str(shape.cached)}
        what = f"the step of {shape.batch} x {shape.tokens} tokens after {shape.cached} cached ({shape.phase})"
        try:
            module = import_model(model, at)
            fns = [op for op in module.ops if isinstance(op, func.FuncOp)]
            step = next((f for f in fns if f.sym_name.data == "decode"), None)
            if step is None:
                raise PimcError(f"{model}: no decode phase (`phase decode {{ tokens = speculate, cached = past }}`)")
            for f in fns:
                if f is not step:
                    module.body.block.erase_op(f)
            set_phase(step, shape.phase)
            return compile_model(
                model,
                system=system,
                strategy=strategy,
                dims=at,
                dtype=dtype,
                baselines=False,
                imported=module,
                tp=tp,
            ).report
        except PimcError as e:
            raise PimcError(f"serve: {what} does not compile: {str(e).splitlines()[0]}") from None

    return compile_node


@dataclass
class ServeSetup:
    costs: StepCosts
    config: EngineConfig
    tp: int
    replicas: int
    devices: list[str]
    kv_bytes_per_token: float | None


def setup(
    model: str | Path,
    system: str,
    strategy: str = "optimal",
    dims: dict[str, str] | None = None,
    dtype: str | None = None,
    tp: int | None = None,
    max_batch: int = 256,
    max_tokens: int = 2048,
    page_tokens: int = 16,
    kv_pages: int | None = None,
    chunked: bool = True,
    cache_dir: Path | None = None,
    on_compile: Callable[[StepShape], None] | None = None,
) -> ServeSetup:
    """The step costs and engine of a model on a system: tensor-parallel degree, KV pages, cache file.

    Without `tp` the smallest degree (most replicas) whose largest decode batch compiles is taken; without
    `kv_pages`, the pages are what the memories holding the KV cache have left beside the weights and
    activations of the largest decode batch, the largest chunk and a single request (the least of the three)."""
    from pimc.targets.system import load_system

    path = Path(model)
    if path.suffix != ".pim":
        raise PimcError(
            f"{path}: serve compiles a DSL model's decode phase at every batch and context it meets (its "
            "batch, speculate and past parameters); give a .pim model"
        )
    if not path.is_file():
        raise PimcError(f"{path}: no such model file")
    sys_desc = load_system(system)
    dims = dict(dims or {})
    for name in ("batch", "speculate", "past"):
        if name in dims:
            raise PimcError(f"--dim {name}: serve sets {name} at every step; it cannot be fixed")
    if max_tokens < 1 or max_batch < 1 or page_tokens < 1:
        raise PimcError("serve: --max-batch, --max-tokens and --page-tokens must be >= 1")
    chips = sys_desc.chips
    if tp is not None and chips % tp:
        raise PimcError(f"--tp {tp}: does not divide the {chips} chips of system '{sys_desc.name}'")
    degrees = [tp] if tp is not None else [d for d in range(1, chips + 1) if chips % d == 0]
    devices = sorted(sys_desc.devices)
    errors: list[PimcError] = []
    context = _context(path, dims, sys_desc, strategy, dtype) if cache_dir is not None else None
    for degree in degrees:
        cache_file = None
        if cache_dir is not None and context is not None:
            key = hashlib.sha256(json.dumps({**context, "tp": degree}, sort_keys=True).encode()).hexdigest()
            cache_file = cache_dir / f"serve-{path.stem}-{key[:20]}.json"
        compile_node = step_compiler(path, system, strategy, dims, dtype, degree)
        costs = StepCosts(compile_node, devices, max_batch, max_tokens, cache_file, on_compile)
        try:
            refs = [
                StepShape("decode", 1, 1, 1),
                StepShape("decode", max_batch, 1, 1),
                StepShape("prefill", 1, max_tokens, 0),
            ]
            figures = [costs.kv_figures(s) for s in refs]
        except PimcError as e:
            errors.append(e)
            continue
        kv_token = figures[0][0]
        if kv_pages is None:
            free = min(f[1] for f in figures)
            if kv_token <= 0:
                raise PimcError(f"{path}: the step holds no KV cache (serve needs a model with `cache` tensors)")
            pages = int(free // (kv_token * page_tokens))
            if pages < 1:
                raise PimcError(
                    f"serve: no memory is left for the KV cache on '{sys_desc.name}' beside the weights and the "
                    f"activations of --max-batch {max_batch} / --max-tokens {max_tokens}"
                )
        else:
            pages = kv_pages
        costs.set_capacity(pages * page_tokens)
        config = EngineConfig(max_batch, max_tokens, page_tokens, pages, chunked)
        return ServeSetup(costs, config, degree, chips // degree, devices, kv_token or None)
    if len(errors) > 1:  # the largest degree's error: the one that holds the least per chip
        raise PimcError(f"{errors[-1]} (tried --tp {', '.join(map(str, degrees))})")
    raise errors[0]


def serve_runs(
    setup_: ServeSetup,
    workload: Workload,
    rates: Sequence[float] | None,
    seed: int,
    slo: Slo,
    progress: Callable[[int], None] | None = None,
) -> list[tuple[str, RunResult, dict[str, Any]]]:
    """Simulate the workload at every rate (once at the file's own times when it has them)."""
    out = []
    for rate in (rates or [math.inf]) if workload.arrival_s is None else [None]:
        arrival = arrivals_ns(workload, rate, seed)
        result = run(arrival, workload, setup_.costs, setup_.config, setup_.replicas, progress)
        label = "file" if rate is None else ("inf" if math.isinf(rate) else f"{rate:g}")
        out.append((label, result, summarise(result, setup_.devices, slo, setup_.replicas)))
    return out


def output_files(
    setup_: ServeSetup, runs: Sequence[tuple[str, RunResult, dict[str, Any]]], about: dict[str, Any]
) -> dict[str, str | bytes]:
    """summary.json (`about`, the engine and every run's summary), requests.csv, iterations.csv, serve.png."""
    config = setup_.config
    summary = {
        **about,
        "tp": setup_.tp,
        "replicas": setup_.replicas,
        "engine": {
            "max_batch": config.max_batch,
            "max_tokens": config.max_tokens,
            "page_tokens": config.page_tokens,
            "kv_pages": config.pages,
            "chunked_prefill": config.chunked,
            "kv_bytes_per_token": setup_.kv_bytes_per_token,
        },
        "runs": {label: s for label, _, s in runs},
    }
    results = [(label, r) for label, r, _ in runs]
    return {
        "summary.json": json.dumps(summary, indent=2, allow_nan=False, default=str) + "\n",
        "requests.csv": requests_csv(results),
        "iterations.csv": iterations_csv(results, setup_.devices),
        "serve.png": serve_png_bytes(runs, setup_.devices),
    }
