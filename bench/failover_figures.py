"""The failover bench's figures: percentiles, goal rows and tables, moves and lost datagrams.

Rule: pure. Everything here is computed from records already taken (the probe's frames, a dense
Observer's lines, the speakers' answer events); nothing starts, waits or reads a file. The only
output is `table`, which prints what it is given.
"""

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bench.datagrams import INTERVAL
from bench.verdicts import at_most

MOVE_REACH = 3.0  # a lost datagram further than this from every move is "outside any move"


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); nan when empty."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def known_gone(fault: float, heard: dict[str, Any], *, graceful: bool) -> float | None:
    """Seconds from the fault to the first moment a peer could know the node was gone.

    `heard` is the probe's `gone` answer. A graceful stop is known when its leaving heartbeat
    is heard; a crash, a freeze or a cut link only when the hold its last heartbeat announced
    has run out (speaker.membership.table: dead at last heard + hold). This is the failover's
    floor, measured per trial: the speakers' own work and the client's move come on top of it.
    None when the probe heard nothing that says.
    """
    if graceful:
        leaving = heard.get("leaving")
        return None if leaving is None else float(leaving) - fault
    last, hold = heard.get("last"), heard.get("hold")
    if last is None or not hold:
        return None
    return float(last) + float(hold) - fault


@dataclass
class Row:
    """One line of a table: values over trials, a goal on their p95 or their max."""

    label: str
    values: list[float]
    expected: int  # how many values there should be (trials run)
    goal: float | None  # None: shown for information only
    stat: str = "p95"  # "p95" or "max"
    unit: str = "s"  # "s": seconds (3 decimals); "": counts
    baseline_label: str = "-"  # says whether it was measured in this run or is a fixed figure
    baseline: float = math.nan  # the ratio column is p50 / baseline
    miss: str = ""  # a reason to fail regardless of the values (a speaker that had to be killed)

    @property
    def ok(self) -> bool:
        """The goal is met (always, for an information row)."""
        if self.goal is None:
            return True
        complete = len(self.values) == self.expected
        return complete and at_most(self.measured, self.goal) and not self.miss

    @property
    def measured(self) -> float:
        """The statistic the goal is on; NaN when any value is NaN or there is none."""
        if not self.values or any(math.isnan(v) for v in self.values):
            return math.nan
        return percentile(self.values, 0.95) if self.stat == "p95" else max(self.values)

    def line(self) -> str:
        """The row as printed."""
        spec = "8.3f" if self.unit else "8.1f"
        stats = "".join(
            format(v, spec) if not math.isnan(v) else f"{'-':>8}"
            for v in (percentile(self.values, 0.5), percentile(self.values, 0.95),
                      max(self.values, default=math.nan))
        )  # fmt: skip
        goal = (
            "-"
            if self.goal is None
            else f"{self.stat} <= {self.goal:g}{' ' + self.unit if self.unit else ''}"
        )
        result = "info" if self.goal is None else ("PASS" if self.ok else "FAIL")
        ratio = percentile(self.values, 0.5) / self.baseline if self.baseline else math.nan
        shown = f"{ratio:7.2f}x" if not math.isnan(ratio) else f"{'-':>8}"
        return (f"{self.label:<32}{len(self.values):>3}/{self.expected:<3}{stats}  {goal:<14}"
                f"{result:<7}{self.baseline_label:<32}{shown}")  # fmt: skip


def table(title: str, rows: list[Row]) -> bool:
    """Print a titled table; True when every row's goal is met."""
    print(f"\n{title}")
    print(f"{'case':<32}{'n':>5}{'':<2}{'p50':>8}{'p95':>8}{'max':>8}  {'goal':<14}{'result':<7}"
          f"{'baseline':<32}{'p50/base':>8}")  # fmt: skip
    for row in rows:
        print(row.line())
        if row.miss:
            print(f"  ! {row.label}: {row.miss}")
    return all(row.ok for row in rows)


def datagram_moves(frames: list[list[Any]]) -> list[tuple[float, str, str]]:
    """Each change of destination MAC in the client's frames: (wire time, old MAC, new MAC)."""
    found: list[tuple[float, str, str]] = []
    previous: str | None = None
    for wire, mac, _ in frames:
        if previous is not None and mac != previous:
            found.append((float(wire), previous, mac))
        previous = mac
    return found


def answering(
    events: Iterable[tuple[float, str, bool]], initially: Iterable[str]
) -> Callable[[str, float], bool]:
    """Whether `mac` answered at wall time t, from (time, MAC, started answering?) events."""
    timeline: dict[str, list[tuple[float, bool]]] = {mac: [(-math.inf, True)] for mac in initially}
    for when, mac, up in sorted(events):
        timeline.setdefault(mac, [(-math.inf, False)]).append((when, up))

    def at(mac: str, when: float) -> bool:
        state = False
        for moment, up in timeline.get(mac, []):
            if moment > when:
                break
            state = up
        return state

    return at


def lost_datagrams(
    frames: list[list[Any]], answers: Callable[[str, float], bool]
) -> list[tuple[float, int]]:
    """Datagrams that reached nobody: (wire time, sequence), and (estimated time, seq) of gaps.

    A frame sent to a MAC whose node did not answer for the address then is lost; so is every
    sequence number that never left the client (its kernel dropped it, unresolved).
    """
    lost: list[tuple[float, int]] = []
    previous: tuple[float, int] | None = None
    for wire, mac, sequence in frames:
        if previous is not None:
            start, first = previous
            lost.extend(
                (start + (m - first) * INTERVAL, m) for m in range(first + 1, int(sequence))
            )
        if not answers(mac, float(wire)):
            lost.append((float(wire), int(sequence)))
        previous = (float(wire), int(sequence))
    return lost


def per_move(
    lost: list[tuple[float, int]], move_times: list[float], reach: float = MOVE_REACH
) -> tuple[list[list[tuple[float, int]]], list[tuple[float, int]]]:
    """Lost datagrams grouped by the nearest move (within `reach` s); and those beyond reach."""
    grouped: list[list[tuple[float, int]]] = [[] for _ in move_times]
    outside = []
    for when, sequence in lost:
        nearest = min(range(len(move_times)), key=lambda i: abs(move_times[i] - when), default=None)
        if nearest is not None and abs(move_times[nearest] - when) <= reach:
            grouped[nearest].append((when, sequence))
        else:
            outside.append((when, sequence))
    return grouped, outside


@dataclass(frozen=True)
class Rounds:
    """What a dense probe saw beside the moves: its silences and its doubly answered requests."""

    silence: float  # the longest run of requests nobody answered, times the period (seconds)
    at: float  # when that silence began (the probe's clock: the last reply before it)
    both: int  # requests answered by two or more MACs, moves or not


def dense_rounds(lines: list[dict[str, Any]], period: float) -> Rounds:
    """Request by request (`round`), as `lab.observers.moves` judges them, over the whole probe."""
    by_round: dict[int, set[str]] = {}
    first: dict[int, float] = {}
    for line in lines:
        number = int(line["round"])
        by_round.setdefault(number, set()).add(str(line["mac"]))
        first.setdefault(number, float(line["t"]))
    longest, at, run, last = 0, 0.0, 0, 0.0
    for number in range(min(by_round, default=0), max(by_round, default=-1) + 1):
        if number in by_round:
            run, last = 0, first[number]
            continue
        run += 1
        if run > longest:
            longest, at = run, last
    both = sum(len(macs) > 1 for macs in by_round.values())
    return Rounds(silence=round(longest * period, 6), at=at, both=both)
