"""The probing bench's figures: create→announced percentiles, and the goal on their p99s.

Rule: pure. Everything here is computed from samples already taken (seconds, None for a Service
that was never answered); nothing starts, waits or prints: the lines are returned. A missing
figure (a Service never answered, a configuration cut short, an empty run) is a miss, never a
pass: counts are checked before values, and every comparison with nan is False.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bench.failover_figures import percentile

GOAL = 1.0  # seconds: p99 with probing may exceed p99 without by at most this (the issue)


@dataclass(frozen=True, slots=True, kw_only=True)
class Figures:
    """One configuration's create→announced times (seconds) against how many were created."""

    label: str
    values: tuple[float, ...]  # the Services that were answered
    expected: int  # the Services created (or meant to be)

    @classmethod
    def of(cls, label: str, samples: Sequence[float | None], expected: int) -> "Figures":
        """Figures from samples, None for a Service that was never answered."""
        return cls(
            label=label,
            values=tuple(s for s in samples if s is not None and math.isfinite(s)),
            expected=expected,
        )

    @property
    def missing(self) -> int:
        """Services without a time: never answered, or never created."""
        return max(self.expected - len(self.values), 0)

    @property
    def complete(self) -> bool:
        """Every Service meant to be measured has a time."""
        return self.expected > 0 and self.missing == 0 and len(self.values) == self.expected

    def at(self, fraction: float) -> float:
        """A percentile (linear between closest ranks); nan when there are no values."""
        return percentile(list(self.values), fraction)

    @property
    def p50(self) -> float:
        """The median."""
        return self.at(0.50)

    @property
    def p95(self) -> float:
        """The 95th percentile."""
        return self.at(0.95)

    @property
    def p99(self) -> float:
        """The 99th percentile (with under 100 values, between the two largest)."""
        return self.at(0.99)

    @property
    def max(self) -> float:
        """The largest value; nan when there are none."""
        return max(self.values, default=math.nan)


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """Whether probing kept create→announced p99 within the goal of the baseline's, and why."""

    met: bool
    difference: float  # p99 with probing minus p99 without; nan when either is missing
    why: str


def judge(probing: Figures, baseline: Figures, goal: float = GOAL) -> Verdict:
    """The goal: p99(probing) - p99(baseline) <= goal, with every Service of both answered."""
    difference = probing.p99 - baseline.p99
    incomplete = [f for f in (baseline, probing) if not f.complete]
    if incomplete:
        why = "; ".join(f"{f.label}: {f.missing} of {f.expected} not answered" for f in incomplete)
        return Verdict(met=False, difference=difference, why=why)
    if math.isnan(difference):
        return Verdict(met=False, difference=difference, why="no p99 to compare")
    if not difference <= goal:
        return Verdict(
            met=False, difference=difference, why=f"{_signed(difference)} s > {goal:g} s"
        )
    return Verdict(met=True, difference=difference, why=f"{_signed(difference)} s <= {goal:g} s")


def table(baseline: Figures, probing: Figures) -> list[str]:
    """Header, one row per configuration, and the difference row (with - without)."""
    lines = [f"{'configuration':<34}{'n':>7}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}"]
    for figures in (baseline, probing):
        count = f"{len(figures.values)}/{figures.expected}"
        stats = "".join(f"{_show(v):>9}" for v in _stats(figures))
        lines.append(f"{figures.label:<34}{count:>7}{stats}")
    deltas = "".join(
        f"{_signed(p - b):>9}" for p, b in zip(_stats(probing), _stats(baseline), strict=True)
    )
    lines.append(f"{'difference (with - without)':<34}{'':>7}{deltas}")
    return lines


def goal_line(verdict: Verdict, goal: float = GOAL) -> str:
    """The goal, as bench.failover and bench.speaker print theirs: met or MISSED, and why."""
    result = "met" if verdict.met else "MISSED"
    return (
        f"goal create→announced p99 with probing <= p99 without + {goal:g} s: {result}"
        f" ({verdict.why})"
    )


def _stats(figures: Figures) -> tuple[float, float, float, float]:
    return figures.p50, figures.p95, figures.p99, figures.max


def _show(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}"


def _signed(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:+.3f}"
