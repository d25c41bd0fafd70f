"""The HTTP surface: discovery, status codes and bodies, watches, Tables, faults, entry points."""

import base64
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from lab.apiserver.auth import tls
from lab.apiserver.auth.tokens import bearer
from lab.apiserver.http import protobuf
from lab.apiserver.kubeconfig import write_kubeconfig
from lab.apiserver.runner import ApiServer, ApiServerThread
from tests.lab.rest import Rest

pytestmark = pytest.mark.timeout(30)
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def services(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/services"


SVC = {
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
}


def test_core_discovery_uses_group_version_v1_with_subresources(rest: Rest):
    assert rest.ok("GET", "/api")["versions"] == ["v1"]
    core = rest.ok("GET", "/api/v1")
    assert core["groupVersion"] == "v1"
    rows = {r["name"]: r for r in core["resources"]}
    assert rows["services"]["namespaced"] is True
    assert rows["services"]["shortNames"] == ["svc"]
    assert rows["nodes"]["namespaced"] is False
    assert rows["services/status"]["verbs"] == ["get", "patch", "update"]
    assert "watch" in rows["events"]["verbs"]
    assert rest.ok("GET", "/version")["gitVersion"].startswith("v1.32")


def test_named_groups_are_discoverable_and_crds_join_them_at_once(rest: Rest, widgets_crd):
    groups = {g["name"]: g for g in rest.ok("GET", "/apis")["groups"]}
    for group in (
        "apps",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "lab.metalpool.io",
    ):
        assert group in groups
    assert groups["lab.metalpool.io"]["preferredVersion"]["groupVersion"] == "lab.metalpool.io/v1"
    rows = {r["name"]: r for r in rest.ok("GET", "/apis/lab.metalpool.io/v1")["resources"]}
    assert rows["widgets"]["kind"] == "Widget"
    assert rows["widgets"]["categories"] == ["lab"]
    assert "widgets/status" in rows
    assert rest.ok("GET", "/apis/lab.metalpool.io")["name"] == "lab.metalpool.io"


def test_openapi_v3_advertises_server_side_field_validation(rest: Rest):
    assert rest.get("/openapi/v2")[0] == 404
    root = rest.ok("GET", "/openapi/v3")["paths"]
    url = root["api/v1"]["serverRelativeURL"]
    assert "?hash=" in url
    document = rest.ok("GET", url)
    patch = document["paths"]["/api/v1/namespaces/{namespace}/services/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "",
        "version": "v1",
        "kind": "Service",
    }
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    assert "apis/apps/v1" in root


def test_create_is_201_and_errors_are_status_objects(rest: Rest, namespace: str):
    status, created = rest.post(services(namespace), SVC)
    assert status == 201
    assert created["metadata"]["resourceVersion"].isdigit()
    status, duplicate = rest.post(services(namespace), SVC)
    assert status == 409
    assert duplicate["reason"] == "AlreadyExists"
    assert duplicate["kind"] == "Status"
    status, missing = rest.get(f"{services(namespace)}/nope")
    assert status == 404
    assert missing == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'services "nope" not found',
        "reason": "NotFound",
        "code": 404,
        "details": {"name": "nope", "kind": "services"},
    }
    assert rest.get("/api/v1/frobs")[0] == 404
    assert rest.get(f"/api/v1/namespaces/{namespace}/nodes")[0] == 404  # cluster-scoped


def test_patch_conflicts_and_test_failures_come_back_as_409_and_422(rest: Rest, namespace: str):
    created = rest.ok("POST", services(namespace), SVC)
    stale = created["metadata"]["resourceVersion"]
    rest.ok(
        "PATCH",
        f"{services(namespace)}/web",
        {"metadata": {"labels": {"x": "1"}}},
        content_type="application/merge-patch+json",
    )
    status, _ = rest.patch(
        f"{services(namespace)}/web", {"metadata": {"resourceVersion": stale, "labels": {"y": "1"}}}
    )
    assert status == 409
    ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": stale}]
    status, body = rest.patch(f"{services(namespace)}/web", ops, kind="json")
    assert status == 422
    assert body["reason"] == "Invalid"
    status, _ = rest.put(
        f"{services(namespace)}/web", {**created, "metadata": {**created["metadata"]}}
    )
    assert status == 409


def test_protobuf_bodies_are_refused_with_415(rest: Rest, namespace: str):
    status, body = rest.post(
        services(namespace), b"k8s\x00...", content_type="application/vnd.kubernetes.protobuf"
    )
    assert status == 415
    assert body["reason"] == "UnsupportedMediaType"


def test_dry_run_validates_without_storing(rest: Rest, namespace: str):
    status, body = rest.post(f"{services(namespace)}?dryRun=All", SVC)
    assert status == 201
    assert body["metadata"]["name"] == "web"
    assert rest.get(f"{services(namespace)}/web")[0] == 404


def test_delete_collection_honours_the_label_selector(rest: Rest, namespace: str):
    for name, app in (("a", "x"), ("b", "x"), ("c", "y")):
        rest.ok("POST", services(namespace), {"metadata": {"name": name, "labels": {"app": app}}})
    deleted = rest.ok("DELETE", f"{services(namespace)}?labelSelector=app%3Dx")
    assert [i["metadata"]["name"] for i in deleted["items"]] == ["a", "b"]
    remaining = rest.ok("GET", services(namespace))
    assert [i["metadata"]["name"] for i in remaining["items"]] == ["c"]
    assert remaining["metadata"]["resourceVersion"].isdigit()
    assert remaining["kind"] == "ServiceList"


def test_a_watch_resumes_after_a_resource_version_with_only_newer_events(
    rest: Rest, namespace: str
):
    rest.ok("POST", services(namespace), SVC)
    listed = rest.ok("GET", services(namespace))["metadata"]["resourceVersion"]
    rest.ok(
        "PATCH",
        f"{services(namespace)}/web",
        {"metadata": {"labels": {"x": "1"}}},
        content_type="application/merge-patch+json",
    )
    rest.ok("DELETE", f"{services(namespace)}/web")
    events = rest.watch(
        f"{services(namespace)}?watch=1&resourceVersion={listed}&timeoutSeconds=5", until=2
    )
    assert [e["type"] for e in events] == ["MODIFIED", "DELETED"]
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(versions)
    assert versions[0] > int(listed)


def test_a_watch_without_a_version_starts_with_the_current_objects(rest: Rest, namespace: str):
    rest.ok("POST", services(namespace), SVC)
    events = rest.watch(f"{services(namespace)}?watch=true&timeoutSeconds=5", until=1)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "web")]


def test_timeout_seconds_ends_the_stream_with_a_bookmark_when_allowed(rest: Rest, namespace: str):
    current = rest.ok("GET", services(namespace))["metadata"]["resourceVersion"]
    started = time.monotonic()
    events = rest.watch(
        f"{services(namespace)}?watch=true&resourceVersion={current}"
        "&timeoutSeconds=1&allowWatchBookmarks=true"
    )
    assert 0.9 < time.monotonic() - started < 3
    assert events[-1]["type"] == "BOOKMARK"
    assert events[-1]["object"]["metadata"]["resourceVersion"].isdigit()


def test_send_initial_events_ends_with_the_initial_events_bookmark(rest: Rest, namespace: str):
    rest.ok("POST", services(namespace), SVC)
    path = (
        f"{services(namespace)}?watch=true&sendInitialEvents=true"
        "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1"
    )
    events = rest.watch(path, until=2)
    assert events[0]["type"] == "ADDED"
    assert events[1]["type"] == "BOOKMARK"
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_a_too_old_resource_version_gets_a_410_error_event(
    apiserver: ApiServerThread, rest: Rest, namespace: str
):
    rest.ok("POST", services(namespace), SVC)
    apiserver.call(apiserver.cluster.store.compact)
    rest.ok("POST", services(namespace), {"metadata": {"name": "newer"}})
    events = rest.watch(f"{services(namespace)}?watch=true&resourceVersion=1")
    assert events == [
        {
            "type": "ERROR",
            "object": {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": events[0]["object"]["message"],
                "reason": "Expired",
                "code": 410,
            },
        }
    ]
    assert events[0]["object"]["message"].startswith("too old resource version: 1")


def test_field_and_label_selectors_filter_watches(rest: Rest, namespace: str):
    listed = rest.ok("POST", services(namespace), SVC)["metadata"]["resourceVersion"]
    rest.ok("POST", services(namespace), {"metadata": {"name": "other"}})
    rest.ok(
        "PATCH",
        f"{services(namespace)}/web",
        {"metadata": {"labels": {"app": "db"}}},
        content_type="application/merge-patch+json",
    )
    watch = f"{services(namespace)}?watch=true&timeoutSeconds=5"
    by_name = rest.watch(
        f"{watch}&resourceVersion={listed}&fieldSelector=metadata.name%3Dother",
        until=1,
    )
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in by_name] == [("ADDED", "other")]
    by_label = rest.watch(
        f"{watch}&resourceVersion={int(listed) - 1}&labelSelector=app%3Dweb",
        until=2,
    )
    assert [e["type"] for e in by_label] == ["ADDED", "DELETED"]  # entered, then left the selector


def test_tables_render_printer_columns(rest: Rest, namespace: str):
    rest.ok("POST", services(namespace), SVC)
    table = rest.ok("GET", services(namespace), accept=TABLE)
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name",
        "Type",
        "Cluster-IP",
        "External-IP",
        "Port(s)",
        "Age",
        "Selector",
    ]
    cells = table["rows"][0]["cells"]
    assert cells[0] == "web"
    assert cells[1] == "LoadBalancer"
    assert cells[3] == "<pending>"
    assert cells[4] == "80/TCP"
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


def test_injected_faults_fail_the_next_matching_requests_then_stop(
    apiserver: ApiServerThread, rest: Rest, namespace: str
):
    rest.ok("POST", services(namespace), SVC)
    rule = apiserver.faults.fail(
        method="PATCH", resource="services", subresource="status", status=409, times=2
    )
    status_path = f"{services(namespace)}/web/status"
    body = {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}}
    assert rest.patch(status_path, body)[0] == 409
    assert (
        rest.patch(f"{services(namespace)}/web", {"metadata": {"labels": {"a": "b"}}})[0] == 200
    )  # not matching
    assert rest.patch(status_path, body)[0] == 409
    assert rest.patch(status_path, body)[0] == 200
    assert rule.hits == 2
    assert not apiserver.faults.rules
    forever = apiserver.faults.fail(path=r"/configmaps", status=500, times=None)
    assert rest.get(f"/api/v1/namespaces/{namespace}/configmaps")[0] == 500
    assert rest.get(f"/api/v1/namespaces/{namespace}/configmaps")[0] == 500
    apiserver.faults.clear()
    assert rest.get(f"/api/v1/namespaces/{namespace}/configmaps")[0] == 200
    assert forever.hits == 2


def test_dropping_watches_ends_open_streams(apiserver: ApiServerThread, rest: Rest, namespace: str):
    result: list[Any] = []
    current = rest.ok("GET", services(namespace))["metadata"]["resourceVersion"]
    reader = threading.Thread(
        target=lambda: result.extend(
            rest.watch(f"{services(namespace)}?watch=true&resourceVersion={current}", timeout=10)
        )
    )
    reader.start()
    deadline = time.monotonic() + 5
    while not apiserver.faults.drop_watches() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert time.monotonic() < deadline
    reader.join(timeout=5)
    assert not reader.is_alive()
    assert result == []


def test_write_kubeconfig_points_at_the_server(tmp_path: Path):
    url, ca = "https://127.0.0.1:1234", tls.credentials().ca
    path = write_kubeconfig(tmp_path / "deep" / "config", url, ca=ca, namespace="x")
    config = yaml.safe_load(path.read_text())
    assert config["clusters"][0]["cluster"]["server"] == url
    authority = config["clusters"][0]["cluster"]["certificate-authority-data"]
    assert base64.b64decode(authority) == ca
    assert config["contexts"][0]["context"]["namespace"] == "x"
    assert path.stat().st_mode & 0o777 == 0o600


async def test_the_server_runs_in_the_callers_event_loop():
    async with ApiServer() as server, aiohttp.ClientSession() as session:
        context = tls.client_context(server.ca)
        url = f"{server.url}/api/v1/namespaces"
        async with session.get(url, ssl=context, headers=bearer()) as response:
            names = [n["metadata"]["name"] for n in (await response.json())["items"]]
        assert "default" in names
        assert server.port > 0


def test_python_m_lab_apiserver_prints_its_url_and_serves(tmp_path: Path):
    config = tmp_path / "kubeconfig"
    command = [sys.executable, "-m", "lab.apiserver", "--port", "0", "--kubeconfig", str(config)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:  # noqa: S603
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip()
            assert url.startswith("https://127.0.0.1:")
            cluster = yaml.safe_load(config.read_text())["clusters"][0]["cluster"]
            assert cluster["server"] == url
            client = Rest(url)
            client.context = tls.client_context(
                base64.b64decode(cluster["certificate-authority-data"])
            )
            assert client.ok("GET", "/version")["major"] == "1"
        finally:
            process.terminate()
            assert process.wait(timeout=10) == 0
        assert process.stdout.read() == ""


def test_protobuf_envelopes_of_simple_kinds_decode():
    def field(number: int, payload: bytes) -> bytes:
        return bytes([number << 3 | 2, len(payload)]) + payload

    metadata = field(1, b"cfg") + field(11, field(1, b"app") + field(2, b"web"))
    raw = field(1, metadata) + field(2, field(1, b"key") + field(2, b"value"))
    body = protobuf.MAGIC + field(1, field(1, b"v1") + field(2, b"ConfigMap")) + field(2, raw)
    assert protobuf.decode(body) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg", "labels": {"app": "web"}},
        "data": {"key": "value"},
    }
    with pytest.raises(protobuf.ProtobufError):
        protobuf.decode(b"not protobuf")
