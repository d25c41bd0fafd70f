"""The failover bench's results: what each trial recorded, and the four tables printed from them.

Rule: records and their reading. The trials fill these dataclasses; `report` turns them into the
tables (one per property) with their goals and baselines, and says whether every goal is met.
"""

import math
import signal
from dataclasses import dataclass, field

from bench.failover_figures import Rounds, Row, percentile, table
from bench.failover_settings import (
    COLD_EVERY,
    DEFAULTS,
    DENSE_EVERY,
    FAILOVER_TIMEOUT,
    HB_HOLD,
    HB_INTERVAL,
    LINK_DOWN,
    OLD_RENEW,
    SAMPLE_EVERY,
)

BASELINES = (
    "baselines, measured per trial in this run (the goals are issue 8's fixed figures): a crash,\n"
    "a freeze or a cut link can be known only when the hold announced in the node's last\n"
    "heartbeat (as the client heard it) has run out; a graceful stop when its goodbye is heard"
)


@dataclass
class Case:
    """One kind of speaker fault and its goal (property 2)."""

    label: str
    sig: signal.Signals
    goal: float  # p95 seconds
    trials: list["Trial"] = field(default_factory=list)
    hung: int = 0  # speakers still running EXIT_TIMEOUT after the signal

    @property
    def times(self) -> list[float]:
        """Failover seconds of the trials that failed over."""
        return [t.seconds for t in self.trials if t.seconds is not None]

    @property
    def graceful(self) -> bool:
        """A stop that says goodbye, rather than a crash or a freeze that must be timed out."""
        return self.sig == signal.SIGTERM


@dataclass
class Trial:
    """One failover; seconds are counted from the fault, None when unknown."""

    seconds: float | None = None  # first datagram to the new node
    known: float | None = None  # the first moment a peer could know (`known_gone`): the floor
    announced: float | None = None  # the new owner's speaker logged `announcing`
    lost: int | None = None  # datagrams to the old MAC after the fault
    back: float | None = None  # the client went back to the old MAC: its last datagram there
    both: int | None = None  # SIGSTOP: dense requests answered by two, signal to settled

    def show(self) -> str:
        """One line for the progress log."""
        if self.seconds is None:
            return f"no switch within {FAILOVER_TIMEOUT:.0f} s"
        text = f"{self.seconds:.3f} s"
        if self.announced is not None:
            text += f" (announced at {self.announced:.3f} s)"
        return text


@dataclass
class LinkTrial:
    """Property 3: one switch port down and up."""

    failover: Trial
    split: int = 0  # samples with two answerers, whole trial
    changes_after: int = 0  # changes of answerer from the last sample before the link returned
    back: float | None = None  # link up → settled at the winner again, seconds
    samples: int = 0


@dataclass
class Rolling:
    """Property 4a: the moves of a rolling restart."""

    overlaps: list[float] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)  # per change of destination MAC
    outside: int = 0  # lost datagrams far from every move
    rounds: Rounds = field(default_factory=lambda: Rounds(0.0, 0.0, 0))  # silences, doubles
    restarts: int = 0


@dataclass
class ColdStart:
    """Property 4b: one start of every speaker at once."""

    split: int
    samples: int
    first: float | None  # start → first answer, seconds
    settled: float  # start → settled, seconds


@dataclass
class Results:
    """Everything measured, filled phase by phase (a phase cut short leaves its part empty)."""

    trials: int
    rounds: int
    lease_window: float
    lease: dict[str, int] = field(default_factory=dict)
    cases: list[Case] = field(default_factory=list)
    links: list[LinkTrial] = field(default_factory=list)
    rolling: Rolling = field(default_factory=Rolling)
    colds: list[ColdStart] = field(default_factory=list)


def floor(trials: list[Trial], *, graceful: bool) -> tuple[str, float]:
    """The baseline of a failover row, measured in this run: its label and the trials' p50.

    Each trial's floor is the first moment a peer could know the node was gone (`known_gone`);
    no failover can come before it, so the ratio says what the takeover and the client add.
    """
    known = [t.known for t in trials if t.known is not None]
    what = "goodbye heard" if graceful else "last beat + hold"
    if not known:
        return f"{what}: not heard", math.nan
    value = percentile(known, 0.5)
    return f"{what}, p50 {value:.3f} s", value


def report(results: Results) -> bool:
    """The four tables; True when every goal is met."""
    met = table(
        f"Property 2: crash and freeze failover, default settings (heartbeat every {HB_INTERVAL:g}"
        f" s, hold {HB_HOLD:g} s); seconds from the signal to the first datagram to another node",
        [
            Row(case.label, case.times, results.trials, case.goal,
                *_floor_columns(case.trials, graceful=case.graceful),
                miss=f"{case.hung} stopped speaker(s) had to be killed" if case.hung else "")
            for case in results.cases
        ] + [
            Row("SIGSTOP: requests 2 answered",
                [float(t.both) for t in case.trials if t.both is not None], results.trials, None,
                unit="")
            for case in results.cases if case.sig == signal.SIGSTOP
        ],
    )  # fmt: skip
    print(BASELINES)
    print("where the time goes (p50 over trials, seconds; lost = datagrams to the old MAC)")
    print(f"{'case':<32}{'signal→known':>13}{'signal→announce':>16}{'announce→datagram':>18}"
          f"{'lost':>6}")  # fmt: skip
    for case in results.cases:
        known = [t.known for t in case.trials if t.known is not None]
        announced = [t.announced for t in case.trials if t.announced is not None]
        switch = [t.seconds - t.announced for t in case.trials
                  if t.seconds is not None and t.announced is not None]  # fmt: skip
        lost = [float(t.lost) for t in case.trials if t.lost is not None]
        back = [t.back for t in case.trials if t.back is not None]
        note = f"  ({len(back)} went back to the old MAC)" if back else ""
        print(f"{case.label:<32}{_p50(known, '13.3f')}{_p50(announced, '16.3f')}"
              f"{_p50(switch, '18.3f')}{_p50(lost, '6.0f')}{note}")  # fmt: skip
    links = results.links
    n = results.trials
    met &= table(
        f"Property 3: link failure (switch port down {LINK_DOWN:g} s, then up); sample Observer"
        f" every {SAMPLE_EVERY:g} s over each trial",
        [
            Row("link down → datagram to other", [t.failover.seconds for t in links
                                                   if t.failover.seconds is not None], n, 1.0,
                *_floor_columns([t.failover for t in links], graceful=False)),
            Row("split samples per trial", [float(t.split) for t in links], n, 0, "max", ""),
            Row("owner changes after link up", [float(t.changes_after) for t in links], n, 1,
                "max", ""),
            Row("link up → settled at winner", [t.back for t in links if t.back is not None], n,
                None),
        ],
    )  # fmt: skip
    rolling, colds = results.rolling, results.colds
    moved = len(rolling.overlaps)
    met &= table(
        f"Property 4: (a) rolling restart, {results.rounds} round(s), {rolling.restarts} restarts,"
        f" dense Observer every {DENSE_EVERY:g} s; (b) cold starts, sample Observer every"
        f" {COLD_EVERY:g} s",
        [
            Row("rolling: overlap per move", rolling.overlaps, moved, 0.05, "max"),
            Row("rolling: gap per move", rolling.gaps, moved, 0.1, "max"),
            Row("rolling: lost datagrams per move", [float(v) for v in rolling.lost],
                len(rolling.lost), 1, "max", "",
                miss=f"{rolling.outside} lost datagram(s) far from any move" if rolling.outside
                else ("" if moved else "the address never moved")),
            Row("cold start: split samples", [float(c.split) for c in colds], n, 0, "max", ""),
            Row("cold start → first answer", [c.first for c in colds if c.first is not None], n,
                None),
            Row("cold start → settled", [c.settled for c in colds], n, None),
        ],
    )  # fmt: skip
    print(f"rolling restart: {moved} moves seen by the dense Observer, {len(rolling.lost)} by the"
          f" datagrams; longest silence {rolling.rounds.silence:.3f} s (at {rolling.rounds.at:.2f}"
          f" s); requests answered by two: {rolling.rounds.both}")  # fmt: skip
    per_minute = {node: count * 60.0 / results.lease_window
                  for node, count in results.lease.items()}  # fmt: skip
    met &= table(
        f"Property 8: Lease writes per node per minute, settled lab, defaults (renew every"
        f" {DEFAULTS.lease_renew:g} s); {results.lease_window:g} s watched",
        [
            Row("Lease writes per node per minute", list(per_minute.values()), 3, 6, "max", "",
                f"fixed: {60 / OLD_RENEW:g}/min, renewed every {OLD_RENEW:g} s", 60 / OLD_RENEW),
        ],
    )  # fmt: skip
    print(f"  baseline fixed, not measured: the Leases were renewed every {OLD_RENEW:g} s before"
          " issue 8, and that code is not run here")  # fmt: skip
    print("  " + ", ".join(f"{node}: {count} writes" for node, count in results.lease.items()))
    for node, count in results.lease.items():
        if not count:
            print(f"  ! {node} never renewed its Lease: peers that cannot hear it count it dead")
    return met


def _floor_columns(trials: list[Trial], *, graceful: bool) -> tuple[str, str, str, float]:
    """A failover row's stat, unit and measured baseline (label, value), in `Row`'s order."""
    return ("p95", "s", *floor(trials, graceful=graceful))


def _p50(values: list[float], spec: str) -> str:
    width = int(spec.split(".", maxsplit=1)[0])
    return format(percentile(values, 0.5), spec) if values else f"{'-':>{width}}"
