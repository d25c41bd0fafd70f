"""Pure. No I/O, no clock. When to repeat takeover announcements, and the frames that announce.

Schedule (metallb-compat.md §4.8, `spamLoop`): an IP gained is announced at once, then every
1.1 s while less than 5 s have passed since the last trigger, i.e. at t = 0, 1.1, 2.2, 3.3, 4.4 s.
Repeats cover lost frames and peers whose entry was refreshed within their ARP `locktime`
(arp-responder.md §3.2, §5.5). A trigger for an IP already in a burst only extends its deadline,
as MetalLB does; a lost IP is forgotten, since nothing is sent for an address we no longer hold.
Each IP keeps its own phase (MetalLB shares one ticker): simpler, and the first send is never late.
The worker decides who owns what; this holds the burst's constants and only times the sends.

Frames: IPv4 sends the request form first (spa = tpa = IP, tha = 0; what Linux and Junos act on),
then the reply form with tha = our MAC (arp-responder.md §3.3, `speaker.wire.arp`); IPv6 sends one
unsolicited NA with Override to ff02::1. One ARP pair is built per MAC; each IP is patched in,
so a takeover of many IPs stays well within the 10 ms budget.
"""

import functools
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from speaker.wire.arp import build_gratuitous_arp
from speaker.wire.ndp import build_unsolicited_na
from speaker.wire.replies import IPAddress

# Gratuitous burst after a takeover: at once, then every 1.1 s while under 5 s, as MetalLB's
# spamLoop (compat §4.8; 1.1 s chosen in MetalLB issue #172). The shell must put the first
# frames on the wire within TAKEOVER_DEADLINE of the decision: until then the LAN still sends
# to the old owner.
GRATUITOUS_INTERVAL = 1.1
GRATUITOUS_WINDOW = 5.0
TAKEOVER_DEADLINE = 0.010

_ARP_SPA = slice(28, 32)  # 14 Ethernet + 8 ARP header + 6 sha
_ARP_TPA = slice(38, 42)  # ... + 4 spa + 6 tha


@dataclass(frozen=True, slots=True, kw_only=True)
class Burst:
    """The next send time and the deadline of one IP's announcements (monotonic seconds)."""

    due: float
    deadline: float


class BurstSchedule:
    """The IPs being announced and when each is next due. Not thread-safe: one owner thread."""

    def __init__(
        self, interval: float = GRATUITOUS_INTERVAL, duration: float = GRATUITOUS_WINDOW
    ) -> None:
        self._interval = interval
        self._duration = duration
        self._bursts: dict[IPAddress, Burst] = {}

    def trigger(self, ip: IPAddress, now: float) -> None:
        """Announce `ip` now and for the next `duration` seconds; extend a burst in progress."""
        current = self._bursts.get(ip)
        due = now if current is None else current.due
        self._bursts[ip] = Burst(due=due, deadline=now + self._duration)

    def forget(self, ip: IPAddress) -> None:
        """Stop announcing `ip` (ownership lost); unknown IPs are ignored."""
        self._bursts.pop(ip, None)

    def take_due(self, now: float) -> list[IPAddress]:
        """The IPs to announce now, oldest first; advances each one or ends its burst."""
        due = [ip for ip, burst in self._bursts.items() if burst.due <= now]
        for ip in due:
            burst = self._bursts[ip]
            following = burst.due + self._interval
            if following < now:
                following = now + self._interval  # we were late (stalled): do not send a backlog
            if following >= burst.deadline:
                del self._bursts[ip]
            else:
                self._bursts[ip] = Burst(due=following, deadline=burst.deadline)
        return due

    def next_due(self) -> float | None:
        """When `take_due` next returns something, or None with nothing scheduled."""
        return min((burst.due for burst in self._bursts.values()), default=None)

    def __contains__(self, ip: object) -> bool:
        return ip in self._bursts


def build_announcements(ip: IPAddress, mac: bytes) -> tuple[bytes, ...]:
    """The frames of one announcement round for `ip` from `mac`, in sending order."""
    if isinstance(ip, IPv6Address):
        return (build_unsolicited_na(ip, mac),)
    request, reply = _arp_templates(mac)
    return _patched(request, ip), _patched(reply, ip)


@functools.lru_cache(maxsize=64)
def _arp_templates(mac: bytes) -> tuple[bytes, bytes]:
    """The gratuitous pair for 0.0.0.0 from `mac`: every byte but spa/tpa is per-MAC."""
    return build_gratuitous_arp(IPv4Address(0), mac)


def _patched(template: bytes, ip: IPv4Address) -> bytes:
    frame = bytearray(template)
    frame[_ARP_SPA] = frame[_ARP_TPA] = ip.packed
    return bytes(frame)


def gratuitous_schedule(
    interval: float = GRATUITOUS_INTERVAL, window: float = GRATUITOUS_WINDOW
) -> tuple[float, ...]:
    """Seconds after a takeover to send gratuitous ARP / unsolicited NA: 0, 1.1, … 4.4 (§4.8).

    Times are multiples of `interval`, not running sums, so float error never adds a round.
    A non-positive interval or window means one round, at once.
    """
    if interval <= 0 or window <= 0:
        return (0.0,)
    times = [0.0]
    while len(times) * interval < window:
        times.append(round(len(times) * interval, 9))
    return tuple(times)
