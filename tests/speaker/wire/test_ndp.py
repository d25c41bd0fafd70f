from ipaddress import IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet import UDP
from scapy.layers.inet6 import (
    ICMPv6EchoRequest,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6NDOptDstLLAddr,
    IPv6,
    IPv6ExtHdrHopByHop,
)
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from speaker.wire.ndp import (
    NeighborSolicitation,
    build_na,
    build_unsolicited_na,
    multicast_mac,
    parse_ns,
    solicited_node_group,
)
from speaker.wire.replies import DropReason, parse_mac
from tests.speaker.strategies import ipv6_unicast, mutations, unicast_mac_texts
from tests.support import frames

OUR_MAC = parse_mac(frames.OUR_MAC)
CLIENT_MAC = parse_mac(frames.CLIENT_MAC)
VIP6_GROUP = frames.solicited_node(frames.VIP6)
NONCE_OPTION = b"\x0e\x01" + bytes.fromhex("a1a2a3a4a5a6")  # RFC 7527 §4.1 Nonce option
UNSPECIFIED = IPv6Address("::")


def solicitation(**overrides: object) -> NeighborSolicitation:
    fields: dict[str, object] = {
        "destination_mac": parse_mac(frames.multicast_mac(VIP6_GROUP)),
        "source_mac": CLIENT_MAC,
        "source_ip": frames.CLIENT_IP6,
        "destination_ip": VIP6_GROUP,
        "target_ip": frames.VIP6,
        "source_link_address": CLIENT_MAC,
    }
    return NeighborSolicitation(**(fields | overrides))  # type: ignore[arg-type]  # table overrides


def checksum_is_correct(packet, layer) -> bool:
    sent = packet[layer].cksum
    del packet[layer].cksum
    return bool(Ether(bytes(packet))[layer].cksum == sent)


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        pytest.param(frames.neighbor_solicitation(), solicitation(), id="multicast with SLLA"),
        pytest.param(
            frames.neighbor_solicitation(destination_ip=frames.VIP6, link_address=None),
            solicitation(
                destination_mac=OUR_MAC, destination_ip=frames.VIP6, source_link_address=None
            ),
            id="unicast NUD probe without SLLA",
        ),
        pytest.param(
            frames.neighbor_solicitation(source_ip=UNSPECIFIED),
            solicitation(source_ip=UNSPECIFIED, source_link_address=None),
            id="DAD probe",
        ),
        pytest.param(
            frames.neighbor_solicitation(source_ip=UNSPECIFIED, options=NONCE_OPTION),
            solicitation(source_ip=UNSPECIFIED, source_link_address=None),
            id="DAD probe with a nonce option",
        ),
        pytest.param(
            frames.neighbor_solicitation(options=NONCE_OPTION),
            solicitation(),
            id="unknown option skipped",
        ),
        pytest.param(
            frames.neighbor_solicitation(options=b"\x01\x01" + parse_mac(frames.OTHER_NODE_MAC)),
            solicitation(),
            id="repeated SLLA: the first wins",
        ),
        pytest.param(
            frames.neighbor_solicitation(padding=30), solicitation(), id="Ethernet padding"
        ),
    ],
)
def test_parses_a_valid_solicitation_into_its_fields(frame, expected):
    assert parse_ns(frame) == expected


def raw_icmpv6(message: bytes) -> bytes:
    return frames.ipv6_frame(Raw(message), next_header=58)


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        pytest.param(b"", DropReason.TOO_SHORT, id="empty"),
        pytest.param(frames.neighbor_solicitation()[:40], DropReason.TOO_SHORT, id="cut in IPv6"),
        pytest.param(
            frames.neighbor_solicitation()[:-4], DropReason.TOO_SHORT, id="shorter than plen"
        ),
        pytest.param(frames.neighbor_solicitation(vlan=7), DropReason.VLAN_TAGGED, id="802.1Q"),
        pytest.param(frames.arp_request(), DropReason.NOT_IPV6, id="ARP frame"),
        pytest.param(
            frames.neighbor_solicitation()[:14] + b"\x40" + frames.neighbor_solicitation()[15:],
            DropReason.NOT_IPV6,
            id="version 4 in an IPv6 EtherType",
        ),
        pytest.param(frames.ipv6_frame(UDP()), DropReason.NOT_ICMPV6, id="UDP"),
        pytest.param(
            frames.ipv6_frame(IPv6ExtHdrHopByHop() / ICMPv6ND_NS(tgt=str(frames.VIP6))),
            DropReason.NOT_ICMPV6,
            id="NS behind a hop-by-hop header",
        ),
        pytest.param(
            frames.ipv6_frame(ICMPv6ND_NA(tgt=str(frames.VIP6))), DropReason.NOT_NS, id="NA"
        ),
        pytest.param(frames.ipv6_frame(ICMPv6EchoRequest()), DropReason.NOT_NS, id="echo"),
        pytest.param(raw_icmpv6(b""), DropReason.TOO_SHORT, id="empty ICMPv6"),
        pytest.param(
            raw_icmpv6(b"\x87\x00\x00\x00" + bytes(16)), DropReason.BAD_LENGTH, id="20 octets"
        ),
        pytest.param(frames.neighbor_solicitation(code=1), DropReason.BAD_CODE, id="code 1"),
        pytest.param(
            frames.neighbor_solicitation(hop_limit=64),
            DropReason.BAD_HOP_LIMIT,
            id="routed (hop limit 64)",
        ),
        pytest.param(
            frames.neighbor_solicitation(checksum=0x1234),
            DropReason.BAD_CHECKSUM,
            id="wrong checksum",
        ),
        pytest.param(
            frames.neighbor_solicitation()[:-1] + b"\x0c",
            DropReason.BAD_CHECKSUM,
            id="corrupted SLLA",
        ),
        pytest.param(
            frames.neighbor_solicitation(target_ip=IPv6Address("ff02::1")),
            DropReason.BAD_TARGET,
            id="multicast target",
        ),
        pytest.param(
            frames.neighbor_solicitation(source_ip=IPv6Address("ff02::2")),
            DropReason.BAD_SOURCE,
            id="multicast source address",
        ),
        pytest.param(
            frames.neighbor_solicitation(source_mac="01:00:5e:00:00:01", link_address=None),
            DropReason.BAD_SOURCE,
            id="multicast source MAC",
        ),
        pytest.param(
            frames.neighbor_solicitation(options=b"\x0e\x00" + bytes(6)),
            DropReason.BAD_OPTION,
            id="zero-length option",
        ),
        pytest.param(
            frames.neighbor_solicitation(options=b"\x0e\x02" + bytes(6)),
            DropReason.BAD_OPTION,
            id="option longer than the message",
        ),
        pytest.param(
            frames.neighbor_solicitation(options=b"\x0e"),
            DropReason.BAD_OPTION,
            id="one stray octet (odd length, checksum still verified)",
        ),
        pytest.param(
            frames.neighbor_solicitation(link_address=None, options=b"\x01\x02" + bytes(14)),
            DropReason.BAD_OPTION,
            id="SLLA of two units",
        ),
        pytest.param(
            frames.neighbor_solicitation(link_address="33:33:00:00:00:01"),
            DropReason.BAD_OPTION,
            id="multicast SLLA",
        ),
        pytest.param(
            frames.neighbor_solicitation(source_ip=UNSPECIFIED, link_address=frames.CLIENT_MAC),
            DropReason.BAD_OPTION,
            id="DAD probe with SLLA",
        ),
        pytest.param(
            frames.neighbor_solicitation(source_ip=UNSPECIFIED, destination_ip=frames.VIP6),
            DropReason.BAD_DESTINATION,
            id="DAD probe not to a solicited-node group",
        ),
    ],
)
def test_drops_what_rfc_4861_says_to_discard(frame, reason):
    assert parse_ns(frame) == reason


def test_accepts_bytearray_and_memoryview_as_a_receive_buffer_gives_them():
    buffer = bytearray(frames.neighbor_solicitation(padding=100))
    assert parse_ns(buffer) == solicitation()
    assert parse_ns(memoryview(buffer)) == solicitation()


def test_recognises_a_dad_probe_and_its_sender():
    assert solicitation(source_ip=UNSPECIFIED, source_link_address=None).is_dad
    assert not solicitation().is_dad
    assert solicitation().sender_mac == CLIENT_MAC
    assert solicitation(source_mac=OUR_MAC, source_link_address=None).sender_mac == OUR_MAC


def advertisement(frame: bytes):
    packet = Ether(frame)
    assert checksum_is_correct(Ether(frame), ICMPv6ND_NA)
    ipv6, na = packet[IPv6], packet[ICMPv6ND_NA]
    assert (ipv6.nh, ipv6.hlim, ipv6.plen, len(frame)) == (58, 255, 32, 86)
    assert (packet.src, na.R, na.O, na.code) == (frames.OUR_MAC, 0, 1, 0)
    assert packet[ICMPv6NDOptDstLLAddr].lladdr == frames.OUR_MAC
    return packet, ipv6, na


def test_answers_a_multicast_solicitation_at_its_slla_with_solicited_set():
    packet, ipv6, na = advertisement(build_na(solicitation(source_mac=OUR_MAC), OUR_MAC))
    assert (packet.dst, ipv6.src, ipv6.dst) == (frames.CLIENT_MAC, str(frames.VIP6), "2001:db8::1")
    assert (na.S, na.tgt) == (1, str(frames.VIP6))


def test_answers_a_unicast_neighbour_unreachability_probe_at_its_ethernet_source():
    probe = parse_ns(frames.neighbor_solicitation(destination_ip=frames.VIP6, link_address=None))
    assert isinstance(probe, NeighborSolicitation)
    packet, ipv6, na = advertisement(build_na(probe, OUR_MAC))
    assert (packet.dst, ipv6.dst, na.S) == (frames.CLIENT_MAC, str(frames.CLIENT_IP6), 1)


def test_answers_a_dad_probe_to_all_nodes_without_solicited_per_rfc_4861_7_2_4():
    probe = solicitation(source_ip=UNSPECIFIED, source_link_address=None)
    packet, ipv6, na = advertisement(build_na(probe, OUR_MAC))
    assert (packet.dst, ipv6.dst, na.S) == ("33:33:00:00:00:01", "ff02::1", 0)


def test_announces_takeover_with_an_unsolicited_override_to_all_nodes():
    packet, ipv6, na = advertisement(build_unsolicited_na(frames.VIP6, OUR_MAC))
    assert (packet.dst, ipv6.src, ipv6.dst) == ("33:33:00:00:00:01", str(frames.VIP6), "ff02::1")
    assert (na.S, na.tgt) == (0, str(frames.VIP6))


@pytest.mark.parametrize(
    ("ip", "group", "mac"),
    [
        pytest.param("2001:db8::10", "ff02::1:ff00:10", "33:33:ff:00:00:10", id="low bits"),
        pytest.param(
            "2001:db8::abcd:ef12:3456", "ff02::1:ff12:3456", "33:33:ff:12:34:56", id="24 bits"
        ),
        pytest.param("fe80::1", "ff02::1:ff00:1", "33:33:ff:00:00:01", id="link-local"),
    ],
)
def test_maps_an_address_to_its_solicited_node_group_and_mac(ip, group, mac):
    assert solicited_node_group(IPv6Address(ip)) == IPv6Address(group)
    assert multicast_mac(IPv6Address(group)) == parse_mac(mac)


@given(
    source_mac=unicast_mac_texts,
    source_ip=ipv6_unicast,
    target_ip=ipv6_unicast,
    link_address=st.none() | unicast_mac_texts,
    unicast=st.booleans(),
)
def test_parse_is_the_inverse_of_building_a_solicitation(
    source_mac, source_ip, target_ip, link_address, unicast
):
    destination = target_ip if unicast else frames.solicited_node(target_ip)
    frame = frames.neighbor_solicitation(
        source_mac=source_mac,
        source_ip=source_ip,
        target_ip=target_ip,
        destination_ip=destination,
        link_address=link_address,
    )
    assert parse_ns(frame) == NeighborSolicitation(
        destination_mac=OUR_MAC if unicast else parse_mac(frames.multicast_mac(destination)),
        source_mac=parse_mac(source_mac),
        source_ip=source_ip,
        destination_ip=destination,
        target_ip=target_ip,
        source_link_address=None if link_address is None else parse_mac(link_address),
    )


@given(source_ip=ipv6_unicast, target_ip=ipv6_unicast, our_mac=unicast_mac_texts)
def test_advertisements_for_any_addresses_carry_a_correct_checksum(source_ip, target_ip, our_mac):
    asked = solicitation(source_ip=source_ip, target_ip=target_ip)
    packet = Ether(build_na(asked, parse_mac(our_mac)))
    assert checksum_is_correct(packet.copy(), ICMPv6ND_NA)
    assert IPv6Address(packet[IPv6].dst) == source_ip
    assert IPv6Address(packet[ICMPv6ND_NA].tgt) == target_ip
    assert packet[ICMPv6NDOptDstLLAddr].lladdr == our_mac


@given(ip=ipv6_unicast, mac=unicast_mac_texts)
def test_unsolicited_advertisements_for_any_address_carry_a_correct_checksum(ip, mac):
    packet = Ether(build_unsolicited_na(ip, parse_mac(mac)))
    assert checksum_is_correct(packet.copy(), ICMPv6ND_NA)
    assert (packet.src, IPv6Address(packet[ICMPv6ND_NA].tgt)) == (mac, ip)


@given(st.binary(max_size=160))
def test_never_raises_on_random_bytes(frame):
    assert isinstance(parse_ns(frame), NeighborSolicitation | DropReason)


@given(st.binary(min_size=0, max_size=120))
def test_never_raises_on_random_ipv6_payloads(tail):
    frame = frames.neighbor_solicitation()[:54] + tail
    assert isinstance(parse_ns(frame), NeighborSolicitation | DropReason)


VALID = (
    frames.neighbor_solicitation(),
    frames.neighbor_solicitation(source_ip=UNSPECIFIED, options=NONCE_OPTION),
    frames.neighbor_solicitation(destination_ip=frames.VIP6, link_address=None),
)


@given(mutations(st.sampled_from(VALID)))
def test_never_raises_on_mutated_solicitations(frame):
    assert isinstance(parse_ns(frame), NeighborSolicitation | DropReason)


@given(mutations(st.sampled_from(VALID)))
def test_accepts_a_mutated_frame_only_if_its_checksum_still_verifies(frame):
    parsed = parse_ns(frame)
    if isinstance(parsed, NeighborSolicitation):
        assert checksum_is_correct(Ether(frame), ICMPv6ND_NS)


def scapy_na(
    *,
    source_ip: IPv6Address | str,
    destination_ip: IPv6Address | str,
    destination_mac: str,
    solicited: bool,
    our_mac: str,
) -> bytes:
    """The NA scapy builds, length and checksum computed by scapy itself."""
    return bytes(
        Ether(dst=destination_mac, src=our_mac)
        / IPv6(src=str(source_ip), dst=str(destination_ip), hlim=255)
        / ICMPv6ND_NA(R=0, S=int(solicited), O=1, tgt=str(source_ip))
        / ICMPv6NDOptDstLLAddr(lladdr=our_mac)
    )


@given(source_ip=ipv6_unicast, target_ip=ipv6_unicast, our_mac=unicast_mac_texts)
def test_advertisement_is_byte_for_byte_what_scapy_builds(source_ip, target_ip, our_mac):
    """The speaker packs frames by hand (no scapy import, docs/footprint.md): scapy agrees."""
    asked = solicitation(source_ip=source_ip, target_ip=target_ip)
    assert build_na(asked, parse_mac(our_mac)) == scapy_na(
        source_ip=target_ip,
        destination_ip=source_ip,
        destination_mac=asked.sender_mac.hex(":"),
        solicited=True,
        our_mac=our_mac,
    )


@given(ip=ipv6_unicast, mac=unicast_mac_texts)
def test_unsolicited_advertisement_is_byte_for_byte_what_scapy_builds(ip, mac):
    assert build_unsolicited_na(ip, parse_mac(mac)) == scapy_na(
        source_ip=ip,
        destination_ip="ff02::1",
        destination_mac="33:33:00:00:00:01",
        solicited=False,
        our_mac=mac,
    )
