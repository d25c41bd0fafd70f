"""When this node starts and stops answering an IP, so that two nodes never answer it at once.

Pure. No I/O. The election (`speaker.cluster`) says who *should* answer each IP; this says when
the move may happen. The rule of each node, for each IP:

- it owns the IP and another node won: stop answering, then hand the IP to the winner (the
  shell sends the hand-off only after the responder has stopped answering);
- it won and does not own the IP: take it (answer, gratuitous burst) when it was handed over,
  or when no live peer's heartbeat claims it (a crashed owner claims nothing: it is not live)
  and its own READY heartbeat left an interval ago (`settled`: a peer turning ready at the
  same moment has heard of it); otherwise wait for the hand-off — at most `takeover_timeout`,
  for the claim may be a Bloom false positive;
- a peer judged by its Lease (never heard here) claims what its ServiceL2Status says it
  announces: the winner waits, without a timeout, until that status goes (`firm`);
- it won and owns the IP: keep it; announce again when a hand-off for it arrives anyway (a peer
  that answered it by mistake — after losing our heartbeats — has just stopped).

So a join or a rejoin moves an IP by hand-off (gap: one message; overlap: none), a crash moves
it when the owner falls silent, and a cold start moves nothing (nobody owned anything).
"""

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from metalpool.addresses import IPAddress

TAKEOVER_TIMEOUT = 1.0  # seconds a winner waits for a hand-off while a live peer claims the IP


class Cause(enum.StrEnum):
    """Why an IP moved, as logs, Events and metrics say it."""

    START = "start"  # nobody answered it: a new IP, a cold start
    CRASH = "crash"  # its owner fell silent on the LAN: killed, frozen, or its link failed
    LINK = "link"  # this node lost the carrier of every link it answers on, and withdrew
    LEAVE = "leave"  # its owner stopped gracefully and said goodbye
    HANDOFF = "handoff"  # its owner handed it over (a rejoin, a configuration change)
    JOIN = "join"  # handed to a node that has just become a candidate
    TIMEOUT = "timeout"  # a live peer still claimed it after the takeover timeout


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """What to do now: the new owned set, hand-offs to send, IPs to announce again."""

    owned: frozenset[IPAddress]
    taken: Mapping[IPAddress, Cause] = field(default_factory=dict)
    released: Mapping[IPAddress, str | None] = field(default_factory=dict)  # ip → new winner
    reassert: frozenset[IPAddress] = frozenset()
    waiting: Mapping[IPAddress, float] = field(default_factory=dict)  # ip → since (monotonic)


@dataclass(frozen=True, slots=True, kw_only=True)
class Situation:
    """Everything `decide` needs, as the worker assembles it."""

    me: str
    winners: Mapping[IPAddress, str | None]  # every IP of the plan → its elected node
    owned: frozenset[IPAddress]  # what the responder answers now
    claimants: Callable[[IPAddress], frozenset[str]]  # live peers whose heartbeat claims the IP
    firm: Callable[[IPAddress], frozenset[str]] = lambda _: frozenset()  # see `_may_take`
    handed: frozenset[IPAddress]  # IPs handed to us since the last step
    waiting: Mapping[IPAddress, float]  # from the previous step
    previous: Mapping[IPAddress, str | None]  # the last known winner of each IP (for causes)
    cause_of_absence: Callable[[str], Cause]  # why a former winner is out (crash, link, leave)
    now: float
    settled: bool = True  # our READY heartbeat has had an interval to reach every peer
    takeover_timeout: float = TAKEOVER_TIMEOUT


def decide(s: Situation) -> Step:
    """Apply the rule above to every IP this node owns or won."""
    owned: set[IPAddress] = set()
    taken: dict[IPAddress, Cause] = {}
    released: dict[IPAddress, str | None] = {}
    waiting: dict[IPAddress, float] = {}
    reassert = set()
    for ip in s.owned:
        winner = s.winners.get(ip)
        if winner == s.me:
            owned.add(ip)
            if ip in s.handed:
                reassert.add(ip)
        else:
            released[ip] = winner
    for ip, winner in s.winners.items():
        if winner != s.me or ip in s.owned:
            continue
        cause = _may_take(s, ip)
        if cause is None:
            waiting[ip] = s.waiting.get(ip, s.now)
        else:
            owned.add(ip)
            taken[ip] = cause
    return Step(
        owned=frozenset(owned),
        taken=taken,
        released=released,
        reassert=frozenset(reassert),
        waiting=waiting,
    )


def _may_take(s: Situation, ip: IPAddress) -> Cause | None:
    """Why this node may answer `ip` now, or None to wait for the hand-off."""
    if ip in s.handed:
        return Cause.HANDOFF
    if s.firm(ip) - {s.me}:
        # A live peer judged by its Lease (never heard on the LAN) is said by the API to
        # announce the IP: no heartbeat will say it stopped, and its hand-off cannot reach us.
        # Wait, with no timeout, until its ServiceL2Status says otherwise: degraded, not split.
        return None
    if s.claimants(ip) - {s.me}:
        timed_out = s.now - s.waiting.get(ip, s.now) >= s.takeover_timeout
        return Cause.TIMEOUT if timed_out else None
    if not s.settled:
        # Just ready: a peer that turned ready at the same moment may not know of us yet and
        # take this IP too. One interval on, each has heard the other (or its claims).
        return None
    before = s.previous.get(ip)
    return Cause.START if before in (None, s.me) else s.cause_of_absence(before)
