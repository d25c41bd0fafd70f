"""The speaker's writer against the emulated API server: conditions, the annotation, Events.

The writer compares with what its Service mirror shows and sends the resourceVersion it
compared with: a Service that changed since (409) or is gone (404) is skipped until the next
pass, and other failures go back to `run`, which retries.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest

from k8s.api import Api, ApiError, connect
from k8s.credentials import load
from k8s.mirror import Mirror
from metalpool.quarantine import Conflict, read_conflicts
from metalpool.services import ServiceKey
from speaker.cluster.reasons import AnnouncedReason
from speaker.conditions import NOTHING, Condition, Desired
from speaker.reports import Reports
from speaker.writes import Shown, parse_shown
from tests.support.cluster import Cluster, running_cluster

R = AnnouncedReason
KEY = ServiceKey("demo", "web")
ALLOCATED = {
    "type": "metallb.io/IPAllocated",
    "status": "True",
    "reason": "IPAllocated",
    "message": "192.0.2.10 from pool public",
    "lastTransitionTime": "2026-04-01T00:00:00Z",
}
NO_ENDPOINTS = Desired(
    condition=Condition(
        announced=False, reason=R.NO_ENDPOINTS, message="the Service has no ready endpoint"
    )
)
ANNOUNCED = Desired(
    condition=Condition(
        announced=True, reason=R.ANNOUNCED, message='node "n1" announces 192.0.2.10'
    )
)
CONFLICT = Conflict(
    ip=ip_address("192.0.2.10"), mac="02:00:00:00:00:99", interface="eth0", node="n1"
)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with running_cluster(tmp_path) as running:
        running.service("web")
        running.core.patch_namespaced_service_status(
            "web",
            "demo",
            {
                "status": {
                    "loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]},
                    "conditions": [ALLOCATED],
                }
            },
        )
        yield running


@pytest.fixture
async def api(cluster: Cluster) -> AsyncIterator[Api]:
    """The programs' own client, as the admin."""
    connected = connect(load({"KUBECONFIG": str(cluster.kubeconfig)}))
    yield connected
    await connected.close()


class Writer:
    """A `Reports` and the Service mirror it compares with, refreshed from the API on demand."""

    def __init__(self, cluster: Cluster, api: Api) -> None:
        self.cluster = cluster
        self.mirror: Mirror[Shown] = Mirror(parse_shown)
        self.reports = Reports(
            api,
            node="n1",
            namespace="metallb-system",
            existing=list,
            shown=lambda key: self.mirror.get((key.namespace, key.name)),
        )
        self.refresh()
        self.before = self.patches()

    def service(self) -> dict[str, Any]:
        """web as JSON, as a watch brings it (the client's models would reformat times)."""
        response = self.cluster.core.read_namespaced_service("web", "demo", _preload_content=False)
        found: dict[str, Any] = json.loads(response.data)
        return found

    def refresh(self) -> None:
        """The mirror catches up with the API (as the watch would)."""
        self.mirror.event("MODIFIED", self.service())

    async def write(self, desired: Desired) -> None:
        """One pass handing `desired` for web, written once, and its Events posted."""
        self.reports.conditions({KEY: desired})
        await self.reports.flush()
        await self.reports.flush()  # Events queued by the first

    def conditions(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.service()["status"]["conditions"]
        return found

    def announced(self) -> dict[str, Any]:
        (found,) = [c for c in self.conditions() if c["type"] == "metallb.io/Announced"]
        return found

    def events(self) -> list[tuple[str, str, str]]:
        items = self.cluster.core.list_namespaced_event("demo").items
        return [(e.type, e.reason, e.message) for e in items if e.involved_object.name == "web"]

    def patches(self) -> int:
        return sum(
            1
            for r in self.cluster.server.requests
            if r.method == "PATCH" and r.path.endswith("/services/web/status")
        )


async def test_a_condition_is_written_beside_the_controllers_and_a_false_reason_is_told(
    cluster, api
):
    writer = Writer(cluster, api)
    await writer.write(NO_ENDPOINTS)
    assert writer.conditions()[0] == ALLOCATED
    assert writer.announced() | {"lastTransitionTime": "t"} == {
        "type": "metallb.io/Announced",
        "status": "False",
        "reason": "NoEndpoints",
        "message": "the Service has no ready endpoint",
        "lastTransitionTime": "t",
        "observedGeneration": 1,
    }
    assert writer.events() == [("Warning", "NoEndpoints", "the Service has no ready endpoint")]
    (event,) = cluster.core.list_namespaced_event("demo").items
    assert event.involved_object.uid == writer.service()["metadata"]["uid"]


async def test_what_the_service_shows_already_is_not_written_again_nor_told(cluster, api):
    writer = Writer(cluster, api)
    await writer.write(NO_ENDPOINTS)
    await writer.write(NO_ENDPOINTS)  # before the mirror saw the write
    writer.refresh()
    await writer.write(NO_ENDPOINTS)  # after
    assert (writer.patches() - writer.before, len(writer.events())) == (1, 1)


async def test_being_announced_again_is_written_but_not_told(cluster, api):
    writer = Writer(cluster, api)
    await writer.write(NO_ENDPOINTS)
    writer.refresh()
    await writer.write(ANNOUNCED)
    assert (writer.announced()["status"], writer.announced()["reason"]) == ("True", "Announced")
    assert [reason for _, reason, _ in writer.events()] == ["NoEndpoints"]


async def test_a_service_that_changed_since_it_was_read_waits_for_the_next_pass(cluster, api):
    writer = Writer(cluster, api)
    cluster.patch_service("web", {"metadata": {"labels": {"changed": "yes"}}})
    await writer.write(NO_ENDPOINTS)  # 409: skipped, nothing told
    assert ([c["type"] for c in writer.conditions()], writer.events()) == (
        ["metallb.io/IPAllocated"],
        [],
    )
    writer.refresh()
    await writer.write(NO_ENDPOINTS)
    assert writer.announced()["reason"] == "NoEndpoints"


async def test_a_service_deleted_meanwhile_is_skipped(cluster, api):
    writer = Writer(cluster, api)
    cluster.delete_service("web")
    await writer.write(NO_ENDPOINTS)  # 404: no error
    assert writer.events() == []


async def test_a_conflict_is_written_in_the_annotation_and_cleared_with_the_condition(cluster, api):
    writer = Writer(cluster, api)
    conflicted = Condition(announced=False, reason=R.ADDRESS_CONFLICT, message="held by another")
    await writer.write(Desired(condition=conflicted, conflicts=(CONFLICT,)))
    annotations = writer.service()["metadata"]["annotations"]
    assert read_conflicts({"metadata": {"annotations": annotations}}) == (CONFLICT,)
    writer.refresh()
    await writer.write(NOTHING)
    after = writer.service()
    assert "metalpool.io/address-conflict" not in (after["metadata"].get("annotations") or {})
    assert after["status"]["conditions"] == [ALLOCATED]


async def test_other_failures_go_back_to_the_retry_loop(cluster, api):
    writer = Writer(cluster, api)
    cluster.server.faults.fail(method="PATCH", resource="services", status=503)
    writer.reports.conditions({KEY: NO_ENDPOINTS})
    with pytest.raises(ApiError):
        await writer.reports.flush()
    running = asyncio.create_task(writer.reports.run())
    try:
        for _ in range(100):
            if any(c["type"] == "metallb.io/Announced" for c in writer.conditions()):
                break
            await asyncio.sleep(0.05)
        assert writer.announced()["reason"] == "NoEndpoints"
    finally:
        running.cancel()


async def test_a_refused_write_is_skipped_until_the_next_pass(cluster, api, caplog):
    writer = Writer(cluster, api)
    cluster.server.faults.fail(method="PATCH", resource="services", status=403)
    await writer.write(NO_ENDPOINTS)  # forbidden (RBAC): logged, not retried at once
    assert "cannot write the condition of demo/web" in caplog.text
    assert writer.events() == []
    await writer.write(NO_ENDPOINTS)
    assert writer.announced()["reason"] == "NoEndpoints"
