"""Whether a Lease may be claimed is judged by local observation, never by comparing clocks."""

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metalpool.leases import (
    LeaseState,
    Observation,
    claim_spec,
    format_time,
    format_timestamp,
    is_claimable,
    observe,
    parse_lease,
    parse_time,
    release_spec,
)

T0 = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
ME = "standby"
FALLBACK = 15.0


def lease(
    holder: str | None = "leader",
    renewed: datetime | None = T0,
    version: str = "10",
    duration: float = 10.0,
) -> LeaseState:
    return LeaseState(
        name="metalpool-controller",
        namespace="metallb-system",
        holder=holder,
        duration=duration,
        acquired=T0 - timedelta(minutes=5),
        renewed=renewed,
        transitions=3,
        resource_version=version,
    )


def seen_over(*reads: tuple[float, LeaseState | None]) -> Observation:
    """Fold a sequence of (monotonic time, Lease read) into one observation."""
    seen = None
    for now, read in reads:
        seen = observe(seen, read, now)
    assert seen is not None
    return seen


@pytest.mark.parametrize(
    ("reads", "now", "expected"),
    [
        pytest.param([(100.0, lease(holder=None))], 100.0, True, id="released"),
        pytest.param([(100.0, None)], 100.0, True, id="no-lease-yet"),
        pytest.param([(100.0, lease(holder=ME))], 100.0, True, id="held-by-me"),
        pytest.param([(100.0, lease())], 100.0, False, id="first-sight-waits"),
        pytest.param([(100.0, lease())], 109.9, False, id="unchanged-less-than-duration"),
        pytest.param([(100.0, lease()), (105.0, lease())], 110.0, True, id="unchanged-duration"),
        pytest.param(
            [(100.0, lease()), (108.0, lease(renewed=T0 + timedelta(seconds=2), version="11"))],
            117.9,
            False,
            id="renewal-restarts-wait",
        ),
        pytest.param(
            [(100.0, lease()), (108.0, lease(renewed=T0 + timedelta(seconds=2), version="11"))],
            118.0,
            True,
            id="renewal-then-duration",
        ),
        pytest.param(
            [(100.0, lease()), (108.0, lease(holder="third", version="11"))],
            112.0,
            False,
            id="new-holder-restarts-wait",
        ),
        pytest.param(
            [(100.0, lease()), (108.0, lease(version="11"))],
            112.0,
            False,
            id="other-write-restarts-wait",
        ),
        pytest.param([(100.0, lease(duration=0.0))], 114.9, False, id="no-duration-fallback-wait"),
        pytest.param([(100.0, lease(duration=0.0))], 115.0, True, id="no-duration-fallback-claim"),
    ],
)
def test_may_claim_when_released_mine_or_unchanged_for_a_duration(reads, now, expected):
    assert is_claimable(seen_over(*reads), ME, now, FALLBACK) is expected


@pytest.mark.parametrize(
    "skew",
    [
        pytest.param(timedelta(hours=1), id="renewtime-an-hour-ahead"),
        pytest.param(-timedelta(hours=1), id="renewtime-an-hour-behind"),
        pytest.param(timedelta(days=-365), id="renewtime-a-year-behind"),
    ],
)
def test_a_renew_time_far_from_any_clock_changes_nothing(skew):
    skewed = lease(renewed=T0 + skew)
    assert is_claimable(seen_over((100.0, skewed)), ME, 109.9, FALLBACK) is False
    assert is_claimable(seen_over((100.0, skewed)), ME, 110.0, FALLBACK) is True


def test_the_same_state_read_again_keeps_the_time_it_was_first_seen():
    first = observe(None, lease(), 100.0)
    assert observe(first, lease(), 150.0) is first
    assert first == Observation(
        holder="leader", renewed=T0, resource_version="10", duration=10.0, since=100.0
    )


def test_a_lease_that_disappears_is_observed_as_released():
    seen = seen_over((100.0, lease()), (101.0, None))
    assert seen == Observation(since=101.0)
    assert is_claimable(seen, ME, 101.0, FALLBACK) is True


def test_a_takeover_writes_the_wall_clock_and_counts_a_transition():
    now = T0 + timedelta(seconds=30)
    assert claim_spec(lease(), ME, now, 2.5) == {
        "holderIdentity": ME,
        "leaseDurationSeconds": 3,
        "acquireTime": "2026-12-01T12:00:30.000000Z",
        "renewTime": "2026-12-01T12:00:30.000000Z",
        "leaseTransitions": 4,
    }


def test_a_renewal_keeps_acquire_time_and_transitions_whatever_the_clocks_say():
    # The holder's own Lease renewed an hour "in the past" by this clock is still ours to renew.
    now = T0 + timedelta(hours=1)
    assert claim_spec(lease(holder=ME), ME, now, 15.0) == {
        "holderIdentity": ME,
        "leaseDurationSeconds": 15,
        "acquireTime": "2026-12-01T11:55:00.000000Z",
        "renewTime": "2026-12-01T13:00:00.000000Z",
        "leaseTransitions": 3,
    }


def test_the_first_claim_creates_the_lease_with_no_transitions():
    assert claim_spec(None, ME, T0, 15.0)["leaseTransitions"] == 0


def test_a_released_lease_round_trips_as_having_no_holder():
    released = {
        "metadata": {"name": "l", "namespace": "n", "resourceVersion": "12"},
        "spec": release_spec(lease(), T0),
    }
    parsed = parse_lease(released)
    assert (parsed.holder, parsed.transitions, parsed.resource_version) == (None, 3, "12")
    assert is_claimable(observe(None, parsed, 0.0), ME, 0.0, FALLBACK) is True


# Expiry follows renewTime (as observed), never acquireTime -------------------------------


def held_since(acquired: datetime, renewed: datetime, version: str = "10") -> LeaseState:
    return LeaseState(
        name="metalpool-controller",
        namespace="metallb-system",
        holder="leader",
        duration=10.0,
        acquired=acquired,
        renewed=renewed,
        resource_version=version,
    )


def test_a_lease_acquired_long_ago_but_renewed_just_now_is_held():
    long_ago = T0 - timedelta(days=30)
    reads = [(100.0 + 5 * n, held_since(long_ago, T0 + timedelta(seconds=5 * n))) for n in range(6)]
    # Renewals every 5 s of a Lease taken a month ago: never unchanged for its 10 s duration.
    assert is_claimable(seen_over(*reads), ME, 134.9, FALLBACK) is False


def test_a_renewed_time_alone_restarts_the_wait_even_at_the_same_resource_version():
    seen = seen_over(
        (100.0, held_since(T0, T0)), (108.0, held_since(T0, T0 + timedelta(seconds=8)))
    )
    assert seen.renewed == T0 + timedelta(seconds=8)
    assert is_claimable(seen, ME, 110.0, FALLBACK) is False
    assert is_claimable(seen, ME, 118.0, FALLBACK) is True


def test_a_lease_with_a_fresh_acquire_time_but_no_renewal_runs_out():
    # acquireTime moving (it should not, but a peer may write anything) is not a renewal.
    stale = T0 - timedelta(minutes=1)
    seen = seen_over(
        (100.0, held_since(T0, stale)), (105.0, held_since(T0 + timedelta(seconds=5), stale))
    )
    assert is_claimable(seen, ME, 109.9, FALLBACK) is False
    assert is_claimable(seen, ME, 110.0, FALLBACK) is True


def test_a_renewal_never_moves_acquire_time_a_takeover_does():
    taken = claim_spec(held_since(T0 - timedelta(days=30), T0), "leader", T0, 10.0)
    assert (taken["acquireTime"], taken["renewTime"]) == (
        "2026-11-01T12:00:00.000000Z",
        "2026-12-01T12:00:00.000000Z",
    )
    took_over = claim_spec(held_since(T0 - timedelta(days=30), T0), ME, T0, 10.0)
    assert took_over["acquireTime"] == took_over["renewTime"] == "2026-12-01T12:00:00.000000Z"


# Times on the wire: metav1.MicroTime ("2006-01-02T15:04:05.000000Z07:00") and metav1.Time -----

MICRO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
WHOLE_SECONDS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
aware = st.datetimes(
    min_value=datetime(1970, 1, 1),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=7))]),
)


@pytest.mark.parametrize(
    ("when", "written"),
    [
        pytest.param(
            datetime(2026, 12, 2, 10, 51, 49, 123456, tzinfo=UTC),
            "2026-12-02T10:51:49.123456Z",
            id="microseconds",
        ),
        pytest.param(
            datetime(2026, 12, 2, 10, 51, 49, tzinfo=UTC),
            "2026-12-02T10:51:49.000000Z",
            id="whole seconds keep six zeros",
        ),
        pytest.param(
            datetime(2026, 12, 2, 12, 51, 49, 5, tzinfo=timezone(timedelta(hours=2))),
            "2026-12-02T10:51:49.000005Z",
            id="another zone is written in UTC",
        ),
    ],
)
def test_lease_times_are_written_as_micro_time(when, written):
    assert format_time(when) == written


@given(aware)
def test_every_written_lease_time_is_micro_time_and_reads_back(when):
    written = format_time(when)
    assert MICRO_TIME.fullmatch(written)
    assert parse_time(written) == when


@given(aware)
def test_every_written_timestamp_is_whole_seconds_and_reads_back(when):
    written = format_timestamp(when)
    assert WHOLE_SECONDS.fullmatch(written)
    assert parse_time(written) == when.replace(microsecond=0)


def test_every_time_a_claim_or_release_writes_is_micro_time():
    written = [
        *claim_spec(None, ME, T0, 15.0).values(),
        *claim_spec(lease(), ME, T0 + timedelta(microseconds=7), 15.0).values(),
        release_spec(lease(), T0)["renewTime"],
    ]
    times = [w for w in written if isinstance(w, str) and w[:1].isdigit()]
    assert len(times) == 5
    assert all(MICRO_TIME.fullmatch(t) for t in times)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            "2026-12-02T10:51:49.123456Z",
            datetime(2026, 12, 2, 10, 51, 49, 123456, tzinfo=UTC),
            id="micro-time",
        ),
        pytest.param(
            "2026-12-02T10:51:49Z", datetime(2026, 12, 2, 10, 51, 49, tzinfo=UTC), id="time"
        ),
        pytest.param(
            "2026-12-02T12:51:49.123456+02:00",
            datetime(2026, 12, 2, 10, 51, 49, 123456, tzinfo=UTC),
            id="an offset",
        ),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="absent"),
        pytest.param(1764672709, None, id="a number"),
        pytest.param("yesterday", None, id="not a time"),
    ],
)
def test_reads_what_kubernetes_writes(raw, expected):
    assert parse_time(raw) == expected


def test_a_lease_as_kubernetes_returns_it_reads_both_times():
    parsed = parse_lease(
        {
            "metadata": {"name": "l", "namespace": "n", "resourceVersion": "7"},
            "spec": {
                "holderIdentity": "leader",
                "leaseDurationSeconds": 15,
                "acquireTime": "2026-12-02T10:51:49.123456Z",
                "renewTime": "2026-12-02T10:52:04.654321Z",
                "leaseTransitions": 2,
            },
        }
    )
    assert parsed.acquired == datetime(2026, 12, 2, 10, 51, 49, 123456, tzinfo=UTC)
    assert parsed.renewed == datetime(2026, 12, 2, 10, 52, 4, 654321, tzinfo=UTC)
