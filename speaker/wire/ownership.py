"""Pure. No I/O. The owned-IP table: which IPs this node answers for, and on which interfaces.

An entry maps an IP to the interface names it may be announced on, or to None for "every chosen
interface" (an L2Advertisement without `interfaces`, metallb-compat.md §4.5). The table is
immutable, so the responder swaps it atomically; each interface gets its own view, which is
what both `speaker.wire.replies.decide` and the kernel filter of that interface's sockets use
(§4.6: answer only when the receiving interface is in the IP's set).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv6Address
from types import MappingProxyType

from speaker.wire.ndp import solicited_node_group
from speaker.wire.replies import IPAddress

Interfaces = frozenset[str] | None


@dataclass(frozen=True, slots=True)
class OwnedTable:
    """IP → allowed interface names (None = all); build with `OwnedTable.of`."""

    entries: Mapping[IPAddress, Interfaces] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def of(cls, ips: Mapping[IPAddress, Interfaces]) -> "OwnedTable":
        """A table holding a private, read-only copy of `ips`."""
        return cls(MappingProxyType(dict(ips)))

    def on(self, interface: str) -> frozenset[IPAddress]:
        """The IPs announced on `interface`."""
        return frozenset(
            ip for ip, names in self.entries.items() if names is None or interface in names
        )

    def is_allowed(self, ip: IPAddress, interface: str) -> bool:
        """True if `ip` is owned and may be announced on `interface`."""
        if ip not in self.entries:
            return False
        names = self.entries[ip]
        return names is None or interface in names

    def gained_since(self, previous: "OwnedTable") -> list[IPAddress]:
        """IPs new in this table, or whose interfaces changed: they need announcing, sorted."""
        old = previous.entries
        return sorted(
            (ip for ip, names in self.entries.items() if ip not in old or old[ip] != names),
            key=_sort_key,
        )

    def lost_since(self, previous: "OwnedTable") -> list[IPAddress]:
        """IPs owned before and not now, sorted."""
        return sorted((ip for ip in previous.entries if ip not in self.entries), key=_sort_key)


def solicited_groups(owned: frozenset[IPAddress]) -> frozenset[IPv6Address]:
    """The solicited-node groups a node answering for `owned` must listen to.

    RFC 4861 §7.2.1: a resolver sends its NS to the target's solicited-node group; RFC 4291
    §2.7.1 maps every address with the same low 24 bits to one group, so the set may be smaller.
    """
    return frozenset(solicited_node_group(ip) for ip in owned if isinstance(ip, IPv6Address))


def _sort_key(ip: IPAddress) -> tuple[int, int]:
    return ip.version, int(ip)
