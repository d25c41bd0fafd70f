"""Addresses and address ranges: parsing `spec.addresses` entries, families, sizes, overlaps.

Pure. A range is two ends, never a list of its addresses: a /8 or an IPv6 /64 costs what a /32 does.
"""

import enum
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from metalpool.errors import Where

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

# MetalLB counts any IPv6 CIDR with 62 or more host bits as MaxInt64 addresses (compat §3.10).
HUGE_HOST_BITS = 62
MAX_INT64 = 2**63 - 1


class Family(enum.StrEnum):
    """An IP family, spelled as Kubernetes spells it in `spec.ipFamilies`."""

    IPV4 = "IPv4"
    IPV6 = "IPv6"

    @classmethod
    def of(cls, ip: IPAddress | IPNetwork) -> "Family":
        """The family of an address or network."""
        return cls.IPV4 if ip.version == 4 else cls.IPV6  # noqa: PLR2004 - IP version 4


def is_buggy(ip: IPAddress) -> bool:
    """An IPv4 address ending in .0 or .255, which some old clients mishandle (avoidBuggyIPs)."""
    return ip.version == 4 and int(ip) & 0xFF in (0, 255)  # noqa: PLR2004 - IP version 4


@dataclass(frozen=True, slots=True, order=True)
class AddressRange:
    """An inclusive range of addresses of one family, as written in a pool (CIDR or `a-b`)."""

    first: IPAddress
    last: IPAddress

    def __post_init__(self) -> None:
        if self.first.version != self.last.version or int(self.first) > int(self.last):
            raise ValueError(f"not a range: {self.first} - {self.last}")

    @property
    def family(self) -> Family:
        """The family of both ends."""
        return Family.of(self.first)

    @property
    def size(self) -> int:
        """How many addresses the range holds (pure arithmetic, nothing enumerated)."""
        return int(self.last) - int(self.first) + 1

    def __contains__(self, ip: object) -> bool:
        if not isinstance(ip, IPv4Address | IPv6Address) or ip.version != self.first.version:
            return False
        return int(self.first) <= int(ip) <= int(self.last)

    def intersection(self, other: "AddressRange") -> "AddressRange | None":
        """The addresses both ranges hold, if any."""
        if self.family is not other.family:
            return None
        lo, hi = max(int(self.first), int(other.first)), min(int(self.last), int(other.last))
        if lo > hi:
            return None
        return AddressRange(address_of(self.family, lo), address_of(self.family, hi))

    def networks(self) -> Iterator[IPNetwork]:
        """The minimal ascending CIDRs covering the range (at most 2 per host bit)."""
        return ipaddress.summarize_address_range(self.first, self.last)

    def __str__(self) -> str:
        nets = list(self.networks())
        return str(nets[0]) if len(nets) == 1 else f"{self.first}-{self.last}"


def address_of(family: Family, value: int) -> IPAddress:
    """The address of `family` whose integer value is `value`."""
    return IPv4Address(value) if family is Family.IPV4 else IPv6Address(value)


def parse_range(text: str, where: Where) -> AddressRange:
    """Parse one `spec.addresses` entry: a CIDR (`192.0.2.0/24`) or a range (`192.0.2.1-192.0.2.9`).

    As MetalLB does, host bits in a CIDR are dropped (`192.0.2.7/24` is `192.0.2.0/24`) and spaces
    around a range's ends are ignored. Unlike MetalLB, a range mixing IPv4 and IPv6 is an error
    rather than an empty pool.
    """
    if not isinstance(text, str):
        raise where.error(f"{text!r} is not a string")
    if "-" in text:
        return _parse_dash_range(text, where)
    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise where.error(f'"{text}" is not an IP network or range') from None
    if "/" not in text:
        raise where.error(f'"{text}" is not an IP network or range (write {net} for one address)')
    return AddressRange(net.network_address, net.broadcast_address)


def _parse_dash_range(text: str, where: Where) -> AddressRange:
    parts = text.split("-")
    if len(parts) != 2:  # noqa: PLR2004 - a start and an end
        raise where.error(f'"{text}" is not an IP network or range')
    ends: list[IPAddress] = []
    for label, part in zip(("start", "end"), parts, strict=True):
        try:
            ends.append(ipaddress.ip_address(part.strip()))
        except ValueError:
            raise where.error(f'"{text}" has an invalid {label} IP "{part.strip()}"') from None
    first, last = ends
    if first.version != last.version:
        raise where.error(f'"{text}" mixes IPv4 and IPv6')
    if int(first) > int(last):
        raise where.error(f'"{text}" starts after it ends ({first} > {last})')
    return AddressRange(first, last)


def parse_ip(text: object, where: Where) -> IPAddress:
    """Parse one IP address written by a user or another program."""
    if not isinstance(text, str):
        raise where.error(f"{text!r} is not an IP address")
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        raise where.error(f'"{text}" is not an IP address') from None


def count_buggy(first: int, last: int) -> int:
    """How many integers in [first, last] end in byte 0x00 or 0xFF (IPv4 .0 and .255 addresses)."""

    def upto(n: int, residue: int) -> int:  # how many x in [0, n] have x % 256 == residue
        return 0 if n < residue else (n - residue) // 256 + 1

    return sum(upto(last, r) - upto(first - 1, r) for r in (0, 255))
