"""Per-frame cost of the speaker's hand-written ARP/NDP path against scapy doing the same work.

Run: `python -m bench.codecs`. No root, no sockets, about 5 s. For each family it times
parse + decide + build on the hand-written path and dissect + build + serialise with scapy, and
prints microseconds per frame and their ratio (the baseline is measured in the same run, so the
ratio carries across machines; absolute numbers on a shared VM do not).
"""

import statistics
import time
from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address

from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr, ICMPv6NDOptSrcLLAddr
from scapy.layers.inet6 import IPv6 as IPv6Layer
from scapy.layers.l2 import ARP, Ether

from speaker.wire.arp import parse_arp
from speaker.wire.filters import build_arp_filter, build_ns_filter
from speaker.wire.ndp import parse_ns
from speaker.wire.replies import DropReason, IPAddress, Reply, Request, decide, parse_mac

OUR_MAC_TEXT = "00:00:5e:00:53:01"
OUR_MAC = parse_mac(OUR_MAC_TEXT)
CLIENT_MAC = "00:00:5e:00:53:0a"
VIP = IPv4Address("192.0.2.10")
VIP6 = IPv6Address("2001:db8::10")
OWNED: frozenset[IPAddress] = frozenset(
    {VIP, VIP6, *(IPv4Address("192.0.2.100") + n for n in range(50))}
)
ROUNDS = 5
HAND_FRAMES = 20_000
SCAPY_FRAMES = 200

ARP_REQUEST = bytes(
    Ether(dst="ff:ff:ff:ff:ff:ff", src=CLIENT_MAC)
    / ARP(op=1, hwsrc=CLIENT_MAC, psrc="192.0.2.1", pdst=str(VIP))
)
NS_REQUEST = bytes(
    Ether(dst="33:33:ff:00:00:10", src=CLIENT_MAC)
    / IPv6Layer(src="2001:db8::1", dst="ff02::1:ff00:10", hlim=255)
    / ICMPv6ND_NS(tgt=str(VIP6))
    / ICMPv6NDOptSrcLLAddr(lladdr=CLIENT_MAC)
)


def hand_arp(frame: bytes) -> bytes:
    """The responder's hot path for ARP: parse, decide, build."""
    return _reply(decide(_request(parse_arp(frame)), OWNED, OUR_MAC))


def hand_ns(frame: bytes) -> bytes:
    """The responder's hot path for NDP: parse (checksum included), decide, build."""
    return _reply(decide(_request(parse_ns(frame)), OWNED, OUR_MAC))


def _request(parsed: Request | DropReason) -> Request:
    # The branch the responder takes too: a drop is counted, not answered.
    if isinstance(parsed, DropReason):
        raise SystemExit(f"the benchmark frame was dropped: {parsed}")
    return parsed


def _reply(outcome: Reply | DropReason) -> bytes:
    if isinstance(outcome, DropReason):
        raise SystemExit(f"the benchmark request was not answered: {outcome}")
    return outcome.frame


def scapy_arp(frame: bytes) -> bytes:
    """What a scapy responder does per ARP request (arp-responder.md variant (b))."""
    asked = Ether(frame)[ARP]
    if IPv4Address(asked.pdst) not in OWNED:
        raise AssertionError(asked.pdst)
    reply = Ether(dst=asked.hwsrc, src=OUR_MAC_TEXT) / ARP(
        op=2, hwsrc=OUR_MAC_TEXT, psrc=asked.pdst, hwdst=asked.hwsrc, pdst=asked.psrc
    )
    return bytes(reply)


def scapy_ns(frame: bytes) -> bytes:
    """What a scapy responder does per Neighbor Solicitation."""
    packet = Ether(frame)
    asked = packet[ICMPv6ND_NS]
    if IPv6Address(asked.tgt) not in OWNED:
        raise AssertionError(asked.tgt)
    reply = (
        Ether(dst=packet[ICMPv6NDOptSrcLLAddr].lladdr, src=OUR_MAC_TEXT)
        / IPv6Layer(src=asked.tgt, dst=packet[IPv6Layer].src, hlim=255)
        / ICMPv6ND_NA(R=0, S=1, O=1, tgt=asked.tgt)
        / ICMPv6NDOptDstLLAddr(lladdr=OUR_MAC_TEXT)
    )
    return bytes(reply)


def per_frame_us(path: Callable[[bytes], bytes], frame: bytes, count: int) -> float:
    """Median over ROUNDS of the mean time per call, in microseconds."""
    path(frame)  # warm caches (the per-MAC templates) outside the timing
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(count):
            path(frame)
        samples.append((time.perf_counter() - start) / count * 1e6)
    return statistics.median(samples)


def filter_build_us() -> float:
    """Time to rebuild both kernel filters for OWNED, as on every ownership change."""
    start = time.perf_counter()
    for _ in range(100):
        build_arp_filter(OWNED)
        build_ns_filter(OWNED)
    return (time.perf_counter() - start) / 100 * 1e6


def main() -> None:
    """Print the table."""
    print(f"{'family':<6} {'hand µs':>9} {'scapy µs':>9} {'scapy/hand':>11}")
    for family, hand, scapy, frame in (
        ("ARP", hand_arp, scapy_arp, ARP_REQUEST),
        ("NDP", hand_ns, scapy_ns, NS_REQUEST),
    ):
        ours = per_frame_us(hand, frame, HAND_FRAMES)
        theirs = per_frame_us(scapy, frame, SCAPY_FRAMES)
        print(f"{family:<6} {ours:>9.2f} {theirs:>9.1f} {theirs / ours:>10.0f}x")
    print(f"filters for {len(OWNED)} owned IPs rebuilt in {filter_build_us():.0f} µs")


if __name__ == "__main__":
    main()
