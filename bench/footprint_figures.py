"""Pure. What the footprint bench reads from /proc, the arithmetic on it, and its verdicts.

Rule: text in, figures out; no file is opened here (bench.footprint_lab reads /proc). A figure
that could not be read is NaN, and a NaN never meets a goal (bench.verdicts): a process that
died or a file that could not be read misses, it never passes by default. Memory is in MiB
(/proc counts kB, which are KiB), the unit of the Kubernetes limits the goals stand for.
"""

import math
from dataclasses import dataclass
from enum import Enum

from bench.verdicts import at_most

KIB_PER_MIB = 1024


class Metric(Enum):
    """What a goal bounds."""

    RSS = "RSS"
    CPU = "idle CPU"


@dataclass(frozen=True, slots=True)
class Memory:
    """One process's memory, MiB: resident, proportional (shared pages split), unique."""

    rss: float
    pss: float = math.nan
    uss: float = math.nan


@dataclass(frozen=True, slots=True)
class Usage:
    """One process over one idle window: its memory at the end and its CPU, % of one core."""

    role: str  # "controller", "speaker node-1", "API server", "bare interpreter"
    memory: Memory
    cpu: float


@dataclass(frozen=True, slots=True)
class Goal:
    """A bound on one metric of the processes whose role starts with `role`, at `services`."""

    role: str
    metric: Metric
    limit: float
    services: int


@dataclass(frozen=True, slots=True)
class Verdict:
    """One process against one goal."""

    usage: Usage
    goal: Goal
    value: float
    met: bool


# Issue 11, deliverables 1 and 2. The CPU goal holds at every level: idle is idle.
GOALS = (
    Goal("speaker", Metric.RSS, 60.0, 100),
    Goal("controller", Metric.RSS, 60.0, 100),
    Goal("speaker", Metric.CPU, 0.2, 100),
)


def _kib_field(text: str, name: str) -> float:
    """The `name:   123 kB` field of a /proc status-like text, in KiB; NaN if absent."""
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key.strip() == name:
            words = rest.split()
            if words and words[0].isdigit():
                return float(words[0])
    return math.nan


def status_rss(text: str) -> float:
    """VmRSS of a /proc/PID/status text, MiB; NaN if absent (a kernel thread, a zombie)."""
    return _kib_field(text, "VmRSS") / KIB_PER_MIB


def rollup_memory(text: str) -> Memory:
    """RSS, PSS and USS (private clean + dirty) of a /proc/PID/smaps_rollup text, MiB."""
    private = _kib_field(text, "Private_Clean") + _kib_field(text, "Private_Dirty")
    return Memory(
        rss=_kib_field(text, "Rss") / KIB_PER_MIB,
        pss=_kib_field(text, "Pss") / KIB_PER_MIB,
        uss=private / KIB_PER_MIB,
    )


def stat_ticks(text: str) -> float:
    """CPU ticks (utime + stime) of a /proc/PID/stat text; NaN if it cannot be parsed.

    The command name (field 2) is in parentheses and may hold spaces or parentheses itself,
    so the fields are counted from the last `)`: state is field 3, utime 14 and stime 15.
    """
    _, paren, rest = text.rpartition(")")
    fields = rest.split()
    if not paren or len(fields) < 13 or not (fields[11].isdigit() and fields[12].isdigit()):
        return math.nan
    return float(int(fields[11]) + int(fields[12]))


def cpu_percent(ticks: float, seconds: float, hertz: float) -> float:
    """CPU time as % of one core: `ticks` of 1/`hertz` s over `seconds` of wall time."""
    if not seconds > 0 or not hertz > 0 or math.isnan(ticks) or ticks < 0:
        return math.nan
    return ticks / hertz / seconds * 100.0


def warnings_between(lines: list[tuple[float | None, str]], since: float, until: float) -> int:
    """WARNING or ERROR log lines stamped within [since, until]: (wall time or None, line) pairs.

    A steady state logs none: a speaker that stalls, withdraws and is declared dead again and
    again is busy, and its "idle" CPU is the cost of that churn, not of idling.
    """
    count = 0
    for when, line in lines:
        words = line[24:].split(maxsplit=1)  # after `2026-12-02 12:38:22,338 `
        if when is not None and since <= when <= until and words[:1] in (["WARNING"], ["ERROR"]):
            count += 1
    return count


def ratio(value: float, base: float) -> float:
    """`value` over `base`; NaN when either is missing or the base is not positive."""
    if math.isnan(value) or math.isnan(base) or not base > 0:
        return math.nan
    return value / base


def value_of(usage: Usage, metric: Metric) -> float:
    """The figure a goal on `metric` reads."""
    return usage.memory.rss if metric is Metric.RSS else usage.cpu


def judge(usages: list[Usage], services: int, goals: tuple[Goal, ...] = GOALS) -> list[Verdict]:
    """Every process under a goal set for this level; a goal with no process is one NaN miss."""
    verdicts = []
    for goal in (g for g in goals if g.services == services):
        matching = [u for u in usages if u.role.startswith(goal.role)]
        for usage in matching or [Usage(goal.role, Memory(math.nan), math.nan)]:
            value = value_of(usage, goal.metric)
            verdicts.append(Verdict(usage, goal, value, at_most(value, goal.limit)))
    return verdicts


def _amount(value: float, metric: Metric) -> str:
    if math.isnan(value):
        return "not measured"
    return f"{value:.0f} MiB" if metric is Metric.RSS else f"{value:.2f} % of a core"


def against_bare(value: float, bare: float, metric: Metric) -> str:
    """`= 10.5x a bare interpreter (11 MiB)`, or why there is no ratio."""
    share = ratio(value, bare)
    if math.isnan(share):
        return f"(a bare interpreter: {_amount(bare, metric)}; no ratio)"
    return f"= {share:.1f}x a bare interpreter ({_amount(bare, metric)})"


def verdict_line(verdict: Verdict, bare: Usage) -> str:
    """`speaker node-1 RSS 115 MiB = 10.5x a bare interpreter (11 MiB); goal <= 60 MiB: MISSED`."""
    metric = verdict.goal.metric
    base = value_of(bare, metric)
    return (
        f"{verdict.usage.role} {metric.value} {_amount(verdict.value, metric)} "
        f"{against_bare(verdict.value, base, metric)};"
        f" goal <= {_amount(verdict.goal.limit, metric)}"
        f" at {verdict.goal.services} Services: {'met' if verdict.met else 'MISSED'}"
    )


def usage_row(usage: Usage) -> str:
    """One row of the per-process table: RSS, PSS, USS (MiB) and idle CPU."""

    def mib(value: float) -> str:
        return "-" if math.isnan(value) else f"{value:.1f}"

    cpu = "-" if math.isnan(usage.cpu) else f"{usage.cpu:.2f}"
    memory = usage.memory
    return (
        f"  {usage.role:<18} {mib(memory.rss):>8} {mib(memory.pss):>8} {mib(memory.uss):>8}"
        f" {cpu:>9}"
    )


TABLE_HEADER = f"  {'process':<18} {'RSS MiB':>8} {'PSS MiB':>8} {'USS MiB':>8} {'CPU %':>9}"
