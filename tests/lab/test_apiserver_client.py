"""The official kubernetes Python client works against the emulated API server."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from lab.apiserver.auth.tokens import ADMIN_TOKEN
from lab.apiserver.runner import ApiServerThread

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def api(apiserver: ApiServerThread, tmp_path: Path) -> Iterator[client.ApiClient]:
    configuration = client.Configuration()
    configuration.host = apiserver.url
    configuration.api_key = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    ca = tmp_path / "ca.crt"
    ca.write_bytes(apiserver.ca)
    configuration.ssl_ca_cert = str(ca)
    with client.ApiClient(configuration) as api_client:
        yield api_client


def lb_service(name: str) -> client.V1Service:
    return client.V1Service(
        metadata=client.V1ObjectMeta(name=name, labels={"app": name}),
        spec=client.V1ServiceSpec(type="LoadBalancer", ports=[client.V1ServicePort(port=80)]),
    )


def test_services_crud_with_typed_objects_and_api_exceptions(api, namespace):
    core = client.CoreV1Api(api)
    created: Any = core.create_namespaced_service(namespace, lb_service("web"))
    assert created.spec.cluster_ip.startswith("10.9")
    assert created.spec.ip_families == ["IPv4"]
    with pytest.raises(ApiException) as duplicate:
        core.create_namespaced_service(namespace, lb_service("web"))
    assert duplicate.value.status == 409
    patched: Any = core.patch_namespaced_service_status(
        "web", namespace, {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.5"}]}}}
    )
    assert patched.status.load_balancer.ingress[0].ip == "192.0.2.5"
    listed: Any = core.list_namespaced_service(namespace, label_selector="app=web")
    assert [s.metadata.name for s in listed.items] == ["web"]
    core.delete_namespaced_service("web", namespace)
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_service("web", namespace)
    assert missing.value.status == 404


def test_events_are_found_by_field_selector(api, namespace):
    core = client.CoreV1Api(api)
    for name, reason in (("web", "IPAllocated"), ("web", "Other"), ("db", "IPAllocated")):
        core.create_namespaced_event(
            namespace,
            client.CoreV1Event(
                metadata=client.V1ObjectMeta(generate_name=f"{name}-"),
                involved_object=client.V1ObjectReference(
                    kind="Service", name=name, namespace=namespace
                ),
                reason=reason,
                message=f"{reason} for {name}",
                type="Normal",
            ),
        )
    found: Any = core.list_namespaced_event(
        namespace, field_selector="involvedObject.name=web,reason=IPAllocated"
    )
    assert [e.message for e in found.items] == ["IPAllocated for web"]


def test_watch_streams_from_a_list_resource_version(api, namespace):
    core = client.CoreV1Api(api)
    listing: Any = core.list_namespaced_service(namespace)
    version = listing.metadata.resource_version
    core.create_namespaced_service(namespace, lb_service("a"))
    core.patch_namespaced_service("a", namespace, {"metadata": {"labels": {"x": "1"}}})
    seen = []
    stream = watch.Watch()  # type: ignore[no-untyped-call]
    for event in stream.stream(  # type: ignore[no-untyped-call]
        core.list_namespaced_service, namespace, resource_version=version, timeout_seconds=5
    ):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 2:
            stream.stop()  # type: ignore[no-untyped-call]
    assert seen == [("ADDED", "a"), ("MODIFIED", "a")]


def test_custom_objects_and_their_status_subresource(api, namespace, widgets_crd):
    custom = client.CustomObjectsApi(api)
    body = {
        "apiVersion": "lab.metalpool.io/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 2},
    }
    custom.create_namespaced_custom_object("lab.metalpool.io", "v1", namespace, "widgets", body)
    custom.patch_namespaced_custom_object_status(
        "lab.metalpool.io", "v1", namespace, "widgets", "w", {"status": {"phase": "Ready"}}
    )
    got: Any = custom.get_namespaced_custom_object(
        "lab.metalpool.io", "v1", namespace, "widgets", "w"
    )
    assert got["status"] == {"phase": "Ready"}
    assert got["metadata"]["generation"] == 1


def test_leases_endpointslices_and_nodes_are_served(api, namespace):
    coordination = client.CoordinationV1Api(api)
    lease = client.V1Lease(
        metadata=client.V1ObjectMeta(name="speaker-a"),
        spec=client.V1LeaseSpec(holder_identity="node-a", lease_duration_seconds=10),
    )
    created: Any = coordination.create_namespaced_lease(namespace, lease)
    created.spec.holder_identity = "node-b"
    replaced: Any = coordination.replace_namespaced_lease("speaker-a", namespace, created)
    assert replaced.spec.holder_identity == "node-b"
    created.spec.holder_identity = "node-c"  # still carries the old resourceVersion
    with pytest.raises(ApiException) as stale:
        coordination.replace_namespaced_lease("speaker-a", namespace, created)
    assert stale.value.status == 409

    slices = client.DiscoveryV1Api(api)
    endpoint_slice = client.V1EndpointSlice(
        address_type="IPv4",
        metadata=client.V1ObjectMeta(name="web-abc", labels={"kubernetes.io/service-name": "web"}),
        endpoints=[client.V1Endpoint(addresses=["10.0.0.1"], node_name="node-a")],
    )
    slices.create_namespaced_endpoint_slice(namespace, endpoint_slice)
    found: Any = slices.list_namespaced_endpoint_slice(
        namespace, label_selector="kubernetes.io/service-name=web"
    )
    assert found.items[0].endpoints[0].node_name == "node-a"

    core = client.CoreV1Api(api)
    node = client.V1Node(
        metadata=client.V1ObjectMeta(name=f"node-{namespace}"),
        status=client.V1NodeStatus(
            conditions=[client.V1NodeCondition(type="Ready", status="True")]
        ),
    )
    made: Any = core.create_node(node)
    assert made.status.conditions[0].type == "Ready"
    core.patch_node_status(
        f"node-{namespace}", {"status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    )
    read: Any = core.read_node(f"node-{namespace}")
    assert read.status.conditions[0].status == "False"
