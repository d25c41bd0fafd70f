"""Whether a Lease may be claimed is judged by local observation, never by comparing clocks."""

from datetime import UTC, datetime, timedelta

import pytest

from metalpool.leases import (
    LeaseState,
    Observation,
    claim_spec,
    is_claimable,
    observe,
    parse_lease,
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
