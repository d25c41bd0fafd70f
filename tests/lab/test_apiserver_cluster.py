"""The write rules of the emulated cluster, called directly (no HTTP)."""

import time
from typing import Any

import pytest
import yaml

from lab.apiserver.objects.cluster import Cluster
from lab.apiserver.objects.errors import ApiError
from lab.apiserver.objects.resources import ResourceType
from lab.apiserver.objects.selectors import parse_fields, parse_labels
from tests.lab.conftest import WIDGETS_CRD

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"


@pytest.fixture
def cluster() -> Cluster:
    return Cluster()


def rt(cluster: Cluster, group: str, version: str, plural: str) -> ResourceType:
    found = cluster.registry.lookup(group, version, plural)
    assert found is not None
    return found


@pytest.fixture
def services(cluster: Cluster) -> ResourceType:
    return rt(cluster, "", "v1", "services")


@pytest.fixture
def widgets(cluster: Cluster) -> ResourceType:
    crds = rt(cluster, "apiextensions.k8s.io", "v1", "customresourcedefinitions")
    cluster.create(crds, "", yaml.safe_load(WIDGETS_CRD.read_text()))
    return rt(cluster, "lab.metalpool.io", "v1", "widgets")


def svc(name: str = "web", **spec: object) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}], **spec},
    }


def code(error: pytest.ExceptionInfo[ApiError]) -> tuple[int, str]:
    return error.value.code, error.value.reason


def test_create_fills_server_metadata_and_the_namespace_from_the_url(cluster, services):
    created = cluster.create(services, "default", svc())
    metadata = created["metadata"]
    assert metadata["namespace"] == "default"
    assert metadata["uid"]
    assert metadata["creationTimestamp"].endswith("Z")
    assert int(metadata["resourceVersion"]) == cluster.store.resource_version
    assert metadata["generation"] == 1
    assert created["apiVersion"] == "v1"
    assert created["kind"] == "Service"


def test_create_refuses_duplicates_missing_namespaces_and_foreign_namespaces(cluster, services):
    cluster.create(services, "default", svc())
    with pytest.raises(ApiError) as duplicate:
        cluster.create(services, "default", svc())
    assert code(duplicate) == (409, "AlreadyExists")
    with pytest.raises(ApiError) as missing:
        cluster.create(services, "nowhere", svc())
    assert code(missing) == (404, "NotFound")
    assert missing.value.status()["details"] == {"name": "nowhere", "kind": "namespaces"}
    with pytest.raises(ApiError) as mismatch:
        cluster.create(services, "default", {"metadata": {"name": "x", "namespace": "other"}})
    assert mismatch.value.code == 400


def test_generate_name_makes_a_unique_name(cluster):
    events = rt(cluster, "", "v1", "events")
    names = {
        cluster.create(events, "default", {"metadata": {"generateName": "e-"}})["metadata"]["name"]
        for _ in range(5)
    }
    assert len(names) == 5
    assert all(n.startswith("e-") and len(n) == 7 for n in names)


def test_every_write_takes_a_new_resource_version_but_a_no_op_does_not(cluster, services):
    first = cluster.create(services, "default", svc())
    patched, _ = cluster.patch(
        services, "default", "web", MERGE, {"metadata": {"labels": {"a": "b"}}}
    )
    assert int(patched["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    again, _ = cluster.patch(
        services, "default", "web", MERGE, {"metadata": {"labels": {"a": "b"}}}
    )
    assert again["metadata"]["resourceVersion"] == patched["metadata"]["resourceVersion"]


def test_a_stale_resource_version_conflicts_on_put_and_patch(cluster, services):
    stale = cluster.create(services, "default", svc())
    cluster.patch(services, "default", "web", MERGE, {"metadata": {"labels": {"a": "b"}}})
    with pytest.raises(ApiError) as put:
        cluster.replace(services, "default", "web", stale)
    assert code(put) == (409, "Conflict")
    stale_rv = stale["metadata"]["resourceVersion"]
    with pytest.raises(ApiError) as patch:
        cluster.patch(
            services, "default", "web", MERGE, {"metadata": {"resourceVersion": stale_rv}}
        )
    assert code(patch) == (409, "Conflict")


def test_a_failing_json_patch_test_is_422(cluster, services):
    cluster.create(services, "default", svc())
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
        {"op": "add", "path": "/metadata/finalizers", "value": ["x"]},
    ]
    with pytest.raises(ApiError) as failed:
        cluster.patch(services, "default", "web", JSON_PATCH, ops)
    assert code(failed) == (422, "Invalid")
    assert "finalizers" not in cluster.get(services, "default", "web")["metadata"]


def test_custom_resources_refuse_strategic_merge_and_unconditional_put(cluster, widgets):
    created = cluster.create(widgets, "default", {"metadata": {"name": "w"}, "spec": {"size": 1}})
    with pytest.raises(ApiError) as smp:
        cluster.patch(widgets, "default", "w", STRATEGIC, {"spec": {"size": 2}})
    assert smp.value.code == 415
    unconditional = {**created, "metadata": {"name": "w"}}
    with pytest.raises(ApiError) as put:
        cluster.replace(widgets, "default", "w", unconditional)
    assert put.value.code == 422


def test_built_ins_take_an_unconditional_put(cluster, services):
    cluster.create(services, "default", svc())
    replaced = cluster.replace(services, "default", "web", svc(selector={"a": "b"}))
    assert replaced["spec"]["selector"] == {"a": "b"}


def test_server_side_apply_needs_a_field_manager_and_creates_or_merges(cluster, services):
    with pytest.raises(ApiError) as manager:
        cluster.patch(services, "default", "web", APPLY, svc())
    assert manager.value.code == 400
    created, was_created = cluster.patch(
        services, "default", "web", APPLY, svc(), field_manager="me"
    )
    assert was_created
    assert created["metadata"]["name"] == "web"
    merged, was_created = cluster.patch(
        services, "default", "web", APPLY, {"metadata": {"labels": {"x": "y"}}}, field_manager="me"
    )
    assert not was_created
    assert merged["metadata"]["labels"] == {"x": "y"}
    assert merged["spec"]["ports"]


def test_generation_follows_the_spec_only(cluster, services):
    cluster.create(services, "default", svc())
    labelled, _ = cluster.patch(
        services, "default", "web", MERGE, {"metadata": {"labels": {"a": "b"}}}
    )
    assert labelled["metadata"]["generation"] == 1
    status, _ = cluster.patch(
        services,
        "default",
        "web",
        MERGE,
        {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}},
        subresource="status",
    )
    assert status["metadata"]["generation"] == 1
    spec, _ = cluster.patch(services, "default", "web", MERGE, {"spec": {"selector": {"a": "b"}}})
    assert spec["metadata"]["generation"] == 2


def test_the_status_subresource_splits_writes_both_ways(cluster, services):
    cluster.create(
        services,
        "default",
        {**svc(), "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.9"}]}}},
    )
    assert cluster.get(services, "default", "web")["status"] == {"loadBalancer": {}}
    main, _ = cluster.patch(
        services,
        "default",
        "web",
        MERGE,
        {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}},
    )
    assert main["status"] == {"loadBalancer": {}}
    patch = {
        "spec": {"selector": {"x": "y"}},
        "metadata": {"annotations": {"metallb.io/ip-allocated-from-pool": "p"}},
        "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}},
    }
    status, _ = cluster.patch(services, "default", "web", MERGE, patch, subresource="status")
    assert "selector" not in status["spec"]
    assert status["status"]["loadBalancer"]["ingress"] == [{"ip": "192.0.2.1"}]
    # Services take metadata changes through /status (MetalLB writes its pool annotation there).
    assert status["metadata"]["annotations"] == {"metallb.io/ip-allocated-from-pool": "p"}


def test_custom_resource_status_writes_ignore_metadata_and_spec(cluster, widgets):
    cluster.create(
        widgets,
        "default",
        {"metadata": {"name": "w"}, "spec": {"size": 1}, "status": {"phase": "x"}},
    )
    assert "status" not in cluster.get(widgets, "default", "w")
    patch = {"metadata": {"labels": {"a": "b"}}, "spec": {"size": 2}, "status": {"phase": "Ready"}}
    status, _ = cluster.patch(widgets, "default", "w", MERGE, patch, subresource="status")
    assert status["status"] == {"phase": "Ready"}
    assert status["spec"] == {"size": 1}
    assert "labels" not in status["metadata"]


def test_kopf_style_unknown_service_status_fields_are_pruned(cluster, services):
    cluster.create(services, "default", svc())
    status, _ = cluster.patch(
        services,
        "default",
        "web",
        MERGE,
        {"status": {"kopf": {"progress": {}}, "conditions": []}},
        subresource="status",
    )
    assert status["status"] == {"loadBalancer": {}, "conditions": []}


def test_services_get_cluster_ips_and_defaults_like_the_real_apiserver(cluster, services):
    created = cluster.create(services, "default", svc())["spec"]
    assert created["clusterIP"].startswith("10.9")
    assert created["clusterIPs"] == [created["clusterIP"]]
    assert created["ipFamilies"] == ["IPv4"]
    assert created["ipFamilyPolicy"] == "SingleStack"
    assert created["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert created["externalTrafficPolicy"] == "Cluster"
    assert created["allocateLoadBalancerNodePorts"] is True
    headless = cluster.create(
        services, "default", {"metadata": {"name": "h"}, "spec": {"clusterIP": "None"}}
    )["spec"]
    assert headless["clusterIP"] == "None"
    assert headless["clusterIPs"] == ["None"]
    kept = cluster.replace(services, "default", "web", svc())["spec"]
    assert kept["clusterIP"] == created["clusterIP"]
    with pytest.raises(ApiError) as immutable:
        cluster.patch(services, "default", "web", MERGE, {"spec": {"clusterIP": "10.96.99.99"}})
    assert immutable.value.code == 422
    taken = svc("other", clusterIP=created["clusterIP"])
    with pytest.raises(ApiError):
        cluster.create(services, "default", taken)


def test_cluster_ips_are_released_on_delete(cluster, services):
    address = cluster.create(services, "default", svc())["spec"]["clusterIP"]
    cluster.delete(services, "default", "web")
    assert (
        cluster.create(services, "default", svc("again", clusterIP=address))["spec"]["clusterIP"]
        == address
    )


def test_finalizers_hold_a_deleted_object_until_they_are_removed(cluster, services):
    cluster.create(services, "default", {**svc(), "metadata": {"name": "web", "finalizers": ["a"]}})
    marked = cluster.delete(services, "default", "web")
    assert marked["metadata"]["deletionTimestamp"]
    assert cluster.delete(services, "default", "web") == marked  # deleting again changes nothing
    with pytest.raises(ApiError) as added:
        cluster.patch(services, "default", "web", MERGE, {"metadata": {"finalizers": ["a", "b"]}})
    assert added.value.code == 422
    gone, _ = cluster.patch(services, "default", "web", MERGE, {"metadata": {"finalizers": None}})
    assert int(gone["metadata"]["resourceVersion"]) == cluster.store.resource_version
    assert cluster.store.get(services.storage, "default", "web") is None
    assert cluster.store.since(services.storage, 0)[-1].type == "DELETED"


def test_delete_preconditions_are_checked(cluster, services):
    cluster.create(services, "default", svc())
    with pytest.raises(ApiError) as failed:
        cluster.delete(services, "default", "web", preconditions={"uid": "other"})
    assert failed.value.code == 409


def test_deleting_a_namespace_deletes_its_contents_then_itself(cluster, services):
    namespaces = rt(cluster, "", "v1", "namespaces")
    cluster.create(namespaces, "", {"metadata": {"name": "tmp"}})
    cluster.create(services, "tmp", svc())
    cluster.create(
        services, "tmp", {**svc("held"), "metadata": {"name": "held", "finalizers": ["x"]}}
    )
    terminating = cluster.delete(namespaces, "", "tmp")
    assert terminating["status"]["phase"] == "Terminating"
    with pytest.raises(ApiError) as closed:
        cluster.create(services, "tmp", svc("late"))
    assert closed.value.code == 403
    assert cluster.store.get(services.storage, "tmp", "web") is None
    cluster.patch(services, "tmp", "held", MERGE, {"metadata": {"finalizers": None}})
    assert cluster.store.get(namespaces.storage, "", "tmp") is None


def test_a_crd_registers_its_resource_at_once_and_takes_it_away_on_delete(cluster, widgets):
    crds = rt(cluster, "apiextensions.k8s.io", "v1", "customresourcedefinitions")
    crd = cluster.get(crds, "", "widgets.lab.metalpool.io")
    assert {c["type"]: c["status"] for c in crd["status"]["conditions"]} == {
        "NamesAccepted": "True",
        "Established": "True",
    }
    assert widgets.namespaced
    assert widgets.has_status
    assert widgets.short_names == ("wg",)
    assert [c.name for c in widgets.columns] == ["Name", "Size", "Phase", "Age"]
    cluster.create(widgets, "default", {"metadata": {"name": "w"}})
    cluster.delete(crds, "", "widgets.lab.metalpool.io")
    assert cluster.registry.lookup("lab.metalpool.io", "v1", "widgets") is None
    assert cluster.store.count(widgets.storage) == 0


def test_a_crd_must_be_named_plural_dot_group(cluster):
    crds = rt(cluster, "apiextensions.k8s.io", "v1", "customresourcedefinitions")
    crd = yaml.safe_load(WIDGETS_CRD.read_text())
    crd["metadata"]["name"] = "wrong"
    with pytest.raises(ApiError) as invalid:
        cluster.create(crds, "", crd)
    assert invalid.value.code == 422


def test_lists_filter_sort_and_paginate(cluster, services):
    for name in ("c", "a", "b"):
        cluster.create(
            services, "default", {**svc(name), "metadata": {"name": name, "labels": {"n": name}}}
        )
    everything = parse_labels("")
    fields = parse_fields("")
    page, version, token = cluster.list(services, "default", everything, fields, limit=2)
    assert [o["metadata"]["name"] for o in page] == ["a", "b"]
    assert token
    rest, version_again, token_again = cluster.list(
        services, "default", everything, fields, limit=2, token=token
    )
    assert [o["metadata"]["name"] for o in rest] == ["c"]
    assert not token_again
    assert version_again == version
    selected, _, _ = cluster.list(
        services, None, parse_labels("n in (a,c)"), parse_fields("metadata.name!=a")
    )
    assert [o["metadata"]["name"] for o in selected] == ["c"]
    with pytest.raises(ApiError) as unsupported:
        cluster.list(services, None, everything, parse_fields("spec.type=LoadBalancer"))
    assert unsupported.value.code == 400


def test_ten_thousand_services_stay_fast(cluster, services):
    started = time.perf_counter()
    for number in range(10_000):
        cluster.create(services, "default", svc(f"s{number}"))
    created = time.perf_counter() - started
    started = time.perf_counter()
    cluster.patch(services, "default", "s5000", MERGE, {"metadata": {"labels": {"a": "b"}}})
    cluster.get(services, "default", "s9999")
    single = time.perf_counter() - started
    assert cluster.store.count(services.storage) == 10_000
    assert created < 10
    assert single < 0.01
