"""The allocator bench's fragmentation case: churn plans, and the check of every answer given.

Rule: pure. A plan says which Services each wave releases and which new ones it allocates; it
depends on its seed alone, so a run can be replayed exactly. `Ledger` judges answers against an
independent model of the pool (no duplicate, inside the pool, the lowest free address, as
controller/allocator.py promises); nothing here times, prints or touches the allocator.
"""

import heapq
import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from bench.verdicts import at_most


@dataclass(frozen=True, slots=True)
class Wave:
    """One wave of churn: free what the Services `releases` hold, then allocate `allocations`."""

    releases: tuple[int, ...]
    allocations: tuple[int, ...]


def random_waves(seed: int, fill: int, waves: int, size: int) -> tuple[Wave, ...]:
    """`waves` waves that each release `size` Services drawn at random from those holding.

    Services 0 .. fill-1 are the ones allocated first; the waves allocate fill, fill+1, … in
    turn, `size` per wave, so as many Services hold addresses after each wave as before it.
    One release and one allocation in turn would leave no hole (the allocator refills the
    lowest free address, the one just freed); a wave leaves up to `size` holes open.
    """
    if not 0 < size <= fill:
        raise ValueError(f"a wave of {size} needs 1 to {fill} Services to release")
    draw = random.Random(seed)  # noqa: S311 - a reproducible workload, not a secret
    live, number, plan = list(range(fill)), fill, []
    for _ in range(waves):
        released = []
        for _ in range(size):
            index = draw.randrange(len(live))
            live[index], live[-1] = live[-1], live[index]  # swap-remove: O(1), order is free
            released.append(live.pop())
        allocated = tuple(range(number, number + size))
        number += size
        live.extend(allocated)
        plan.append(Wave(releases=tuple(released), allocations=allocated))
    return tuple(plan)


def newest_waves(fill: int, waves: int, size: int) -> tuple[Wave, ...]:
    """The baseline: each wave releases the `size` Services allocated last, so no hole forms."""
    if not 0 < size <= fill:
        raise ValueError(f"a wave of {size} needs 1 to {fill} Services to release")
    live, number, plan = list(range(fill)), fill, []
    for _ in range(waves):
        released = tuple(reversed(live[-size:]))
        del live[-size:]
        allocated = tuple(range(number, number + size))
        number += size
        live.extend(allocated)
        plan.append(Wave(releases=released, allocations=allocated))
    return tuple(plan)


def runs_of(slots: Iterable[int]) -> int:
    """How many maximal runs of consecutive integers `slots` form (1 = no hole among them)."""
    ordered = sorted(set(slots))
    return sum(1 for i, value in enumerate(ordered) if i == 0 or ordered[i - 1] != value - 1)


def is_fragmented(most_runs: int, wave: int) -> bool:
    """Whether the churn broke the Services in use into at least a quarter of a wave's runs.

    A wave of random releases from a dense stretch leaves about one run per release (adjacent
    holes merge); far fewer means the case measured nothing the baseline does not.
    """
    return most_runs >= max(2, wave // 4)


def churn_met(worst_ratio: float, goal: float, *, faults: int, most_runs: int, wave: int) -> bool:
    """The fragmentation goal: worst ratio within `goal` (NaN misses), no fault, fragmented."""
    return at_most(worst_ratio, goal) and faults == 0 and is_fragmented(most_runs, wave)


@dataclass
class Ledger:
    """An independent model of one pool's slots (0 .. size-1), fed every answer the bench gets.

    `give` records what Service `number` was given (its slot, or None for no address) and notes
    every way the answer is wrong; `take` frees what a Service held. `wrong` lists the faults
    found, first ones first (at most `keep`), `checked` counts the answers judged.
    """

    size: int
    keep: int = 10
    held: dict[int, int] = field(default_factory=dict)  # Service → slot
    owner: dict[int, int] = field(default_factory=dict)  # slot → Service
    free: list[int] = field(init=False)  # a heap of free slots; a taken one is skipped lazily
    wrong: list[str] = field(default_factory=list)
    checked: int = 0
    most_runs: int = 0  # set by the replay: the most runs of slots in use it saw

    def __post_init__(self) -> None:
        self.free = list(range(self.size))  # sorted, so already a heap

    def give(self, number: int, slot: int | None) -> None:
        """Judge the answer to Service `number`'s allocation, then record it."""
        self.checked += 1
        while self.free and self.free[0] in self.owner:
            heapq.heappop(self.free)
        expected = self.free[0] if self.free else None
        if slot is None:
            if expected is not None:
                self._fault(f"Service {number} got nothing while slot {expected} was free")
            return
        if not 0 <= slot < self.size:
            self._fault(f"Service {number} got slot {slot}, outside the pool of {self.size}")
            return
        if slot in self.owner:
            self._fault(f"Service {number} got slot {slot}, held by Service {self.owner[slot]}")
            return
        if slot != expected:
            self._fault(f"Service {number} got slot {slot}, not the lowest free ({expected})")
        self.held[number], self.owner[slot] = slot, number

    def take(self, number: int, slot: int | None) -> None:
        """Service `number` released its address; the allocator said it freed `slot`."""
        self.checked += 1
        held = self.held.pop(number, None)
        if held is None or held != slot:
            self._fault(f"Service {number} released slot {slot}, but it held {held}")
        if held is not None:  # the model frees what it knows was held, whatever was said
            del self.owner[held]
            heapq.heappush(self.free, held)

    def agrees(self, holdings: Iterable[tuple[int, int | None]]) -> None:
        """Compare the allocator's own view, (Service, slot it says it holds), with the model."""
        for number, slot in holdings:
            if self.held.get(number) != slot:
                self._fault(
                    f"the allocator says Service {number} holds slot {slot},"
                    f" the answers say {self.held.get(number)}"
                )

    def note(self, text: str) -> None:
        """A fault the caller found itself (an answer the model cannot express)."""
        self._fault(text)

    def _fault(self, text: str) -> None:
        if len(self.wrong) < self.keep:
            self.wrong.append(text)
        elif len(self.wrong) == self.keep:
            self.wrong.append("… and more")
