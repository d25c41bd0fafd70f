"""Which speakers are alive: each renews a Lease of its own; a Lease not renewed in time is dead.

Pure. A peer counts as live while its Lease has a holder and this speaker saw it renewed less
than one lease duration ago, by its own clock — so a skewed peer clock cannot keep a dead node
alive (client-go's leader election judges the same way). A released Lease (no holder) is dead
at once: that is how a graceful stop hands over without waiting. Every speaker runs with the
same --lease-duration, so peers are judged by this speaker's own setting; the Lease's
whole-second `leaseDurationSeconds` could not express 1.5 s.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from metalpool.leases import LeaseState

LEASE_PREFIX = "metalpool-speaker-"
CLOCK_SKEW = timedelta(seconds=5)  # a renewTime this far past its expiry is stale on any clock


def lease_name(node: str) -> str:
    """The name of `node`'s speaker Lease."""
    return f"{LEASE_PREFIX}{node}"


def node_of(lease_name_: str) -> str | None:
    """The node a speaker Lease belongs to, or None for any other Lease."""
    if not lease_name_.startswith(LEASE_PREFIX):
        return None
    return lease_name_[len(LEASE_PREFIX) :] or None


@dataclass(frozen=True, slots=True)
class Sighting:
    """The last version of a peer's Lease, and when this speaker saw it renewed."""

    holder: str | None
    renewed: datetime | None
    seen: float  # this speaker's monotonic clock
    gone: float | None = None  # when it stopped being live, once known


class Membership:
    """Live speakers, from the Lease sightings fed in by the watch shell."""

    def __init__(self, duration: float) -> None:
        self.duration = duration
        self._sightings: dict[str, Sighting] = {}

    def observe(self, node: str, lease: LeaseState | None, now: float) -> None:
        """Record the Lease of `node` as seen at monotonic time `now` (None: it was deleted)."""
        before = self._sightings.get(node)
        if lease is None or not lease.holder:
            gone = before.gone if before and before.gone is not None else now
            self._sightings[node] = Sighting(holder=None, renewed=None, seen=now, gone=gone)
            return
        renewed = before is None or (before.holder, before.renewed) != (
            lease.holder,
            lease.renewed,
        )
        seen = now if renewed or before is None else before.seen
        self._sightings[node] = Sighting(holder=lease.holder, renewed=lease.renewed, seen=seen)

    def live(self, now: float, wall: datetime) -> frozenset[str]:
        """The nodes whose speakers are alive at `now` (monotonic) / `wall` (UTC)."""
        return frozenset(n for n, s in self._sightings.items() if self._is_live(s, now, wall))

    def expires(self, now: float, wall: datetime) -> float | None:
        """The next monotonic time a live node would die if not renewed (to recompute then)."""
        times = [
            s.seen + self.duration for s in self._sightings.values() if self._is_live(s, now, wall)
        ]
        return min(times, default=None)

    def died_at(self, node: str) -> float | None:
        """When `node` stopped being live: its release, or its last renewal plus one duration."""
        sighting = self._sightings.get(node)
        if sighting is None:
            return None
        if sighting.gone is not None:
            return sighting.gone
        return sighting.seen + self.duration

    def _is_live(self, sighting: Sighting, now: float, wall: datetime) -> bool:
        if not sighting.holder or now - sighting.seen >= self.duration:
            return False
        stale_by = timedelta(seconds=self.duration) + CLOCK_SKEW
        return sighting.renewed is None or sighting.renewed + stale_by > wall
