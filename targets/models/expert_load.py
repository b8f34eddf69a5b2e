"""How many of a step's tokens each expert of a mixture-of-experts layer receives.

A router sends each of T tokens to k distinct experts of E. With routing probabilities p_e (summing to 1) the
chance that a token picks expert e is pi_e = min(1, c * p_e), c chosen so that the pi_e sum to k (water-filling:
an expert no token can pick twice takes at most every token), and the expected load of e is T * pi_e tokens.
pimc compiles one realisation of that expectation: the T * k routed token slots apportioned to the experts by
largest remainder (Hamilton's method), so that the loads are integers, sum to T * k exactly and each is at most
T. At a batch of one token this is k experts of one token each, as a decode step reads; at large batches every
expert's load approaches T * pi_e.

Distributions (`--expert-load`):

- `uniform`: p_e = 1 / E, the load a balanced router (an auxiliary balance loss, DeepSeek-V3's bias) aims for;
- `zipf:S`: p_e proportional to (e + 1)^-S, expert 0 the hottest: the skew measured in trained routers
  (S around 1 in the per-expert token counts MoE serving papers report; S = 0 is uniform).

Which experts are idle in a step is part of the realisation: at small batches a uniform router leaves experts
E - T*k ... E - 1 without tokens, where a real router leaves some other E - T*k idle; the cost is the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pimc.errors import PimcError

EXPERT_LOADS = ("uniform", "zipf:S")
"""The distributions `parse_expert_load` accepts."""


@dataclass(frozen=True)
class ExpertLoad:
    """A routing distribution: uniform, or Zipf with exponent `skew` (expert e's share proportional to
    (e + 1)^-skew)."""

    skew: float = 0.0

    def __str__(self) -> str:
        return "uniform" if self.skew == 0 else f"zipf:{self.skew:g}"

    def probabilities(self, experts: int) -> list[float]:
        """p_e of each of `experts` experts, summing to 1."""
        weights = [(e + 1) ** -self.skew for e in range(experts)]
        total = math.fsum(weights)
        return [w / total for w in weights]

    def tokens(self, tokens: int, experts: int, top_k: int) -> list[int]:
        """The tokens each expert receives when `tokens` tokens each pick `top_k` of `experts` (module docstring):
        integers summing to tokens * top_k, each at most `tokens`."""
        if not 1 <= top_k <= experts:
            raise ValueError(f"top_k {top_k} must be between 1 and the {experts} experts")
        pick = _selection_probabilities(self.probabilities(experts), top_k)
        expected = [tokens * p for p in pick]
        loads = [min(tokens, math.floor(x + 1e-9)) for x in expected]
        short = tokens * top_k - sum(loads)
        order = sorted(range(experts), key=lambda e: (-(expected[e] - loads[e]), e))
        for e in order:
            if short == 0:
                break
            if loads[e] < tokens:
                loads[e] += 1
                short -= 1
        assert short == 0 and sum(loads) == tokens * top_k
        return loads


def _selection_probabilities(p: list[float], k: int) -> list[float]:
    """pi_e = min(1, c * p_e) with sum pi_e = k: the experts whose share would exceed one token in every token
    are capped at 1 and the rest scaled up to the remaining k - (capped)."""
    capped: set[int] = set()
    while True:
        rest = math.fsum(p[e] for e in range(len(p)) if e not in capped)
        c = (k - len(capped)) / rest
        new = {e for e in range(len(p)) if e not in capped and c * p[e] >= 1.0}
        if not new:
            return [1.0 if e in capped else c * p[e] for e in range(len(p))]
        capped |= new


def parse_expert_load(text: str) -> ExpertLoad:
    """`uniform` or `zipf:S` (S >= 0, finite) -> ExpertLoad; anything else is a one-line error."""
    t = text.strip()
    if t == "uniform":
        return ExpertLoad()
    kind, sep, value = t.partition(":")
    if kind == "zipf" and sep:
        try:
            skew = float(value)
        except ValueError:
            skew = math.nan
        if math.isfinite(skew) and 0 <= skew <= 100:
            return ExpertLoad(skew)
    raise PimcError(
        f"--expert-load {text!r}: expected 'uniform' or 'zipf:S' with 0 <= S <= 100 (e.g. zipf:1.2, expert 0 the "
        "hottest)"
    )
