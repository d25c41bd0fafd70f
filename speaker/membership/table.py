"""Who is alive, by what this speaker hears on the LAN; Leases only for peers never heard there.

Pure. No I/O, no wall clock: every time is this speaker's monotonic receipt time, so a skewed
clock anywhere changes nothing. A peer heard on the wire (an authenticated heartbeat or
hand-off) is in WIRE mode for good: it is alive until it has been silent for the hold time it
announced, or at once when it says it is leaving. A peer never heard on the wire (a filtered
LAN, another segment) is judged by its Lease (LEASE mode), fail-static: it is declared dead only
once this speaker has seen its *own* Lease renewal come back through the watch after the peer's
deadline — proof that the API path works and the peer really stopped renewing. A stalled or
unreachable API server therefore never kills anyone.

Replays: a peer's messages carry (incarnation, sequence). A sequence not above the last one of
the current incarnation is REPLAYED; an incarnation seen before and superseded is STALE; a new
incarnation replaces the current one only once that one is dead or has left (a restart after
SIGKILL is accepted one hold time later; a recorded older incarnation cannot displace a live
one). Our own frames (our node name) are OWN.
"""

import enum
from collections.abc import Iterable
from dataclasses import dataclass, replace

from metalpool.addresses import IPAddress
from metalpool.leases import LeaseState
from speaker.membership.messages import Handoff, Heartbeat, Message, Rejection, may_claim

REVIVE_AFTER = 2.0  # seconds a restarted peer may stay unheard before its Lease speaks for it
SUPERSEDED_KEPT = 8  # incarnations remembered per peer, to refuse replays of older ones


class Mode(enum.StrEnum):
    """How a peer's liveness is judged (a metric label)."""

    WIRE = "wire"
    LEASE = "lease"


class State(enum.StrEnum):
    """A peer's state as this speaker sees it (a metric label)."""

    LISTENING = "listening"  # alive, not yet a candidate (it is learning who holds what)
    READY = "ready"  # alive and a candidate
    DEAD = "dead"  # silent past its hold time, or its Lease ran out (API path confirmed)
    LEFT = "left"  # said goodbye (graceful stop)


@dataclass(frozen=True, slots=True, kw_only=True)
class WirePeer:
    """The last accepted message of a peer heard on the LAN."""

    node: str
    incarnation: int
    sequence: int
    heard: float  # monotonic receipt time of the last accepted message
    interval: float
    hold: float
    ready: bool
    leaving: bool
    claims: bytes
    superseded: tuple[int, ...] = ()

    def state(self, now: float) -> State:
        """LEFT, DEAD, READY or LISTENING at `now`."""
        if self.leaving:
            return State.LEFT
        if now >= self.heard + self.hold:  # the very sum `gone_at` and `next_change` give
            return State.DEAD
        return State.READY if self.ready else State.LISTENING

    def gone_at(self) -> float:
        """When it stopped being alive: its goodbye, or its last message plus its hold."""
        return self.heard if self.leaving else self.heard + self.hold


@dataclass(frozen=True, slots=True, kw_only=True)
class LeasePeer:
    """A peer's Lease as last seen, and when this speaker saw it change."""

    holder: str | None
    renewed: object  # the renewTime as read: only compared for change, never with a clock
    seen: float  # monotonic time the current (holder, renewed) was first seen
    taken: float | None = None  # when it was last seen taken (no holder → a holder): a restart
    renewals: tuple[float, ...] = ()  # monotonic times of the last few changes seen


@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted:
    """A message that passed the replay checks, and what it changed."""

    node: str
    changed: bool  # a new peer or incarnation, or a new state, claims or timings: elect again
    handoff: tuple[IPAddress, ...] = ()  # IPs handed to us by this message


class PeerTable:
    """Every peer's liveness; fed by the heartbeat shell (wire) and the Lease watch (fallback)."""

    def __init__(self, me: str, *, lease_duration: float) -> None:
        self.me = me
        self.lease_duration = lease_duration
        self._wire: dict[str, WirePeer] = {}
        self._leases: dict[str, LeasePeer] = {}
        self._api_confirmed: float | None = None  # our own renewal last seen through the watch

    # ------------------------------------------------------------------ feeding

    def accept(self, message: Message, now: float) -> Accepted | Rejection:
        """Fold in one authenticated message received at `now`, or say why it is ignored."""
        if message.node == self.me:
            return Rejection.OWN
        before = self._wire.get(message.node)
        verdict = _replay_verdict(before, message, now)
        if verdict is not None:
            return verdict
        peer = _updated(before, message, now)
        self._wire[message.node] = peer
        changed = before is None or _differs(before, peer)
        handoff = message.ips if isinstance(message, Handoff) and message.to == self.me else ()
        return Accepted(node=message.node, changed=changed, handoff=handoff)

    def observe_lease(self, node: str, lease: LeaseState | None, now: float) -> None:
        """Record a speaker Lease as the watch delivered it at `now` (None: deleted)."""
        holder = lease.holder if lease is not None else None
        renewed = lease.renewed if lease is not None else None
        before = self._leases.get(node)
        if before is None or (before.holder, before.renewed) != (holder, renewed):
            taken = now if holder and (before is None or not before.holder) else None
            self._leases[node] = LeasePeer(
                holder=holder,
                renewed=renewed,
                seen=now,
                taken=taken if taken is not None else (before.taken if before else None),
                # Renewals: changes while held throughout (not a take, not a release).
                renewals=(
                    (*before.renewals, now)[-3:]
                    if before and before.holder and holder
                    else (before.renewals if before else ())
                ),
            )
            if node == self.me and holder == self.me:
                self._api_confirmed = now

    # ------------------------------------------------------------------ judging

    def mode(self, node: str, now: float) -> Mode:
        """WIRE once a peer has been heard on the LAN, LEASE before — or once revived."""
        peer = self._wire.get(node)
        return Mode.WIRE if peer is not None and not self._revived(peer, now) else Mode.LEASE

    def state(self, node: str, now: float) -> State:
        """A peer's state at `now` (a node we know nothing of is DEAD)."""
        peer = self._wire.get(node)
        if peer is not None and not self._revived(peer, now):
            return peer.state(now)
        lease = self._leases.get(node)
        if lease is None or not lease.holder:
            return State.LEFT if lease is not None else State.DEAD
        return State.READY if self._lease_alive(lease, now) else State.DEAD

    def nodes(self) -> frozenset[str]:
        """Every peer known by either path (never ourselves)."""
        return (frozenset(self._wire) | frozenset(self._leases)) - {self.me}

    def candidates(self, now: float) -> frozenset[str]:
        """Peers that may win an election now: READY ones."""
        return frozenset(n for n in self.nodes() if self.state(n, now) is State.READY)

    def claimants(self, ip: IPAddress, now: float) -> frozenset[str]:
        """Alive WIRE peers whose last heartbeat may claim `ip` (Bloom: false positives only)."""
        return frozenset(
            node
            for node, peer in self._wire.items()
            if peer.state(now) in (State.READY, State.LISTENING) and may_claim(peer.claims, ip)
        )

    def claims_of(self, node: str) -> bytes:
        """The claim filter of a WIRE peer's last heartbeat (empty for LEASE peers)."""
        peer = self._wire.get(node)
        return b"" if peer is None else peer.claims

    def next_change(self, now: float) -> float | None:
        """The next monotonic time a peer's state changes by itself (a hold or Lease runs out)."""
        times = [p.heard + p.hold for p in self._wire.values() if p.state(now) not in _GONE]
        times += [
            lease.seen + self.lease_duration
            for node, lease in self._leases.items()
            if (node not in self._wire or self._revived(self._wire[node], now))
            and lease.holder
            and lease.seen + self.lease_duration > now
        ]
        times += [  # an unheard restart is judged by its Lease from then on
            lease.taken + REVIVE_AFTER
            for node, lease in self._leases.items()
            if node in self._wire
            and lease.taken is not None
            and lease.taken > self._wire[node].gone_at()
            and lease.taken + REVIVE_AFTER > now
        ]
        return min(times, default=None)

    def gone_at(self, node: str) -> float | None:
        """When `node` stopped being alive, if it has (for the failover histogram)."""
        peer = self._wire.get(node)
        if peer is not None:
            return peer.gone_at()
        lease = self._leases.get(node)
        if lease is None:
            return None
        # A released Lease is a goodbye: gone when seen released, not one duration later.
        return lease.seen + self.lease_duration if lease.holder else lease.seen

    def _revived(self, peer: WirePeer, now: float) -> bool:
        """A peer gone silent on the LAN that its Lease says is running again, unheard.

        Its Lease was taken again after it left or died (a restart) and it stayed unheard for
        `REVIVE_AFTER` since — a restarted speaker is heard within its listening period —
        or its Lease was renewed twice since (a restart that kept the Lease): its new run
        cannot be heard here (another key, a filter), so it is judged by its Lease from now
        on. A speaker that lost its links stops renewing, so a link failure never revives a
        peer; a crash renews nothing.
        """
        if peer.state(now) not in _GONE:
            return False
        lease = self._leases.get(peer.node)
        if lease is None or not lease.holder:
            return False
        gone = peer.gone_at()
        if lease.taken is not None and lease.taken > gone and now - lease.taken >= REVIVE_AFTER:
            return True
        return sum(t > gone for t in lease.renewals) >= 2  # noqa: PLR2004 - one could be late

    def _lease_alive(self, lease: LeasePeer, now: float) -> bool:
        deadline = lease.seen + self.lease_duration
        if now < deadline:
            return True
        # Fail-static: dead only if the watch demonstrably worked after the deadline.
        return self._api_confirmed is None or self._api_confirmed < deadline


_GONE = (State.DEAD, State.LEFT)


def _replay_verdict(before: WirePeer | None, message: Message, now: float) -> Rejection | None:
    if before is None:
        return None
    if message.incarnation == before.incarnation:
        return None if message.sequence > before.sequence else Rejection.REPLAYED
    if message.incarnation in before.superseded:
        return Rejection.STALE
    if before.state(now) not in _GONE:
        # A new incarnation while the current one lives: a replay of a recorded older run, or
        # a restart faster than one hold time; either way it waits until the current one dies.
        return Rejection.STALE
    return None


def _updated(before: WirePeer | None, message: Message, now: float) -> WirePeer:
    if before is not None and before.incarnation != message.incarnation:
        superseded = (*before.superseded, before.incarnation)[-SUPERSEDED_KEPT:]
        before = None
    else:
        superseded = before.superseded if before is not None else ()
    if isinstance(message, Heartbeat):
        return WirePeer(
            node=message.node,
            incarnation=message.incarnation,
            sequence=message.sequence,
            heard=now,
            interval=message.interval,
            hold=message.hold,
            ready=message.ready,
            leaving=message.leaving,
            claims=message.claims,
            superseded=superseded,
        )
    if before is None:
        # A hand-off from a peer not heard before: alive, but its timings and claims are not
        # known yet; its first heartbeat follows within an interval. Hold it for a second.
        return WirePeer(
            node=message.node,
            incarnation=message.incarnation,
            sequence=message.sequence,
            heard=now,
            interval=1.0,
            hold=1.0,
            ready=False,
            leaving=False,
            claims=b"",
            superseded=superseded,
        )
    return replace(before, sequence=message.sequence, heard=now)


def _differs(before: WirePeer, after: WirePeer) -> bool:
    """Whether an election could come out differently (not just a fresher receipt time)."""
    return (
        before.incarnation != after.incarnation
        or before.ready != after.ready
        or before.leaving != after.leaving
        or before.claims != after.claims
        or before.hold != after.hold
        or before.heard + before.hold <= after.heard  # it was dead (silent) and is back
    )


def alive(table: PeerTable, nodes: Iterable[str], now: float) -> frozenset[str]:
    """Those of `nodes` that are alive (READY or LISTENING) at `now`."""
    return frozenset(n for n in nodes if table.state(n, now) in (State.READY, State.LISTENING))
