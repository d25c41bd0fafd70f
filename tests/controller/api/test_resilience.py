"""Restarts, failovers and injected faults: afterwards every Service that should have an IP has
one, and no IP is held twice."""

import signal
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from tests.support.cluster import Cluster, Controller, eventually, free_port, running_controller

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.emulated_only("restarts or kills controllers, or injects faults"),
]


def assert_unique_and_complete(cluster: Cluster, expected: int) -> dict[str, list[str]]:
    held = cluster.all_ips()
    with_ips = {name: ips for name, ips in held.items() if ips}
    assert len(with_ips) == expected, held
    counts = Counter(ip for ips in with_ips.values() for ip in ips)
    assert [ip for ip, n in counts.items() if n > 1] == []
    return with_ips


def test_five_restarts_keep_every_address(cluster: Cluster, tmp_path: Path):
    cluster.pool("p", "192.0.2.0/29")
    for i in range(10):
        cluster.service(f"s{i}")  # 8 get an address, 2 stay pending
    with running_controller(cluster, tmp_path):
        eventually(lambda: sum(bool(ips) for ips in cluster.all_ips().values()) == 8)
        before = cluster.all_ips()
    for restart in range(5):
        newcomer = f"new-{restart}"
        cluster.service(newcomer)  # created while no controller runs: it must not steal
        with running_controller(cluster, tmp_path):
            eventually(lambda name=newcomer: cluster.condition(name))  # type: ignore[misc]  # bound default
            after = cluster.all_ips()
        assert {k: v for k, v in after.items() if k in before} == before
    assert_unique_and_complete(cluster, 8)


@pytest.mark.parametrize("status", [409, 500])
def test_failed_status_writes_are_retried_until_they_land(
    cluster: Cluster, controller: Controller, status: int
):
    cluster.pool("p", "192.0.2.0/24")
    rule = cluster.server.faults.fail(
        status=status, times=3, method="PATCH", resource="services", subresource="status"
    )
    cluster.service("web")
    assert eventually(lambda: cluster.ips("web")) == ["192.0.2.0"]
    assert rule.hits == 3


def test_dropped_watches_are_resumed(cluster: Cluster, controller: Controller):
    cluster.pool("p", "192.0.2.0/24")
    cluster.service("before")
    eventually(lambda: cluster.ips("before"))
    assert cluster.server.faults.drop_watches() > 0
    cluster.service("after")
    assert eventually(lambda: cluster.ips("after"), timeout=20) == ["192.0.2.1"]


def test_a_controller_killed_mid_burst_leaves_nothing_lost_or_doubled(
    cluster: Cluster, tmp_path: Path
):
    cluster.pool("p", "192.0.2.0/24")
    first = Controller(cluster.controller_kubeconfig, tmp_path / "first.log")
    first.wait_ready()
    for i in range(60):
        cluster.service(f"burst-{i}")
    first.stop(signal.SIGKILL)
    with running_controller(cluster, tmp_path):
        eventually(lambda: sum(bool(ips) for ips in cluster.all_ips().values()) == 60, timeout=30)
    assert_unique_and_complete(cluster, 60)


def holder(cluster: Cluster) -> str:
    return cluster.kubectl("get", "lease", "metalpool-controller", "-n", "metallb-system",
                           "-o", "jsonpath={.spec.holderIdentity}")  # fmt: skip


def test_a_standby_takes_over_when_the_leader_stops_or_dies(cluster: Cluster, tmp_path: Path):
    cluster.pool("p", "192.0.2.0/24")
    leader = Controller(
        cluster.controller_kubeconfig, tmp_path / "leader.log", "--identity", "leader"
    )
    leader.wait_ready()
    standby = Controller(
        cluster.controller_kubeconfig, tmp_path / "standby.log", "--identity", "standby"
    )
    third = Controller(cluster.controller_kubeconfig, tmp_path / "third.log", "--identity", "third")
    try:
        standby.wait_ready()  # a standby is Ready: it does its job, waiting
        third.wait_ready()
        assert holder(cluster) == "leader"
        cluster.service("one")
        eventually(lambda: cluster.ips("one"))
        assert leader.stop(signal.SIGTERM) == 0
        # The Lease was released: a standby takes it within a retry period, not a lease period.
        new = eventually(lambda: holder(cluster) if holder(cluster) in ("standby", "third") else "",
                         timeout=3)  # fmt: skip
        cluster.service("two")
        assert eventually(lambda: cluster.ips("two")) == ["192.0.2.1"]
        survivor = third if new == "standby" else standby
        (standby if new == "standby" else third).stop(signal.SIGKILL)
        # The 2 s Lease runs out, then the last one takes it.
        eventually(lambda: holder(cluster) == survivor.identity, timeout=8)
        cluster.service("three")
        assert eventually(lambda: cluster.ips("three")) == ["192.0.2.2"]
        assert survivor.stop() == 0
    finally:
        for process in (leader, standby, third):
            process.stop(signal.SIGKILL)


def test_metrics_use_metallbs_names(cluster: Cluster, tmp_path: Path):
    port = free_port()
    cluster.pool("p", "192.0.2.0/30")
    cluster.service("web")
    with running_controller(cluster, tmp_path, "--metrics-port", str(port)):
        eventually(lambda: cluster.ips("web"))

        def scrape() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                return str(r.read().decode())

        def scrape_once_counted() -> str:
            text = scrape()
            return text if 'metallb_allocator_addresses_in_use_total{pool="p"} 1.0' in text else ""

        text = eventually(scrape_once_counted)
    assert 'metallb_allocator_addresses_total{pool="p"} 4.0' in text
    assert "metallb_k8s_client_config_loaded_bool 1.0" in text
    assert "metallb_k8s_client_updates_total" in text
    assert "_created" not in text
