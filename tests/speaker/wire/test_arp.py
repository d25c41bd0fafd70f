from ipaddress import IPv4Address

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import ARP, Ether

from speaker.wire.arp import ArpRequest, build_arp_reply, build_gratuitous_arp, parse_arp
from speaker.wire.replies import DropReason, parse_mac
from tests.speaker.strategies import ipv4_addresses, mutations, unicast_mac_texts
from tests.support import frames

OUR_MAC = parse_mac(frames.OUR_MAC)
CLIENT_MAC = parse_mac(frames.CLIENT_MAC)


def request(**overrides: object) -> ArpRequest:
    fields: dict[str, object] = {
        "destination_mac": b"\xff" * 6,
        "source_mac": CLIENT_MAC,
        "sender_mac": CLIENT_MAC,
        "sender_ip": frames.CLIENT_IP,
        "target_ip": frames.VIP,
    }
    return ArpRequest(**(fields | overrides))  # type: ignore[arg-type]  # a test table's overrides


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        pytest.param(frames.arp_request(), request(), id="broadcast request"),
        pytest.param(
            frames.arp_request(destination_mac=frames.OUR_MAC),
            request(destination_mac=OUR_MAC),
            id="unicast request (RFC 1122 cache validation)",
        ),
        pytest.param(
            frames.arp_request(sender_ip=IPv4Address(0)),
            request(sender_ip=IPv4Address(0)),
            id="RFC 5227 probe",
        ),
        pytest.param(frames.arp_request(padding=18), request(), id="padded to 60 bytes"),
        pytest.param(
            frames.arp_request(source_mac=frames.OTHER_NODE_MAC),
            request(source_mac=parse_mac(frames.OTHER_NODE_MAC)),
            id="Ethernet source differs from sender (proxy)",
        ),
    ],
)
def test_parses_a_well_formed_request_into_its_fields(frame, expected):
    assert parse_arp(frame) == expected


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        pytest.param(b"", DropReason.TOO_SHORT, id="empty"),
        pytest.param(frames.arp_request()[:13], DropReason.TOO_SHORT, id="cut inside Ethernet"),
        pytest.param(frames.arp_request()[:41], DropReason.TOO_SHORT, id="cut inside ARP"),
        pytest.param(frames.arp_request(vlan=100), DropReason.VLAN_TAGGED, id="802.1Q tag"),
        pytest.param(
            bytes(Ether(dst=frames.OUR_MAC, src=frames.CLIENT_MAC) / IP() / UDP()),
            DropReason.NOT_ARP,
            id="IPv4 frame",
        ),
        pytest.param(
            frames.arp_request()[:14] + b"\x00\x06" + frames.arp_request()[16:],
            DropReason.BAD_HARDWARE,
            id="IEEE 802 hardware type",
        ),
        pytest.param(
            frames.arp_request()[:18] + b"\x08\x04" + frames.arp_request()[20:],
            DropReason.BAD_HARDWARE,
            id="hardware length 8",
        ),
        pytest.param(frames.arp_request(op=2), DropReason.NOT_REQUEST, id="reply"),
        pytest.param(frames.arp_request(op=3), DropReason.NOT_REQUEST, id="RARP request"),
        pytest.param(
            frames.arp_request(sender_mac="01:00:5e:00:00:01"),
            DropReason.BAD_SOURCE,
            id="multicast sender MAC",
        ),
        pytest.param(
            frames.arp_request(source_mac=frames.BROADCAST),
            DropReason.BAD_SOURCE,
            id="broadcast Ethernet source",
        ),
        pytest.param(
            frames.arp_request(sender_ip=frames.VIP),
            DropReason.ANNOUNCEMENT,
            id="someone else's gratuitous ARP",
        ),
    ],
)
def test_drops_frames_that_are_not_answerable_requests(frame, reason):
    assert parse_arp(frame) == reason


def test_accepts_bytearray_and_memoryview_as_a_receive_buffer_gives_them():
    buffer = bytearray(frames.arp_request(padding=100))
    assert parse_arp(buffer) == request()
    assert parse_arp(memoryview(buffer)[:60]) == request()


def test_recognises_an_rfc_5227_probe():
    probe = parse_arp(frames.arp_request(sender_ip=IPv4Address(0)))
    assert isinstance(probe, ArpRequest)
    assert probe.is_probe
    assert not request().is_probe


def test_replies_to_the_requester_with_our_mac_as_sender():
    frame = build_arp_reply(request(), OUR_MAC)
    packet = Ether(frame)
    assert len(frame) == 42
    assert (packet.dst, packet.src, packet.type) == (frames.CLIENT_MAC, frames.OUR_MAC, 0x0806)
    arp = packet[ARP]
    assert (arp.hwtype, arp.ptype, arp.hwlen, arp.plen, arp.op) == (1, 0x0800, 6, 4, 2)
    assert (arp.hwsrc, arp.psrc) == (frames.OUR_MAC, str(frames.VIP))
    assert (arp.hwdst, arp.pdst) == (frames.CLIENT_MAC, str(frames.CLIENT_IP))


def test_answers_a_probe_with_target_ip_zero_as_rfc_5227_expects():
    probe = request(sender_ip=IPv4Address(0))
    arp = Ether(build_arp_reply(probe, OUR_MAC))[ARP]
    assert (arp.op, arp.psrc, arp.pdst, arp.hwdst) == (
        2,
        str(frames.VIP),
        str(IPv4Address(0)),
        frames.CLIENT_MAC,
    )


def test_sends_the_gratuitous_request_form_with_a_zero_target_mac():
    request_form, _ = build_gratuitous_arp(frames.VIP, OUR_MAC)
    packet = Ether(request_form)
    assert (packet.dst, packet.src) == (frames.BROADCAST, frames.OUR_MAC)
    arp = packet[ARP]
    assert (arp.op, arp.hwsrc, arp.psrc) == (1, frames.OUR_MAC, str(frames.VIP))
    assert (arp.hwdst, arp.pdst) == (frames.ZERO_MAC, str(frames.VIP))


def test_sends_the_gratuitous_reply_form_with_target_mac_equal_to_sender_mac():
    # arp-responder.md §3.3: Linux's arp_is_garp() needs tha == sha on replies, not ff:ff:...
    _, reply_form = build_gratuitous_arp(frames.VIP, OUR_MAC)
    packet = Ether(reply_form)
    assert (packet.dst, packet.src) == (frames.BROADCAST, frames.OUR_MAC)
    arp = packet[ARP]
    assert (arp.op, arp.hwsrc, arp.psrc) == (2, frames.OUR_MAC, str(frames.VIP))
    assert (arp.hwdst, arp.pdst) == (frames.OUR_MAC, str(frames.VIP))


def test_does_not_answer_its_own_gratuitous_frames():
    request_form, reply_form = build_gratuitous_arp(frames.VIP, OUR_MAC)
    assert parse_arp(request_form) == DropReason.ANNOUNCEMENT
    assert parse_arp(reply_form) == DropReason.NOT_REQUEST


@given(
    sender_mac=unicast_mac_texts,
    sender_ip=ipv4_addresses,
    target_ip=ipv4_addresses,
    destination_mac=st.sampled_from((frames.BROADCAST, frames.OUR_MAC)),
)
def test_parse_is_the_inverse_of_building_a_request(
    sender_mac, sender_ip, target_ip, destination_mac
):
    frame = frames.arp_request(
        sender_mac=sender_mac,
        sender_ip=sender_ip,
        target_ip=target_ip,
        destination_mac=destination_mac,
    )
    expected = ArpRequest(
        destination_mac=parse_mac(destination_mac),
        source_mac=parse_mac(sender_mac),
        sender_mac=parse_mac(sender_mac),
        sender_ip=sender_ip,
        target_ip=target_ip,
    )
    assert parse_arp(frame) == (DropReason.ANNOUNCEMENT if sender_ip == target_ip else expected)


@given(sender_mac=unicast_mac_texts, sender_ip=ipv4_addresses, our_mac=unicast_mac_texts)
def test_reply_built_for_any_request_reads_back_in_scapy(sender_mac, sender_ip, our_mac):
    asked = request(sender_mac=parse_mac(sender_mac), sender_ip=sender_ip)
    packet = Ether(build_arp_reply(asked, parse_mac(our_mac)))
    arp = packet[ARP]
    assert (packet.dst, packet.src, arp.op) == (sender_mac, our_mac, 2)
    assert (arp.hwsrc, arp.psrc, arp.hwdst, arp.pdst) == (
        our_mac,
        str(frames.VIP),
        sender_mac,
        str(sender_ip),
    )


@given(ip=ipv4_addresses, mac=unicast_mac_texts)
def test_gratuitous_frames_announce_any_address(ip, mac):
    for frame in build_gratuitous_arp(ip, parse_mac(mac)):
        arp = Ether(frame)[ARP]
        assert (arp.hwsrc, arp.psrc, arp.pdst) == (mac, str(ip), str(ip))


@given(st.binary(max_size=128))
def test_never_raises_on_random_bytes(frame):
    assert isinstance(parse_arp(frame), ArpRequest | DropReason)


@given(mutations(st.sampled_from((frames.arp_request(), frames.arp_request(vlan=5)))))
def test_never_raises_on_mutated_requests(frame):
    assert isinstance(parse_arp(frame), ArpRequest | DropReason)


@given(sender_mac=unicast_mac_texts, sender_ip=ipv4_addresses, our_mac=unicast_mac_texts)
def test_reply_is_byte_for_byte_what_scapy_builds(sender_mac, sender_ip, our_mac):
    """The speaker packs frames by hand (no scapy import, docs/footprint.md): scapy agrees."""
    asked = request(sender_mac=parse_mac(sender_mac), sender_ip=sender_ip)
    theirs = Ether(dst=sender_mac, src=our_mac) / ARP(
        op=2, hwsrc=our_mac, psrc=str(frames.VIP), hwdst=sender_mac, pdst=str(sender_ip)
    )
    assert build_arp_reply(asked, parse_mac(our_mac)) == bytes(theirs)


@given(ip=ipv4_addresses, mac=unicast_mac_texts)
def test_gratuitous_frames_are_byte_for_byte_what_scapy_builds(ip, mac):
    ether = Ether(dst="ff:ff:ff:ff:ff:ff", src=mac)
    request_form = ARP(op=1, hwsrc=mac, psrc=str(ip), hwdst="00:00:00:00:00:00", pdst=str(ip))
    reply_form = ARP(op=2, hwsrc=mac, psrc=str(ip), hwdst=mac, pdst=str(ip))
    assert build_gratuitous_arp(ip, parse_mac(mac)) == (
        bytes(ether / request_form),
        bytes(ether / reply_form),
    )
