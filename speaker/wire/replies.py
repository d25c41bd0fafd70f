"""Pure. No I/O. What the speaker does with a parsed ARP request or Neighbor Solicitation.

`decide` is the one place that says whether this node answers: only for an IP it owns on the
receiving interface, never for a frame it sent itself, never for a frame unicast to another host.
`DropReason` is shared by the codecs (`speaker.wire.arp`, `speaker.wire.ndp`) and by `decide`;
its values are Prometheus label values, so they are stable wire strings: add members, never
rename one.

This module sits *below* the codecs (they import `DropReason` from here), so `decide` sees requests
through the small `Request` protocol instead of importing the codec types.
"""

import enum
import re
from collections.abc import Container
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Protocol, TypeAlias

IPAddress: TypeAlias = IPv4Address | IPv6Address

MAC_LENGTH = 6
_MAC_TEXT = re.compile(r"[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}")


class DropReason(enum.StrEnum):
    """Why a received frame got no reply; the value is the `reason` label of the drop counter."""

    # Frame-level: anything the codecs refuse. RFC 826 (ARP), RFC 4861 §7.1.1 (NS validity).
    TOO_SHORT = "too_short"  # shorter than its headers say it must be
    VLAN_TAGGED = "vlan_tagged"  # an 802.1Q/802.1ad tag in the data: see speaker.wire.arp docstring
    NOT_ARP = "not_arp"  # EtherType is not 0x0806
    BAD_HARDWARE = "bad_hardware"  # ARP htype/ptype/hlen/plen are not Ethernet/IPv4 (1/0x0800/6/4)
    NOT_REQUEST = "not_request"  # ARP opcode other than 1 (replies, RARP, ...)
    ANNOUNCEMENT = "announcement"  # ARP sender IP == target IP: a gratuitous ARP asks nothing
    BAD_SOURCE = "bad_source"  # group-bit source MAC, multicast IPv6 source
    NOT_IPV6 = "not_ipv6"  # EtherType is not 0x86DD, or the version nibble is not 6
    NOT_ICMPV6 = "not_icmpv6"  # next header is not 58 (extension headers included)
    NOT_NS = "not_ns"  # ICMPv6 type other than 135
    BAD_CODE = "bad_code"  # ICMPv6 code is not 0
    BAD_LENGTH = "bad_length"  # ICMPv6 message shorter than 24 octets
    BAD_HOP_LIMIT = "bad_hop_limit"  # not 255: the NS was routed, so it is forged
    BAD_CHECKSUM = "bad_checksum"  # ICMPv6 checksum does not verify
    BAD_OPTION = "bad_option"  # zero-length/truncated option, bad SLLA, SLLA on a DAD probe
    BAD_TARGET = "bad_target"  # NS target is a multicast address
    BAD_DESTINATION = "bad_destination"  # DAD probe not sent to a solicited-node group
    # Decision-level: a well-formed request that is not ours to answer.
    FROM_OURSELVES = "from_ourselves"  # our own MAC as source or sender
    OTHER_HOST = "other_host"  # unicast to another MAC (promiscuous NIC, flooding bridge)
    NOT_OWNED = "not_owned"  # target is not an IP this node owns on this interface


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """A frame to send back on the receiving interface, and the IP it answers for (metric label)."""

    ip: IPAddress
    frame: bytes


class Request(Protocol):
    """What `decide` needs from a parsed request (`ArpRequest` or `NeighborSolicitation`)."""

    @property
    def destination_mac(self) -> bytes:
        """Ethernet destination of the received frame."""

    @property
    def source_mac(self) -> bytes:
        """Ethernet source of the received frame."""

    @property
    def sender_mac(self) -> bytes:
        """The link-layer address the requester claims (ARP sha, NS SLLA, else Ethernet source)."""

    @property
    def target_ip(self) -> IPAddress:
        """The address being resolved."""

    def build_reply(self, our_mac: bytes) -> bytes:
        """The answer frame, sent from `our_mac`."""


def decide(request: Request, owned: Container[IPAddress], iface_mac: bytes) -> Reply | DropReason:
    """Answer `request` if its target is in `owned`, else say why not.

    `owned` is the set (or a mapping keyed by IP) of addresses this node announces *on the
    receiving interface*: MetalLB answers only when the interface is in the IP's interface set
    (metallb-compat.md §4.6), so the caller passes the per-interface view.

    Probes are answered on purpose: an ARP probe (sender IP 0.0.0.0, RFC 5227 §2.1.1) and a DAD
    Neighbor Solicitation (source ::, RFC 4861 §7.2.4) both ask "is this address in use?", and for
    an owned VIP the truthful answer is yes. The kernel and MetalLB's ARP path do the same
    (arp-responder.md §5.3, metallb-compat.md §4.6); MetalLB's NDP path ignores DAD, we do not.
    """
    if iface_mac in (request.source_mac, request.sender_mac):
        # Looped back by a bridge or a second interface on the same segment.
        return DropReason.FROM_OURSELVES
    destination = request.destination_mac
    if destination != iface_mac and not destination[0] & 1:
        # The kernel drops PACKET_OTHERHOST before ARP/NDP see it; a raw socket does not,
        # so a promiscuous NIC would otherwise make us answer questions put to another host.
        return DropReason.OTHER_HOST
    target = request.target_ip
    if target not in owned:
        return DropReason.NOT_OWNED
    return Reply(ip=target, frame=request.build_reply(iface_mac))


def parse_mac(text: str) -> bytes:
    """Turn '02:00:5e:00:53:01' (colon or dash separated, two hex digits each) into 6 bytes.

    Raises ValueError for anything else, e.g. a sysfs address of a non-Ethernet interface.
    """
    if not _MAC_TEXT.fullmatch(text):
        raise ValueError(f"{text!r} is not an Ethernet MAC address")
    return bytes.fromhex(text.replace(":", "").replace("-", ""))


def format_mac(mac: bytes) -> str:
    """Turn 6 bytes into the lower-case colon form `ip link` (and scapy) use."""
    if len(mac) != MAC_LENGTH:
        raise ValueError(f"a MAC address has {MAC_LENGTH} bytes, not {len(mac)}")
    return mac.hex(":")
