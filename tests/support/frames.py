"""Scapy-built ARP requests and Neighbor Solicitations, as bytes, for codec and filter tests.

Each builder takes the fields a test cares about as keywords, defaulting to a well-formed request
from CLIENT for VIP. Addresses are documentation values only: MACs from 00:00:5e:00:53:00/24
(RFC 7042 §2.1.2), IPs from 192.0.2.0/24 and 2001:db8::/32.
"""

from ipaddress import IPv4Address, IPv6Address

from scapy.layers.inet6 import ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr, IPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Packet, Raw

OUR_MAC = "00:00:5e:00:53:01"
OTHER_NODE_MAC = "00:00:5e:00:53:02"
CLIENT_MAC = "00:00:5e:00:53:0a"
BROADCAST = "ff:ff:ff:ff:ff:ff"
ZERO_MAC = "00:00:00:00:00:00"
CLIENT_IP = IPv4Address("192.0.2.1")
VIP = IPv4Address("192.0.2.10")
OTHER_VIP = IPv4Address("192.0.2.11")
CLIENT_IP6 = IPv6Address("2001:db8::1")
VIP6 = IPv6Address("2001:db8::10")
OTHER_VIP6 = IPv6Address("2001:db8::11")
DEFAULT = object()  # "use the builder's default", where None means "leave it out"


def arp_request(
    *,
    sender_mac: str = CLIENT_MAC,
    sender_ip: IPv4Address = CLIENT_IP,
    target_ip: IPv4Address = VIP,
    destination_mac: str = BROADCAST,
    source_mac: str | None = None,
    target_mac: str = ZERO_MAC,
    op: int = 1,
    vlan: int | None = None,
    padding: int = 0,
) -> bytes:
    """An ARP frame; `source_mac` defaults to `sender_mac`, `padding` appends zero bytes."""
    arp = ARP(op=op, hwsrc=sender_mac, psrc=str(sender_ip), hwdst=target_mac, pdst=str(target_ip))
    return _ethernet(destination_mac, source_mac or sender_mac, arp, vlan) + bytes(padding)


def solicited_node(ip: IPv6Address) -> IPv6Address:
    """ff02::1:ffXX:XXXX for `ip`, computed independently of speaker.wire.ndp (RFC 4291 §2.7.1)."""
    return IPv6Address("ff02::1:ff00:0") + (int(ip) & 0xFFFFFF)


def multicast_mac(group: IPv6Address) -> str:
    """33:33 + the group's low 32 bits (RFC 2464 §7), as text."""
    return "33:33:" + group.packed[12:].hex(":")


def neighbor_solicitation(
    *,
    source_mac: str = CLIENT_MAC,
    source_ip: IPv6Address = CLIENT_IP6,
    target_ip: IPv6Address = VIP6,
    destination_ip: IPv6Address | None = None,
    destination_mac: str | None = None,
    link_address: object = DEFAULT,
    hop_limit: int = 255,
    code: int = 0,
    checksum: int | None = None,
    options: bytes = b"",
    vlan: int | None = None,
    padding: int = 0,
) -> bytes:
    """A Neighbor Solicitation frame.

    Defaults: sent to the target's solicited-node group (and its MAC), with an SLLA option carrying
    `source_mac` unless the source is :: (DAD). `link_address=None` leaves the option out; a string
    sets it. `options` are raw bytes appended after it; `checksum` overrides scapy's.
    """
    destination = destination_ip or solicited_node(target_ip)
    if destination_mac is None:
        destination_mac = multicast_mac(destination) if destination.is_multicast else OUR_MAC
    if link_address is DEFAULT:
        link_address = None if source_ip.is_unspecified else source_mac
    message: Packet = ICMPv6ND_NS(code=code, tgt=str(target_ip))
    if checksum is not None:
        message.cksum = checksum
    if link_address is not None:
        message = message / ICMPv6NDOptSrcLLAddr(lladdr=str(link_address))
    if options:
        message = message / Raw(options)
    ipv6 = IPv6(src=str(source_ip), dst=str(destination), hlim=hop_limit) / message
    return _ethernet(destination_mac, source_mac, ipv6, vlan) + bytes(padding)


def ipv6_frame(payload: Packet, *, next_header: int | None = None) -> bytes:
    """Any IPv6 payload (an NA, an echo request, an extension header chain) to VIP6 from CLIENT.

    scapy picks the next header from the payload's type; set it for a Raw payload.
    """
    header = IPv6(src=str(CLIENT_IP6), dst=str(VIP6), hlim=255)
    if next_header is not None:
        header.nh = next_header
    ipv6 = header / payload
    return _ethernet(OUR_MAC, CLIENT_MAC, ipv6, None)


def _ethernet(destination: str, source: str, payload: Packet, vlan: int | None) -> bytes:
    ether = Ether(dst=destination, src=source)
    if vlan is not None:
        return bytes(ether / Dot1Q(vlan=vlan) / payload)
    return bytes(ether / payload)
