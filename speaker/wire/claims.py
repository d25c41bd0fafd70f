"""Pure. No I/O. What other hosts say about an address, and the probes that ask them.

A *claim* is a frame in which some MAC says an address is its own, or is about to be: an ARP
packet with the address as sender IP (a reply, a gratuitous ARP, a host simply using it), an
ARP probe for it (RFC 5227 §2.1.1: another host checking before it takes it), a Neighbor
Advertisement for it, or a DAD Neighbor Solicitation for it (RFC 4862 §5.4.2). RFC 5227 §2.1.1
and §2.4 call each of these a conflict for a host probing or holding the address;
`speaker.lan` decides what each means for us. `parse_claim` never raises: frames come from
anyone on the LAN.

The probes are the questions: an ARP probe (`who-has ip tell 0.0.0.0`, sender MAC ours, target
MAC zero) and a DAD NS (source `::`, to the address's solicited-node group, no options).
"""

import enum
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from speaker.wire.arp import BROADCAST_MAC, ETHERTYPE_ARP, ZERO_MAC
from speaker.wire.ndp import (
    ETHERTYPE_IPV6,
    NS_TYPE,
    icmpv6_checksum,
    icmpv6_checksum_verifies,
    multicast_mac,
    parse_ns,
    solicited_node_group,
)
from speaker.wire.replies import DropReason, IPAddress

NA_TYPE = 136
OPTION_TLLA = 2  # RFC 4861 §4.6.1, Target Link-Layer Address
_ETHERNET_IPV4 = b"\x00\x01\x08\x00\x06\x04"  # htype, ptype, hlen, plen (RFC 826)
_ARP_REQUEST, _ARP_REPLY = 1, 2
# dst, src, EtherType | htype..plen, op | sha, spa, tha, tpa
_ARP = struct.Struct("!6s6sH6sH6s4s6s4s")
_ANY4 = bytes(4)
_IPV6_HEADER = struct.Struct("!6s6sHLHBB16s16s")
_NEXT_HEADER_ICMPV6 = 58
_HOP_LIMIT = 255
_ICMP_START = 54
_TARGET_START = 62
_OPTIONS_START = 78
_NA_LENGTH = 24  # RFC 4861 §7.1.2: an NA is at least 24 octets


class ClaimKind(enum.StrEnum):
    """How a frame claims an address; values are metric labels (add, never rename)."""

    ARP_REPLY = "arp_reply"  # opcode 2 with the address as sender IP
    ARP_ANNOUNCEMENT = "arp_announcement"  # a gratuitous request: sender IP == target IP
    ARP_SENDER = "arp_sender"  # a request from the address: a host using it
    ARP_PROBE = "arp_probe"  # sender IP 0.0.0.0, target the address: a host about to take it
    NEIGHBOR_ADVERTISEMENT = "neighbor_advertisement"
    DAD_PROBE = "dad_probe"  # an NS from :: for the address

    @property
    def is_probe(self) -> bool:
        """A question, not an assertion: the asker does not hold the address yet."""
        return self in {ClaimKind.ARP_PROBE, ClaimKind.DAD_PROBE}


@dataclass(frozen=True, slots=True)
class Claim:
    """`mac` says `ip` is, or is about to be, its own."""

    ip: IPAddress
    mac: bytes
    kind: ClaimKind


@dataclass(frozen=True, slots=True)
class Heard:
    """A claim that arrived on `interface` at monotonic time `at`."""

    claim: Claim
    interface: str
    at: float


def parse_claim(frame: bytes | bytearray | memoryview) -> Claim | None:
    """The claim a frame makes, or None when it makes none (or is malformed)."""
    if len(frame) < 14:  # noqa: PLR2004 - the Ethernet header
        return None
    ethertype = frame[12] << 8 | frame[13]
    if ethertype == ETHERTYPE_ARP:
        return _arp_claim(frame)
    if ethertype == ETHERTYPE_IPV6:
        return _ndp_claim(frame)
    return None


def _arp_claim(frame: bytes | bytearray | memoryview) -> Claim | None:
    if len(frame) < _ARP.size:
        return None
    _, source, _, hardware, op, sha, spa, _, tpa = _ARP.unpack_from(frame)
    if hardware != _ETHERNET_IPV4 or source[0] & 1 or sha[0] & 1:
        return None
    if op == _ARP_REPLY and spa != _ANY4:
        return Claim(IPv4Address(spa), sha, ClaimKind.ARP_REPLY)
    if op != _ARP_REQUEST:
        return None
    if spa == _ANY4:
        return None if tpa == _ANY4 else Claim(IPv4Address(tpa), sha, ClaimKind.ARP_PROBE)
    kind = ClaimKind.ARP_ANNOUNCEMENT if spa == tpa else ClaimKind.ARP_SENDER
    return Claim(IPv4Address(spa), sha, kind)


def _ndp_claim(frame: bytes | bytearray | memoryview) -> Claim | None:
    if len(frame) < _ICMP_START + 1:
        return None
    if frame[_ICMP_START] == NS_TYPE:
        ns = parse_ns(frame)
        if isinstance(ns, DropReason) or not ns.is_dad:
            return None
        return Claim(ns.target_ip, ns.source_mac, ClaimKind.DAD_PROBE)
    return _advertisement_claim(frame)


def _advertisement_claim(frame: bytes | bytearray | memoryview) -> Claim | None:
    """A Neighbor Advertisement valid by RFC 4861 §7.1.2, as its target's claim."""
    if len(frame) < _TARGET_START:
        return None
    _, source_mac, _, version, length, next_header, hop_limit, _, _ = _IPV6_HEADER.unpack_from(
        frame
    )
    end = _ICMP_START + length
    if (
        version >> 28 != 6  # noqa: PLR2004 - the IP version
        or next_header != _NEXT_HEADER_ICMPV6
        or hop_limit != _HOP_LIMIT
        or length < _NA_LENGTH
        or end > len(frame)
        or frame[_ICMP_START] != NA_TYPE
        or frame[_ICMP_START + 1] != 0
        or source_mac[0] & 1
        or not icmpv6_checksum_verifies(frame, length)
    ):
        return None
    target = bytes(frame[_TARGET_START:_OPTIONS_START])
    if target[0] == 0xFF:  # noqa: PLR2004 - a multicast target is invalid
        return None
    mac = _target_link_address(frame, end)
    return (
        None if isinstance(mac, DropReason) else Claim(IPv6Address(target), mac or source_mac, _NA)
    )


_NA = ClaimKind.NEIGHBOR_ADVERTISEMENT


def _target_link_address(
    frame: bytes | bytearray | memoryview, end: int
) -> bytes | DropReason | None:
    """The first TLLA option's MAC, None if absent, BAD_OPTION if any option is malformed.

    Every option is checked, not only those before the TLLA (RFC 4861 §7.1.2: all included
    options have a length greater than zero). On Ethernet a TLLA is one unit (RFC 2464 §6); a
    repeated TLLA is ignored after the first, as for the SLLA in `speaker.wire.ndp`.
    """
    found: bytes | None = None
    offset = _OPTIONS_START
    while offset < end:
        if end - offset < 2:  # noqa: PLR2004 - an option's type and length octets
            return DropReason.BAD_OPTION
        kind, units = frame[offset], frame[offset + 1]
        if units == 0 or offset + units * 8 > end:
            return DropReason.BAD_OPTION
        if kind == OPTION_TLLA and found is None:
            found = bytes(frame[offset + 2 : offset + 8])
            if units != 1 or found[0] & 1:
                return DropReason.BAD_OPTION
        offset += units * 8
    return found


def build_arp_probe(ip: IPv4Address, mac: bytes) -> bytes:
    """`who-has ip tell 0.0.0.0` from `mac`, to broadcast (RFC 5227 §2.1.1)."""
    return _ARP.pack(
        BROADCAST_MAC, mac, ETHERTYPE_ARP, _ETHERNET_IPV4, _ARP_REQUEST, mac, _ANY4, ZERO_MAC,
        ip.packed,
    )  # fmt: skip


def build_dad_probe(ip: IPv6Address, mac: bytes) -> bytes:
    """A DAD Neighbor Solicitation for `ip` from `mac` (RFC 4862 §5.4.2): source ::, no options."""
    group = solicited_node_group(ip)
    message = bytearray(struct.pack("!BBHI16s", NS_TYPE, 0, 0, 0, ip.packed))
    source = bytes(16)
    checksum = icmpv6_checksum(source, group.packed, bytes(message))
    message[2:4] = checksum.to_bytes(2, "big")
    header = _IPV6_HEADER.pack(
        multicast_mac(group), mac, ETHERTYPE_IPV6, 6 << 28, len(message),
        _NEXT_HEADER_ICMPV6, _HOP_LIMIT, source, group.packed,
    )  # fmt: skip
    return header + bytes(message)


def build_probe(ip: IPAddress, mac: bytes) -> bytes:
    """The probe for `ip` in its family."""
    if isinstance(ip, IPv6Address):
        return build_dad_probe(ip, mac)
    return build_arp_probe(ip, mac)
