from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import (
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6Unknown,
    IPv6,
    IPv6ExtHdrHopByHop,
    in6_chksum,
)
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Packet, Raw

from speaker.wire.claims import (
    Claim,
    ClaimKind,
    build_arp_probe,
    build_dad_probe,
    build_probe,
    parse_claim,
)
from speaker.wire.ndp import NeighborSolicitation, parse_ns
from speaker.wire.replies import parse_mac
from tests.speaker.strategies import ipv4_addresses, ipv6_unicast, mutations, unicast_mac_texts
from tests.support import frames

OUR_MAC = parse_mac(frames.OUR_MAC)
CLIENT_MAC = parse_mac(frames.CLIENT_MAC)
OTHER_MAC = parse_mac(frames.OTHER_NODE_MAC)
GROUP_MAC = "01:00:5e:00:00:01"
ANY4 = IPv4Address(0)
UNSPECIFIED = IPv6Address("::")
ALL_NODES = IPv6Address("ff02::1")
NONCE_OPTION = b"\x0e\x01" + bytes.fromhex("a1a2a3a4a5a6")  # RFC 7527 §4.1 Nonce option
nonzero_ipv4 = ipv4_addresses.filter(lambda ip: ip != ANY4)


def neighbor_advertisement(
    *,
    target_ip: IPv6Address = frames.VIP6,
    source_mac: str = frames.CLIENT_MAC,
    source_ip: IPv6Address | None = None,
    destination_ip: IPv6Address = ALL_NODES,
    link_address: object = frames.DEFAULT,
    hop_limit: int = 255,
    code: int = 0,
    solicited: bool = False,
    checksum: int | None = None,
    options: bytes = b"",
    vlan: int | None = None,
    padding: int = 0,
) -> bytes:
    """A Neighbor Advertisement frame, built by scapy.

    Defaults: an unsolicited NA for VIP6 from CLIENT to all-nodes, sent from the target itself,
    with a TLLA option carrying `source_mac`; `link_address=None` leaves the option out and a
    string sets it. `options` are raw bytes appended after it; `checksum` overrides scapy's.
    """
    if link_address is frames.DEFAULT:
        link_address = source_mac
    message: Packet = ICMPv6ND_NA(code=code, S=int(solicited), O=1, tgt=str(target_ip))
    if checksum is not None:
        message.cksum = checksum
    if link_address is not None:
        message = message / ICMPv6NDOptDstLLAddr(lladdr=str(link_address))
    if options:
        message = message / Raw(options)
    source = source_ip or target_ip
    ipv6 = IPv6(src=str(source), dst=str(destination_ip), hlim=hop_limit) / message
    destination_mac = frames.multicast_mac(destination_ip) if destination_ip.is_multicast else None
    return ethernet(destination_mac or frames.OUR_MAC, source_mac, ipv6, vlan) + bytes(padding)


def ethernet(destination: str, source: str, payload: Packet, vlan: int | None = None) -> bytes:
    ether = Ether(dst=destination, src=source)
    return bytes(ether / Dot1Q(vlan=vlan) / payload if vlan is not None else ether / payload)


def dad_probe(**overrides: object) -> bytes:
    return frames.neighbor_solicitation(source_ip=UNSPECIFIED, **overrides)  # type: ignore[arg-type]  # keyword overrides


# One frame per kind of claim, about VIP / VIP6 and from CLIENT_MAC: what the guard hears.
CLAIMS = {
    ClaimKind.ARP_REPLY: frames.arp_request(
        op=2,
        sender_ip=frames.VIP,
        target_ip=ANY4,
        destination_mac=frames.OUR_MAC,
        target_mac=frames.OUR_MAC,
    ),
    ClaimKind.ARP_ANNOUNCEMENT: frames.arp_request(sender_ip=frames.VIP, target_ip=frames.VIP),
    ClaimKind.ARP_SENDER: frames.arp_request(sender_ip=frames.VIP, target_ip=frames.CLIENT_IP),
    ClaimKind.ARP_PROBE: frames.arp_request(sender_ip=ANY4, target_ip=frames.VIP),
    ClaimKind.NEIGHBOR_ADVERTISEMENT: neighbor_advertisement(),
    ClaimKind.DAD_PROBE: dad_probe(),
}


def claim_of(kind: ClaimKind) -> Claim:
    ip = (
        frames.VIP6
        if kind in {ClaimKind.NEIGHBOR_ADVERTISEMENT, ClaimKind.DAD_PROBE}
        else frames.VIP
    )
    return Claim(ip, CLIENT_MAC, kind)


@pytest.mark.parametrize("kind", list(ClaimKind))
def test_every_kind_of_claim_parses_as_the_claim_it_makes(kind):
    assert parse_claim(CLAIMS[kind]) == claim_of(kind)


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        pytest.param(
            frames.arp_request(op=2, sender_ip=frames.VIP, target_ip=frames.CLIENT_IP),
            Claim(frames.VIP, CLIENT_MAC, ClaimKind.ARP_REPLY),
            id="a reply to a client",
        ),
        pytest.param(
            frames.arp_request(
                op=2, sender_ip=frames.VIP, target_ip=frames.VIP, target_mac=frames.CLIENT_MAC
            ),
            Claim(frames.VIP, CLIENT_MAC, ClaimKind.ARP_REPLY),
            id="a gratuitous reply is a reply",
        ),
        pytest.param(
            frames.arp_request(
                sender_ip=frames.VIP, target_ip=frames.CLIENT_IP, source_mac=frames.OTHER_NODE_MAC
            ),
            Claim(frames.VIP, CLIENT_MAC, ClaimKind.ARP_SENDER),
            id="the ARP sender MAC, not the Ethernet source",
        ),
        pytest.param(
            frames.arp_request(sender_ip=ANY4, target_ip=frames.VIP, padding=18),
            Claim(frames.VIP, CLIENT_MAC, ClaimKind.ARP_PROBE),
            id="a probe padded to 60 bytes",
        ),
        pytest.param(
            neighbor_advertisement(link_address=frames.OTHER_NODE_MAC),
            Claim(frames.VIP6, OTHER_MAC, ClaimKind.NEIGHBOR_ADVERTISEMENT),
            id="the TLLA option wins over the Ethernet source",
        ),
        pytest.param(
            neighbor_advertisement(link_address=None),
            Claim(frames.VIP6, CLIENT_MAC, ClaimKind.NEIGHBOR_ADVERTISEMENT),
            id="without a TLLA option, the Ethernet source",
        ),
        pytest.param(
            neighbor_advertisement(link_address=None, options=NONCE_OPTION),
            Claim(frames.VIP6, CLIENT_MAC, ClaimKind.NEIGHBOR_ADVERTISEMENT),
            id="an unknown option is skipped",
        ),
        pytest.param(
            neighbor_advertisement(
                link_address=None,
                options=NONCE_OPTION + b"\x02\x01" + OTHER_MAC,
            ),
            Claim(frames.VIP6, OTHER_MAC, ClaimKind.NEIGHBOR_ADVERTISEMENT),
            id="a TLLA option after an unknown one",
        ),
        pytest.param(
            neighbor_advertisement(options=b"\x02\x01" + OUR_MAC),
            Claim(frames.VIP6, CLIENT_MAC, ClaimKind.NEIGHBOR_ADVERTISEMENT),
            id="a repeated TLLA option: the first wins",
        ),
        pytest.param(
            neighbor_advertisement(
                solicited=True,
                destination_ip=frames.CLIENT_IP6,
                source_ip=frames.CLIENT_IP6 + 5,
            ),
            Claim(frames.VIP6, CLIENT_MAC, ClaimKind.NEIGHBOR_ADVERTISEMENT),
            id="a solicited NA to a client, from another of its addresses",
        ),
        pytest.param(
            neighbor_advertisement(padding=20),
            Claim(frames.VIP6, CLIENT_MAC, ClaimKind.NEIGHBOR_ADVERTISEMENT),
            id="an NA with Ethernet padding",
        ),
        pytest.param(
            dad_probe(options=NONCE_OPTION),
            Claim(frames.VIP6, CLIENT_MAC, ClaimKind.DAD_PROBE),
            id="a DAD probe with a nonce option",
        ),
    ],
)
def test_parses_the_ip_and_mac_each_claim_names(frame, expected):
    assert parse_claim(frame) == expected


@pytest.mark.parametrize(
    ("kind", "is_probe"),
    [
        pytest.param(ClaimKind.ARP_REPLY, False, id="reply"),
        pytest.param(ClaimKind.ARP_ANNOUNCEMENT, False, id="announcement"),
        pytest.param(ClaimKind.ARP_SENDER, False, id="sender"),
        pytest.param(ClaimKind.ARP_PROBE, True, id="ARP probe"),
        pytest.param(ClaimKind.NEIGHBOR_ADVERTISEMENT, False, id="NA"),
        pytest.param(ClaimKind.DAD_PROBE, True, id="DAD probe"),
    ],
)
def test_only_probes_are_questions_rather_than_assertions(kind, is_probe):
    assert kind.is_probe is is_probe


ARP_PROBE = CLAIMS[ClaimKind.ARP_PROBE]
NA = CLAIMS[ClaimKind.NEIGHBOR_ADVERTISEMENT]


def short_na() -> bytes:
    """An NA of 20 octets (RFC 4861 §7.1.2 wants 24) with a correct checksum."""
    message = ICMPv6Unknown(type=136, code=0, msgbody=bytes(4) + frames.VIP6.packed[:12])
    return ethernet("33:33:00:00:00:01", frames.CLIENT_MAC, IPv6(dst="ff02::1", hlim=255) / message)


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(b"", id="empty"),
        pytest.param(ARP_PROBE[:13], id="cut inside Ethernet"),
        pytest.param(ARP_PROBE[:41], id="ARP cut short"),
        pytest.param(
            frames.arp_request(sender_ip=ANY4, target_ip=ANY4), id="ARP from 0.0.0.0 for 0.0.0.0"
        ),
        pytest.param(
            frames.arp_request(op=2, sender_ip=ANY4, target_ip=frames.VIP),
            id="ARP reply from 0.0.0.0",
        ),
        pytest.param(frames.arp_request(op=3, sender_ip=frames.VIP), id="RARP request"),
        pytest.param(
            frames.arp_request(sender_ip=frames.VIP, source_mac=GROUP_MAC),
            id="ARP with a group-bit Ethernet source",
        ),
        pytest.param(
            frames.arp_request(
                sender_ip=frames.VIP, sender_mac=GROUP_MAC, source_mac=frames.CLIENT_MAC
            ),
            id="ARP with a group-bit sender MAC",
        ),
        pytest.param(
            frames.arp_request(op=2, sender_ip=frames.VIP, sender_mac=frames.BROADCAST),
            id="ARP reply from the broadcast MAC",
        ),
        pytest.param(ARP_PROBE[:14] + b"\x00\x06" + ARP_PROBE[16:], id="ARP for IEEE 802 hardware"),
        pytest.param(ARP_PROBE[:18] + b"\x08\x04" + ARP_PROBE[20:], id="ARP with hlen 8"),
        pytest.param(
            frames.arp_request(sender_ip=ANY4, target_ip=frames.VIP, vlan=100),
            id="VLAN-tagged ARP probe",
        ),
        pytest.param(neighbor_advertisement(vlan=100), id="VLAN-tagged NA"),
        pytest.param(dad_probe(vlan=100), id="VLAN-tagged DAD probe"),
        pytest.param(
            ethernet(frames.OUR_MAC, frames.CLIENT_MAC, IP(src=str(frames.VIP)) / UDP()),
            id="IPv4 from the address",
        ),
        pytest.param(
            ARP_PROBE[:12] + b"\x80\x35" + ARP_PROBE[14:],
            id="RARP EtherType",
        ),
        pytest.param(frames.neighbor_solicitation(), id="an NS from a client"),
        pytest.param(
            frames.neighbor_solicitation(destination_ip=frames.VIP6, link_address=None),
            id="a unicast NUD probe",
        ),
        pytest.param(
            frames.neighbor_solicitation(source_ip=frames.VIP6), id="an NS from the address"
        ),
        pytest.param(dad_probe(hop_limit=254), id="a routed DAD probe"),
        pytest.param(dad_probe(link_address=frames.CLIENT_MAC), id="a DAD probe with an SLLA"),
        pytest.param(
            dad_probe(destination_ip=frames.VIP6), id="a DAD probe not to a solicited-node group"
        ),
        pytest.param(dad_probe(checksum=0x1234), id="a DAD probe with a bad checksum"),
        pytest.param(neighbor_advertisement(hop_limit=254), id="an NA with hop limit 254"),
        pytest.param(neighbor_advertisement(hop_limit=64), id="a routed NA"),
        pytest.param(neighbor_advertisement(checksum=0x1234), id="an NA with a bad checksum"),
        pytest.param(NA[:-1] + bytes([NA[-1] ^ 1]), id="an NA with a corrupted TLLA"),
        pytest.param(neighbor_advertisement(code=1), id="an NA with code 1"),
        pytest.param(
            neighbor_advertisement(target_ip=ALL_NODES, source_ip=frames.VIP6),
            id="an NA for a multicast target",
        ),
        pytest.param(
            neighbor_advertisement(source_mac=GROUP_MAC, link_address=frames.CLIENT_MAC),
            id="an NA from a group-bit Ethernet source",
        ),
        pytest.param(
            neighbor_advertisement(link_address="33:33:00:00:00:01"), id="a group-bit TLLA"
        ),
        pytest.param(
            neighbor_advertisement(options=b"\x0e\x00" + bytes(6)), id="a zero-length option"
        ),
        pytest.param(
            neighbor_advertisement(options=b"\x0e\x02" + bytes(6)),
            id="an option longer than the message",
        ),
        pytest.param(neighbor_advertisement(options=b"\x0e"), id="one stray octet of options"),
        pytest.param(
            neighbor_advertisement(link_address=None, options=b"\x02\x02" + OTHER_MAC + bytes(8)),
            id="a TLLA of two units (RFC 2464 §6: one on Ethernet)",
        ),
        pytest.param(NA[:-8], id="an NA shorter than its payload length"),
        pytest.param(NA[:61], id="an NA cut before its target"),
        pytest.param(short_na(), id="an NA of 20 octets"),
        pytest.param(NA[:14] + b"\x40" + NA[15:], id="version 4 in an IPv6 EtherType"),
        pytest.param(
            frames.ipv6_frame(IPv6ExtHdrHopByHop() / ICMPv6ND_NA(tgt=str(frames.VIP6))),
            id="an NA behind a hop-by-hop header",
        ),
    ],
)
def test_frames_that_claim_nothing_parse_as_none(frame):
    assert parse_claim(frame) is None


def test_the_20_octet_na_above_fails_only_for_its_length():
    ipv6 = Ether(short_na())[IPv6]
    assert (ipv6.plen, ipv6.nh, ipv6.hlim) == (20, 58, 255)
    # A correct checksum makes the sum zero. scapy leaves in6_chksum unannotated.
    assert in6_chksum(58, ipv6, bytes(ipv6.payload)) == 0  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("kind", list(ClaimKind))
def test_every_claim_cut_short_claims_nothing(kind):
    frame = CLAIMS[kind]
    assert [n for n in range(len(frame)) if parse_claim(frame[:n]) is not None] == []


@pytest.mark.parametrize("kind", list(ClaimKind))
def test_accepts_bytearray_and_memoryview_as_a_receive_buffer_gives_them(kind):
    buffer = bytearray(CLAIMS[kind] + bytes(100))
    assert parse_claim(buffer) == claim_of(kind)
    assert parse_claim(memoryview(buffer)) == claim_of(kind)


# ------------------------------------------------------------------ the probes


def test_the_arp_probe_is_who_has_ip_tell_0_0_0_0_from_our_mac_to_broadcast():
    frame = build_arp_probe(frames.VIP, OUR_MAC)
    packet = Ether(frame)
    assert len(frame) == 42
    assert (packet.dst, packet.src, packet.type) == (frames.BROADCAST, frames.OUR_MAC, 0x0806)
    arp = packet[ARP]
    assert arp.sprintf("%ARP.op%") == "who-has"
    assert (arp.hwtype, arp.ptype, arp.hwlen, arp.plen) == (1, 0x0800, 6, 4)
    assert (arp.hwsrc, arp.psrc) == (frames.OUR_MAC, str(ANY4))
    assert (arp.hwdst, arp.pdst) == (frames.ZERO_MAC, str(frames.VIP))


def test_the_dad_probe_is_an_ns_from_unspecified_to_the_solicited_node_group():
    frame = build_dad_probe(frames.VIP6, OUR_MAC)
    packet = Ether(frame)
    group = frames.solicited_node(frames.VIP6)
    assert (packet.dst, packet.src, packet.type) == (
        frames.multicast_mac(group),
        frames.OUR_MAC,
        0x86DD,
    )
    assert packet.dst == "33:33:ff:00:00:10"
    ipv6 = packet[IPv6]
    assert (ipv6.src, ipv6.dst) == ("::", str(group))
    assert (ipv6.nh, ipv6.hlim, ipv6.plen, len(frame)) == (58, 255, 24, 78)
    ns = packet[ICMPv6ND_NS]
    assert (ns.code, ns.res, ns.tgt) == (0, 0, str(frames.VIP6))
    assert not ns.payload  # no options: RFC 4861 §7.1.1 forbids an SLLA on a DAD probe


def scapy_checksum(frame: bytes) -> int:
    packet = Ether(frame)
    del packet[ICMPv6ND_NS].cksum
    return int(Ether(bytes(packet))[ICMPv6ND_NS].cksum)


@given(ip=ipv6_unicast, mac=unicast_mac_texts)
def test_the_dad_probe_for_any_address_carries_the_checksum_scapy_computes(ip, mac):
    frame = build_dad_probe(ip, parse_mac(mac))
    assert Ether(frame)[ICMPv6ND_NS].cksum == scapy_checksum(frame)


@given(ip=nonzero_ipv4, mac=unicast_mac_texts)
def test_an_arp_probe_parses_back_as_a_probe_for_its_ip(ip, mac):
    assert parse_claim(build_arp_probe(ip, parse_mac(mac))) == Claim(
        ip, parse_mac(mac), ClaimKind.ARP_PROBE
    )


@given(ip=ipv6_unicast, mac=unicast_mac_texts)
def test_a_dad_probe_parses_back_as_a_probe_for_its_ip(ip, mac):
    assert parse_claim(build_dad_probe(ip, parse_mac(mac))) == Claim(
        ip, parse_mac(mac), ClaimKind.DAD_PROBE
    )


@given(ip=ipv6_unicast, mac=unicast_mac_texts)
def test_a_dad_probe_is_a_valid_dad_solicitation_for_the_responder_too(ip, mac):
    group = frames.solicited_node(ip)
    assert parse_ns(build_dad_probe(ip, parse_mac(mac))) == NeighborSolicitation(
        destination_mac=parse_mac(frames.multicast_mac(group)),
        source_mac=parse_mac(mac),
        source_ip=UNSPECIFIED,
        destination_ip=group,
        target_ip=ip,
        source_link_address=None,
    )


def test_build_probe_picks_the_family_of_the_address():
    assert build_probe(frames.VIP, OUR_MAC) == build_arp_probe(frames.VIP, OUR_MAC)
    assert build_probe(frames.VIP6, OUR_MAC) == build_dad_probe(frames.VIP6, OUR_MAC)


# ------------------------------------------------------------------ generated claims


@st.composite
def arp_claims(draw: st.DrawFn) -> tuple[bytes, Claim]:
    """A scapy-built ARP claim of any kind, and the claim it makes."""
    kind = draw(st.sampled_from([k for k in ClaimKind if k.name.startswith("ARP")]))
    ip, other = draw(nonzero_ipv4), draw(ipv4_addresses)
    sender_mac = draw(unicast_mac_texts)
    source_mac = draw(st.sampled_from((sender_mac, frames.OTHER_NODE_MAC)))
    fields = {
        ClaimKind.ARP_REPLY: {"op": 2, "sender_ip": ip, "target_ip": other},
        ClaimKind.ARP_ANNOUNCEMENT: {"sender_ip": ip, "target_ip": ip},
        ClaimKind.ARP_SENDER: {"sender_ip": ip, "target_ip": draw(nonzero_ipv4.filter(ip.__ne__))},
        ClaimKind.ARP_PROBE: {"sender_ip": ANY4, "target_ip": ip},
    }[kind]
    frame = frames.arp_request(
        sender_mac=sender_mac,
        source_mac=source_mac,
        target_mac=draw(st.sampled_from((frames.ZERO_MAC, frames.OUR_MAC))),
        destination_mac=draw(st.sampled_from((frames.BROADCAST, frames.OUR_MAC))),
        padding=draw(st.sampled_from((0, 18))),
        **fields,  # type: ignore[arg-type]  # a table of keyword arguments
    )
    return frame, Claim(ip, parse_mac(sender_mac), kind)


@st.composite
def ndp_claims(draw: st.DrawFn) -> tuple[bytes, Claim]:
    """A scapy-built NA or DAD probe for any address, and the claim it makes."""
    ip, source_mac = draw(ipv6_unicast), draw(unicast_mac_texts)
    if draw(st.booleans()):
        return (
            frames.neighbor_solicitation(
                source_mac=source_mac, source_ip=UNSPECIFIED, target_ip=ip
            ),
            Claim(ip, parse_mac(source_mac), ClaimKind.DAD_PROBE),
        )
    link_address = draw(st.none() | unicast_mac_texts)
    frame = neighbor_advertisement(
        target_ip=ip,
        source_mac=source_mac,
        source_ip=draw(st.none() | ipv6_unicast),
        link_address=link_address,
        solicited=draw(st.booleans()),
    )
    return frame, Claim(ip, parse_mac(link_address or source_mac), ClaimKind.NEIGHBOR_ADVERTISEMENT)


@given(arp_claims() | ndp_claims())
def test_parse_names_the_ip_mac_and_kind_of_any_scapy_built_claim(built):
    frame, claim = built
    assert parse_claim(frame) == claim


# ------------------------------------------------------------------ fuzz

VALID = (
    *CLAIMS.values(),
    neighbor_advertisement(link_address=None, options=NONCE_OPTION),
    dad_probe(options=NONCE_OPTION),
    frames.arp_request(padding=18),
)


@given(st.binary(max_size=128))
def test_never_raises_on_random_bytes(frame):
    assert parse_claim(frame) is None or isinstance(parse_claim(frame), Claim)


@given(st.sampled_from(VALID), st.binary(max_size=96))
def test_never_raises_on_random_bytes_after_a_valid_header(frame, tail):
    for cut in (14, 42, 54, 62):
        parse_claim(frame[:cut] + tail)


@given(st.sampled_from(VALID), st.data())
def test_never_raises_on_truncations(frame, data):
    parse_claim(frame[: data.draw(st.integers(min_value=0, max_value=len(frame)))])


def has_tlla(frame: bytes, mac: bytes) -> bool:
    """Whether some 8-octet-aligned option of the message is a one-unit TLLA carrying `mac`."""
    end = 54 + int.from_bytes(frame[18:20], "big")
    return any(
        frame[offset : offset + 2] == b"\x02\x01" and frame[offset + 2 : offset + 8] == mac
        for offset in range(78, end - 7, 8)
    )


def assert_claim_is_the_frames(frame: bytes, claim: Claim) -> None:
    """The claim's IP, MAC and kind are read from where the frame carries them."""
    ethertype, source = frame[12:14], frame[6:12]
    assert not source[0] & 1
    if ethertype == b"\x08\x06":
        op, sender_mac, sender_ip, target_ip = (
            frame[20:22],
            frame[22:28],
            frame[28:32],
            frame[38:42],
        )
        assert claim.mac == sender_mac
        assert frame[14:20] == b"\x00\x01\x08\x00\x06\x04"
        if claim.kind is ClaimKind.ARP_PROBE:
            assert (op, sender_ip, claim.ip.packed) == (b"\x00\x01", bytes(4), target_ip)
            return
        assert claim.ip.packed == sender_ip != bytes(4)
        expected = {
            b"\x00\x02": ClaimKind.ARP_REPLY,
            b"\x00\x01": ClaimKind.ARP_ANNOUNCEMENT
            if sender_ip == target_ip
            else ClaimKind.ARP_SENDER,
        }
        assert claim.kind is expected[op]
        return
    assert ethertype == b"\x86\xdd"
    assert (frame[20], frame[21]) == (58, 255)
    assert claim.ip.packed == frame[62:78]
    if claim.kind is ClaimKind.DAD_PROBE:
        assert (frame[54], frame[22:38], claim.mac) == (135, bytes(16), source)
        return
    assert claim.kind is ClaimKind.NEIGHBOR_ADVERTISEMENT
    assert frame[54] == 136
    assert claim.mac == source or has_tlla(frame, claim.mac)


@given(mutations(st.sampled_from(VALID)))
def test_a_claim_from_a_mutated_frame_names_the_ip_and_mac_at_the_frames_fields(frame):
    claim = parse_claim(frame)
    if claim is not None:
        assert_claim_is_the_frames(frame, claim)


@given(mutations(st.sampled_from(VALID)))
def test_an_na_or_dad_claim_from_a_mutated_frame_still_has_a_correct_checksum(frame):
    claim = parse_claim(frame)
    if claim is not None and frame[12:14] == b"\x86\xdd":
        packet = Ether(frame)
        layer = ICMPv6ND_NS if claim.kind is ClaimKind.DAD_PROBE else ICMPv6ND_NA
        sent = packet[layer].cksum
        del packet[layer].cksum
        assert Ether(bytes(packet))[layer].cksum == sent
