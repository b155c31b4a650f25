"""Alternating runs and robust summaries: medians and paired ratios, never a lone figure."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

# The brief: a median of at least 15 runs for every figure.
MIN_RUNS = 15

T = TypeVar("T")


@dataclass(frozen=True)
class Summary:
    """A sample's median and quartiles (n ≥ 1)."""

    median: float
    p25: float
    p75: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        """Summarise `values` (at least one)."""
        if not values:
            raise ValueError("no values to summarise")
        ordered = sorted(values)
        if len(ordered) == 1:
            return cls(ordered[0], ordered[0], ordered[0], 1)
        p25, _, p75 = statistics.quantiles(ordered, n=4, method="inclusive")
        return cls(statistics.median(ordered), p25, p75, len(ordered))

    def as_json(self, digits: int = 4) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "median": round(self.median, digits),
            "p25": round(self.p25, digits),
            "p75": round(self.p75, digits),
            "n": self.n,
        }


def paired_ratios(subject: Sequence[float], baseline: Sequence[float]) -> list[float]:
    """subject[i] / baseline[i] for each alternated pair."""
    if len(subject) != len(baseline):
        raise ValueError("paired samples must have the same length")
    return [s / b for s, b in zip(subject, baseline, strict=True)]


def alternate(
    runners: dict[str, Callable[[], T]], runs: int, warmup: int = 1
) -> dict[str, list[T]]:
    """Run every runner `runs` times, rotating which goes first on each round, so a slow
    spell of the machine falls on all of them alike. `warmup` rounds are run and dropped
    (first-use costs: `.pyc` files written, connections opened)."""
    names = list(runners)
    samples: dict[str, list[T]] = {name: [] for name in names}
    for round_no in range(warmup + runs):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            value = runners[name]()
            if round_no >= warmup:
                samples[name].append(value)
    return samples
