import time
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv6Address

from metalpool.addresses import IPAddress
from metalpool.leases import LeaseState
from speaker.membership.heartbeats import Heartbeats
from speaker.membership.messages import (
    ETHERTYPE,
    GROUP_MAC,
    Heartbeat,
    build_frame,
    claim_filter,
    decode,
    encode_heartbeat,
)
from speaker.membership.table import Mode, State

KEY = b"k" * 32
OTHER_KEY = b"x" * 32
MAC_A = bytes.fromhex("02000000000a")
IP1 = IPv4Address("192.0.2.1")
IP2 = IPv4Address("192.0.2.2")
IP6 = IPv6Address("2001:db8::1")
INTERVAL = 1.0
HOLD = 3.0  # so a speaker listens for 4 s before it may be READY
LEASE_DURATION = 10.0
NOTHING: frozenset[IPAddress] = frozenset()
# Every `now` here is T0 + a few seconds. `set_keys` reads the real monotonic clock to restart
# the listening period, taking the later of the two ends: T0 lies far beyond any uptime, so the
# explicit times below decide alone.
T0 = 1e9


def at(seconds: float) -> float:
    return T0 + seconds


def speaker(node: str, *, keys: tuple[bytes, ...] = (KEY,), now: float = T0) -> Heartbeats:
    heartbeats = Heartbeats(
        node, lease_duration=LEASE_DURATION, interval=INTERVAL, hold=HOLD, now=now
    )
    heartbeats.set_keys(keys)
    return heartbeats


def wire(payload: bytes | None, mac: bytes = MAC_A) -> bytes:
    assert payload is not None
    return build_frame(mac, payload)


def beat(sender: Heartbeats, receiver: Heartbeats, now: float, owned=NOTHING) -> bytes:
    """The heartbeat `sender` has due at `now`, delivered to `receiver`; the frame sent."""
    frame = wire(sender.outgoing(owned, now))
    receiver.incoming(frame, "eth0", now)
    return frame


def heartbeat(node: str) -> Heartbeat:
    return Heartbeat(node=node, incarnation=1, sequence=1, interval=INTERVAL, hold=HOLD)


def test_both_sides_speak_the_membership_ethertype_to_its_group():
    assert (speaker("a").ethertype, speaker("a").group) == (ETHERTYPE, GROUP_MAC)


def test_the_receiver_sees_the_sender_listening_then_ready_once_configured_and_listened():
    a, b = speaker("a"), speaker("b")
    beat(a, b, at(0))
    assert (b.view(at(0)).states, b.view(at(0)).modes, b.view(at(0)).candidates) == (
        {"a": State.LISTENING},
        {"a": Mode.WIRE},
        frozenset(),
    )
    a.set_configured()
    beat(a, b, at(1))
    beat(a, b, at(3))  # configured, but it has listened for 3 s of its 4
    assert (a.view(at(3)).ready, b.view(at(3)).states) == (False, {"a": State.LISTENING})
    beat(a, b, at(4))
    assert (a.view(at(4)).ready, b.view(at(4)).states, b.view(at(4)).candidates) == (
        True,
        {"a": State.READY},
        frozenset({"a"}),
    )
    assert (a.sent["heartbeat"], b.received["heartbeat"]) == (4, 4)


def test_an_unconfigured_speaker_never_says_it_is_ready():
    a, b = speaker("a"), speaker("b")
    beat(a, b, at(10))
    assert (a.view(at(10)).ready, b.view(at(10)).states) == (False, {"a": State.LISTENING})


def test_the_first_key_restarts_the_listening_period_of_a_speaker_not_yet_ready():
    start = time.monotonic()
    a = Heartbeats("a", lease_duration=LEASE_DURATION, interval=INTERVAL, hold=HOLD, now=start)
    a.set_configured()
    a.set_keys((KEY,))  # what it heard before could not be verified
    assert not a.view(start + HOLD + INTERVAL - 0.5).ready
    assert a.view(time.monotonic() + HOLD + INTERVAL).ready


def test_a_key_reaching_a_speaker_already_ready_by_its_leases_keeps_it_ready():
    start = time.monotonic()
    a = Heartbeats("a", lease_duration=LEASE_DURATION, interval=INTERVAL, hold=HOLD, now=start)
    a.set_configured()
    assert a.view(start + HOLD + INTERVAL).ready
    a.set_keys((KEY,))
    assert a.view(start + HOLD + INTERVAL).ready


def test_a_heartbeat_leaves_once_per_interval_and_never_in_a_burst_after_a_stall():
    a = speaker("a")
    assert [a.outgoing(NOTHING, at(t)) is not None for t in (0.0, 0.5, 1.0, 1.2)] == [
        True,
        False,
        True,
        False,
    ]
    assert a.next_due() == at(2)
    assert [a.outgoing(NOTHING, at(t)) is not None for t in (10.0, 10.1, 10.5)] == [
        True,
        False,
        True,
    ]


def test_a_heartbeat_claims_what_the_responder_answers_for():
    a, b = speaker("a"), speaker("b")
    beat(a, b, at(0), owned=frozenset({IP1, IP6}))
    view = b.view(at(0))
    assert (view.claims, view.claimants(IP1), view.claimants(IP6), view.claimants(IP2)) == (
        {"a": claim_filter([IP1, IP6])},
        frozenset({"a"}),
        frozenset({"a"}),
        frozenset(),
    )


def test_a_frame_signed_with_an_unknown_key_is_counted_as_forged_and_ignored():
    a, b = speaker("a", keys=(OTHER_KEY,)), speaker("b")
    beat(a, b, at(0))
    assert (b.rejected["forged"], b.received["heartbeat"], b.view(at(0)).states) == (1, 0, {})


def test_the_previous_key_still_verifies_during_a_rotation():
    a, b = speaker("a", keys=(OTHER_KEY,)), speaker("b", keys=(KEY, OTHER_KEY))
    beat(a, b, at(0))
    assert b.view(at(0)).states == {"a": State.LISTENING}


def test_a_replayed_frame_is_counted_and_refreshes_nothing():
    a, b = speaker("a"), speaker("b")
    frame = beat(a, b, at(0))
    b.incoming(frame, "eth0", at(2.5))
    assert (b.rejected["replayed"], b.view(at(HOLD)).states) == (1, {"a": State.DEAD})


def test_our_own_looped_back_frame_is_counted_as_own():
    a = speaker("a")
    beat(a, a, at(0))
    assert (a.rejected["own"], a.view(at(0)).states) == (1, {})


def test_a_malformed_frame_is_counted():
    b = speaker("b")
    b.incoming(b"\x00" * 60, "eth0", at(0))
    assert b.rejected["malformed"] == 1


def test_isolation_makes_a_ready_speaker_listen_again_and_bumps_the_epoch():
    a, b = speaker("a"), speaker("b")
    a.set_configured()
    assert (a.view(at(5)).ready, a.view(at(5)).epoch) == (True, 0)
    a.isolated("no interface has a carrier", 3, at(5))
    assert [(a.view(at(t)).ready, a.view(at(t)).epoch) for t in (5.0, 8.9, 9.0)] == [
        (False, 3),
        (False, 3),
        (True, 3),
    ]
    assert a.next_change(at(5)) == at(9)
    beat(a, b, at(6))
    assert b.view(at(6)).states == {"a": State.LISTENING}


def test_news_wakes_the_worker_and_a_plain_heartbeat_does_not():
    a, b = speaker("a"), speaker("b")
    wakes: list[str] = []
    b.attach(lambda: wakes.append("wake"))
    beat(a, b, at(0))  # a new peer
    beat(a, b, at(1))  # nothing new
    beat(a, b, at(2), owned=frozenset({IP1}))  # a new claim
    b.isolated("stall", 1, at(2.5))
    assert wakes == ["wake", "wake", "wake"]


def test_handed_ips_reach_the_new_winner_once():
    a, b, c = speaker("a"), speaker("b"), speaker("c")
    beat(a, b, at(0))
    payloads = a.handoffs({IP1: "b", IP6: "b", IP2: "c"})()
    assert (len(payloads), a.sent["handoff"]) == (2, 2)
    for payload in payloads:
        b.incoming(wire(payload), "eth0", at(0.5))
        c.incoming(wire(payload), "eth0", at(0.5))
    assert (b.take_handed(), b.take_handed(), c.take_handed()) == (
        frozenset({IP1, IP6}),
        frozenset(),
        frozenset({IP2}),
    )
    assert (b.received["handoff"], b.rejected["replayed"]) == (2, 0)


def test_an_ip_released_to_nobody_is_handed_to_nobody():
    assert speaker("a").handoffs({IP1: None})() == []


def test_handoffs_and_heartbeats_share_one_sequence():
    a, b = speaker("a"), speaker("b")
    beat(a, b, at(0))
    for payload in a.handoffs({IP1: "b"})():
        b.incoming(wire(payload), "eth0", at(0.5))
    beat(a, b, at(1))
    assert (b.received["handoff"], b.received["heartbeat"], b.rejected["replayed"]) == (1, 2, 0)


def test_a_handoff_decided_before_a_heartbeat_but_sent_after_it_still_arrives():
    a, b = speaker("a"), speaker("b")
    beat(a, b, at(0), owned=frozenset({IP1}))
    build = a.handoffs({IP1: "b"})  # the worker decides; the responder numbers it when sending
    beat(a, b, at(1), owned=frozenset({IP1}))  # the responder's heartbeat leaves first
    for payload in build():
        b.incoming(wire(payload), "eth0", at(1))
    assert b.take_handed() == {IP1}


def test_a_goodbye_makes_the_peer_left_at_once_and_the_speaker_unready():
    a, b = speaker("a"), speaker("b")
    a.set_configured()
    beat(a, b, at(5), owned=frozenset({IP1}))
    assert b.view(at(5)).states == {"a": State.READY}
    (goodbye,) = a.goodbye()()
    b.incoming(wire(goodbye), "eth0", at(5.1))
    view = b.view(at(5.1))
    assert (view.states, view.candidates, view.claims, view.gone_at) == (
        {"a": State.LEFT},
        frozenset(),
        {},
        {"a": at(5.1)},
    )
    assert (a.view(at(5.1)).ready, a.sent["goodbye"]) == (False, 1)


def test_a_goodbye_claims_nothing():
    a = speaker("a")
    a.outgoing(frozenset({IP1}), at(0))
    (goodbye,) = a.goodbye()()
    decoded = decode(wire(goodbye), (KEY,))
    assert isinstance(decoded, tuple)
    assert isinstance(decoded[0], Heartbeat)
    assert (decoded[0].leaving, decoded[0].ready, decoded[0].claims) == (True, False, b"")


def test_without_keys_nothing_is_sent_nor_accepted_and_the_speaker_still_becomes_ready():
    a = speaker("a", keys=())
    sent = (a.outgoing(NOTHING, at(0)), a.handoffs({IP1: "b"})(), a.goodbye()())
    a.set_configured()  # again: the goodbye above withdrew it
    a.incoming(wire(encode_heartbeat(heartbeat("b"), KEY)), "eth0", at(0))
    assert (sent, a.view(at(4)).ready, a.view(at(4)).states, a.rejected["forged"]) == (
        (None, [], []),
        True,
        {},
        1,
    )


def test_without_keys_peers_are_judged_by_their_leases():
    a = speaker("a", keys=())
    renewed = datetime(2026, 11, 26, tzinfo=UTC)
    lease = LeaseState(name="x", namespace="ns", holder="b", renewed=renewed)
    a.observe_lease("b", lease, at(1))
    view = a.view(at(2))
    assert (view.states, view.modes, view.candidates, view.claims) == (
        {"b": State.READY},
        {"b": Mode.LEASE},
        frozenset({"b"}),
        {},
    )
    assert a.next_change(at(5)) == at(11)


def test_next_change_is_the_end_of_listening_or_the_next_hold_to_run_out():
    a, b = speaker("a"), speaker("b")
    beat(a, b, at(2))
    assert [b.next_change(at(t)) for t in (0.0, 4.5, 5.0)] == [at(4), at(5), None]


def test_incoming_returns_the_ips_a_frame_hands_to_us_for_the_responder_to_take_at_once():
    a, b, c = speaker("a"), speaker("b"), speaker("c")
    beat(a, b, at(0))
    (to_b,) = a.handoffs({IP1: "b"})()
    assert b.incoming(wire(to_b), "eth0", at(0.5)) == {IP1}
    assert c.incoming(wire(to_b), "eth0", at(0.5)) == frozenset()  # addressed to b only


def test_a_later_heartbeat_leaves_the_election_as_it_was_and_silence_past_the_hold_does_not():
    """The worker skips a pass when the view reads the same (docs/footprint.md, idle CPU)."""
    a, b = speaker("a"), speaker("b")
    beat(a, b, at(0))
    before = b.view(at(0.5))
    beat(a, b, at(1))
    assert before.gone_at != b.view(at(1.5)).gone_at
    assert b.view(at(1.5)).same_election(before)
    assert not b.view(at(1 + HOLD)).same_election(before)


def test_a_peer_claiming_more_changes_the_election_but_not_the_members_and_silence_changes_both():
    """The worker batches a claims-only change and passes at once on membership news."""
    a, b = speaker("a"), speaker("b")
    beat(a, b, at(0))
    before = b.view(at(0.5))
    beat(a, b, at(1), owned=frozenset({IP1}))
    claiming = b.view(at(1.5))
    assert not claiming.same_election(before)
    assert claiming.same_members(before)
    assert not b.view(at(1 + HOLD)).same_members(before)


def test_the_responders_next_call_tells_the_worker_when_a_hold_runs_out_and_not_before():
    """The worker sets no timer of its own for holds (it woke ~3 times a second per peer)."""
    a, b = speaker("a"), speaker("b")
    told: list[float] = []
    b.attach(lambda: told.append(0.0))
    beat(a, b, at(0))
    b.outgoing(NOTHING, at(0.5))  # the first look: what later ones compare with
    told.clear()
    beat(a, b, at(1))  # a's hold now runs out at 1 + HOLD
    assert b.next_due() <= at(HOLD)
    b.outgoing(NOTHING, at(HOLD))
    assert told == []  # alive: a heartbeat moved the hold on
    assert b.next_due() <= at(1 + HOLD)
    b.outgoing(NOTHING, at(1 + HOLD))
    assert len(told) == 1
    assert b.view(at(1 + HOLD)).states == {"a": State.DEAD}


def test_a_peers_heartbeat_brings_ours_forward_when_it_is_due_within_half_an_interval():
    """So the responder wakes once for both: speakers fall into step, one answering the other."""
    a, b = speaker("a"), speaker("b")
    b.outgoing(NOTHING, at(0))  # b's next one is due at 1

    def hear_a(t: float) -> None:
        b.incoming(wire(a.outgoing(NOTHING, at(t), force=True)), "eth0", at(t))

    hear_a(0.3)
    assert b.next_due() > at(0.3)  # 0.7 away: b keeps its own time
    hear_a(0.6)
    assert b.next_due() == at(0.6)  # 0.4 away: b answers now
    assert b.outgoing(NOTHING, at(0.6)) is not None
    assert b.next_due() > at(0.6)


def test_a_burst_of_forced_heartbeats_never_delays_the_next_beyond_an_interval():
    """Each forced send (a table change) once added a whole interval to the schedule.

    Five changes in one moment pushed the next heartbeat five intervals away, past the hold:
    peers declared the speaker dead, and its own stall check withdrew everything (seen with
    --heartbeat-interval 10 in bench.footprint, and as stalls while Services are created).
    """
    a = speaker("a")
    a.outgoing(NOTHING, at(0))
    for _ in range(5):
        assert a.outgoing(NOTHING, at(0.5), force=True) is not None
    assert a.next_due() <= at(0.5) + INTERVAL
    assert a.outgoing(NOTHING, at(0.5) + INTERVAL) is not None
