from ipaddress import IPv4Address, IPv4Network, IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import ICMPv6ND_NA, IPv6ExtHdrHopByHop

from speaker.wire.claims import ClaimKind, parse_claim
from speaker.wire.filters import (
    BPF_MAXINSNS,
    RET_K,
    Filter,
    Instruction,
    build_arp_claim_filter,
    build_ndp_claim_filter,
)
from tests.speaker import classic_bpf
from tests.speaker.strategies import ipv4_addresses, mutations, pool_ipv6, unicast_mac_texts
from tests.speaker.wire.test_claims import (
    ANY4,
    CLAIMS,
    UNSPECIFIED,
    dad_probe,
    ethernet,
    neighbor_advertisement,
)
from tests.support import frames

WATCHED: frozenset[IPv4Address | IPv6Address] = frozenset({frames.VIP, frames.VIP6})
ARP_CLAIMS = build_arp_claim_filter(WATCHED)
NDP_CLAIMS = build_ndp_claim_filter(WATCHED)
ARP_KINDS = [kind for kind in ClaimKind if kind.name.startswith("ARP")]
NDP_KINDS = [ClaimKind.NEIGHBOR_ADVERTISEMENT, ClaimKind.DAD_PROBE]
DROP_ALL = Filter(instructions=(Instruction(RET_K, 0, 0, 0),), exact=True)
nonzero_ipv4 = ipv4_addresses.filter(lambda ip: ip != ANY4)  # 0.0.0.0 is never a VIP


def admits(program: Filter, frame: bytes) -> bool:
    return classic_bpf.run(program.instructions, frame) > 0


def claim_frame(kind: ClaimKind, ip: IPv4Address | IPv6Address) -> bytes:
    """The claim of `kind` about `ip`, as test_claims.CLAIMS makes it about VIP / VIP6."""
    if isinstance(ip, IPv6Address):
        if kind is ClaimKind.DAD_PROBE:
            return dad_probe(target_ip=ip)
        return neighbor_advertisement(target_ip=ip)
    return {
        ClaimKind.ARP_REPLY: frames.arp_request(op=2, sender_ip=ip, target_ip=ANY4),
        ClaimKind.ARP_ANNOUNCEMENT: frames.arp_request(sender_ip=ip, target_ip=ip),
        ClaimKind.ARP_SENDER: frames.arp_request(sender_ip=ip, target_ip=frames.CLIENT_IP),
        ClaimKind.ARP_PROBE: frames.arp_request(sender_ip=ANY4, target_ip=ip),
    }[kind]


@pytest.mark.parametrize("kind", ARP_KINDS)
def test_the_arp_claim_filter_admits_every_arp_claim_of_a_watched_ip(kind):
    assert admits(ARP_CLAIMS, CLAIMS[kind])


@pytest.mark.parametrize("kind", NDP_KINDS)
def test_the_ndp_claim_filter_admits_every_ndp_claim_of_a_watched_ip(kind):
    assert admits(NDP_CLAIMS, CLAIMS[kind])


@pytest.mark.parametrize("kind", ARP_KINDS)
def test_the_arp_claim_filter_drops_the_same_claim_of_an_unwatched_ip(kind):
    assert not admits(ARP_CLAIMS, claim_frame(kind, frames.OTHER_VIP))


@pytest.mark.parametrize("kind", NDP_KINDS)
def test_the_ndp_claim_filter_drops_the_same_claim_of_an_unwatched_ip(kind):
    assert not admits(NDP_CLAIMS, claim_frame(kind, frames.OTHER_VIP6))
    assert not admits(NDP_CLAIMS, claim_frame(kind, IPv6Address("2001:db8:1::10")))


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(frames.arp_request(), id="a client asking for a watched IP"),
        pytest.param(
            frames.arp_request(destination_mac=frames.OUR_MAC), id="a client's unicast request"
        ),
        pytest.param(
            frames.arp_request(op=2, sender_ip=frames.CLIENT_IP, target_ip=frames.VIP),
            id="a client's reply to a watched IP",
        ),
        pytest.param(
            frames.arp_request(op=2, sender_ip=ANY4, target_ip=frames.VIP),
            id="a reply from 0.0.0.0 (a probe is a request)",
        ),
        pytest.param(frames.arp_request(sender_ip=ANY4, target_ip=ANY4), id="0.0.0.0 for 0.0.0.0"),
        pytest.param(
            frames.arp_request(sender_ip=frames.VIP, vlan=100), id="a VLAN-tagged announcement"
        ),
        pytest.param(
            CLAIMS[ClaimKind.ARP_REPLY][:18] + b"\x08\x04" + CLAIMS[ClaimKind.ARP_REPLY][20:],
            id="hlen 8",
        ),
        pytest.param(CLAIMS[ClaimKind.ARP_PROBE][:41], id="a probe cut short"),
        pytest.param(
            ethernet(frames.OUR_MAC, frames.CLIENT_MAC, IP(src=str(frames.VIP)) / UDP()),
            id="IPv4 from a watched IP",
        ),
        pytest.param(CLAIMS[ClaimKind.NEIGHBOR_ADVERTISEMENT], id="an NA"),
        pytest.param(b"", id="empty"),
    ],
)
def test_the_arp_claim_filter_drops_what_claims_no_watched_ip(frame):
    assert not admits(ARP_CLAIMS, frame)


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(frames.neighbor_solicitation(), id="a client's NS for a watched IP"),
        pytest.param(
            frames.neighbor_solicitation(destination_ip=frames.VIP6, link_address=None),
            id="a unicast NUD probe",
        ),
        pytest.param(
            frames.neighbor_solicitation(source_ip=frames.VIP6), id="an NS from the watched IP"
        ),
        pytest.param(neighbor_advertisement(hop_limit=254), id="an NA with hop limit 254"),
        pytest.param(dad_probe(hop_limit=64), id="a routed DAD probe"),
        pytest.param(neighbor_advertisement(vlan=3), id="a VLAN-tagged NA"),
        pytest.param(dad_probe(vlan=3), id="a VLAN-tagged DAD probe"),
        pytest.param(
            frames.ipv6_frame(IPv6ExtHdrHopByHop() / ICMPv6ND_NA(tgt=str(frames.VIP6))),
            id="an NA behind an extension header",
        ),
        pytest.param(CLAIMS[ClaimKind.NEIGHBOR_ADVERTISEMENT][:70], id="an NA cut short"),
        pytest.param(CLAIMS[ClaimKind.ARP_ANNOUNCEMENT], id="an ARP announcement"),
        pytest.param(b"", id="empty"),
    ],
)
def test_the_ndp_claim_filter_drops_what_claims_no_watched_ip(frame):
    assert not admits(NDP_CLAIMS, frame)


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(build_arp_claim_filter, id="ARP"),
        pytest.param(build_ndp_claim_filter, id="NDP"),
    ],
)
def test_an_empty_watched_set_drops_everything(build):
    assert build(frozenset()) == DROP_ALL


def test_each_claim_filter_ignores_the_other_familys_addresses():
    assert build_arp_claim_filter({frames.VIP6}) == DROP_ALL
    assert build_ndp_claim_filter({frames.VIP}) == DROP_ALL


V4_2000 = list(IPv4Network("198.18.0.0/15").hosts())[:2000]  # RFC 2544 benchmarking range
V6_2000 = [IPv6Address("2001:db8::1000") + offset for offset in range(2000)]


@pytest.mark.parametrize(
    ("build", "watched", "kinds", "unwatched"),
    [
        pytest.param(
            build_arp_claim_filter, V4_2000, ARP_KINDS, IPv4Address("198.19.255.254"), id="IPv4"
        ),
        pytest.param(build_ndp_claim_filter, V6_2000, NDP_KINDS, V6_2000[-1] + 1, id="IPv6"),
    ],
)
def test_2000_watched_addresses_still_fit_the_kernel_limit(build, watched, kinds, unwatched):
    program = build(watched)
    classic_bpf.verify(program.instructions)
    assert program.exact
    assert len(program.instructions) <= BPF_MAXINSNS
    for kind in kinds:
        for ip in (watched[0], watched[999], watched[-1]):
            assert admits(program, claim_frame(kind, ip))
        assert not admits(program, claim_frame(kind, unwatched))


def test_beyond_the_kernel_limit_the_arp_claim_filter_admits_every_arp_packet():
    program = build_arp_claim_filter(list(IPv4Network("198.18.0.0/15").hosts())[:2100])
    assert not program.exact
    classic_bpf.verify(program.instructions)
    for kind in ARP_KINDS:
        assert admits(program, claim_frame(kind, IPv4Address("203.0.113.9")))
    assert admits(program, frames.arp_request())
    assert not admits(program, frames.arp_request(vlan=100))
    assert not admits(program, CLAIMS[ClaimKind.NEIGHBOR_ADVERTISEMENT])


def test_beyond_the_kernel_limit_the_ndp_claim_filter_admits_every_unrouted_icmpv6_message():
    program = build_ndp_claim_filter([IPv6Address("2001:db8::1000") + n for n in range(2100)])
    assert not program.exact
    classic_bpf.verify(program.instructions)
    for kind in NDP_KINDS:
        assert admits(program, claim_frame(kind, frames.OTHER_VIP6))
    assert not admits(program, neighbor_advertisement(hop_limit=64))
    assert not admits(program, CLAIMS[ClaimKind.ARP_ANNOUNCEMENT])


# ------------------------------------------------------------------ agreement with parse_claim
#
# The filter reads fixed offsets only; the parser does every check. So the filter must admit
# every claim of a watched IP (it may never hide a conflict), and on frames that are well formed
# (unicast MACs, valid checksums, opcodes 1 and 2, hop limits as they come) it admits exactly
# those. On mutated frames it may admit more (a group-bit MAC, a bad checksum): the sentry
# parses what it admits, and that is the parser's job.


def agrees(watched: frozenset[IPv4Address] | frozenset[IPv6Address], frame: bytes) -> None:
    program = (
        build_arp_claim_filter(watched)
        if frame[12:14] == b"\x08\x06"
        else build_ndp_claim_filter(watched)
    )
    claim = parse_claim(frame)
    assert admits(program, frame) == (claim is not None and claim.ip in watched)


@st.composite
def arp_frames(draw: st.DrawFn, watched: frozenset[IPv4Address]) -> bytes:
    """Any well-formed ARP request or reply, its IPs drawn from `watched`, others, or 0.0.0.0."""
    ips = st.sampled_from(sorted(watched)) | ipv4_addresses | st.just(ANY4)
    return frames.arp_request(
        op=draw(st.sampled_from((1, 2))),
        sender_mac=draw(unicast_mac_texts),
        sender_ip=draw(ips),
        target_ip=draw(ips),
        target_mac=draw(st.sampled_from((frames.ZERO_MAC, frames.OUR_MAC))),
        destination_mac=draw(st.sampled_from((frames.BROADCAST, frames.OUR_MAC))),
        padding=draw(st.sampled_from((0, 18))),
    )


@st.composite
def ndp_frames(draw: st.DrawFn, watched: frozenset[IPv6Address]) -> bytes:
    """Any well-formed NA or NS (DAD or not), routed or not, for a watched IP or another."""
    target = draw(st.sampled_from(sorted(watched)) | pool_ipv6)
    source_mac = draw(unicast_mac_texts)
    hop_limit = draw(st.sampled_from((255, 255, 254, 64, 1)))
    if draw(st.booleans()):
        return neighbor_advertisement(
            target_ip=target,
            source_mac=source_mac,
            link_address=draw(st.none() | unicast_mac_texts),
            hop_limit=hop_limit,
        )
    return frames.neighbor_solicitation(
        target_ip=target,
        source_mac=source_mac,
        source_ip=draw(st.sampled_from((UNSPECIFIED, frames.CLIENT_IP6, target))),
        hop_limit=hop_limit,
    )


@given(
    st.frozensets(nonzero_ipv4, min_size=1, max_size=40).flatmap(
        lambda watched: st.tuples(st.just(watched), arp_frames(watched))
    )
)
def test_the_arp_claim_filter_admits_a_well_formed_frame_iff_it_claims_a_watched_ip(case):
    agrees(*case)


@given(
    st.frozensets(pool_ipv6, min_size=1, max_size=40).flatmap(
        lambda watched: st.tuples(st.just(watched), ndp_frames(watched))
    )
)
def test_the_ndp_claim_filter_admits_a_well_formed_frame_iff_it_claims_a_watched_ip(case):
    agrees(*case)


VALID = (
    *CLAIMS.values(),
    claim_frame(ClaimKind.ARP_SENDER, frames.OTHER_VIP),
    claim_frame(ClaimKind.NEIGHBOR_ADVERTISEMENT, frames.OTHER_VIP6),
    frames.arp_request(),
    frames.neighbor_solicitation(),
)


@given(mutations(st.sampled_from(VALID)) | st.binary(max_size=96))
def test_the_claim_filters_never_drop_a_claim_of_a_watched_ip_nor_admit_a_claim_of_another(
    frame,
):
    claim = parse_claim(frame)
    for program in (ARP_CLAIMS, NDP_CLAIMS):
        if claim is not None and admits(program, frame):
            assert claim.ip in WATCHED
    if claim is not None and claim.ip in WATCHED:
        assert admits(ARP_CLAIMS, frame) or admits(NDP_CLAIMS, frame)
