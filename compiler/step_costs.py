"""What one iteration of a serving engine costs, from pimc's compiled programs of the model's step.

An iteration of a continuous-batching engine (vLLM, Orca, Sarathi) runs two kinds of work:

- **decode**: one new token for each of `b` requests whose KV caches hold `S` positions in all;
- **prefill chunks**: `t` prompt tokens of one request that has `c` positions cached already (a whole
  prompt is a chunk with `c = 0`; chunked prefill splits a long one over several iterations).

`StepCosts` prices both from compiled programs of the DSL model's decode phase
(`phase decode { tokens = speculate, cached = past }`), compiled at `--dim batch=B speculate=T past=P` with
the function named after the phase it stands for (a chunk is compiled as a prefill, so a strategy that puts
decode attention on PIM treats it as prompt work). Each program is one *node* of a grid and is compiled the
first time an iteration needs it, never per request:

    decode(b, S):   rows B in {1, 2, 4, ..., max_batch}; in a row, nodes at past P in {0, 1, 2, 4, ...,
                    floor(S_cap / B)}. The row's value at P = S / B (every request at the mean context, the
                    same KV bytes) is piecewise linear between its nodes; b between two rows is linear.
    prefill(t, c):  rows T in {1, 2, 4, ..., max_tokens} at batch 1; nodes at past C in {0, 1, 2, 4, ...,
                    S_cap - T}; the same interpolation.

The interpolation is exact wherever the compiled cost is linear between nodes: a step's FCs depend only on
its tokens (the rows) and attention's KV reads grow linearly with the cached positions at a fixed batch (the
nodes); where a partition decision flips between two nodes the estimate is the chord between them. Past the
last node of a row the last two nodes extrapolate linearly. `S_cap` is the KV cache's capacity in tokens
(`kv_capacity_tokens`), so no node holds more KV than the memories do.

Node costs (latency, energy, every device's busy time) are stored in a JSON file per *context* (the model
file's bytes, its dims, the system, strategy, dtype, tensor-parallel degree and pimc's own source), so a
second run, or a run at another request rate, compiles nothing; the floats round-trip exactly, so a warm
run's output is byte-identical to a cold one's.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pimc.errors import PimcError

Cost = tuple[float, ...]
"""(latency_ns, energy_pj, busy_ns of every device in `StepCosts.devices` order)."""

CACHE_VERSION = 1


def default_cache_dir() -> Path:
    """$PIMC_CACHE_DIR, else $XDG_CACHE_HOME/pimc, else ~/.cache/pimc."""
    if os.environ.get("PIMC_CACHE_DIR"):
        return Path(os.environ["PIMC_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pimc"


def source_digest() -> str:
    """A digest of pimc's own code and presets: any change to the compiler invalidates cached costs."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    files = list(root.glob("*.py"))
    for folder in ("compiler", "dialects", "passes", "targets"):
        files += [p for p in (root / folder).rglob("*") if p.suffix in (".py", ".toml", ".lark")]
    for p in sorted(files):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def pow2_nodes(top: int, start: int = 1) -> list[int]:
    """{start, 2 start, 4 start, ...} up to `top`, and `top` itself (sorted, distinct)."""
    nodes, n = [], start
    while n < top:
        nodes.append(n)
        n *= 2
    if top >= start:
        nodes.append(top)
    return nodes


def _lerp(a: Cost, b: Cost, w: float) -> Cost:
    return tuple(x + (y - x) * w for x, y in zip(a, b))


def _bracket(nodes: Sequence[int], x: float) -> tuple[int, int, float]:
    """The two nodes to interpolate `x` between (the last two past the end) and x's weight on the second."""
    if len(nodes) == 1:
        return nodes[0], nodes[0], 0.0
    i = min(max(bisect.bisect_right(nodes, x), 1), len(nodes) - 1)
    lo, hi = nodes[i - 1], nodes[i]
    return lo, hi, (x - lo) / (hi - lo)


@dataclass(frozen=True)
class StepShape:
    """One compiled node: `batch` requests, `tokens` new tokens each, `cached` positions each before the step."""

    phase: str
    batch: int
    tokens: int
    cached: int

    @property
    def key(self) -> str:
        return f"{self.phase}/b{self.batch}/t{self.tokens}/c{self.cached}"


class StepCosts:
    """Interpolated iteration costs over lazily compiled nodes (module docstring).

    `compile_node(shape)` returns a node's report (compile_model's); `devices` orders the busy times of a
    Cost; `cache_file` is where node costs are kept (None: memory only). `kv_capacity_tokens` must be set
    (`set_capacity`) before `decode`/`prefill`."""

    def __init__(
        self,
        compile_node: Callable[[StepShape], dict[str, Any]],
        devices: Sequence[str],
        max_batch: int,
        max_tokens: int,
        cache_file: Path | None = None,
        on_compile: Callable[[StepShape], None] | None = None,
    ) -> None:
        self._compile_node = compile_node
        self.devices = list(devices)
        self.cache_file = cache_file
        self.on_compile = on_compile
        self.compiled = 0  # nodes compiled in this run (not found in the cache)
        self._nodes: dict[str, dict[str, Any]] = {}
        if cache_file is not None and cache_file.is_file():
            try:
                doc = json.loads(cache_file.read_text())
            except (OSError, ValueError) as e:
                raise PimcError(f"{cache_file}: unreadable cost cache ({e}); delete it to start afresh") from None
            if doc.get("version") == CACHE_VERSION:
                self._nodes = doc.get("nodes", {})
        self.kv_capacity_tokens = 0
        self._memo: dict[tuple[Any, ...], Cost] = {}
        self.batch_rows = pow2_nodes(max_batch)
        self.token_rows = pow2_nodes(max_tokens)

    # -- nodes ------------------------------------------------------------------------------------------

    def node(self, shape: StepShape) -> dict[str, Any]:
        """A node's costs and memory figures, compiled on first use and written to the cache file."""
        entry = self._nodes.get(shape.key)
        if entry is None:
            if self.on_compile is not None:
                self.on_compile(shape)
            entry = _node_entry(self._compile_node(shape), shape.phase)
            self._nodes[shape.key] = entry
            self.compiled += 1
            self._save()
        return entry

    def _cost(self, shape: StepShape) -> Cost:
        entry = self.node(shape)
        return (entry["latency_ns"], entry["energy_pj"], *(entry["busy_ns"].get(d, 0.0) for d in self.devices))

    def _save(self) -> None:
        if self.cache_file is None:
            return
        text = json.dumps({"version": CACHE_VERSION, "nodes": self._nodes}, sort_keys=True)
        try:
            self.cache_file.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.cache_file.parent, prefix=f".{self.cache_file.name}.")
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.replace(tmp, self.cache_file)
        except OSError as e:
            raise PimcError(f"{self.cache_file}: cannot write the cost cache: {e.strerror or e}") from None

    # -- capacity ---------------------------------------------------------------------------------------

    def kv_figures(self, shape: StepShape) -> tuple[float, float]:
        """(KV bytes per cached token, bytes free for the KV cache) of one node, per chip."""
        entry = self.node(shape)
        positions = shape.batch * (shape.cached + shape.tokens)
        return entry["kv_bytes"] / positions, entry["kv_free_bytes"]

    def set_capacity(self, tokens: int) -> None:
        self.kv_capacity_tokens = tokens
        self._memo.clear()

    # -- interpolation ----------------------------------------------------------------------------------

    def _row(self, phase: str, batch: int, tokens: int, top: int, x: float) -> Cost:
        """One row's cost at `x` cached positions, between its nodes 0, 1, 2, 4, ..., `top`."""
        nodes = [0, *pow2_nodes(top)] if top >= 1 else [0]
        lo, hi, w = _bracket(nodes, x)
        a = self._cost(StepShape(phase, batch, tokens, lo))
        if w == 0.0 or lo == hi:
            return a
        return _lerp(a, self._cost(StepShape(phase, batch, tokens, hi)), w)

    def _between_rows(self, key: tuple[Any, ...], rows: Sequence[int], at: int, row: Callable[[int], Cost]) -> Cost:
        """`row(n)` of the two rows around `at`, interpolated linearly (memoised by `key`)."""
        cost = self._memo.get(key)
        if cost is None:
            lo, hi, w = _bracket(rows, at)
            cost = row(lo)
            if w:
                cost = _lerp(cost, row(hi), w)
            self._memo[key] = cost
        return cost

    def decode(self, b: int, total_cached: int) -> Cost:
        """`b` requests one token each, their caches holding `total_cached` positions in all."""
        cap = self.kv_capacity_tokens
        return self._between_rows(
            ("d", b, total_cached),
            self.batch_rows,
            b,
            lambda n: self._row("decode", n, 1, cap // n, total_cached / n),
        )

    def prefill(self, t: int, cached: int) -> Cost:
        """A chunk of `t` prompt tokens of one request after `cached` positions."""
        cap = self.kv_capacity_tokens
        return self._between_rows(
            ("p", t, cached), self.token_rows, t, lambda n: self._row("prefill", 1, n, cap - n, cached)
        )


def _node_entry(report: dict[str, Any], phase: str) -> dict[str, Any]:
    """What the cache keeps of a node's compile report: the phase's latency and energy, every device's busy
    time, and the KV bytes held and free (for the capacity in pages)."""
    figures = report["phases"][phase]
    kv_bytes = 0.0
    kv_free = 0.0
    for mem in report["memory"].values():
        kv = float(mem["kv_cache_bytes"].get(phase, 0))
        if kv:
            kv_bytes += kv
            kv_free += mem["capacity_bytes"] - (mem["total_bytes"] - kv)
    return {
        "latency_ns": float(figures["latency_ns"]),
        "energy_pj": float(figures["energy_pj"]),
        "busy_ns": {name: float(dev["busy_ns"]) for name, dev in report["devices"].items()},
        "kv_bytes": kv_bytes,
        "kv_free_bytes": kv_free,
    }
