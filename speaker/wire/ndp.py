"""Pure. No I/O. IPv6 Neighbor Discovery (RFC 4861): parse Solicitations, build Advertisements.

Like `speaker.wire.arp`, the per-frame path is hand-written: scapy takes ~290 µs to dissect an
NS and ~1.1 ms to build an NA (arp-responder.md §2.2). Each NA is a per-MAC template, packed
here with `struct` (scapy's layers would cost the speaker ~40 MB of RSS, docs/footprint.md; tests
prove the bytes identical to scapy's), plus the variable fields, with the checksum summed
incrementally (§4).

Checksums use one identity: 2**16 ≡ 1 (mod 0xFFFF), so end-around-carry addition of the 16-bit
words of an even-length byte string is `int.from_bytes(data) % 0xFFFF` up to 0 vs 0xFFFF (RFC 1071
§2 (C) and (D): sums may be taken in any width and folded later). That is one C-level pass
instead of a Python loop per word.

Both multicast NS (to the target's solicited-node group) and unicast NS (neighbour-unreachability
probes sent to the VIP itself, RFC 4861 §7.3.3) parse alike; MetalLB misses the unicast ones
(metallb-compat.md §4.7, issue #2920). Frames with a VLAN tag are dropped, as in `speaker.wire.arp`.
"""

import functools
import struct
from dataclasses import dataclass
from ipaddress import IPv6Address
from typing import Any

from speaker.wire.arp import VLAN_TPIDS
from speaker.wire.replies import DropReason

ETHERTYPE_IPV6 = 0x86DD
ALL_NODES = IPv6Address("ff02::1")
# ff02::1:ff00:0/104 (RFC 4291 §2.7.1): the group is this prefix + the low 24 bits of the address.
SOLICITED_NODE_PREFIX = IPv6Address("ff02::1:ff00:0")
NS_TYPE = 135
NA_TYPE = 136
# NA flag word (RFC 4861 §4.4): Router, Solicited, Override are its top three bits. We are no
# router, so R stays 0.
FLAG_SOLICITED = 0x4000_0000
FLAG_OVERRIDE = 0x2000_0000

_NEXT_HEADER_ICMPV6 = 58
_HOP_LIMIT = 255  # RFC 4861 §7.1.1: anything less means a router forwarded it
_OPTION_SLLA = 1  # RFC 4861 §4.6.1, Source Link-Layer Address
_OPTION_TLLA = 2  # RFC 4861 §4.6.1, Target Link-Layer Address
_IPV6_START = 14
_ICMP_START = 54  # 14 Ethernet + 40 IPv6, no extension headers
_TARGET_START = 62  # ICMP + type, code, checksum, reserved
_OPTIONS_START = 78
_NS_LENGTH = 24  # RFC 4861 §7.1.1: "ICMP length (derived from the IP length) is 24 or more octets"
_SOLICITED_NODE_BYTES = SOLICITED_NODE_PREFIX.packed[:13]
_UNSPECIFIED = bytes(16)
_MULTICAST = 0xFF  # first octet of ff00::/8 (RFC 4291 §2.7)
_IP_VERSION = 6
# Ethernet dst, src, EtherType | version+class+flow, payload length, next header, hop limit,
# source, destination
_HEADERS = struct.Struct("!6s6sHLHBB16s16s")


@dataclass(frozen=True, slots=True, kw_only=True)
class NeighborSolicitation:
    """A valid Neighbor Solicitation, as received (RFC 4861 §4.3).

    `source_ip` is :: for a Duplicate Address Detection probe (RFC 4862 §5.4.2), which never carries
    a source link-layer address option; otherwise `source_link_address` is that option's MAC if the
    solicitor sent one.
    """

    destination_mac: bytes
    source_mac: bytes
    source_ip: IPv6Address
    destination_ip: IPv6Address
    target_ip: IPv6Address
    source_link_address: bytes | None

    @property
    def is_dad(self) -> bool:
        """True for a DAD probe: the source is the unspecified address."""
        return self.source_ip.is_unspecified

    @property
    def sender_mac(self) -> bytes:
        """Where a unicast answer goes: the SLLA option if present, else the Ethernet source."""
        return self.source_link_address or self.source_mac

    def build_reply(self, our_mac: bytes) -> bytes:
        """The advertisement frame, for `speaker.wire.replies.decide`."""
        return build_na(self, our_mac)


# One early return per check, each naming its DropReason: the shape a "why" parser has.
def parse_ns(frame: bytes | bytearray | memoryview) -> NeighborSolicitation | DropReason:  # noqa: PLR0911
    """Parse an Ethernet frame as a valid Neighbor Solicitation, or say why it is not one.

    Never raises. Applies every receiver check of RFC 4861 §7.1.1, checksum included, since the
    kernel's BPF filter only looks at a few fields. Bytes after the IPv6 payload length are
    Ethernet padding and are ignored. Extension headers are not walked: an NS with one is dropped
    as NOT_ICMPV6 (the kernel filter cannot follow them either).
    """
    headers = _ipv6_headers(frame)
    if isinstance(headers, DropReason):
        return headers
    destination_mac, source_mac, _, _, length, _, hop_limit, source, destination = headers
    end = _ICMP_START + length
    problem = _message_problem(frame, length, hop_limit)
    if problem is not None:
        return problem
    target = bytes(frame[_TARGET_START:_OPTIONS_START])
    if target[0] == _MULTICAST:
        return DropReason.BAD_TARGET
    if source_mac[0] & 1 or source[0] == _MULTICAST:
        return DropReason.BAD_SOURCE
    link_address = _source_link_address(frame, end)
    if isinstance(link_address, DropReason):
        return link_address
    if source == _UNSPECIFIED:
        # RFC 4861 §7.1.1: a DAD probe goes to a solicited-node group and has no SLLA option.
        if link_address is not None:
            return DropReason.BAD_OPTION
        if destination[:13] != _SOLICITED_NODE_BYTES:
            return DropReason.BAD_DESTINATION
    return NeighborSolicitation(
        destination_mac=destination_mac,
        source_mac=source_mac,
        source_ip=IPv6Address(source),
        destination_ip=IPv6Address(destination),
        target_ip=IPv6Address(target),
        source_link_address=link_address,
    )


def _ipv6_headers(frame: bytes | bytearray | memoryview) -> tuple[Any, ...] | DropReason:
    """The Ethernet and IPv6 header fields (`_HEADERS`) of an IPv6/ICMPv6 frame, or why not."""
    size = len(frame)
    if size < _IPV6_START:
        return DropReason.TOO_SHORT
    ethertype = frame[12] << 8 | frame[13]
    if ethertype != ETHERTYPE_IPV6:
        return DropReason.VLAN_TAGGED if ethertype in VLAN_TPIDS else DropReason.NOT_IPV6
    if size < _ICMP_START:
        return DropReason.TOO_SHORT
    headers = _HEADERS.unpack_from(frame)
    if headers[3] >> 28 != _IP_VERSION:
        return DropReason.NOT_IPV6
    if headers[5] != _NEXT_HEADER_ICMPV6:
        return DropReason.NOT_ICMPV6
    return headers


# One early return per RFC 4861 §7.1.1 check, as above.
def _message_problem(  # noqa: PLR0911
    frame: bytes | bytearray | memoryview, length: int, hop_limit: int
) -> DropReason | None:
    """What is wrong with the ICMPv6 message as a Neighbor Solicitation, or None."""
    if length == 0 or _ICMP_START + length > len(frame):
        return DropReason.TOO_SHORT  # or truncated: the payload length promises more than arrived
    if frame[_ICMP_START] != NS_TYPE:
        return DropReason.NOT_NS
    if length < _NS_LENGTH:
        return DropReason.BAD_LENGTH
    if frame[_ICMP_START + 1] != 0:
        return DropReason.BAD_CODE
    if hop_limit != _HOP_LIMIT:
        return DropReason.BAD_HOP_LIMIT
    if not _checksum_verifies(frame, length, _ICMP_START + length):
        return DropReason.BAD_CHECKSUM
    return None


def _checksum_verifies(frame: bytes | bytearray | memoryview, length: int, end: int) -> bool:
    """True if the ICMPv6 checksum over the pseudo-header (RFC 8200 §8.1) and message verifies.

    A correct message sums, checksum included, to 0xFFFF, i.e. to 0 modulo 0xFFFF; the pseudo-header
    (with next header 58) is never all zeros, so the modulo cannot confuse 0 with 0xFFFF.
    """
    message = int.from_bytes(frame[_ICMP_START:end], "big")
    if length & 1:
        message <<= 8  # an odd trailing octet is summed as if padded with a zero (RFC 1071 §4.1)
    # bytes 22..54 are the IPv6 source and destination, the first part of the pseudo-header.
    total = int.from_bytes(frame[22:_ICMP_START], "big") + length + _NEXT_HEADER_ICMPV6 + message
    return total % 0xFFFF == 0


def icmpv6_checksum_verifies(frame: bytes | bytearray | memoryview, length: int) -> bool:
    """Whether the checksum of the ICMPv6 message of `length` octets after the headers verifies."""
    return _checksum_verifies(frame, length, _ICMP_START + length)


def icmpv6_checksum(source: bytes, destination: bytes, message: bytes) -> int:
    """The checksum of `message` (checksum field zero) between two addresses (RFC 8200 §8.1)."""
    padded = message + b"\0" if len(message) & 1 else message
    total = int.from_bytes(source + destination, "big") + len(message) + _NEXT_HEADER_ICMPV6
    total += int.from_bytes(padded, "big")
    return -total % 0xFFFF


def _source_link_address(
    frame: bytes | bytearray | memoryview, end: int
) -> bytes | DropReason | None:
    """The first Source Link-Layer Address option's MAC, None if absent, or BAD_OPTION.

    RFC 4861 §4.6: options are 8-octet units; a zero length must make the receiver discard the
    packet (it would also loop forever). Unknown options are skipped (§4.6 "silently ignore").
    On Ethernet an SLLA option is exactly one unit (RFC 2464 §6); the kernel drops other sizes.
    A repeated SLLA is ignored after the first, as the kernel's ndisc_parse_options does.
    """
    found: bytes | None = None
    offset = _OPTIONS_START
    while offset < end:
        if end - offset < 2:  # noqa: PLR2004 - an option starts with its type and length octets
            return DropReason.BAD_OPTION
        kind, units = frame[offset], frame[offset + 1]
        following = offset + units * 8
        if units == 0 or following > end:
            return DropReason.BAD_OPTION
        if kind == _OPTION_SLLA and found is None:
            if units != 1:
                return DropReason.BAD_OPTION
            found = bytes(frame[offset + 2 : offset + 8])
            if found[0] & 1:  # a group address cannot be a neighbour's link-layer address
                return DropReason.BAD_OPTION
        offset = following
    return found


def build_na(request: NeighborSolicitation, our_mac: bytes) -> bytes:
    """Build the Neighbor Advertisement answering `request` for `our_mac`.

    RFC 4861 §7.2.4: Solicited = 1 and unicast to the solicitor, at the SLLA option's MAC or else
    the Ethernet source; for a DAD probe (source ::) Solicited = 0 and multicast to ff02::1.
    Override = 1 so that a cache still holding the previous owner's MAC is corrected
    (arp-responder.md §4), Router = 0, and a Target Link-Layer Address option is always included.
    The source address is the target itself, as Linux's ndisc_send_na uses the solicited address
    when it owns it; this keeps the node's link-local address out of the pure layer.
    """
    if request.is_dad:
        return _advertisement(
            request.target_ip, ALL_NODES, multicast_mac(ALL_NODES), FLAG_OVERRIDE, our_mac
        )
    return _advertisement(
        request.target_ip,
        request.source_ip,
        request.sender_mac,
        FLAG_SOLICITED | FLAG_OVERRIDE,
        our_mac,
    )


def build_unsolicited_na(ip: IPv6Address, mac: bytes) -> bytes:
    """Build the takeover announcement: NA for `ip` at `mac` to all-nodes, S = 0, O = 1.

    RFC 4861 §7.2.6; O = 1 makes existing entries switch to `mac` (arp-responder.md §3.3: it
    works unless the client sets drop_unsolicited_na = 1).
    """
    return _advertisement(ip, ALL_NODES, multicast_mac(ALL_NODES), FLAG_OVERRIDE, mac)


def solicited_node_group(ip: IPv6Address) -> IPv6Address:
    """The solicited-node multicast group of `ip` (RFC 4291 §2.7.1), which resolvers ask."""
    return IPv6Address(int(SOLICITED_NODE_PREFIX) | int(ip) & 0xFF_FFFF)


def multicast_mac(group: IPv6Address) -> bytes:
    """The Ethernet address of an IPv6 multicast group: 33:33 + its low 32 bits (RFC 2464 §7)."""
    return b"\x33\x33" + group.packed[12:]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Template:
    """The parts of an NA from one MAC that do not depend on the request."""

    head: bytes  # Ethernet source + EtherType + IPv6 version..hop limit (frame bytes 6..22)
    type_code: bytes  # ICMPv6 type 136, code 0
    option: bytes  # Target Link-Layer Address option carrying the MAC
    partial_sum: int  # the checksum contribution of everything above plus the pseudo-header's


# Ethernet source, EtherType | version (6, traffic class and flow label 0), payload length,
# next header, hop limit: frame bytes 6..22 of every NA we send.
_NA_HEAD = struct.Struct("!6sHLHBB")
# NA header (type, code, checksum, flags, target: 24 octets) + one 8-octet TLLA option.
_NA_LENGTH = 24 + 8


@functools.lru_cache(maxsize=64)
def _template(our_mac: bytes) -> _Template:
    head = _NA_HEAD.pack(
        our_mac, ETHERTYPE_IPV6, _IP_VERSION << 28, _NA_LENGTH, _NEXT_HEADER_ICMPV6, _HOP_LIMIT
    )
    type_code = bytes((NA_TYPE, 0))
    option = bytes((_OPTION_TLLA, 1)) + our_mac  # length in 8-octet units (RFC 4861 §4.6)
    partial = _NA_LENGTH + _NEXT_HEADER_ICMPV6
    partial += int.from_bytes(type_code, "big") + int.from_bytes(option, "big")
    return _Template(head=head, type_code=type_code, option=option, partial_sum=partial)


def _advertisement(
    target: IPv6Address,
    destination: IPv6Address,
    destination_mac: bytes,
    flags: int,
    our_mac: bytes,
) -> bytes:
    """Patch the template: source = target, destination, flags, target, and the checksum."""
    template = _template(our_mac)
    # Source and target field are both the target, hence twice; flags are 32 aligned bits.
    total = template.partial_sum + 2 * int(target) + int(destination) + flags
    # The ones' complement of the folded sum; a sum of 0xFFFF gives 0, as Linux's csum_fold does.
    checksum = -total % 0xFFFF
    target_bytes = target.packed
    return b"".join(
        (
            destination_mac,
            template.head,
            target_bytes,
            destination.packed,
            template.type_code,
            checksum.to_bytes(2, "big"),
            flags.to_bytes(4, "big"),
            target_bytes,
            template.option,
        )
    )
