"""Quarantine (docs/lan.md), through the real controller and a real API: a speaker reports that
another device holds an address, and the controller keeps that address out of use."""

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.cluster import Cluster, Controller, eventually, running_controller
from tests.support.sentinels import reconciled

pytestmark = pytest.mark.timeout(60)

CONFLICT = "metalpool.io/address-conflict"
QUARANTINE = "metalpool.io/quarantine"
IPS = "metallb.io/loadBalancerIPs"
FOREIGN = {"mac": "02:00:00:00:00:99", "interface": "eth0", "node": "node-a"}


def report_conflict(cluster: Cluster, service: str, *ips: str) -> None:
    """What a speaker writes on a Service when another device answers for `ips`."""
    value = json.dumps([{"ip": ip, **FOREIGN} for ip in ips])
    cluster.patch_service(service, {"metadata": {"annotations": {CONFLICT: value}}})


def annotate_pool(cluster: Cluster, pool: str, value: str | None) -> None:
    """Set (or, with None, remove) the pool's quarantine annotation, as a user does."""
    change = f"{QUARANTINE}={value}" if value is not None else f"{QUARANTINE}-"
    cluster.kubectl(
        "annotate", "--overwrite", "ipaddresspool", "-n", "metallb-system", pool, change
    )


def annotations(cluster: Cluster, service: str) -> dict[str, str]:
    return cluster.raw_service(service)["metadata"].get("annotations") or {}


def quarantined(cluster: Cluster, pool: str) -> dict[str, Any]:
    """The pool's quarantine annotation, decoded ({} when there is none)."""
    raw = (cluster.read_pool(pool)["metadata"].get("annotations") or {}).get(QUARANTINE)
    found: dict[str, Any] = json.loads(raw) if raw else {}
    return found


def status(cluster: Cluster, pool: str) -> dict[str, Any]:
    found: dict[str, Any] = cluster.read_pool(pool).get("status") or {}
    return found


def pool_events(cluster: Cluster, pool: str) -> list[Any]:
    return list(
        cluster.core.list_namespaced_event(
            "metallb-system", field_selector=f"involvedObject.name={pool}"
        ).items
    )


def test_a_conflicted_automatic_address_is_quarantined_and_its_service_moves_to_the_next_one(
    cluster: Cluster, controller: Controller
):
    cluster.pool("lan", "198.51.100.0/29")
    cluster.wait_pools("lan")
    cluster.service("web")
    assert eventually(lambda: cluster.ips("web")) == ["198.51.100.0"]
    cluster.service("other")
    assert eventually(lambda: cluster.ips("other")) == ["198.51.100.1"]

    report_conflict(cluster, "web", "198.51.100.0")

    assert eventually(lambda: cluster.ips("web") != ["198.51.100.0"] and cluster.ips("web")) == [
        "198.51.100.2"
    ]
    entry = quarantined(cluster, "lan")["198.51.100.0"]
    assert {k: entry[k] for k in ("mac", "interface", "node", "service")} == {
        **FOREIGN,
        "service": "demo/web",
    }
    assert entry["since"].endswith("Z")
    assert eventually(lambda: status(cluster, "lan").get("quarantinedIPs")) == ["198.51.100.0"]
    assert status(cluster, "lan")["availableIPv4"] == 8 - 2 - 1
    assert CONFLICT not in annotations(cluster, "web")
    assert eventually(lambda: cluster.reasons("web")[-2:] == ["AddressQuarantined", "IPAllocated"])
    on_pool = eventually(lambda: pool_events(cluster, "lan"))
    assert [(e.type, e.reason) for e in on_pool] == [("Warning", "AddressQuarantined")]
    assert "198.51.100.0" in on_pool[0].message
    assert "02:00:00:00:00:99" in on_pool[0].message
    assert "198.51.100.0" in cluster.kubectl("get", "ipaddresspools", "-n", "metallb-system")


def test_a_new_service_never_gets_a_quarantined_address(cluster: Cluster, controller: Controller):
    cluster.pool("lan", "198.51.100.0/29")
    annotate_pool(cluster, "lan", '{"198.51.100.0": {}, "198.51.100.1": {}}')
    both = ["198.51.100.0", "198.51.100.1"]
    eventually(lambda: status(cluster, "lan").get("quarantinedIPs") == both)
    cluster.service("web")
    assert eventually(lambda: cluster.ips("web")) == ["198.51.100.2"]


def test_a_requested_address_in_conflict_is_neither_moved_nor_quarantined(
    cluster: Cluster, controller: Controller
):
    cluster.pool("lan", "198.51.100.0/29")
    cluster.wait_pools("lan")
    cluster.service("asked", annotations={IPS: "198.51.100.5"})
    cluster.service("auto")
    assert eventually(lambda: cluster.ips("asked")) == ["198.51.100.5"]
    assert eventually(lambda: cluster.ips("auto")) == ["198.51.100.0"]

    report_conflict(cluster, "asked", "198.51.100.5")
    report_conflict(cluster, "auto", "198.51.100.0")  # a witness that quarantine works here

    eventually(lambda: cluster.ips("auto") == ["198.51.100.1"])
    # The sentinel: a reconcile of "asked" that saw its conflict, and its writes, are done. A
    # quarantine would have been written before that status, and a move needs a quarantine.
    reconciled(cluster, "asked")
    assert cluster.ips("asked") == ["198.51.100.5"]
    assert list(quarantined(cluster, "lan")) == ["198.51.100.0"]
    assert CONFLICT in annotations(cluster, "asked")  # the speaker's to keep or clear
    assert "AddressQuarantined" not in cluster.reasons("asked")


def test_deleting_the_pool_annotation_or_one_key_makes_addresses_allocatable_again(
    cluster: Cluster, controller: Controller
):
    cluster.pool("lan", "198.51.100.0/30")
    annotate_pool(cluster, "lan", '{"198.51.100.0": {}, "198.51.100.1": {}}')
    eventually(lambda: len(status(cluster, "lan").get("quarantinedIPs") or ()) == 2)
    for name in ("a", "b", "c"):
        cluster.service(name)
    # Both addressed before judging: `eventually` returns its first truthy value, which was
    # once a's address alone when b's write had not landed yet.
    eventually(lambda: cluster.ips("a") and cluster.ips("b"))
    assert cluster.ips("a") + cluster.ips("b") == ["198.51.100.2", "198.51.100.3"]
    assert eventually(lambda: cluster.condition("c").get("reason")) == "PoolExhausted"

    annotate_pool(cluster, "lan", '{"198.51.100.0": {}}')
    assert eventually(lambda: cluster.ips("c"), timeout=5) == ["198.51.100.1"]

    annotate_pool(cluster, "lan", None)
    cluster.service("d")
    assert eventually(lambda: cluster.ips("d"), timeout=5) == ["198.51.100.0"]
    assert eventually(lambda: status(cluster, "lan").get("quarantinedIPs") == [])


@pytest.mark.emulated_only("stops the controller between two writes")
def test_a_restart_after_the_quarantine_write_but_before_the_move_still_moves_the_service(
    cluster: Cluster, tmp_path: Path
):
    cluster.pool("lan", "198.51.100.0/29")
    with running_controller(cluster, tmp_path):
        cluster.wait_pools("lan")
        cluster.service("alpha")
        eventually(lambda: cluster.ips("alpha") == ["198.51.100.0"])
        cluster.service("zulu")
        eventually(lambda: cluster.ips("zulu") == ["198.51.100.1"])
    # Where a controller that died between its two writes leaves things: the pool says the
    # address is quarantined, the Service still shows it and still carries the report.
    entry = {**FOREIGN, "service": "demo/alpha", "since": "2024-05-01T12:30:05Z"}
    annotate_pool(cluster, "lan", json.dumps({"198.51.100.0": entry}))
    report_conflict(cluster, "alpha", "198.51.100.0")

    with running_controller(cluster, tmp_path):
        # Not the address zulu shows, though alpha comes first by name.
        assert eventually(lambda: cluster.ips("alpha") != ["198.51.100.0"] and cluster.ips("alpha"))
        assert cluster.ips("alpha") == ["198.51.100.2"]
        assert cluster.ips("zulu") == ["198.51.100.1"]
        assert CONFLICT not in annotations(cluster, "alpha")
        assert "AddressQuarantined" in eventually(lambda: cluster.reasons("alpha"))


def test_a_malformed_quarantine_is_reported_on_the_pool_and_quarantines_nothing(
    cluster: Cluster, controller: Controller
):
    cluster.pool("lan", "198.51.100.0/29")
    annotate_pool(cluster, "lan", "{198.51.100.0}")
    events = eventually(lambda: pool_events(cluster, "lan"))
    assert [(e.type, e.reason) for e in events] == [("Warning", "InvalidConfiguration")]
    assert f'metadata.annotations["{QUARANTINE}"] is not JSON' in events[0].message
    assert "nothing in this pool is quarantined" in events[0].message
    cluster.service("web")
    assert eventually(lambda: cluster.ips("web")) == ["198.51.100.0"]
