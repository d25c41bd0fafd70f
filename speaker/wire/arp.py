"""Pure. No I/O. ARP over Ethernet (RFC 826): parse requests, build replies and gratuitous frames.

The per-frame path is hand-written: one `struct` unpack to parse, and a reply made by joining the
request's fields around a per-MAC template (arp-responder.md §0, design (c)). scapy dissects a frame
in ~330 µs and builds a reply in ~815 µs (§2.2). The template and the gratuitous frames are packed
here too, with `struct`: importing scapy's layers alone would cost the speaker ~40 MB of RSS
(docs/footprint.md); tests prove the bytes identical to scapy's builds.

VLAN: frames with an 802.1Q/802.1ad tag *in the data* are dropped (`VLAN_TAGGED`), not unwrapped.
Linux strips the tag into packet metadata when VLAN offload is on, and delivers untagged frames on
a VLAN sub-interface (eth0.100), which is where a VIP on that VLAN is announced. A tag left in the
data means a VLAN this node has no interface for, and a reply would need re-tagging to be of use.
The BPF filter (`speaker.wire.filters`) reads fixed offsets, so it agrees: tagged frames never
get here.
"""

import functools
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address

from speaker.wire.replies import DropReason

ETHERTYPE_ARP = 0x0806
# 802.1Q C-tag and 802.1ad S-tag TPIDs (IEEE 802.1Q-2018 §9.5).
VLAN_TPIDS = frozenset({0x8100, 0x88A8})
ARP_FRAME_LENGTH = 42  # 14 Ethernet + 28 ARP for Ethernet/IPv4; longer frames carry padding
BROADCAST_MAC = b"\xff" * 6
ZERO_MAC = bytes(6)
_ANY = IPv4Address(0)  # an RFC 5227 probe's sender IP

_OP_REQUEST = 1
_OP_REPLY = 2
_ETHERNET_HEADER = 14
# htype 1 (Ethernet), ptype 0x0800 (IPv4): RFC 826 "ar$hrd"/"ar$pro".
_ETHERNET_IPV4 = b"\x00\x01\x08\x00"
# hlen 6, plen 4: the only sizes a (Ethernet, IPv4) pair may have.
_LENGTHS = b"\x06\x04"
# dst, src, EtherType | htype+ptype, hlen+plen, op | sha, spa, tha, tpa
_FRAME = struct.Struct("!6s6sH4s2sH6s4s6s4s")
# The ARP header every frame we send starts with: Ethernet/IPv4, 6/4 (RFC 826).
_HEADER = _ETHERNET_IPV4 + _LENGTHS
_ETHERTYPE_BYTES = ETHERTYPE_ARP.to_bytes(2, "big")
_OP_REQUEST_BYTES = _OP_REQUEST.to_bytes(2, "big")
_OP_REPLY_BYTES = _OP_REPLY.to_bytes(2, "big")


@dataclass(frozen=True, slots=True, kw_only=True)
class ArpRequest:
    """An ARP request (opcode 1) for Ethernet/IPv4, as received.

    MACs are 6-byte `bytes`: they are only ever compared and copied into frames.
    `sender_ip` is 0.0.0.0 for an RFC 5227 probe.
    """

    destination_mac: bytes
    source_mac: bytes
    sender_mac: bytes
    sender_ip: IPv4Address
    target_ip: IPv4Address

    @property
    def is_probe(self) -> bool:
        """True for an RFC 5227 §2.1.1 ARP probe (sender IP all zeros)."""
        return self.sender_ip == _ANY

    def build_reply(self, our_mac: bytes) -> bytes:
        """The reply frame, for `speaker.wire.replies.decide`."""
        return build_arp_reply(self, our_mac)


# One early return per check, each naming its DropReason: the shape a "why" parser has.
def parse_arp(frame: bytes | bytearray | memoryview) -> ArpRequest | DropReason:  # noqa: PLR0911
    """Parse an Ethernet frame as an ARP request, or say why it is not one.

    Never raises: a malformed or foreign frame is a DropReason. Bytes after the 42 of the ARP
    packet are Ethernet padding (frames are at least 60 bytes on the wire) and are ignored.
    A gratuitous ARP (sender IP == target IP) is an announcement, not a question: the kernel does
    not answer it either (arp-responder.md §5.3), so it is dropped as ANNOUNCEMENT.
    """
    if len(frame) < _ETHERNET_HEADER:
        return DropReason.TOO_SHORT
    ethertype = frame[12] << 8 | frame[13]
    if ethertype != ETHERTYPE_ARP:
        return DropReason.VLAN_TAGGED if ethertype in VLAN_TPIDS else DropReason.NOT_ARP
    if len(frame) < ARP_FRAME_LENGTH:
        return DropReason.TOO_SHORT
    destination, source, _, hardware, lengths, op, sha, spa, _, tpa = _FRAME.unpack_from(frame)
    if hardware != _ETHERNET_IPV4 or lengths != _LENGTHS:
        return DropReason.BAD_HARDWARE
    if op != _OP_REQUEST:
        return DropReason.NOT_REQUEST
    if source[0] & 1 or sha[0] & 1:
        # A group address is never a valid sender (IEEE 802-2014 §8.2); answering would unicast
        # our reply to a multicast group, i.e. reflect it to every listener.
        return DropReason.BAD_SOURCE
    if spa == tpa:
        return DropReason.ANNOUNCEMENT
    return ArpRequest(
        destination_mac=destination,
        source_mac=source,
        sender_mac=sha,
        sender_ip=IPv4Address(spa),
        target_ip=IPv4Address(tpa),
    )


def build_arp_reply(request: ArpRequest, our_mac: bytes) -> bytes:
    """Build the is-at reply: `request.target_ip` is at `our_mac`.

    As the kernel does (RFC 826 "Packet Reception"; arp-responder.md §5.3), the reply is unicast to
    the requester's sender MAC, with target = the requester's sender MAC and IP. A probe's sender
    IP 0.0.0.0 is copied as is, which is what RFC 5227 §2.1.1 expects to see.
    The frame is 42 bytes, like the kernel's own ARP replies: the driver pads it to 60 on the wire.
    """
    mac = request.sender_mac
    return b"".join(
        (mac, _reply_template(our_mac), request.target_ip.packed, mac, request.sender_ip.packed)
    )


@functools.lru_cache(maxsize=64)
def _reply_template(our_mac: bytes) -> bytes:
    """Bytes 6..28 of a reply from `our_mac`: source MAC, EtherType, ARP header, op 2, sender MAC.

    Everything else in a reply varies per request, so a reply is dst + this + spa + tha + tpa.
    One entry per interface MAC; the cache bound only matters if MACs churn.
    """
    return b"".join((our_mac, _ETHERTYPE_BYTES, _HEADER, _OP_REPLY_BYTES, our_mac))


def build_gratuitous_arp(ip: IPv4Address, mac: bytes) -> tuple[bytes, bytes]:
    """Build the two frames that announce `ip` is at `mac`: (request form, reply form).

    Both go to Ethernet broadcast with sender IP = target IP = `ip` (RFC 5227 §2.3 "Announcing an
    Address"; §3 explains why the request form is the one to rely on).
    * Request form: opcode 1, target MAC all zeros. This is the one that matters: Linux updates
      an existing entry from it even inside `locktime`, and Junos learns only from requests
      (arp-responder.md §0 "Announcement format", §3.3, §3.4). Send it first.
    * Reply form: opcode 2 with target MAC = `mac` (= sender MAC). Linux's `arp_is_garp()` treats a
      reply as gratuitous only when tha == sha (§3.3); MetalLB's tha = ff:ff:ff:ff:ff:ff reply is
      handled as an ordinary unsolicited reply and ignored within locktime: 5/5 takeovers
      black-holed in §3.2. So we do not send that form.
    """
    head = b"".join((BROADCAST_MAC, mac, _ETHERTYPE_BYTES, _HEADER))
    spa = ip.packed
    request = b"".join((head, _OP_REQUEST_BYTES, mac, spa, ZERO_MAC, spa))
    reply = b"".join((head, _OP_REPLY_BYTES, mac, spa, mac, spa))
    return request, reply
