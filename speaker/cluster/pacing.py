"""When the speaker's worker runs an election pass: membership news at once, other news batched.

Pure. No I/O, no clock: the worker hands in monotonic times, what woke it and what a pass cost.
Rule: a pass that membership news, a hand-off or a due timer asks for runs at once (failover
is theirs). Any other news (a Service, a slice, a status, a Lease renewal, what a peer claims)
waits until `share` times the last pass's cost (at least `minimum`) has gone by since that pass
ended, and then one pass takes all of it. A pass costs O(Services) (~20 ms with 1,000 here,
more on a loaded node) and the API brings one event per Service written (our conditions and
the peers'): one pass per event was quadratic, and kept the event loop busy long enough for the
responder to miss heartbeats (docs/footprint.md). With `share` 4 such passes take at most a
fifth of the loop's time, whatever the flood.
"""

import math
from dataclasses import dataclass

BATCH_MIN = 0.02  # seconds: within a client's patience, and long enough to gather a burst
BATCH_SHARE = 4.0  # idle time after a batched pass, in units of that pass's cost


@dataclass(slots=True)
class Pacing:
    """Whether news waits, and until when. Not thread-safe: the worker's loop owns it."""

    minimum: float = BATCH_MIN
    share: float = BATCH_SHARE
    pending: bool = False  # news came that no pass has taken yet
    batch_at: float = -math.inf  # when pending news may have its pass

    def note(self) -> None:
        """News came that does not need a pass at once."""
        self.pending = True

    def due(self, now: float, *, urgent: bool) -> bool:
        """Whether to run a pass now."""
        return urgent or (self.pending and now >= self.batch_at)

    def ran(self, finished: float, cost: float) -> None:
        """A pass ended at `finished` after `cost` seconds: it took all the news so far."""
        self.pending = False
        self.batch_at = finished + max(self.minimum, self.share * cost)

    def next_due(self) -> float | None:
        """When pending news gets its pass, if there is any (for the worker's timeout)."""
        return self.batch_at if self.pending else None
