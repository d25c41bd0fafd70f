from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metalpool.addresses import IPAddress
from metalpool.leases import LeaseState
from speaker.membership.messages import Handoff, Heartbeat, Message, Rejection, claim_filter
from speaker.membership.table import (
    REVIVE_AFTER,
    SUPERSEDED_KEPT,
    Accepted,
    Mode,
    PeerTable,
    State,
)

ME = "me"
IP1 = IPv4Address("192.0.2.1")
IP2 = IPv4Address("192.0.2.2")
IP6 = IPv6Address("2001:db8::1")
WALL = datetime(2026, 11, 26, 12, tzinfo=UTC)
DURATION = 10.0


def beat(
    node: str = "b",
    *,
    incarnation: int = 1,
    sequence: int = 1,
    ready: bool = True,
    leaving: bool = False,
    interval: float = 1.0,
    hold: float = 3.0,
    claims: bytes = b"",
) -> Heartbeat:
    return Heartbeat(
        node=node,
        incarnation=incarnation,
        sequence=sequence,
        interval=interval,
        hold=hold,
        ready=ready,
        leaving=leaving,
        claims=claims,
    )


def handoff(
    node: str = "b",
    *,
    incarnation: int = 1,
    sequence: int = 1,
    to: str = ME,
    ips: tuple[IPAddress, ...] = (IP1,),
) -> Handoff:
    return Handoff(node=node, incarnation=incarnation, sequence=sequence, to=to, ips=ips)


def fed(*messages: tuple[Message, float]) -> PeerTable:
    """A table that has accepted each message at its time (a rejection fails the test)."""
    table = PeerTable(ME, lease_duration=DURATION)
    for message, now in messages:
        assert isinstance(table.accept(message, now), Accepted)
    return table


def lease(holder: str | None, renewed: datetime | None = WALL) -> LeaseState:
    return LeaseState(name="x", namespace="metallb-system", holder=holder, renewed=renewed)


def renewal(seconds: float) -> LeaseState:
    """A Lease of b renewed again (a new renewTime: the value itself never matters)."""
    return lease("b", WALL + timedelta(seconds=seconds))


# ---------------------------------------------------------------------- wire liveness


@pytest.mark.parametrize(
    ("ready", "state"),
    [
        pytest.param(False, State.LISTENING, id="not-ready-flag-listening"),
        pytest.param(True, State.READY, id="ready-flag-ready"),
    ],
)
def test_a_heartbeat_makes_a_wire_peer_listening_or_ready_by_its_flag(ready, state):
    table = fed((beat(ready=ready), 100.0))
    assert (table.mode("b", 100.0), table.state("b", 100.0), table.nodes()) == (
        Mode.WIRE,
        state,
        frozenset({"b"}),
    )


@pytest.mark.parametrize(
    ("now", "state"),
    [
        pytest.param(100.0, State.READY, id="at-receipt"),
        pytest.param(102.999, State.READY, id="just-before-hold"),
        pytest.param(103.0, State.DEAD, id="exactly-at-heard-plus-hold"),
        pytest.param(500.0, State.DEAD, id="long-after"),
    ],
)
def test_a_peer_silent_for_its_own_hold_is_dead_exactly_at_heard_plus_hold(now, state):
    table = fed((beat(hold=3.0), 100.0))
    assert table.state("b", now) is state


@given(
    heard=st.integers(0, 10**9).map(lambda ms: ms / 1000),
    hold=st.integers(1, 65535).map(lambda ms: ms / 1000),
)
def test_the_hold_boundary_is_the_time_next_change_and_gone_at_give(heard, hold):
    table = fed((beat(hold=hold), heard))
    boundary = heard + hold
    assert table.next_change(heard) == table.gone_at("b") == boundary
    assert table.state("b", boundary) is State.DEAD
    assert table.state("b", heard) is State.READY


def test_the_hold_of_each_peer_is_its_own():
    table = fed((beat("b", hold=1.0), 100.0), (beat("c", hold=5.0), 100.0))
    assert {n: table.state(n, 102.0) for n in ("b", "c")} == {"b": State.DEAD, "c": State.READY}


def test_a_leaving_peer_is_left_at_once_and_gone_when_it_said_so():
    table = fed((beat(sequence=1), 100.0), (beat(sequence=2, leaving=True), 101.0))
    assert (table.state("b", 101.0), table.gone_at("b"), table.candidates(101.0)) == (
        State.LEFT,
        101.0,
        frozenset(),
    )


def test_candidates_are_only_the_ready_peers():
    table = fed(
        (beat("ready"), 100.0),
        (beat("listening", ready=False), 100.0),
        (beat("dead", hold=1.0), 98.0),
        (beat("left", leaving=True), 100.0),
    )
    table.observe_lease("lease-ready", lease("lease-ready"), 100.0)
    table.observe_lease("lease-left", lease(None), 100.0)
    assert table.candidates(100.0) == {"ready", "lease-ready"}


def test_a_node_we_know_nothing_of_is_dead():
    assert PeerTable(ME, lease_duration=DURATION).state("stranger", 0.0) is State.DEAD


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(beat(ME), id="heartbeat"),
        pytest.param(handoff(ME, to="b"), id="handoff"),
    ],
)
def test_our_own_looped_back_frame_is_rejected_as_own(message):
    table = PeerTable(ME, lease_duration=DURATION)
    assert table.accept(message, 100.0) is Rejection.OWN
    assert table.nodes() == frozenset()


# ---------------------------------------------------------------------- replays


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(beat(sequence=5), id="heartbeat-same-sequence"),
        pytest.param(beat(sequence=4), id="heartbeat-older-sequence"),
        pytest.param(handoff(sequence=5), id="handoff-same-sequence"),
        pytest.param(handoff(sequence=1), id="handoff-older-sequence"),
    ],
)
def test_a_sequence_not_above_the_last_of_the_incarnation_is_replayed(message):
    table = fed((beat(sequence=5), 100.0))
    assert table.accept(message, 100.5) is Rejection.REPLAYED


def test_heartbeats_and_handoffs_share_one_sequence_counter():
    table = fed((beat(sequence=5), 100.0), (handoff(sequence=6), 100.1))
    assert table.accept(beat(sequence=6), 100.2) is Rejection.REPLAYED
    assert table.accept(handoff(sequence=6), 100.2) is Rejection.REPLAYED
    assert isinstance(table.accept(beat(sequence=7), 100.3), Accepted)


def test_a_replay_does_not_refresh_a_peer():
    table = fed((beat(sequence=5, hold=3.0), 100.0))
    table.accept(beat(sequence=5, hold=3.0), 102.0)
    assert table.state("b", 103.0) is State.DEAD


@pytest.mark.parametrize(
    "second",
    [
        pytest.param(beat(incarnation=2, sequence=1), id="heartbeat"),
        pytest.param(beat(incarnation=2, sequence=99), id="heartbeat-higher-sequence"),
        pytest.param(handoff(incarnation=2, sequence=1), id="handoff"),
    ],
)
def test_a_new_incarnation_while_the_current_one_is_alive_is_stale(second):
    table = fed((beat(incarnation=1, sequence=5, hold=3.0), 100.0))
    assert table.accept(second, 102.9) is Rejection.STALE
    assert table.state("b", 103.0) is State.DEAD  # and it refreshed nothing


@pytest.mark.parametrize(
    ("first", "now"),
    [
        pytest.param(beat(incarnation=1, sequence=5, hold=3.0), 103.0, id="current-dead"),
        pytest.param(beat(incarnation=1, sequence=5, leaving=True), 100.0, id="current-left"),
    ],
)
def test_a_new_incarnation_is_accepted_once_the_current_one_is_dead_or_left(first, now):
    table = fed((first, 100.0))
    assert table.accept(beat(incarnation=2, sequence=1), now) == Accepted(node="b", changed=True)
    assert table.state("b", now) is State.READY


def test_a_superseded_incarnation_is_stale_forever_even_when_the_current_one_is_dead():
    table = fed((beat(incarnation=1, sequence=9), 100.0), (beat(incarnation=2), 200.0))
    assert table.accept(beat(incarnation=1, sequence=10), 10_000.0) is Rejection.STALE
    assert table.state("b", 10_000.0) is State.DEAD


def restarted(times: int) -> PeerTable:
    """A peer that ran incarnations 1..times, each one after the previous one died."""
    return fed(*((beat(incarnation=i), 100.0 * i) for i in range(1, times + 1)))


@pytest.mark.parametrize(
    ("incarnations", "replayed", "outcome"),
    [
        pytest.param(SUPERSEDED_KEPT + 1, 1, Rejection.STALE, id="oldest-kept-is-stale"),
        pytest.param(SUPERSEDED_KEPT + 1, SUPERSEDED_KEPT, Rejection.STALE, id="newest-kept"),
        pytest.param(SUPERSEDED_KEPT + 2, 2, Rejection.STALE, id="kept-after-shift"),
        pytest.param(SUPERSEDED_KEPT + 2, 1, Accepted(node="b", changed=True), id="forgotten"),
    ],
)
def test_up_to_superseded_kept_old_incarnations_are_remembered(incarnations, replayed, outcome):
    table = restarted(incarnations)
    assert table.accept(beat(incarnation=replayed, sequence=2), 10_000.0) == outcome


@dataclass(frozen=True)
class Arrival:
    incarnation: int
    sequence: int
    after: float  # seconds after the previous arrival
    kind: str
    leaving: bool


ARRIVALS = st.lists(
    st.builds(
        Arrival,
        incarnation=st.integers(1, 4),
        sequence=st.integers(0, 6),
        after=st.sampled_from((0.0, 0.5, 1.0, 3.0)),
        kind=st.sampled_from(("heartbeat", "handoff")),
        leaving=st.booleans(),
    ),
    max_size=40,
)


@given(ARRIVALS)
def test_whatever_arrives_an_incarnation_moves_forward_and_never_comes_back(arrivals):
    table = PeerTable(ME, lease_duration=DURATION)
    now = 0.0
    accepted: list[tuple[int, int]] = []
    for arrival in arrivals:
        now += arrival.after
        message: Message
        if arrival.kind == "heartbeat":
            message = beat(
                incarnation=arrival.incarnation,
                sequence=arrival.sequence,
                leaving=arrival.leaving,
                hold=2.0,
            )
        else:
            message = handoff(incarnation=arrival.incarnation, sequence=arrival.sequence)
        state_before = table.state("b", now)
        outcome = table.accept(message, now)
        current = accepted[-1] if accepted else None
        if isinstance(outcome, Accepted):
            if current is not None and current[0] == arrival.incarnation:
                assert arrival.sequence > current[1]
            elif current is not None:
                assert state_before in (State.DEAD, State.LEFT)
                assert arrival.incarnation not in {i for i, _ in accepted}
            accepted.append((arrival.incarnation, arrival.sequence))
        elif outcome is Rejection.REPLAYED:
            assert current is not None
            assert (arrival.incarnation, arrival.sequence <= current[1]) == (current[0], True)
        else:
            assert outcome is Rejection.STALE
            assert current is not None
            assert arrival.incarnation != current[0]


# ---------------------------------------------------------------------- what changed


CLAIMS = claim_filter([IP1])


@pytest.mark.parametrize(
    ("before", "message", "now", "changed"),
    [
        pytest.param(None, beat(), 100.0, True, id="new-peer"),
        pytest.param(beat(), beat(sequence=2), 101.0, False, id="plain-fresher-heartbeat"),
        pytest.param(beat(), beat(sequence=2, ready=False), 101.0, True, id="ready-flips"),
        pytest.param(beat(), beat(sequence=2, claims=CLAIMS), 101.0, True, id="claims-change"),
        pytest.param(
            beat(claims=CLAIMS), beat(sequence=2, claims=CLAIMS), 101.0, False, id="same-claims"
        ),
        pytest.param(beat(), beat(sequence=2, leaving=True), 101.0, True, id="leaving"),
        pytest.param(beat(), beat(sequence=2, hold=5.0), 101.0, True, id="hold-changes"),
        pytest.param(beat(), beat(sequence=2), 103.0, True, id="comeback-after-death"),
        pytest.param(beat(), handoff(sequence=2), 101.0, False, id="handoff-from-live-peer"),
        pytest.param(beat(), handoff(sequence=2), 103.5, True, id="handoff-after-death"),
        pytest.param(None, handoff(), 100.0, True, id="handoff-from-new-peer"),
        pytest.param(beat(leaving=True), beat(incarnation=2), 101.0, True, id="new-incarnation"),
    ],
)
def test_changed_says_whether_an_election_could_come_out_differently(before, message, now, changed):
    table = fed() if before is None else fed((before, 100.0))
    outcome = table.accept(message, now)
    assert isinstance(outcome, Accepted)
    assert outcome.changed is changed


# ---------------------------------------------------------------------- hand-offs


@pytest.mark.parametrize(
    ("to", "handed"),
    [
        pytest.param(ME, (IP1, IP6), id="to-us"),
        pytest.param("c", (), id="to-another-node"),
    ],
)
def test_a_handoff_hands_us_its_ips_only_when_addressed_to_us(to, handed):
    table = fed((beat(), 100.0))
    outcome = table.accept(handoff(sequence=2, to=to, ips=(IP1, IP6)), 100.5)
    assert outcome == Accepted(node="b", changed=False, handoff=handed)


def test_a_heartbeat_hands_nothing_over():
    assert fed().accept(beat(claims=CLAIMS), 100.0) == Accepted(node="b", changed=True)


def test_a_handoff_from_an_unheard_peer_makes_it_a_listening_wire_peer_for_a_second():
    table = fed((handoff(), 100.0))
    assert (table.mode("b", 100.9), table.state("b", 100.9), table.state("b", 101.0)) == (
        Mode.WIRE,
        State.LISTENING,
        State.DEAD,
    )


# ---------------------------------------------------------------------- the Lease fallback


def test_a_peer_never_heard_on_the_wire_is_judged_by_its_lease():
    table = PeerTable(ME, lease_duration=DURATION)
    table.observe_lease("b", lease("b"), 100.0)
    assert (table.mode("b", 109.9), table.state("b", 109.9), table.candidates(109.9)) == (
        Mode.LEASE,
        State.READY,
        frozenset({"b"}),
    )
    assert table.next_change(109.9) == 110.0  # where a Lease alone would run out


def test_a_lease_not_renewed_stays_ready_while_our_own_renewal_is_not_seen_after_it():
    table = PeerTable(ME, lease_duration=DURATION)
    table.observe_lease("b", lease("b"), 100.0)
    table.observe_lease(ME, lease(ME), 105.0)  # the API path worked, but before b's deadline
    assert [table.state("b", t) for t in (110.0, 1_000.0)] == [State.READY, State.READY]


@pytest.mark.parametrize(
    ("own_renewal_seen", "state"),
    [
        pytest.param(109.9, State.READY, id="before-the-deadline-fail-static"),
        pytest.param(110.0, State.DEAD, id="at-the-deadline"),
        pytest.param(110.5, State.DEAD, id="after-the-deadline"),
    ],
)
def test_a_lease_peer_is_dead_once_our_own_renewal_comes_back_after_its_deadline(
    own_renewal_seen, state
):
    table = PeerTable(ME, lease_duration=DURATION)
    table.observe_lease(ME, lease(ME, WALL - timedelta(seconds=1)), 99.0)
    table.observe_lease("b", lease("b"), 100.0)
    table.observe_lease(ME, lease(ME), own_renewal_seen)
    assert table.state("b", 111.0) is state


def test_seeing_our_own_lease_again_unchanged_is_no_proof_the_api_path_works():
    table = PeerTable(ME, lease_duration=DURATION)
    table.observe_lease(ME, lease(ME), 99.0)
    table.observe_lease("b", lease("b"), 100.0)
    table.observe_lease(ME, lease(ME), 111.0)  # a relist: the same renewTime
    assert table.state("b", 111.0) is State.READY


def test_a_dead_lease_peer_renewing_again_is_ready_again():
    table = PeerTable(ME, lease_duration=DURATION)
    table.observe_lease("b", renewal(0), 100.0)
    table.observe_lease(ME, lease(ME), 111.0)
    assert table.state("b", 111.0) is State.DEAD
    table.observe_lease("b", renewal(1), 112.0)
    assert table.state("b", 112.0) is State.READY


@pytest.mark.parametrize(
    "released",
    [
        pytest.param(lease(None), id="released"),
        pytest.param(None, id="deleted"),
    ],
)
def test_a_released_lease_is_left_at_once_and_gone_when_seen(released):
    table = PeerTable(ME, lease_duration=DURATION)
    table.observe_lease("b", lease("b"), 100.0)
    table.observe_lease("b", released, 101.0)
    assert (table.state("b", 101.0), table.gone_at("b"), table.next_change(101.0)) == (
        State.LEFT,
        101.0,
        None,
    )


def test_the_same_lease_seen_again_is_no_renewal():
    table = PeerTable(ME, lease_duration=DURATION)
    table.observe_lease("b", lease("b"), 100.0)
    table.observe_lease("b", lease("b"), 109.0)  # a relist or resync
    table.observe_lease(ME, lease(ME), 110.0)
    assert (table.state("b", 110.0), table.gone_at("b")) == (State.DEAD, 110.0)


@pytest.mark.parametrize(
    "renewed",
    [
        pytest.param(WALL - timedelta(days=1), id="a-day-in-the-past"),
        pytest.param(WALL + timedelta(days=1), id="a-day-in-the-future"),
        pytest.param(None, id="no-renew-time"),
    ],
)
def test_a_lease_renew_time_is_never_compared_with_a_clock(renewed):
    table = PeerTable(ME, lease_duration=DURATION)
    table.observe_lease("b", lease("b", renewed), 100.0)
    assert table.state("b", 109.0) is State.READY


def test_once_heard_on_the_wire_a_peer_is_judged_by_the_wire_alone():
    table = fed((beat(hold=3.0), 100.0))
    table.observe_lease("b", lease("b"), 100.0)
    table.observe_lease("b", lease(None), 101.0)  # released: would be LEFT in LEASE mode
    assert (table.mode("b", 101.0), table.state("b", 101.0)) == (Mode.WIRE, State.READY)
    table.observe_lease("b", renewal(5), 102.5)  # fresh: would be READY in LEASE mode
    assert table.state("b", 103.0) is State.DEAD


def test_a_lease_peer_heard_on_the_wire_switches_to_wire_mode():
    table = PeerTable(ME, lease_duration=DURATION)
    table.observe_lease("b", lease("b"), 100.0)
    table.accept(beat(ready=False, hold=3.0), 101.0)
    assert (table.mode("b", 101.0), table.state("b", 101.0), table.state("b", 104.0)) == (
        Mode.WIRE,
        State.LISTENING,
        State.DEAD,
    )


@dataclass(frozen=True)
class Sighting:
    node: str  # "b" (a peer) or ME (our own Lease)
    released: bool
    after: float  # seconds after the previous sighting


SIGHTINGS = st.lists(
    st.builds(
        Sighting,
        node=st.sampled_from(("b", ME)),
        released=st.booleans(),
        after=st.sampled_from((0.0, 1.0, 4.0, 9.99, 10.0, 25.0)),
    ),
    max_size=12,
)
DAY_US = 86_400_000_000
RENEW_TIMES = st.lists(  # a renewTime anywhere within a day of WALL, each renewal its own
    st.integers(-DAY_US, DAY_US).map(lambda us: WALL + timedelta(microseconds=us)),
    min_size=12,
    max_size=12,
    unique=True,
)


@given(sightings=SIGHTINGS, first=RENEW_TIMES, second=RENEW_TIMES)
def test_a_lease_peer_depends_on_monotonic_times_only_never_on_renew_times(
    sightings, first, second
):
    tables = (PeerTable(ME, lease_duration=DURATION), PeerTable(ME, lease_duration=DURATION))
    now = 0.0
    for index, sighting in enumerate(sightings):
        now += sighting.after
        for table, renew_times in zip(tables, (first, second), strict=True):
            holder = None if sighting.released else sighting.node
            table.observe_lease(sighting.node, lease(holder, renew_times[index]), now)
        for probe in (now, now + 5.0, now + DURATION, now + 100.0):
            judged = [
                (t.state("b", probe), t.mode("b", probe), t.next_change(probe)) for t in tables
            ]
            assert judged[0] == judged[1]


# ---------------------------------------------------------------------- claims and timers


@pytest.mark.parametrize(
    ("messages", "ip", "claimants"),
    [
        pytest.param([beat(claims=claim_filter([IP1, IP6]))], IP6, {"b"}, id="ready-claims"),
        pytest.param(
            [beat(ready=False, claims=claim_filter([IP1]))], IP1, {"b"}, id="listening-claims"
        ),
        pytest.param([beat(claims=claim_filter([IP1]))], IP2, set(), id="not-in-its-filter"),
        pytest.param([beat()], IP1, set(), id="claims-nothing"),
        pytest.param(
            [beat(hold=0.5, claims=claim_filter([IP1]))], IP1, set(), id="dead-claims-nothing"
        ),
        pytest.param(
            [beat(leaving=True, claims=claim_filter([IP1]))], IP1, set(), id="left-claims-nothing"
        ),
        pytest.param(
            [beat("b", claims=claim_filter([IP1])), beat("c", claims=claim_filter([IP1, IP2]))],
            IP1,
            {"b", "c"},
            id="two-claimants",
        ),
    ],
)
def test_claimants_are_alive_wire_peers_whose_claim_filter_holds_the_ip(messages, ip, claimants):
    table = fed(*((message, 100.0) for message in messages))
    assert table.claimants(ip, 100.5) == claimants


def test_a_lease_peer_claims_nothing():
    table = PeerTable(ME, lease_duration=DURATION)
    table.observe_lease("b", lease("b"), 100.0)
    assert (table.claimants(IP1, 100.0), table.claims_of("b")) == (frozenset(), b"")


def test_claims_of_is_the_filter_of_the_last_heartbeat():
    table = fed((beat(claims=claim_filter([IP1])), 100.0), (beat(sequence=2), 100.5))
    assert table.claims_of("b") == b""


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(100.0, 101.0, id="the-earliest-hold"),
        pytest.param(101.0, 103.0, id="a-dead-peer-no-longer-counts"),
        pytest.param(104.0, 110.0, id="then-the-lease-deadline"),
        pytest.param(110.0, None, id="nothing-left-to-run-out"),
    ],
)
def test_next_change_is_the_earliest_hold_or_lease_deadline_still_ahead(now, expected):
    table = fed(
        (beat("b", hold=1.0), 100.0),
        (beat("c", hold=3.0), 100.0),
        (beat("gone", leaving=True), 100.0),
    )
    table.observe_lease("lease", lease("lease"), 100.0)
    table.observe_lease("released", lease(None), 100.0)
    assert table.next_change(now) == expected


def test_next_change_ignores_the_lease_of_a_peer_heard_on_the_wire():
    table = fed((beat(hold=3.0), 100.0))
    table.observe_lease("b", lease("b"), 100.0)
    assert table.next_change(104.0) is None


def test_an_empty_table_never_changes_by_itself():
    assert PeerTable(ME, lease_duration=DURATION).next_change(0.0) is None


@pytest.mark.parametrize(
    ("feed", "gone_at"),
    [
        pytest.param(lambda t: t.accept(beat(hold=3.0), 100.0), 103.0, id="wire-silent"),
        pytest.param(lambda t: t.accept(beat(leaving=True), 100.0), 100.0, id="wire-goodbye"),
        pytest.param(lambda t: t.observe_lease("b", lease("b"), 100.0), 110.0, id="lease-expiry"),
        pytest.param(lambda t: t.observe_lease("b", None, 100.0), 100.0, id="lease-deleted"),
        pytest.param(lambda t: None, None, id="unknown"),
    ],
)
def test_gone_at_is_when_a_peer_stopped_being_alive(feed, gone_at):
    table = PeerTable(ME, lease_duration=DURATION)
    feed(table)
    assert table.gone_at("b") == gone_at


def test_a_peer_that_left_and_took_its_lease_again_unheard_is_judged_by_its_lease():
    table = fed((beat(), 0.0))
    table.observe_lease("b", lease("b"), 0.0)
    table.accept(beat(sequence=2, leaving=True), 1.0)  # goodbye: LEFT at once
    table.observe_lease("b", lease(None), 1.1)  # released on the way out
    assert (table.state("b", 1.5), table.mode("b", 1.5)) == (State.LEFT, Mode.WIRE)
    table.observe_lease("b", lease("b", WALL + timedelta(seconds=5)), 2.0)  # restarted
    # A restart is heard within its listening period: its Lease speaks only after that.
    assert (table.state("b", 3.9), table.mode("b", 3.9)) == (State.LEFT, Mode.WIRE)
    assert table.next_change(3.0) == 2.0 + REVIVE_AFTER
    assert (table.state("b", 4.0), table.mode("b", 4.0)) == (State.READY, Mode.LEASE)
    assert table.candidates(4.0) == {"b"}


def test_a_silent_peer_whose_lease_is_renewed_twice_is_running_unheard():
    table = fed((beat(), 0.0))  # hold 3 s: dead at 3.0
    table.observe_lease("b", renewal(0), 0.5)
    table.observe_lease("b", renewal(10), 5.0)
    assert (table.state("b", 5.5), table.mode("b", 5.5)) == (State.DEAD, Mode.WIRE)
    table.observe_lease("b", renewal(20), 15.0)
    assert (table.state("b", 15.5), table.mode("b", 15.5)) == (State.READY, Mode.LEASE)


def test_a_crashed_peer_is_never_revived_by_the_renewal_it_made_before_dying():
    table = fed((beat(), 0.0))
    table.observe_lease("b", renewal(0), 0.1)
    table.observe_lease("b", renewal(1), 0.2)
    assert (table.state("b", 20.0), table.mode("b", 20.0)) == (State.DEAD, Mode.WIRE)


def test_a_revived_peer_heard_again_is_back_on_the_wire():
    table = fed((beat(), 0.0))
    table.observe_lease("b", lease(None), 0.5)
    table.observe_lease("b", lease("b"), 5.0)
    assert table.mode("b", 7.5) is Mode.LEASE
    assert isinstance(table.accept(beat(incarnation=2, sequence=1), 6.0), Accepted)
    assert (table.state("b", 6.5), table.mode("b", 6.5)) == (State.READY, Mode.WIRE)
