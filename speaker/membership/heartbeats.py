"""Shell. This speaker's side of the LAN membership: heartbeats out, peers' messages in.

The responder thread calls `outgoing`/`incoming`/`isolated` (this is its `Chatter`); the worker
reads a consistent `View` and asks for hand-off and goodbye payloads. One lock guards the peer
table, the sequence counter and the counters, because both threads touch them.

This speaker is READY (a candidate for its peers) once it has its configuration and a key, and
has listened for one hold time plus one interval since it started or was last isolated: by then
every live peer has been heard at least twice, with what it claims, so taking an IP never
overlaps with a peer still answering it.
"""

import logging
import math
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from metalpool.addresses import IPAddress
from metalpool.leases import LeaseState
from speaker.membership.messages import (
    ETHERTYPE,
    GROUP_MAC,
    Handoff,
    Heartbeat,
    Rejection,
    claim_filter,
    decode,
    encode_handoffs,
    encode_heartbeat,
    may_claim,
)
from speaker.membership.table import Accepted, Mode, PeerTable, State

logger = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = 0.1  # seconds: failover p95 ≤ 0.5 s needs detection well under it
HEARTBEAT_HOLD = 0.35  # 3.5 intervals: two lost heartbeats and 150 ms of scheduling jitter


@dataclass(frozen=True, slots=True, kw_only=True)
class View:
    """The membership as one election pass sees it."""

    ready: bool  # this speaker may win IPs
    isolation: str = ""  # why this speaker last stopped answering everything (a stall, no carrier)
    settled: bool = True  # peers have had an interval to hear that we are ready: see `decide`
    settles_at: float | None = None  # when `settled` turns true, if it has not yet
    epoch: int  # isolations so far (hand to `Responder.set_owned`)
    candidates: frozenset[str]  # READY peers (not this speaker)
    claims: Mapping[str, bytes] = field(default_factory=dict)  # alive WIRE peers → claim filter
    states: Mapping[str, State] = field(default_factory=dict)
    modes: Mapping[str, Mode] = field(default_factory=dict)
    gone_at: Mapping[str, float] = field(default_factory=dict)

    def claimants(self, ip: IPAddress) -> frozenset[str]:
        """Alive peers whose last heartbeat may claim `ip`."""
        return frozenset(node for node, claims in self.claims.items() if may_claim(claims, ip))

    def same_election(self, other: "View") -> bool:
        """Whether an election on `other` comes out as on this view.

        Everything but `gone_at` counts: a live peer's would-be end moves with each heartbeat,
        and a dead peer's state changes with it anyway.
        """
        return replace(self, gone_at={}) == replace(other, gone_at={})

    def same_members(self, other: "View") -> bool:
        """Whether `other` reads the same but, perhaps, for what live peers claim.

        Who is live, ready, listening, dead or gone, and our own readiness and isolations:
        everything a failover turns on. Claims change with every move a peer makes.
        """
        return replace(self, gone_at={}, claims={}) == replace(other, gone_at={}, claims={})


class Heartbeats:
    """Implements the responder's `Chatter`; thread-safe."""

    def __init__(
        self,
        node: str,
        *,
        lease_duration: float,
        interval: float = HEARTBEAT_INTERVAL,
        hold: float = HEARTBEAT_HOLD,
        now: float,
    ) -> None:
        self.node = node
        self.interval = interval
        self.hold = hold
        self.incarnation = secrets.randbits(64)
        self.ethertype = ETHERTYPE
        self.group = GROUP_MAC
        self.sent: Counter[str] = Counter(dict.fromkeys(("heartbeat", "handoff", "goodbye"), 0))
        self.received: Counter[str] = Counter(dict.fromkeys(("heartbeat", "handoff"), 0))
        self.rejected: Counter[str] = Counter(dict.fromkeys((r.value for r in Rejection), 0))
        self._lock = threading.Lock()
        self._table = PeerTable(node, lease_duration=lease_duration)
        self._sequence = 0
        self._keys: tuple[bytes, ...] = ()
        self._configured = False
        self._was_ready = False
        self._ready_announced: float | None = None  # when a READY heartbeat first left
        self._isolated_at = float("-inf")
        self._isolation = ""
        self._listening_until = now + hold + interval
        self._epoch = 0
        self._next_send = now
        self._handed: set[IPAddress] = set()
        self._claims_for: tuple[frozenset[IPAddress], bytes] = (frozenset(), b"")
        self._notify: Callable[[], None] = lambda: None
        self._macs: dict[bytes, str] = {}  # source MAC of authenticated frames → node
        # The worker sets no timer for holds that run out: the responder, awake for every
        # heartbeat anyway, looks at `_watch_at` (never later than the view's next change by
        # itself) and tells the worker if the view changed (`_look`). A timer in the worker
        # woke its loop ~3 times a second per peer, for nothing while the peers live.
        self._watch_at = now
        self._watched: View | None = None

    # ------------------------------------------------------------------ the worker's side

    def attach(self, notify: Callable[[], None]) -> None:
        """Call `notify` (thread-safe) whenever an election could come out differently."""
        self._notify = notify

    def set_keys(self, keys: tuple[bytes, ...]) -> None:
        """The HMAC keys: the current one signs, any of them verifies (rotation).

        The first key restarts the listening period unless this speaker was READY already:
        what it heard before could not be verified, so it does not yet know who claims what.
        """
        now = time.monotonic()
        with self._lock:
            if not self._keys and not self._was_ready:
                self._listening_until = max(self._listening_until, now + self.hold + self.interval)
                self._watch_at = min(self._watch_at, self._listening_until)
            self._keys = keys

    def set_configured(self) -> None:
        """The worker has its configuration: it may become READY."""
        with self._lock:
            self._configured = True

    def observe_lease(self, node: str, lease: LeaseState | None, now: float) -> None:
        """A speaker Lease as the watch delivered it (the fallback path)."""
        with self._lock:
            self._table.observe_lease(node, lease, now)
            self._watch_at = min(self._watch_at, self._next_change(now))

    def view(self, now: float) -> View:
        """A consistent snapshot for one election pass."""
        with self._lock:
            return self._view(now)

    def next_change(self, now: float) -> float | None:
        """When the view changes by itself next (a hold runs out, listening ends)."""
        with self._lock:
            change = self._next_change(now)
        return None if change == math.inf else change

    def _view(self, now: float) -> View:
        """The view (inside the lock)."""
        table = self._table
        nodes = table.nodes()
        states = {n: table.state(n, now) for n in nodes}
        alive = (State.READY, State.LISTENING)
        ready = self._is_ready(now)
        settles_at = self._settles_at()
        return View(
            ready=ready,
            isolation=self._isolation,
            settled=ready and (settles_at is not None and now >= settles_at),
            settles_at=settles_at,
            epoch=self._epoch,
            candidates=table.candidates(now),
            claims={
                n: table.claims_of(n)
                for n in nodes
                if states[n] in alive and table.mode(n, now) is Mode.WIRE
            },
            states=states,
            modes={n: table.mode(n, now) for n in nodes},
            gone_at={n: t for n in nodes if (t := table.gone_at(n)) is not None},
        )

    def _next_change(self, now: float) -> float:
        times = [self._table.next_change(now)]
        if self._listening_until > now:
            times.append(self._listening_until)
        return min((t for t in times if t is not None), default=math.inf)

    def take_handed(self) -> frozenset[IPAddress]:
        """IPs handed to this speaker since the last call."""
        with self._lock:
            handed, self._handed = frozenset(self._handed), set()
        return handed

    def has_handed(self) -> bool:
        """Whether IPs were handed to this speaker since the last `take_handed`."""
        with self._lock:
            return bool(self._handed)

    def handoffs(self, released: Mapping[IPAddress, str | None]) -> Callable[[], list[bytes]]:
        """What tells each new winner the IPs this speaker has just stopped answering.

        A builder, called by the responder thread when it sends: sequence numbers are taken at
        send time, so a heartbeat numbered later can never leave first and make the hand-off
        look replayed.
        """
        by_winner: dict[str, list[IPAddress]] = {}
        for ip, winner in released.items():
            if winner is not None:
                by_winner.setdefault(winner, []).append(ip)
        return lambda: self._build_handoffs(by_winner)

    def _build_handoffs(self, by_winner: Mapping[str, list[IPAddress]]) -> list[bytes]:
        payloads: list[bytes] = []
        with self._lock:
            if not self._keys:
                return []
            for winner, ips in sorted(by_winner.items()):
                message = Handoff(
                    node=self.node,
                    incarnation=self.incarnation,
                    sequence=self._sequence + 1,
                    to=winner,
                    ips=tuple(sorted(ips, key=lambda ip: (ip.version, ip))),
                )
                parts = encode_handoffs(message, self._keys[0])
                self._sequence += len(parts)
                payloads += parts
                self.sent["handoff"] += len(parts)
        return payloads

    def goodbye(self) -> Callable[[], list[bytes]]:
        """The leaving heartbeat's builder, for the responder to send once it stopped answering."""
        with self._lock:
            self._configured = False

        def build() -> list[bytes]:
            with self._lock:
                payload = self._heartbeat(frozenset(), leaving=True)
            return [] if payload is None else [payload]

        return build

    # ------------------------------------------------------------------ the responder's side

    def next_due(self) -> float:
        """When `outgoing` is next due (monotonic): a heartbeat, or a look at the view."""
        return min(self._next_send, self._watch_at)

    def outgoing(
        self, owned: frozenset[IPAddress], now: float, *, force: bool = False
    ) -> bytes | None:
        """The heartbeat due now (or at once, when `force`), claiming what the responder answers.

        The responder forces one whenever its table changed: peers learn our claims within a
        message delay, not an interval, which is what keeps two new owners from both taking.
        """
        self._look(now)
        if now < self._next_send and not force:
            return None
        # Catch up without a burst after a stall: the next one is an interval from now. A forced
        # one (a table change) puts the next an interval after itself, never further: adding an
        # interval per forced send pushed the next one past the hold after a burst of changes,
        # and peers, and our own stall check, took the silence for a death.
        if force:
            self._next_send = now + self.interval
        else:
            self._next_send = max(self._next_send + self.interval, now + self.interval / 2)
        with self._lock:
            return self._heartbeat(owned, leaving=False, now=now)

    def incoming(self, frame: bytes, interface: str, now: float) -> frozenset[IPAddress]:
        """Verify, check for replays, fold into the peer table; wake the worker on news.

        Returns the IPs the frame hands to this speaker: the responder takes those it holds
        in standby at once, without waiting for the worker (`Responder.set_owned`).
        """
        with self._lock:
            decoded = decode(frame, self._keys)
            if isinstance(decoded, Rejection):
                outcome: Accepted | Rejection = decoded
            else:
                outcome = self._table.accept(decoded[0], now)
            if isinstance(outcome, Rejection):
                self.rejected[outcome.value] += 1
                return frozenset()
            message = decoded[0] if isinstance(decoded, tuple) else None
            self._macs[frame[6:12]] = outcome.node
            # The sender's hold runs from now: look then at the latest (a hand-off: at once).
            hold = message.hold if isinstance(message, Heartbeat) else 0.0
            self._watch_at = min(self._watch_at, now + hold)
            if isinstance(message, Heartbeat) and self._next_send - now <= self.interval / 2:
                # Ours is due within half an interval: it leaves now, in the turn this frame
                # woke. Peers fall into step (one answers the other) and the responder wakes
                # once for both (~3 wake-ups an interval for two speakers, not 4). Sooner is
                # always safe: holds are about the longest silence.
                self._next_send = now
            self.received["handoff" if isinstance(message, Handoff) else "heartbeat"] += 1
            self._handed.update(outcome.handoff)
        if outcome.changed or outcome.handoff:
            if outcome.handoff:
                logger.info(
                    "%s handed %s over on %s",
                    outcome.node,
                    ", ".join(map(str, outcome.handoff)),
                    interface,
                )
            self._notify()
        return frozenset(outcome.handoff)

    def speaker_macs(self) -> dict[bytes, str]:
        """Every MAC a peer's authenticated message came from, and the peer's node.

        Never forgotten: a peer we stopped hearing is the one most likely to answer an IP we
        also hold, and its claims must read as a split brain, not as a foreign device.
        """
        with self._lock:
            return dict(self._macs)

    def isolated(self, why: str, epoch: int, now: float) -> None:
        """This speaker stopped answering (stall, no carrier): listen again before any claim."""
        with self._lock:
            self._epoch = epoch
            self._listening_until = now + self.hold + self.interval
            self._watch_at = min(self._watch_at, self._listening_until)
            self._ready_announced = None
            self._isolated_at = now
            self._isolation = why
        self._notify()

    def is_cut_off(self, now: float) -> bool:
        """Whether the responder keeps reporting isolation (each heartbeat tick, no carrier)."""
        with self._lock:
            return now - self._isolated_at < 3 * self.interval

    def _look(self, now: float) -> None:
        """Tell the worker if the view changed by itself since the last look (a hold ran out)."""
        if now < self._watch_at:
            return
        with self._lock:
            view = self._view(now)
            changed = self._watched is not None and not view.same_members(self._watched)
            self._watched = view
            self._watch_at = self._next_change(now)
        if changed:
            self._notify()

    # ------------------------------------------------------------------ inside the lock

    def _settles_at(self) -> float | None:
        """When this speaker may take addresses nobody handed over (inside the lock).

        One interval after its first READY heartbeat left: by then every peer has heard it,
        and it has heard every peer that turned READY before that heartbeat arrived. Without a
        key nothing is said on the LAN, and there is nothing to wait for.
        """
        if not self._keys:
            return float("-inf")
        if self._ready_announced is None:
            return None
        return self._ready_announced + self.interval

    def _is_ready(self, now: float) -> bool:
        # No key: nothing is sent or accepted on the LAN, peers are judged by their Leases.
        ready = self._configured and now >= self._listening_until
        self._was_ready = self._was_ready or ready
        return ready

    def _heartbeat(
        self, owned: frozenset[IPAddress], *, leaving: bool, now: float | None = None
    ) -> bytes | None:
        if not self._keys:
            return None
        if owned != self._claims_for[0]:
            self._claims_for = (owned, claim_filter(owned))
        self._sequence += 1
        message = Heartbeat(
            node=self.node,
            incarnation=self.incarnation,
            sequence=self._sequence,
            interval=self.interval,
            hold=self.hold,
            ready=not leaving and now is not None and self._is_ready(now),
            leaving=leaving,
            claims=b"" if leaving else self._claims_for[1],
        )
        self.sent["goodbye" if leaving else "heartbeat"] += 1
        if message.ready and self._ready_announced is None and now is not None:
            self._ready_announced = now
            self._notify()  # the worker may take unclaimed addresses one interval from now
        return encode_heartbeat(message, self._keys[0])
