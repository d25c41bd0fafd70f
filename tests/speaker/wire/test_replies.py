from ipaddress import IPv4Address, IPv6Address
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet6 import ICMPv6ND_NA, IPv6
from scapy.layers.l2 import ARP, Ether

from speaker.wire.arp import ArpRequest, parse_arp
from speaker.wire.ndp import NeighborSolicitation, parse_ns
from speaker.wire.replies import DropReason, Reply, decide, format_mac, parse_mac
from tests.speaker.strategies import ipv4_addresses, unicast_macs
from tests.support import frames

OUR_MAC = parse_mac(frames.OUR_MAC)
OWNED: frozenset[IPv4Address | IPv6Address] = frozenset({frames.VIP, frames.VIP6})


def parsed(frame: bytes) -> ArpRequest | NeighborSolicitation:
    request = parse_arp(frame) if frame[12:14] == b"\x08\x06" else parse_ns(frame)
    assert not isinstance(request, DropReason), request
    return request


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(frames.arp_request(), id="broadcast ARP request"),
        pytest.param(frames.arp_request(destination_mac=frames.OUR_MAC), id="unicast ARP request"),
        pytest.param(frames.arp_request(sender_ip=IPv4Address(0)), id="ARP probe (RFC 5227)"),
        pytest.param(
            frames.arp_request(destination_mac="01:00:5e:00:00:01"), id="ARP to a multicast MAC"
        ),
        pytest.param(frames.neighbor_solicitation(), id="multicast NS"),
        pytest.param(
            frames.neighbor_solicitation(destination_ip=frames.VIP6, link_address=None),
            id="unicast NUD probe",
        ),
        pytest.param(
            frames.neighbor_solicitation(source_ip=IPv6Address("::")), id="DAD probe (RFC 4861)"
        ),
    ],
)
def test_answers_requests_for_an_owned_ip(frame):
    request = parsed(frame)
    assert decide(request, OWNED, OUR_MAC) == Reply(
        ip=request.target_ip, frame=request.build_reply(OUR_MAC)
    )


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        pytest.param(
            frames.arp_request(target_ip=frames.OTHER_VIP), DropReason.NOT_OWNED, id="ARP, not ours"
        ),
        pytest.param(
            frames.neighbor_solicitation(target_ip=frames.OTHER_VIP6),
            DropReason.NOT_OWNED,
            id="NS, not ours",
        ),
        pytest.param(
            frames.arp_request(sender_mac=frames.OUR_MAC),
            DropReason.FROM_OURSELVES,
            id="ARP from our MAC",
        ),
        pytest.param(
            frames.arp_request(source_mac=frames.OTHER_NODE_MAC, sender_mac=frames.OUR_MAC),
            DropReason.FROM_OURSELVES,
            id="ARP claiming our MAC as sender",
        ),
        pytest.param(
            frames.neighbor_solicitation(source_mac=frames.OUR_MAC),
            DropReason.FROM_OURSELVES,
            id="NS from our MAC",
        ),
        pytest.param(
            frames.arp_request(destination_mac=frames.OTHER_NODE_MAC),
            DropReason.OTHER_HOST,
            id="ARP unicast to another node",
        ),
        pytest.param(
            frames.neighbor_solicitation(
                destination_ip=frames.VIP6, destination_mac=frames.OTHER_NODE_MAC
            ),
            DropReason.OTHER_HOST,
            id="NUD probe unicast to another node",
        ),
    ],
)
def test_drops_requests_it_must_not_answer(frame, reason):
    assert decide(parsed(frame), OWNED, OUR_MAC) == reason


def test_answers_from_the_receiving_interface_mac():
    other = parse_mac(frames.OTHER_NODE_MAC)
    reply = decide(parsed(frames.arp_request()), OWNED, other)
    assert isinstance(reply, Reply)
    assert Ether(reply.frame)[ARP].hwsrc == frames.OTHER_NODE_MAC


def test_accepts_a_mapping_of_owned_ips_as_the_owned_set():
    owned = MappingProxyType({frames.VIP6: ("eth0",)})
    reply = decide(parsed(frames.neighbor_solicitation()), owned, OUR_MAC)
    assert isinstance(reply, Reply)
    assert Ether(reply.frame)[ICMPv6ND_NA].S == 1
    assert decide(parsed(frames.arp_request()), owned, OUR_MAC) == DropReason.NOT_OWNED


def test_answers_a_dad_probe_to_all_nodes():
    reply = decide(
        parsed(frames.neighbor_solicitation(source_ip=IPv6Address("::"))), OWNED, OUR_MAC
    )
    assert isinstance(reply, Reply)
    assert Ether(reply.frame)[IPv6].dst == "ff02::1"


def test_keeps_drop_reason_label_values_stable():
    # These are Prometheus label values: dashboards and alerts match on them. Add, never rename.
    assert {reason.name: reason.value for reason in DropReason} == {
        "TOO_SHORT": "too_short",
        "VLAN_TAGGED": "vlan_tagged",
        "NOT_ARP": "not_arp",
        "BAD_HARDWARE": "bad_hardware",
        "NOT_REQUEST": "not_request",
        "ANNOUNCEMENT": "announcement",
        "BAD_SOURCE": "bad_source",
        "NOT_IPV6": "not_ipv6",
        "NOT_ICMPV6": "not_icmpv6",
        "NOT_NS": "not_ns",
        "BAD_CODE": "bad_code",
        "BAD_LENGTH": "bad_length",
        "BAD_HOP_LIMIT": "bad_hop_limit",
        "BAD_CHECKSUM": "bad_checksum",
        "BAD_OPTION": "bad_option",
        "BAD_TARGET": "bad_target",
        "BAD_DESTINATION": "bad_destination",
        "FROM_OURSELVES": "from_ourselves",
        "OTHER_HOST": "other_host",
        "NOT_OWNED": "not_owned",
    }


@pytest.mark.parametrize(
    ("text", "mac"),
    [
        pytest.param("00:00:5e:00:53:01", b"\x00\x00\x5e\x00\x53\x01", id="colons"),
        pytest.param("00-00-5E-00-53-01", b"\x00\x00\x5e\x00\x53\x01", id="dashes, upper case"),
    ],
)
def test_parses_mac_text(text, mac):
    assert parse_mac(text) == mac


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("00:00:5e:00:53", id="five octets"),
        pytest.param("0:0:5e:0:53:1", id="single digits"),
        pytest.param("00:00:5e:00:53:zz", id="not hex"),
        pytest.param("00:00:5e:00:53:01:02:03", id="InfiniBand-length address"),
    ],
)
def test_refuses_text_that_is_not_an_ethernet_mac(text):
    with pytest.raises(ValueError, match="not an Ethernet MAC"):
        parse_mac(text)


def test_refuses_to_format_a_mac_of_the_wrong_length():
    with pytest.raises(ValueError, match="6 bytes"):
        format_mac(b"\x00")


@given(unicast_macs)
def test_formats_and_parses_any_mac_back_to_itself(mac):
    assert parse_mac(format_mac(mac)) == mac


@given(
    owned=st.frozensets(ipv4_addresses, min_size=1, max_size=8),
    data=st.data(),
    our_mac=unicast_macs,
    sender_mac=unicast_macs | st.just(parse_mac(frames.OUR_MAC)),
)
def test_replies_exactly_when_the_target_is_owned_and_the_sender_is_not_us(
    owned, data, our_mac, sender_mac
):
    target = data.draw(st.sampled_from(sorted(owned)) | ipv4_addresses, label="target")
    our_mac = data.draw(st.sampled_from((our_mac, parse_mac(frames.OUR_MAC))), label="our_mac")
    request = ArpRequest(
        destination_mac=b"\xff" * 6,
        source_mac=sender_mac,
        sender_mac=sender_mac,
        sender_ip=frames.CLIENT_IP,
        target_ip=target,
    )
    outcome = decide(request, owned, our_mac)
    if sender_mac == our_mac:
        assert outcome == DropReason.FROM_OURSELVES
    elif target in owned:
        assert outcome == Reply(ip=target, frame=request.build_reply(our_mac))
    else:
        assert outcome == DropReason.NOT_OWNED
