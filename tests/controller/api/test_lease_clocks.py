"""Standbys whose wall clocks are an hour off judge the leader's Lease by their monotonic clocks.

Each standby runs under libfaketime (`FAKETIME=±1h`, monotonic clock left alone): while the
leader lives, neither takes over; when the holder is SIGKILLed, a standby takes over within a
lease duration plus a retry period (plus slack for process scheduling).
"""

import contextlib
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kubernetes import client

from metalpool.leases import LeaseState, parse_lease
from tests.support.cluster import Cluster, Controller, eventually

# Debian's faketime package (bin/system-packages installs it), for whatever architecture.
LIBFAKETIME = next(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"), None)
DURATION = 2.0  # tests.support.cluster.Controller runs with --lease-duration 2 --lease-renew 0.5
RETRY = 0.5  # min(2 s, --lease-renew)
SLACK = 2.0  # process scheduling on a 2-core CI machine
SKEWS = {"ahead": ("+1h", timedelta(hours=1)), "behind": ("-1h", -timedelta(hours=1))}

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.emulated_only("skews the wall clocks of controllers of its own"),
    pytest.mark.skipif(
        LIBFAKETIME is None,
        reason="libfaketime is missing: apt-get install faketime (bin/system-packages does)",
    ),
]


@contextlib.contextmanager
def wall_clock_skewed(offset: str) -> Iterator[None]:
    """Subprocesses started in this block see the wall clock moved by `offset` ("+1h")."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LD_PRELOAD", str(LIBFAKETIME))
        env.setenv("FAKETIME", offset)
        env.setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1")  # asyncio's clock must stay true
        yield


def read_lease(cluster: Cluster) -> LeaseState:
    leases = client.CoordinationV1Api(cluster.core.api_client)
    lease = leases.read_namespaced_lease("metalpool-controller", "metallb-system")
    return parse_lease(cluster.core.api_client.sanitize_for_serialization(lease))


def held_by(cluster: Cluster, candidates: dict[str, Controller]) -> LeaseState | None:
    lease = read_lease(cluster)
    return lease if lease.holder in candidates else None


def take_over(cluster: Cluster, candidates: dict[str, Controller]) -> str:
    """Wait for one of `candidates` to hold the Lease, in time; its name."""
    killed = time.monotonic()
    lease = eventually(lambda: held_by(cluster, candidates))
    took = time.monotonic() - killed
    assert lease is not None
    assert lease.holder is not None
    assert lease.renewed is not None
    assert took <= DURATION + RETRY + SLACK, f"{lease.holder} took over after {took:.1f}s"
    # It really runs an hour off: the Lease carries its wall clock (written, never compared).
    expected = datetime.now(UTC) + SKEWS[lease.holder][1]
    assert abs(lease.renewed - expected) < timedelta(minutes=1)
    return lease.holder


def test_skewed_standbys_wait_for_a_live_leader_and_take_over_from_a_dead_one(
    cluster: Cluster, tmp_path: Path
):
    cluster.pool("p", "192.0.2.0/24")
    leader = Controller(
        cluster.controller_kubeconfig, tmp_path / "leader.log", "--identity", "leader"
    )
    leader.wait_ready()  # it holds the Lease before any standby starts
    standbys = {}
    for name, (offset, _) in SKEWS.items():
        with wall_clock_skewed(offset):
            standbys[name] = Controller(
                cluster.controller_kubeconfig, tmp_path / f"{name}.log", "--identity", name
            )
    try:
        for standby in standbys.values():
            standby.wait_ready()  # standing by
        watch_until = time.monotonic() + 3 * DURATION
        while time.monotonic() < watch_until:
            assert read_lease(cluster).holder == "leader"
            time.sleep(0.1)
        assert [s.process.poll() for s in standbys.values()] == [None, None]

        leader.stop(signal.SIGKILL)
        first = take_over(cluster, standbys)
        standbys.pop(first).stop(signal.SIGKILL)
        take_over(cluster, standbys)
        cluster.service("after")
        assert eventually(lambda: cluster.ips("after")) == ["192.0.2.0"]
    finally:
        for process in (leader, *standbys.values()):
            process.stop(signal.SIGKILL)
