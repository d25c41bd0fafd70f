"""Which addresses of a pool are in use, without ever listing the pool; whom the pool accepts.

Pure. Addresses in use are kept as merged runs of consecutive slots, so the lowest free address of
a range is one binary search away, and memory grows with the addresses in use, never with the
pool's size. A "slot" is an address's position in the pool's own numbering: the address itself,
or, for an IPv4 pool with avoidBuggyIPs, its position among the addresses not ending in .0/.255 —
so avoided addresses are simply not slots, and runs stay merged across them. Quarantined
addresses (docs/lan.md) are slots that stay taken whoever uses them: never the lowest free one.
"""

from bisect import bisect_right
from collections.abc import Container, Mapping
from dataclasses import dataclass, field

from metalpool.addresses import AddressRange, Family, IPAddress, address_of, is_buggy
from metalpool.pools import Pool
from metalpool.quarantine import Quarantined
from metalpool.selectors import matches_any
from metalpool.services import LBService

NamespaceLabels = Mapping[str, Mapping[str, str]]
LAST = float("inf")

USABLE_PER_256 = 254  # an IPv4 /24 without its .0 and .255
LAST_USABLE = 254
LAST_BYTE = 255


@dataclass(frozen=True, slots=True)
class Numbering:
    """Maps addresses of one family to slots and back, skipping .0/.255 when asked to."""

    family: Family
    skip_buggy: bool

    def slot(self, ip: IPAddress) -> int | None:
        """The slot of `ip`, or None when it is an avoided address."""
        value = int(ip)
        if not self.skip_buggy:
            return value
        if is_buggy(ip):
            return None
        return (value >> 8) * USABLE_PER_256 + (value & 0xFF) - 1

    def address(self, slot: int) -> IPAddress:
        """The address in `slot`."""
        if not self.skip_buggy:
            return address_of(self.family, slot)
        block, offset = divmod(slot, USABLE_PER_256)
        return address_of(self.family, (block << 8) + offset + 1)

    def bounds(self, r: AddressRange) -> tuple[int, int]:
        """The first and last slot of a range (first > last when it holds no usable address)."""
        first, last = int(r.first), int(r.last)
        if not self.skip_buggy:
            return first, last
        # Round the ends inwards to usable addresses; a range of only .255 and .0 comes out empty.
        return _usable_at_or_after(first), _usable_at_or_before(last)

    @property
    def avoids_buggy(self) -> bool:
        """Whether .0/.255 addresses are skipped (IPv4 pools with avoidBuggyIPs)."""
        return self.skip_buggy


def _usable_at_or_after(value: int) -> int:
    block, low = divmod(value, 256)
    if low == LAST_BYTE:
        block, low = block + 1, 1
    return block * USABLE_PER_256 + max(low, 1) - 1


def _usable_at_or_before(value: int) -> int:
    block, low = divmod(value, 256)
    if low == 0:
        block, low = block - 1, LAST_USABLE
    return block * USABLE_PER_256 + min(low, LAST_USABLE) - 1


class Runs:
    """A set of integers kept as sorted, merged, disjoint [start, end] runs."""

    __slots__ = ("_ends", "_starts")

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def __len__(self) -> int:
        return len(self._starts)

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int):
            return False
        i = bisect_right(self._starts, value) - 1
        return i >= 0 and self._ends[i] >= value

    def first_free(self, lo: int, hi: int) -> int | None:
        """The smallest integer in [lo, hi] not in the set."""
        i = bisect_right(self._starts, lo) - 1
        candidate = self._ends[i] + 1 if i >= 0 and self._ends[i] >= lo else lo
        # Runs are merged, so the integer after a run is never the start of the next one.
        return candidate if candidate <= hi else None

    def add(self, value: int) -> None:
        """Put `value` in the set, merging it with the runs on either side."""
        i = bisect_right(self._starts, value) - 1
        if i >= 0 and self._ends[i] >= value:
            return
        joins_left = i >= 0 and self._ends[i] == value - 1
        joins_right = i + 1 < len(self._starts) and self._starts[i + 1] == value + 1
        if joins_left and joins_right:
            self._ends[i] = self._ends[i + 1]
            del self._starts[i + 1], self._ends[i + 1]
        elif joins_left:
            self._ends[i] = value
        elif joins_right:
            self._starts[i + 1] = value
        else:
            self._starts.insert(i + 1, value)
            self._ends.insert(i + 1, value)

    def discard(self, value: int) -> None:
        """Take `value` out of the set, splitting its run if needed."""
        i = bisect_right(self._starts, value) - 1
        if i < 0 or self._ends[i] < value:
            return
        start, end = self._starts[i], self._ends[i]
        if start == end:
            del self._starts[i], self._ends[i]
        elif value == start:
            self._starts[i] = value + 1
        elif value == end:
            self._ends[i] = value - 1
        else:
            self._ends[i] = value - 1
            self._starts.insert(i + 1, value + 1)
            self._ends.insert(i + 1, end)


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolUsage:
    """A pool's counters, as IPAddressPool `.status` and the allocator metrics show them."""

    pool: str
    assigned: Mapping[Family, int]
    capacity: Mapping[Family, int]
    quarantined: tuple[IPAddress, ...] = ()  # IPv4 first, ascending
    idle_quarantined: Mapping[Family, int] = field(default_factory=dict)  # of those, not in use

    def available(self, family: Family) -> int:
        """Addresses of `family` neither in use nor quarantined."""
        return self.capacity[family] - self.assigned[family] - self.idle_quarantined.get(family, 0)


@dataclass(slots=True, eq=False)  # compared and hashed by identity: one per pool
class PoolOccupancy:
    """One pool: its taken runs per family, and the namespaces it accepts right now.

    A slot is taken while a Service uses it or while it is quarantined; `in_use` counts only
    the first kind.
    """

    pool: Pool
    namespaces: frozenset[str]
    quarantined: Mapping[IPAddress, Quarantined] = field(default_factory=dict)
    numbering: dict[Family, Numbering] = field(default_factory=dict)
    runs: dict[Family, Runs] = field(default_factory=dict)
    in_use: dict[Family, int] = field(default_factory=dict)
    # Per family, (range index, first slot, last slot) of each non-empty range in spec order,
    # and how many leading ones are known to be full: a busy pool of many ranges skips them.
    spans: dict[Family, list[tuple[int, int, int]]] = field(default_factory=dict)
    full_spans: dict[Family, int] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        pool: Pool,
        namespace_labels: NamespaceLabels,
        quarantined: Mapping[IPAddress, Quarantined] | None = None,
    ) -> "PoolOccupancy":
        """Track `pool`, resolving its namespaceSelectors against `namespace_labels` now.

        Quarantined addresses outside the pool (or avoided .0/.255 ones) are left out.
        """
        allocation = pool.allocation
        namespaces: frozenset[str] = frozenset()
        if allocation is not None:
            selected = {
                ns
                for ns, labels in namespace_labels.items()
                if matches_any(allocation.namespace_selectors, labels)
            }
            namespaces = allocation.namespaces | selected
        kept = {ip: q for ip, q in (quarantined or {}).items() if pool.contains(ip)}
        state = cls(pool=pool, namespaces=namespaces, quarantined=kept)
        for family in Family:
            skip = pool.avoid_buggy_ips and family is Family.IPV4
            numbering = state.numbering[family] = Numbering(family, skip)
            state.runs[family] = Runs()
            state.in_use[family] = 0
            state.full_spans[family] = 0
            bounds = [(i, *numbering.bounds(r)) for i, r in enumerate(pool.ranges)]
            state.spans[family] = [
                (i, lo, hi) for i, lo, hi in bounds if pool.ranges[i].family is family and lo <= hi
            ]
        for ip in kept:
            slot = state.numbering[Family.of(ip)].slot(ip)
            if slot is not None:
                state.runs[Family.of(ip)].add(slot)
        return state

    def excludes(self, service: LBService) -> str | None:
        """Why the pool's serviceAllocation rules out `service`, or None when it does not."""
        allocation = self.pool.allocation
        if allocation is None:
            return None
        if allocation.restricts_namespaces and service.key.namespace not in self.namespaces:
            return (
                f'namespace "{service.key.namespace}" is not among'
                " spec.serviceAllocation.namespaces/namespaceSelectors"
            )
        if allocation.service_selectors and not matches_any(
            allocation.service_selectors, service.labels
        ):
            return "the Service's labels match no spec.serviceAllocation.serviceSelectors"
        return None

    def position(self, ip: IPAddress) -> tuple[int, int] | None:
        """Where `ip` comes in this pool's scan order: (range index, slot)."""
        slot = self.numbering[Family.of(ip)].slot(ip)
        for index, r in enumerate(self.pool.ranges):
            if slot is not None and ip in r:
                return index, slot
        return None

    def offers(self, family: Family) -> bool:
        """Whether the pool has any usable address of `family`."""
        return bool(self.spans[family])

    def lowest_free(self, family: Family) -> tuple[int, int] | None:
        """The first address of `family` that nobody uses, as (range index, slot)."""
        runs, spans = self.runs[family], self.spans[family]
        for position in range(self.full_spans[family], len(spans)):
            index, lo, hi = spans[position]
            slot = runs.first_free(lo, hi)
            if slot is not None:
                return index, slot
            self.full_spans[family] = position + 1
        return None

    def occupy(self, ip: IPAddress) -> None:
        """Count `ip` as in use."""
        family = Family.of(ip)
        slot = self.numbering[family].slot(ip)
        if slot is not None:
            self.runs[family].add(slot)
            self.in_use[family] += 1

    def vacate(self, ip: IPAddress) -> None:
        """Count `ip` as free again (a quarantined address stays taken)."""
        family = Family.of(ip)
        slot = self.numbering[family].slot(ip)
        if slot is not None:
            if ip not in self.quarantined:
                self.runs[family].discard(slot)
            self.in_use[family] -= 1
            self.full_spans[family] = 0  # the freed slot may be in any span

    def usage(self, in_use: Container[IPAddress]) -> PoolUsage:
        """The pool's counters; `in_use` tells which quarantined addresses Services still hold."""
        quarantined = tuple(sorted(self.quarantined, key=lambda ip: (ip.version, int(ip))))
        idle = dict.fromkeys(Family, 0)
        for ip in quarantined:
            if ip not in in_use:
                idle[Family.of(ip)] += 1
        return PoolUsage(
            pool=self.pool.name,
            assigned=dict(self.in_use),
            capacity={f: self.pool.capacity(f) for f in Family},
            quarantined=quarantined,
            idle_quarantined=idle,
        )

    def priority(self) -> tuple[float, str]:
        """Sort key among pinned pools: positive priorities ascending, then 0, then by name."""
        allocation = self.pool.allocation
        value = allocation.priority if allocation is not None and allocation.priority > 0 else LAST
        return value, self.pool.name
