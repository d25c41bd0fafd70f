"""Pure. No I/O. One received frame in, at most one reply out: parse, decide, count.

`answer` is the responder's whole per-frame path except the two syscalls around it. It never
raises: a malformed, foreign or unowned frame is a `DropReason` passed to `Counters.dropped`
(style.md §5.5). Every frame is counted exactly once, as a drop or as a request received, so
`frames == sum(dropped) + sum(requests_received)`; the shell adds responses_sent after `send`.

`Counters` is the seam to metrics (metallb-compat.md §5 `metallb_layer2_*`): `speaker.metrics`
implements it with Prometheus; `Tally` is a plain in-memory one for tests, benchmarks and logs.
"""

import enum
from collections import Counter
from collections.abc import Callable, Container, Iterable
from typing import Protocol

from speaker.wire.arp import parse_arp
from speaker.wire.filters import Filter, build_arp_filter, build_ns_filter
from speaker.wire.ndp import parse_ns
from speaker.wire.replies import DropReason, IPAddress, Reply, Request, decide


class Counters(Protocol):
    """What the responder reports; called from the responder's thread only."""

    def request_received(self, ip: IPAddress) -> None:
        """A valid request for `ip`, owned on the receiving interface (`requests_received`)."""

    def response_sent(self, ip: IPAddress) -> None:
        """A reply for `ip` was handed to the kernel (`responses_sent`)."""

    def gratuitous_sent(self, ip: IPAddress) -> None:
        """One announcement frame for `ip` was sent (`gratuitous_sent`: +2 per ARP round)."""

    def dropped(self, reason: DropReason) -> None:
        """A frame got no reply, for `reason`."""


class Tally:
    """`Counters` as plain `collections.Counter` attributes; readers in other threads may lag."""

    def __init__(self) -> None:
        self.requests_received: Counter[IPAddress] = Counter()
        self.responses_sent: Counter[IPAddress] = Counter()
        self.gratuitous: Counter[IPAddress] = Counter()
        self.drops: Counter[DropReason] = Counter()

    def request_received(self, ip: IPAddress) -> None:
        """Count a request received."""
        self.requests_received[ip] += 1

    def response_sent(self, ip: IPAddress) -> None:
        """Count a response sent."""
        self.responses_sent[ip] += 1

    def gratuitous_sent(self, ip: IPAddress) -> None:
        """Count an announcement frame."""
        self.gratuitous[ip] += 1

    def dropped(self, reason: DropReason) -> None:
        """Count a drop."""
        self.drops[reason] += 1


class Family(enum.Enum):
    """A responder socket's protocol: what it binds to, parses and filters."""

    ARP = 0x0806  # ETH_P_ARP
    NDP = 0x86DD  # ETH_P_IPV6: NS are ICMPv6, so the socket takes IPv6 and BPF narrows it

    @property
    def ethertype(self) -> int:
        """The EtherType the socket binds to."""
        return self.value

    @property
    def parse(self) -> Callable[[bytes | bytearray | memoryview], Request | DropReason]:
        """The codec for this family's requests."""
        return parse_arp if self is Family.ARP else parse_ns

    def build_filter(self, owned: Iterable[IPAddress]) -> Filter:
        """The kernel filter admitting only requests for `owned` (other families ignored)."""
        return build_arp_filter(owned) if self is Family.ARP else build_ns_filter(owned)


def answer(
    frame: bytes | bytearray | memoryview,
    family: Family,
    owned: Container[IPAddress],
    mac: bytes,
    counters: Counters,
) -> Reply | None:
    """The reply to send for `frame` received on an interface with `mac`, or None.

    `owned` is the set of IPs announced on the receiving interface.
    """
    parsed = family.parse(frame)
    if isinstance(parsed, DropReason):
        counters.dropped(parsed)
        return None
    outcome = decide(parsed, owned, mac)
    if isinstance(outcome, DropReason):
        counters.dropped(outcome)
        return None
    counters.request_received(outcome.ip)
    return outcome
