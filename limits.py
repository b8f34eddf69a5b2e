"""Bounds that refuse a model too large to compile before its IR is built or costed.

A typo in a `--dim` (`layers=100000`, `past=100000000`) or in a DSL number must
not make pimc build millions of ops, overflow the i64 dims of the IR or cost a
KV cache no memory can hold: it is refused at once, with the figure.

- `MAX_CAPACITY_GB`: the largest memory a system description may declare
  (targets/system.py validates `capacity_gb` against it). Hence
- `MAX_ELEMENTS`: no tensor may have more elements than that memory holds bytes
  (one byte is the smallest element pimc costs): a larger one fits no memory of
  any system. Every dim of every tensor is checked when the tensor is declared
  (DSL), bound (`--dim`) or inferred (ONNX), so every dim fits the IR's i64.
- `MAX_OPS`: the most ops (results counted as ops) pimc builds for one model.
  The largest transformers have a few thousand ops per phase (Llama-2-70B: 80
  layers of ~25); compile time grows with the op count, and a DSL `repeat` is
  refused after its first iteration when its count would pass the bound.

What fits *the system compiled for* is checked by annotate-cost before it costs
anything (targets/placement/capacity.py `check_fits`): the weights and a phase's inputs
against the capacity of all the system's memories together.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pimc.errors import LimitError

MAX_CAPACITY_GB = 1e6
"""The largest `capacity_gb` a memory may declare: 1 PB."""

MAX_ELEMENTS = int(MAX_CAPACITY_GB * 1e9)
"""The most elements one tensor (and any one dim) may have: 1e15, the bytes of the largest memory."""

MAX_OPS = 50_000
"""The most ops (results counted) pimc builds for one model."""

MAX_DIM_DIGITS = 40
"""Longest integer text accepted for a `--dim` (int() of a longer one is slow and the value is refused anyway)."""


def fmt_count(n: float) -> str:
    """1234 -> '1,234', 1234567 -> '1.23e6': small counts exact, large ones to 3 digits (any int, however large)."""
    if isinstance(n, int) and abs(n) >= 10**300:
        return f"{'-' if n < 0 else ''}~1e{int((abs(n).bit_length() - 1) * 0.30103)}"
    if abs(n) < 1e6:
        return f"{n:,.0f}"
    return f"{n:.3g}".replace("e+0", "e").replace("e+", "e")


def shape_problem(shape: Sequence[int]) -> str | None:
    """Why a tensor of `shape` cannot be compiled (a negative dim, too many elements), or None."""
    for i, d in enumerate(shape):
        if d < 0:
            return f"dim {i} is negative ({d})"
        if d > MAX_ELEMENTS:
            return f"dim {i} is {fmt_count(d)}, more than any memory can hold (at most {fmt_count(MAX_ELEMENTS)})"
    n = math.prod(shape)
    if n > MAX_ELEMENTS:
        return (
            f"{fmt_count(n)} elements, more than any memory can hold (a memory holds at most "
            f"{fmt_count(MAX_ELEMENTS)} bytes, capacity_gb <= {MAX_CAPACITY_GB:g})"
        )
    return None


def check_shape(shape: Sequence[int], where: str) -> None:
    """Raise LimitError naming `where` (e.g. "model.onnx: value 'x'") for a shape `shape_problem` rejects."""
    problem = shape_problem(shape)
    if problem is not None:
        raise LimitError(f"{where} has shape [{', '.join(fmt_count(d) for d in shape)}]: {problem}")


def shown(text: str) -> str:
    """A user's number as the message shows it: whole when short, else its head and length."""
    t = text.strip()
    return t if len(t) <= 24 else f"{t[:8]}...({len(t)} digits)"


def parse_dim_value(text: str) -> int | None:
    """The integer of a `--dim` value (decimal digits, optional sign), None if it is not one; huge texts are
    read only as far as needed to refuse them."""
    t = text.strip()
    body = t[1:] if t[:1] in "+-" else t
    if not body.isascii() or not body.isdigit():
        return None
    if len(body.lstrip("0")) > MAX_DIM_DIGITS:
        return (-1 if t.startswith("-") else 1) * 10**MAX_DIM_DIGITS
    return int(t)


FOLD_LIMIT = 1024
"""Largest result (in elements) that is folded into a compile-time constant.

Shape arithmetic is a handful of elements; larger constant computations (causal
masks, rotary tables) stay in the graph as ops so the IR holds no bulk data.
"""


MAX_SUB_BATCHES = 64
"""The most interleaved sub-batches a phase is scheduled with (NeuPIMs interleaves two)."""
