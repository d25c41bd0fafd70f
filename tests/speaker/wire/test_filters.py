import struct
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6ND_NS, IPv6ExtHdrHopByHop

from speaker.wire.arp import ArpRequest, parse_arp
from speaker.wire.filters import (
    BPF_MAXINSNS,
    RET_K,
    Filter,
    Instruction,
    build_arp_filter,
    build_ns_filter,
    pack_fprog,
    pack_instructions,
)
from speaker.wire.ndp import NeighborSolicitation, parse_ns
from tests.speaker import classic_bpf
from tests.speaker.strategies import ipv4_addresses, mutations, pool_ipv6, unicast_mac_texts
from tests.support import frames

OWNED: frozenset[IPv4Address | IPv6Address] = frozenset({frames.VIP, frames.VIP6})
ARP_FILTER = build_arp_filter(OWNED)
NS_FILTER = build_ns_filter(OWNED)
UNSPECIFIED = IPv6Address("::")


def admits(program: Filter, frame: bytes) -> bool:
    return classic_bpf.run(program.instructions, frame) > 0


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(frames.arp_request(), id="broadcast request"),
        pytest.param(frames.arp_request(destination_mac=frames.OUR_MAC), id="unicast request"),
        pytest.param(frames.arp_request(sender_ip=IPv4Address(0)), id="probe"),
        pytest.param(frames.arp_request(padding=18), id="padded"),
    ],
)
def test_arp_filter_admits_requests_for_an_owned_ip(frame):
    assert admits(ARP_FILTER, frame)


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(frames.arp_request(target_ip=frames.OTHER_VIP), id="request for another IP"),
        pytest.param(frames.arp_request(op=2), id="reply"),
        pytest.param(frames.arp_request(vlan=100), id="VLAN-tagged request"),
        pytest.param(frames.arp_request()[:41], id="truncated request"),
        pytest.param(frames.arp_request()[:18] + b"\x08" + frames.arp_request()[19:], id="hlen 8"),
        pytest.param(frames.neighbor_solicitation(), id="an NS"),
        pytest.param(b"", id="empty frame"),
    ],
)
def test_arp_filter_drops_everything_else(frame):
    assert not admits(ARP_FILTER, frame)


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(frames.neighbor_solicitation(), id="multicast NS"),
        pytest.param(
            frames.neighbor_solicitation(destination_ip=frames.VIP6, link_address=None),
            id="unicast NUD probe",
        ),
        pytest.param(frames.neighbor_solicitation(source_ip=UNSPECIFIED), id="DAD probe"),
    ],
)
def test_ns_filter_admits_solicitations_for_an_owned_ip(frame):
    assert admits(NS_FILTER, frame)


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(
            frames.neighbor_solicitation(target_ip=frames.OTHER_VIP6), id="NS for another IP"
        ),
        pytest.param(
            frames.neighbor_solicitation(target_ip=IPv6Address("2001:db8:1::10")),
            id="same last word, other prefix",
        ),
        pytest.param(frames.neighbor_solicitation(hop_limit=64), id="routed NS"),
        pytest.param(frames.ipv6_frame(ICMPv6ND_NA(tgt=str(frames.VIP6))), id="NA"),
        pytest.param(
            frames.ipv6_frame(IPv6ExtHdrHopByHop() / ICMPv6ND_NS(tgt=str(frames.VIP6))),
            id="NS behind an extension header",
        ),
        pytest.param(frames.neighbor_solicitation(vlan=3), id="VLAN-tagged NS"),
        pytest.param(frames.neighbor_solicitation()[:70], id="truncated NS"),
        pytest.param(frames.arp_request(), id="an ARP request"),
    ],
)
def test_ns_filter_drops_everything_else(frame):
    assert not admits(NS_FILTER, frame)


@pytest.mark.parametrize(
    "build", [pytest.param(build_arp_filter, id="ARP"), pytest.param(build_ns_filter, id="NS")]
)
def test_an_empty_owned_set_drops_everything(build):
    assert build(frozenset()) == Filter(instructions=(Instruction(RET_K, 0, 0, 0),), exact=True)


def test_each_family_ignores_the_other_familys_addresses():
    assert build_arp_filter({frames.VIP6}) == build_arp_filter(frozenset())
    assert build_ns_filter({frames.VIP}) == build_ns_filter(frozenset())


def test_2000_owned_ipv4_addresses_still_fit_the_kernel_limit():
    owned = list(IPv4Network("198.18.0.0/15").hosts())[:2000]  # RFC 2544 benchmarking range
    program = build_arp_filter(owned)
    assert program.exact
    assert len(program.instructions) <= BPF_MAXINSNS
    for ip in (owned[0], owned[999], owned[-1]):
        assert admits(program, frames.arp_request(target_ip=ip))
    assert not admits(program, frames.arp_request(target_ip=IPv4Address("198.19.255.254")))


def test_2000_owned_ipv6_addresses_of_one_pool_still_fit_the_kernel_limit():
    owned = [IPv6Address("2001:db8::1000") + offset for offset in range(2000)]
    program = build_ns_filter(owned)
    assert program.exact
    assert len(program.instructions) <= BPF_MAXINSNS
    assert admits(program, frames.neighbor_solicitation(target_ip=owned[-1]))
    assert not admits(program, frames.neighbor_solicitation(target_ip=owned[-1] + 1))


def test_beyond_the_kernel_limit_admits_every_request_and_leaves_ownership_to_decide():
    owned = list(IPv4Network("198.18.0.0/15").hosts())[:2100]
    program = build_arp_filter(owned)
    assert not program.exact
    classic_bpf.verify(program.instructions)
    assert admits(program, frames.arp_request(target_ip=IPv4Address("203.0.113.9")))
    assert not admits(program, frames.arp_request(op=2))


def test_beyond_the_kernel_limit_admits_every_solicitation_too():
    owned = [IPv6Address("2001:db8::1000") + offset for offset in range(2100)]
    program = build_ns_filter(owned)
    assert not program.exact
    assert admits(program, frames.neighbor_solicitation(target_ip=frames.OTHER_VIP6))
    assert not admits(program, frames.neighbor_solicitation(hop_limit=64))


def test_packs_instructions_as_struct_sock_filter():
    packed = pack_instructions(ARP_FILTER)
    assert len(packed) == 8 * len(ARP_FILTER.instructions)
    assert struct.unpack_from("=HBBI", packed) == tuple(ARP_FILTER.instructions[0])
    assert struct.unpack_from("=HBBI", packed, len(packed) - 8) == (RET_K, 0, 0, 0)


def test_packs_sock_fprog_with_native_pointer_layout():
    packed = pack_fprog(7, 0x1234_5678)
    assert len(packed) == struct.calcsize("@HP")
    assert struct.unpack("@HP", packed) == (7, 0x1234_5678)


@given(owned=st.frozensets(ipv4_addresses, max_size=40), data=st.data(), sender=unicast_mac_texts)
def test_arp_filter_admits_a_request_exactly_when_its_target_is_owned(owned, data, sender):
    target = data.draw(st.sampled_from(sorted(owned)) | ipv4_addresses if owned else ipv4_addresses)
    program = build_arp_filter(owned)
    classic_bpf.verify(program.instructions)
    assert admits(program, frames.arp_request(sender_mac=sender, target_ip=target)) == (
        target in owned
    )


@given(owned=st.frozensets(pool_ipv6, max_size=40), data=st.data())
def test_ns_filter_admits_a_solicitation_exactly_when_its_target_is_owned(owned, data):
    target = data.draw(st.sampled_from(sorted(owned)) | pool_ipv6 if owned else pool_ipv6)
    dad = data.draw(st.booleans())
    frame = frames.neighbor_solicitation(
        target_ip=target, source_ip=UNSPECIFIED if dad else frames.CLIENT_IP6
    )
    program = build_ns_filter(owned)
    classic_bpf.verify(program.instructions)
    assert admits(program, frame) == (target in owned)


ARP_FRAMES = st.sampled_from(
    (frames.arp_request(), frames.arp_request(target_ip=frames.OTHER_VIP), frames.arp_request(op=2))
)
NS_FRAMES = st.sampled_from(
    (
        frames.neighbor_solicitation(),
        frames.neighbor_solicitation(target_ip=frames.OTHER_VIP6),
        frames.neighbor_solicitation(hop_limit=1),
    )
)


@given(mutations(ARP_FRAMES) | st.binary(max_size=64))
def test_arp_filter_admits_nothing_the_parser_would_not_call_a_request_for_an_owned_ip(frame):
    if admits(ARP_FILTER, frame):
        request = parse_arp(frame)
        # The filter does not look at sender fields, so those drops remain decide's/parse's job.
        if isinstance(request, ArpRequest):
            assert request.target_ip in OWNED
        else:
            assert frame[12:14] == b"\x08\x06"
            assert frame[20:22] == b"\x00\x01"
            assert IPv4Address(frame[38:42]) in OWNED


@given(mutations(NS_FRAMES))
def test_ns_filter_admits_nothing_the_parser_would_not_call_an_ns_for_an_owned_ip(frame):
    if admits(NS_FILTER, frame):
        request = parse_ns(frame)
        if isinstance(request, NeighborSolicitation):
            assert request.target_ip in OWNED
        else:
            # Checksum, options, code, length: the parser's checks, not the filter's.
            assert (frame[20], frame[21], frame[54]) == (58, 255, 135)
            assert IPv6Address(frame[62:78]) in OWNED


def test_filters_for_addresses_of_many_prefixes_branch_once_per_prefix():
    owned = [net[5] for net in IPv6Network("2001:db8::/48").subnets(new_prefix=64)][:50]
    program = build_ns_filter(owned)
    for ip in owned[::7]:
        assert admits(program, frames.neighbor_solicitation(target_ip=ip))
    assert not admits(program, frames.neighbor_solicitation(target_ip=owned[3] + 1))
