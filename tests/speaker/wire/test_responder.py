"""The responder without sockets: per-frame handling under fuzzing, and the thread's lifecycle."""

import time
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from speaker.wire.answers import Counters, Family, Tally, answer
from speaker.wire.interfaces import Interface
from speaker.wire.replies import DropReason, IPAddress, Reply, decide, parse_mac
from speaker.wire.responder import Responder
from tests.speaker.strategies import mutations
from tests.support import frames
from tests.support.cluster import eventually

OUR_MAC = parse_mac(frames.OUR_MAC)
OWNED: frozenset[IPAddress] = frozenset({frames.VIP, frames.VIP6})
VALID_FRAMES = (
    frames.arp_request(),
    frames.arp_request(target_ip=frames.OTHER_VIP),
    frames.arp_request(destination_mac=frames.OUR_MAC, padding=18),
    frames.arp_request(sender_ip=IPv4Address(0)),
    frames.neighbor_solicitation(),
    frames.neighbor_solicitation(destination_ip=frames.VIP6, link_address=None),
    frames.neighbor_solicitation(source_ip=IPv6Address("::")),
    frames.neighbor_solicitation(target_ip=frames.OTHER_VIP6),
)
any_frame = st.one_of(
    st.binary(max_size=128), mutations(st.sampled_from(VALID_FRAMES)), st.sampled_from(VALID_FRAMES)
)


def handle(frames_: list[bytes], tally: Tally) -> list[tuple[Family, bytes, Reply | None]]:
    """Feed each frame to both families' handling, as an ARP and an NDP socket would."""
    return [
        (family, frame, answer(frame, family, OWNED, OUR_MAC, tally))
        for frame in frames_
        for family in Family
    ]


@given(st.lists(any_frame, max_size=8))
def test_any_frame_gives_a_reply_for_an_owned_ip_or_a_counted_drop(batch):
    tally = Tally()

    results = handle(batch, tally)

    for family, frame, reply in results:
        if reply is not None:
            assert reply.ip in OWNED
            request = family.parse(frame)
            assert not isinstance(request, DropReason)
            assert reply == decide(request, OWNED, OUR_MAC)
    handled = 2 * len(batch)
    assert sum(tally.drops.values()) + sum(tally.requests_received.values()) == handled
    assert sum(tally.requests_received.values()) == sum(r is not None for _, _, r in results)
    assert all(isinstance(reason, DropReason) for reason in tally.drops)


def test_each_family_answers_only_its_own_protocol():
    tally = Tally()

    arp = answer(frames.arp_request(), Family.NDP, OWNED, OUR_MAC, tally)
    ndp = answer(frames.neighbor_solicitation(), Family.ARP, OWNED, OUR_MAC, tally)

    assert (arp, ndp) == (None, None)
    assert tally.drops == {DropReason.NOT_IPV6: 1, DropReason.NOT_ARP: 1}


def test_counts_a_received_request_once_and_leaves_responses_to_the_sender():
    tally = Tally()

    reply = answer(memoryview(frames.arp_request()), Family.ARP, OWNED, OUR_MAC, tally)

    assert reply is not None
    assert reply.ip == frames.VIP
    assert (tally.requests_received, tally.responses_sent) == ({frames.VIP: 1}, {})


def test_tally_is_a_counters():
    counters: Counters = Tally()
    counters.gratuitous_sent(frames.VIP)
    assert isinstance(counters, Tally)
    assert counters.gratuitous == {frames.VIP: 1}


def no_interfaces() -> list[Interface]:
    return []


def test_starts_and_stops_promptly_with_nothing_to_answer_on():
    scans: list[float] = []

    def no_interfaces_counted() -> list[Interface]:
        scans.append(time.monotonic())
        return []

    responder = Responder(Tally(), read_links=no_interfaces_counted, rescan_interval=0.05)
    responder.start()
    responder.set_owned({frames.VIP: None, frames.VIP6: frozenset({"eth0"})})
    # The sentinel, a couple of rescans after the new table: the turn of the second one began
    # after the first had ended, with the table's wake-up pending, and takes it before it scans.
    swapped = len(scans)
    eventually(lambda: len(scans) >= swapped + 2, timeout=5)

    started = time.monotonic()
    responder.stop()

    assert time.monotonic() - started < 0.2
    assert responder.selection.chosen == ()


def test_a_failing_interface_reader_never_stops_the_loop(caplog):
    calls = []

    def broken() -> list[Interface]:
        calls.append(time.monotonic())
        if len(calls) > 1:
            raise RuntimeError("sysfs exploded")
        return []

    responder = Responder(Tally(), read_links=broken, rescan_interval=0.02)
    responder.start()
    try:
        eventually(lambda: len(calls) >= 3, timeout=5)  # it kept rescanning after a failure
    finally:
        responder.stop()

    assert "responder loop error" in caplog.text


def test_stop_before_start_and_twice_is_harmless():
    responder = Responder(Tally(), read_links=no_interfaces)
    responder.stop()
    responder.stop()
    responder.set_owned({frames.VIP: None})  # after stop: ignored, no error


@pytest.mark.parametrize("family", list(Family))
def test_family_filters_admit_only_their_own_addresses(family):
    program = family.build_filter(OWNED)
    assert program.exact
    assert len(program.instructions) > 1
