"""Hypothesis strategies for the speaker's codec, decision and filter properties."""

from ipaddress import IPv4Address, IPv6Address, IPv6Network
from typing import cast

from hypothesis import strategies as st

from speaker.wire.replies import format_mac

# Unicast, so that the codecs accept them as senders (the group bit is bit 0 of the first octet).
unicast_macs = st.binary(min_size=6, max_size=6).map(lambda raw: bytes([raw[0] & 0xFE]) + raw[1:])
unicast_mac_texts = unicast_macs.map(format_mac)
# cast: hypothesis types ip_addresses() as the union whatever `v` is.
ipv4_addresses = cast(st.SearchStrategy[IPv4Address], st.ip_addresses(v=4))
# Unicast IPv6 (not ff00::/8) for sources and targets; a few pools so that filters get a trie.
ipv6_unicast = cast(st.SearchStrategy[IPv6Address], st.ip_addresses(v=6)).filter(
    lambda ip: not ip.is_multicast and not ip.is_unspecified
)
_POOLS = (
    IPv6Network("2001:db8::/120"),
    IPv6Network("2001:db8:0:1::/120"),
    IPv6Network("2001:db8:1::/96"),
    IPv6Network("2001:db9::/64"),
)
pool_ipv6 = st.sampled_from(_POOLS).flatmap(
    lambda net: cast(st.SearchStrategy[IPv6Address], st.ip_addresses(network=net))
)


@st.composite
def mutations(draw: st.DrawFn, frames: st.SearchStrategy[bytes]) -> bytes:
    """A valid frame with bytes flipped, cut off or appended: what a fuzzer feeds a parser."""
    frame = bytearray(draw(frames))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        kind = draw(st.sampled_from(("flip", "truncate", "extend", "set")))
        if kind == "truncate":
            del frame[draw(st.integers(min_value=0, max_value=len(frame))) :]
        elif kind == "extend":
            frame += draw(st.binary(min_size=1, max_size=24))
        elif frame:
            index = draw(st.integers(min_value=0, max_value=len(frame) - 1))
            if kind == "flip":
                frame[index] ^= 1 << draw(st.integers(min_value=0, max_value=7))
            else:
                frame[index] = draw(st.integers(min_value=0, max_value=255))
    return bytes(frame)
