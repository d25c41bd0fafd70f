"""LeaseHolder against an in-memory Lease store, with both clocks in the test's hands.

Each read of the fake store is one retry period later on the monotonic clock; a live leader
renews the Lease (with its own, correct wall clock) just before each read.
"""

import asyncio
import copy
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from k8s.api import ApiError
from k8s.leases import LeaseHolder, LeaseLost, LeaseSettings
from metalpool.leases import claim_spec, parse_lease

T0 = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
DURATION = 2.0
STEP = 0.5  # monotonic seconds per read


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Store:
    """The `Api` calls LeaseHolder makes, on one Lease, with optimistic concurrency."""

    def __init__(self, clock: Clock, *, leader: str | None = "leader", until: int = 0) -> None:
        self.clock = clock
        self.leader = leader  # renews before every read while set
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.reads = 0
        self.until = until  # `reached` is set at this many reads
        self.reached = asyncio.Event()
        self.failing = 0  # this many reads fail
        self.last_renewal = clock.now
        if leader:
            self._renew_as_leader()

    async def read_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.reads += 1
        self.clock.now += STEP
        if self.reads == self.until:
            self.reached.set()
        if self.failing:
            self.failing -= 1
            raise ApiError(0, "API server unreachable")
        if self.leader:
            self._renew_as_leader()
        return copy.deepcopy(self.lease)

    async def write_lease(
        self, namespace: str, name: str, spec: dict[str, Any], resource_version: str
    ) -> None:
        current = self.lease["metadata"]["resourceVersion"] if self.lease else ""
        if resource_version != current:
            raise ApiError(409, "Conflict")
        self.version += 1
        self.lease = {
            "metadata": {
                "name": name,
                "namespace": namespace,
                "resourceVersion": str(self.version),
            },
            "spec": dict(spec),
        }

    def holder(self) -> str | None:
        return parse_lease(self.lease).holder if self.lease else None

    def _renew_as_leader(self) -> None:
        assert self.leader is not None
        wall = T0 + timedelta(seconds=self.clock.now)
        current = parse_lease(self.lease) if self.lease else None
        self.last_renewal = self.clock.now
        self.version += 1
        self.lease = {
            "metadata": {"name": "l", "namespace": "n", "resourceVersion": str(self.version)},
            "spec": claim_spec(current, self.leader, wall, DURATION),
        }


def holder_for(store: Store, clock: Clock, identity: str, skew: timedelta) -> LeaseHolder:
    settings = LeaseSettings(
        namespace="n",
        name="l",
        identity=identity,
        duration=DURATION,
        renew_every=0,
        retry_every=0,
    )
    return LeaseHolder(
        store,  # type: ignore[arg-type]  # duck-typed: the two Lease calls only
        settings,
        monotonic=clock,
        wall=lambda: T0 + timedelta(seconds=clock.now) + skew,
    )


SKEWS = [
    pytest.param(timedelta(hours=1), id="clock-an-hour-ahead"),
    pytest.param(-timedelta(hours=1), id="clock-an-hour-behind"),
    pytest.param(timedelta(0), id="clock-right"),
]


@pytest.mark.parametrize("skew", SKEWS)
async def test_a_standby_never_takes_a_lease_its_leader_keeps_renewing(skew):
    clock = Clock()
    store = Store(clock, until=int(10 * DURATION / STEP))
    store.failing = 3  # a standby that cannot read the Lease keeps standing by
    standby = holder_for(store, clock, "standby", skew)
    acquiring = asyncio.create_task(standby.acquire())
    await store.reached.wait()
    assert not acquiring.done()
    assert (store.holder(), standby.holds_lease) == ("leader", False)
    acquiring.cancel()


@pytest.mark.parametrize("skew", SKEWS)
async def test_a_standby_takes_over_one_duration_after_the_last_renewal_it_saw(skew):
    clock = Clock()
    store = Store(clock, until=4)
    standby = holder_for(store, clock, "standby", skew)
    acquiring = asyncio.create_task(standby.acquire())
    await store.reached.wait()
    store.leader = None  # dies: the Lease stops changing
    await acquiring
    assert (store.holder(), standby.holds_lease) == ("standby", True)
    assert store.last_renewal + DURATION <= clock.now <= store.last_renewal + DURATION + STEP
    written = parse_lease(store.lease or {})
    assert written.renewed == T0 + timedelta(seconds=clock.now) + skew
    assert written.transitions == 1


async def test_a_released_lease_is_taken_at_once():
    clock = Clock()
    store = Store(clock, leader=None)
    first = holder_for(store, clock, "first", timedelta(0))
    await first.acquire()
    await first.release()
    second = holder_for(store, clock, "second", timedelta(hours=1))
    await second.acquire()
    assert (store.holder(), store.reads) == ("second", 3)


async def test_a_holder_restarted_under_the_same_name_takes_its_lease_back_at_once():
    clock = Clock()
    store = Store(clock)  # "leader" renewed it a moment ago
    store.leader = None
    again = holder_for(store, clock, "leader", -timedelta(hours=1))
    await again.acquire()
    assert store.reads == 1
    assert parse_lease(store.lease or {}).transitions == 0


async def test_keep_raises_lease_lost_when_another_holder_wrote_the_lease():
    clock = Clock()
    store = Store(clock, leader=None)
    holder = holder_for(store, clock, "me", timedelta(0))
    await holder.acquire()
    store.leader = "thief"
    with pytest.raises(LeaseLost):
        await holder.keep()
    assert holder.holds_lease is False


async def test_keep_raises_lease_lost_once_renewals_failed_for_a_duration():
    clock = Clock()
    store = Store(clock, leader=None)
    holder = holder_for(store, clock, "me", timedelta(0))
    await holder.acquire()
    claimed = clock.now - STEP  # the good attempt started before its read
    store.failing = 1000
    with pytest.raises(LeaseLost):
        await holder.keep()
    assert clock.now == claimed + DURATION


# Failure paths: a failed read or write, a lost race, a Lease that stops being ours ----------

MICRO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


RUNAWAY = 200  # reads: fail a test fast instead of looping until pytest-timeout


class FlakyStore(Store):
    """A Store whose reads fail at chosen read numbers and whose writes can fail on cue."""

    def __init__(self, clock: Clock, **kwargs: Any) -> None:
        super().__init__(clock, **kwargs)
        self.failing_reads: set[int] = set()
        self.failing_from = 0  # every read from this one on fails (0: none)
        self.write_errors: list[ApiError] = []  # raised by the next writes, in order
        self.rival_on_conflict = False  # a 409 means a rival's write landed first
        self.writes = 0

    async def read_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        number = self.reads + 1
        assert number <= RUNAWAY, "a loop that should have ended kept reading"
        if number in self.failing_reads or (self.failing_from and number >= self.failing_from):
            self.reads = number
            self.clock.now += STEP
            if number == self.until:
                self.reached.set()
            raise ApiError(503, "Service Unavailable")
        return await super().read_lease(namespace, name)

    async def write_lease(
        self, namespace: str, name: str, spec: dict[str, Any], resource_version: str
    ) -> None:
        self.writes += 1
        if self.write_errors:
            error = self.write_errors.pop(0)
            if error.is_conflict and self.rival_on_conflict:
                self.leader = "rival"
                self._renew_as_leader()
                self.leader = None
            raise error
        await super().write_lease(namespace, name, spec, resource_version)


async def test_a_standby_that_loses_the_race_to_write_waits_out_the_winner():
    clock = Clock()
    store = FlakyStore(clock, leader=None)
    store.write_errors = [ApiError(409, "Conflict")]
    store.rival_on_conflict = True
    standby = holder_for(store, clock, "standby", timedelta(0))
    await standby.acquire()
    # The rival wrote once, during the first read's attempt; its claim stands a whole duration.
    assert (store.holder(), standby.holds_lease) == ("standby", True)
    assert clock.now >= store.last_renewal + DURATION
    assert parse_lease(store.lease or {}).transitions == 1


async def test_a_write_the_server_fails_is_retried_not_fatal():
    clock = Clock()
    store = FlakyStore(clock, leader=None)
    store.write_errors = [ApiError(500, "Internal Server Error"), ApiError(0, "timed out")]
    holder = holder_for(store, clock, "me", timedelta(0))
    await holder.acquire()
    assert (store.holder(), holder.holds_lease, store.writes, store.reads) == ("me", True, 3, 3)


async def test_a_renewal_that_loses_a_write_race_loses_the_lease_at_once():
    clock = Clock()
    store = FlakyStore(clock, leader=None)
    holder = holder_for(store, clock, "me", timedelta(0))
    await holder.acquire()
    acquired_at = clock.now
    store.write_errors = [ApiError(409, "Conflict")]
    with pytest.raises(LeaseLost):
        await holder.keep()
    assert (holder.holds_lease, clock.now) == (False, acquired_at + STEP)


async def test_renewal_failures_shorter_than_a_duration_are_ridden_out():
    clock = Clock()
    store = FlakyStore(clock, leader=None, until=40)
    holder = holder_for(store, clock, "me", timedelta(0))
    await holder.acquire()
    # Two failed reads then a good renewal, again and again: a good attempt starts every 1.5 s.
    store.failing_reads = {n for n in range(2, 40) if n % 3 != 1}
    keeping = asyncio.create_task(holder.keep())
    reached = asyncio.create_task(store.reached.wait())
    try:
        done, _ = await asyncio.wait({keeping, reached}, return_when=asyncio.FIRST_COMPLETED)
        assert keeping not in done, keeping.exception()
        assert (store.holder(), holder.holds_lease) == ("me", True)
    finally:
        keeping.cancel()
        reached.cancel()


async def test_the_lease_is_lost_a_duration_after_the_last_good_renewal_not_the_first_claim():
    clock = Clock()
    store = FlakyStore(clock, leader=None)
    holder = holder_for(store, clock, "me", timedelta(0))
    await holder.acquire()
    store.failing_from = 12  # renewals 2..11 succeed: 5 s of holding, more than a duration
    last_good_start = 1000.0 + 10 * STEP  # read 11 started here
    with pytest.raises(LeaseLost):
        await holder.keep()
    assert clock.now == last_good_start + DURATION


async def test_release_gives_up_only_a_lease_still_ours_and_never_raises():
    clock = Clock()
    store = FlakyStore(clock, leader=None)
    holder = holder_for(store, clock, "me", timedelta(0))
    await holder.acquire()
    store.leader = "thief"  # took it meanwhile: releasing must not clear the thief's claim
    await holder.release()
    assert (store.holder(), holder.holds_lease) == ("thief", False)

    again = holder_for(store, clock, "thief", timedelta(0))
    store.leader = None
    await again.acquire()
    store.write_errors = [ApiError(500, "Internal Server Error")]
    await again.release()  # logged, not raised: the Lease then runs out on its own
    assert (store.holder(), again.holds_lease) == ("thief", False)

    writes = store.writes
    await again.release()  # not holding: nothing read, nothing written
    assert store.writes == writes


async def test_release_survives_an_unreadable_or_vanished_lease():
    clock = Clock()
    store = FlakyStore(clock, leader=None)
    holder = holder_for(store, clock, "me", timedelta(0))
    await holder.acquire()
    store.failing_from = store.reads + 1
    await holder.release()
    assert holder.holds_lease is False

    other = holder_for(store, clock, "other", timedelta(0))
    store.failing_from = 0
    await other.acquire()  # the Lease is still "me"'s claim: waited out, then taken
    store.lease = None
    await other.release()
    assert store.lease is None


async def test_every_lease_time_written_is_micro_time():
    clock = Clock()
    store = FlakyStore(clock, leader=None)
    holder = holder_for(store, clock, "me", timedelta(microseconds=123456))
    await holder.acquire()
    spec = (store.lease or {})["spec"]
    assert MICRO_TIME.fullmatch(spec["acquireTime"])
    assert MICRO_TIME.fullmatch(spec["renewTime"])
    await holder.release()
    assert MICRO_TIME.fullmatch((store.lease or {})["spec"]["renewTime"])
