"""The store (resourceVersions, history, 410), URL routing, and watch event translation."""

from typing import Any

import pytest

from lab.apiserver.http.routing import ResourcePath, parse_path
from lab.apiserver.http.watches import WatchFilter, translate
from lab.apiserver.objects.selectors import parse_fields, parse_labels
from lab.apiserver.objects.store import Change, ExpiredError, Store


def obj(name: str, version: int, namespace: str = "ns", **labels: str) -> dict[str, Any]:
    metadata = {
        "name": name,
        "namespace": namespace,
        "resourceVersion": str(version),
        "labels": labels,
    }
    return {"metadata": metadata}


def test_the_store_counts_and_finds_objects_by_namespace() -> None:
    store = Store()
    store.put("/pods", obj("a", store.next_version()), None)
    store.put("/pods", obj("b", store.next_version(), namespace="other"), None)
    assert store.count("/pods") == 2
    assert [o["metadata"]["name"] for o in store.iterate("/pods", "ns")] == ["a"]
    assert len(list(store.iterate("/pods", None))) == 2
    assert store.count_in("other") == 1
    assert store.get("/pods", "ns", "a") is not None
    assert store.get("/pods", "ns", "zzz") is None


def test_history_gives_changes_after_a_version_in_order() -> None:
    store = Store()
    first = store.put("/pods", obj("a", store.next_version()), None)
    second = store.put("/pods", obj("a", store.next_version()), first)
    store.remove("/pods", obj("a", store.next_version()))
    assert [c.type for c in store.since("/pods", 0)] == ["ADDED", "MODIFIED", "DELETED"]
    assert [c.type for c in store.since("/pods", 1)] == ["MODIFIED", "DELETED"]
    assert store.since("/pods", 3) == []
    assert store.since("/pods", 1)[0].previous is first
    assert second["metadata"]["resourceVersion"] == "2"


def test_resuming_from_before_the_retained_history_is_expired() -> None:
    store = Store(history=2)
    for version in range(1, 5):
        store.put("/pods", obj(f"p{version}", store.next_version()), None)
    assert [c.resource_version for c in store.since("/pods", 2)] == [3, 4]
    with pytest.raises(ExpiredError, match="too old resource version: 1"):
        store.since("/pods", 1)


def test_compaction_expires_every_older_resume_point() -> None:
    store = Store()
    store.put("/pods", obj("a", store.next_version()), None)
    store.next_version()
    store.compact()
    with pytest.raises(ExpiredError):
        store.since("/pods", 1)
    assert store.since("/pods", 2) == []


def test_subscribers_see_every_change_and_a_failing_one_does_not_break_writes() -> None:
    store = Store()
    seen: list[Change] = []

    def broken(change: Change) -> None:
        raise RuntimeError(change.type)

    store.subscribe("/pods", seen.append)
    store.subscribe("/pods", broken)
    store.put("/pods", obj("a", store.next_version()), None)
    store.unsubscribe("/pods", seen.append)
    store.put("/pods", obj("b", store.next_version()), None)
    assert [c.object["metadata"]["name"] for c in seen] == ["a"]


ROUTES = [
    ("/api/v1/namespaces", ResourcePath("", "v1", "namespaces")),
    ("/api/v1/namespaces/default", ResourcePath("", "v1", "namespaces", None, "default")),
    ("/api/v1/namespaces/x/status", ResourcePath("", "v1", "namespaces", None, "x", "status")),
    ("/api/v1/namespaces/x/finalize", ResourcePath("", "v1", "namespaces", None, "x", "finalize")),
    ("/api/v1/namespaces/x/services", ResourcePath("", "v1", "services", "x")),
    (
        "/api/v1/namespaces/x/services/web/status",
        ResourcePath("", "v1", "services", "x", "web", "status"),
    ),
    ("/api/v1/services", ResourcePath("", "v1", "services")),
    (
        "/apis/metallb.io/v1beta1/ipaddresspools",
        ResourcePath("metallb.io", "v1beta1", "ipaddresspools"),
    ),
    (
        "/apis/apps/v1/namespaces/x/deployments/d",
        ResourcePath("apps", "v1", "deployments", "x", "d"),
    ),
    ("/api/v1", None),
    ("/apis/apps/v1", None),
    ("/apis/apps", None),
    ("/version", None),
    ("/api/v1/namespaces/x/services/web/status/extra", None),
]


@pytest.mark.parametrize(("path", "expected"), ROUTES)
def test_resource_urls_parse_into_what_they_address(
    path: str, expected: ResourcePath | None
) -> None:
    assert parse_path(path) == expected


WATCH = WatchFilter("ns", parse_labels("app=web"), parse_fields(""))
WEB, DB = obj("a", 2, app="web"), obj("a", 3, app="db")
TRANSITIONS = [
    (Change(1, "ADDED", WEB), "ADDED"),
    (Change(1, "ADDED", DB), None),
    (Change(2, "MODIFIED", WEB, WEB), "MODIFIED"),
    (Change(2, "MODIFIED", WEB, DB), "ADDED"),
    (Change(2, "MODIFIED", DB, WEB), "DELETED"),
    (Change(2, "MODIFIED", DB, DB), None),
    (Change(3, "DELETED", WEB, WEB), "DELETED"),
    (Change(3, "DELETED", DB, DB), None),
    (Change(1, "ADDED", obj("a", 1, namespace="elsewhere", app="web")), None),
]


@pytest.mark.parametrize(("change", "seen"), TRANSITIONS)
def test_a_filtered_watch_sees_objects_enter_and_leave_its_selector(
    change: Change, seen: str | None
) -> None:
    assert translate(change, WATCH) == seen
