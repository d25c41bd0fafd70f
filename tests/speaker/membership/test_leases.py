from datetime import UTC, datetime, timedelta

from metalpool.leases import LeaseState
from speaker.membership.leases import Membership, lease_name, node_of

WALL = datetime(2026, 11, 26, tzinfo=UTC)


def lease(holder: str | None, renewed: datetime | None = WALL) -> LeaseState:
    return LeaseState(name="x", namespace="metallb-system", holder=holder, renewed=renewed)


def test_lease_names_round_trip_and_other_leases_are_ignored():
    assert node_of(lease_name("node-a")) == "node-a"
    assert node_of("metalpool-controller") is None


def test_a_peer_is_live_until_one_duration_after_its_last_seen_renewal():
    members = Membership(duration=2.0)
    members.observe("a", lease("a"), now=10.0)
    assert members.live(11.9, WALL) == {"a"}
    assert members.live(12.0, WALL) == frozenset()
    assert members.expires(10.5, WALL) == 12.0
    assert members.died_at("a") == 12.0


def test_a_renewal_keeps_a_peer_alive_but_a_repeat_of_the_same_lease_does_not():
    members = Membership(duration=2.0)
    members.observe("a", lease("a"), now=10.0)
    members.observe("a", lease("a"), now=11.5)  # the same renewTime seen again: no renewal
    assert members.live(12.5, WALL) == frozenset()
    members.observe("a", lease("a", WALL + timedelta(seconds=2)), now=12.6)
    assert members.live(13.0, WALL) == {"a"}


def test_a_released_or_deleted_lease_is_dead_at_once():
    members = Membership(duration=10.0)
    members.observe("a", lease("a"), now=1.0)
    members.observe("b", lease("b"), now=1.0)
    members.observe("a", lease(None), now=2.0)
    members.observe("b", None, now=3.0)
    assert members.live(3.0, WALL) == frozenset()
    assert (members.died_at("a"), members.died_at("b")) == (2.0, 3.0)


def test_a_lease_renewed_long_ago_by_the_wall_clock_is_not_live_on_first_sight():
    members = Membership(duration=2.0)
    members.observe("a", lease("a", WALL - timedelta(minutes=5)), now=100.0)
    assert members.live(100.1, WALL) == frozenset()
