"""Every manifest under deploy/ is valid offline, and the examples fit together.

Built-in kinds are checked against the Kubernetes OpenAPI schema, metallb.io kinds against our
CRDs; kinds of other groups (say monitoring.coreos.com) have no bundled schema and are only
checked for apiVersion, kind and name. The examples are then checked, through MetalPool's own
parsers, for what MetalLB would refuse: pools that overlap, Services asking for a pool or an
address the pools do not have, and "shared" Services that cannot share.
"""

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest

from metalpool import names
from metalpool.advertisements import parse_l2_advertisement
from metalpool.pools import PoolSet, parse_pools
from tests.deploy.schemas import (
    CRDS,
    EXAMPLES,
    Manifest,
    api_group,
    crd_violations,
    describe,
    is_builtin,
    is_kustomization,
    kubernetes_violations,
    load_manifests,
    manifest_files,
    relative,
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# RFC 5737 and RFC 3849: the only prefixes the lab's network namespaces may use.
DOCUMENTATION_PREFIXES = [
    ipaddress.ip_network(prefix)
    for prefix in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
]

# Kinds the examples use that are not namespaced.
CLUSTER_SCOPED_KINDS = frozenset(
    {"Namespace", "ClusterRole", "ClusterRoleBinding", "IngressClass", "CustomResourceDefinition"}
)

FILES = [pytest.param(path, id=relative(path)) for path in manifest_files()]
EXAMPLE_FILES = [
    pytest.param(path, id=relative(path))
    for path in manifest_files()
    if path.is_relative_to(EXAMPLES) and path.name != "kustomization.yaml"
]
CRD_FILES = [
    pytest.param(path, id=relative(path))
    for path in sorted(CRDS.glob("*.yaml"))
    if path.name != "kustomization.yaml"
]


def objects(path: Path) -> list[Manifest]:
    """The API objects of a file (kustomize's own files are not objects)."""
    return [manifest for manifest in load_manifests(path) if not is_kustomization(manifest)]


def example_objects(kind: str, folder: Path = EXAMPLES) -> list[Manifest]:
    """Every object of a kind in the top-level example files of a folder."""
    return [
        manifest
        for path in sorted(folder.glob("*.yaml"))
        for manifest in objects(path)
        if manifest["kind"] == kind
    ]


def example_pools(folder: Path = EXAMPLES) -> PoolSet:
    """The example pools of a folder, through MetalPool's own pool parser."""
    return parse_pools(example_objects(names.POOL_KIND, folder))


def inside(network: Network, prefix: Network) -> bool:
    """Whether a network lies within a prefix of the same family."""
    # subnet_of() is typed per family; the version check makes the mixed call safe.
    return network.version == prefix.version and network.subnet_of(prefix)  # type: ignore[arg-type]


def lb_services() -> Iterator[Manifest]:
    """The LoadBalancer Services of the examples."""
    for service in example_objects("Service"):
        if service["spec"].get("type") == "LoadBalancer":
            yield service


def annotation(service: Manifest, key: str) -> str | None:
    """A metallb.io/ annotation of a Service, if set."""
    value = service["metadata"].get("annotations", {}).get(names.PREFIX + key)
    return None if value is None else str(value)


@pytest.mark.parametrize("path", FILES)
def test_every_manifest_under_deploy_is_valid_against_the_kubernetes_schema(path):
    violations = [
        f"{describe(manifest)}: {violation}"
        for manifest in objects(path)
        if is_builtin(manifest)
        for violation in kubernetes_violations(manifest)
    ]
    assert violations == []


@pytest.mark.parametrize("path", FILES)
def test_every_metallb_object_under_deploy_is_valid_against_our_crd(path):
    violations = [
        f"{describe(manifest)}: {violation}"
        for manifest in objects(path)
        if api_group(manifest) == names.GROUP
        for violation in crd_violations(manifest)
    ]
    assert violations == []


@pytest.mark.parametrize("path", FILES)
def test_every_object_under_deploy_names_its_api_version_kind_and_name(path):
    unnamed = [
        f"document {index}"
        for index, manifest in enumerate(objects(path))
        if not (manifest.get("apiVersion") and manifest.get("kind"))
        or not manifest.get("metadata", {}).get("name")
    ]
    assert unnamed == []


@pytest.mark.parametrize("path", EXAMPLE_FILES)
def test_every_namespaced_example_object_names_its_namespace(path):
    missing = [
        describe(manifest)
        for manifest in objects(path)
        if manifest["kind"] not in CLUSTER_SCOPED_KINDS
        and not manifest["metadata"].get("namespace")
    ]
    assert missing == []


@pytest.mark.parametrize("path", [*EXAMPLE_FILES, *CRD_FILES])
def test_every_example_and_crd_file_starts_with_a_comment_saying_what_it_is(path):
    assert path.read_text(encoding="utf-8").startswith("# ")


# deploy/crds/ has no kustomization on purpose: `kubectl apply -f deploy/crds/` would read one
# as a nameless object and fail.
@pytest.mark.parametrize("path", [EXAMPLES / "kustomization.yaml"])
def test_each_kustomization_lists_every_top_level_file_of_its_folder(path):
    (kustomization,) = load_manifests(path)
    files = sorted(p.name for p in path.parent.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(kustomization["resources"]) == files


def test_the_examples_create_the_demo_namespace_before_its_workloads():
    (kustomization,) = load_manifests(EXAMPLES / "kustomization.yaml")
    assert kustomization["resources"][:2] == ["pools.yaml", "namespace.yaml"]
    assert [namespace["metadata"]["name"] for namespace in example_objects("Namespace")] == ["demo"]


def test_the_lab_pools_use_only_documentation_prefixes():
    outside = [
        f"{pool}: {network}"
        for pool in example_pools().pools
        for address_range in pool.ranges
        for network in address_range.networks()
        if not any(inside(network, prefix) for prefix in DOCUMENTATION_PREFIXES)
    ]
    assert outside == []


@pytest.mark.parametrize("folder", [EXAMPLES, EXAMPLES / "lan"], ids=["lab", "lan"])
def test_the_example_pools_parse_and_do_not_overlap(folder):
    pools = example_pools(folder)
    assert [str(problem) for problem in pools.problems] == []
    assert len(pools.pools) == len(example_objects(names.POOL_KIND, folder))


@pytest.mark.parametrize("folder", [EXAMPLES, EXAMPLES / "lan"], ids=["lab", "lan"])
def test_the_lab_and_lan_pools_have_the_same_names_and_settings(folder):
    settings = {
        pool.name: (pool.auto_assign, dict(pool.labels))
        for pool in example_pools(folder).pools
        if pool.name not in UNANNOUNCED_ON_PURPOSE
    }
    assert settings == {
        "public-pool": (True, {"tier": "public"}),
        "admin-pool": (False, {"tier": "admin"}),
    }


# deploy/examples/unannounced.yaml shows what an unannounced address looks like (docs/lan.md).
UNANNOUNCED_ON_PURPOSE = {"staging-pool"}


@pytest.mark.parametrize("folder", [EXAMPLES, EXAMPLES / "lan"], ids=["lab", "lan"])
def test_every_example_pool_is_announced_by_an_l2_advertisement(folder):
    advertisements = [
        parse_l2_advertisement(manifest) for manifest in example_objects(names.L2_KIND, folder)
    ]
    unannounced = [
        pool.name
        for pool in example_pools(folder).pools
        if not any(advertisement.covers_pool(pool) for advertisement in advertisements)
    ]
    assert set(unannounced) == (UNANNOUNCED_ON_PURPOSE if folder == EXAMPLES else set())


def test_example_services_ask_only_for_pools_and_addresses_the_example_pools_have():
    pools = example_pools().by_name()
    problems = []
    for service in lb_services():
        wanted_pool = annotation(service, names.ADDRESS_POOL)
        if wanted_pool is not None and wanted_pool not in pools:
            problems.append(f"{describe(service)}: no pool {wanted_pool}")
        for text in (annotation(service, names.LOAD_BALANCER_IPS) or "").split(","):
            if not text.strip():
                continue
            address = ipaddress.ip_address(text.strip())
            owners = [name for name, pool in pools.items() if pool.contains(address)]
            if owners == [] or (wanted_pool is not None and owners != [wanted_pool]):
                problems.append(f"{describe(service)}: {address} is in {owners}")
    assert problems == []


def test_example_services_with_a_sharing_key_can_share_one_address():
    groups: dict[str, list[Manifest]] = {}
    for service in lb_services():
        key = annotation(service, names.ALLOW_SHARED_IP)
        if key:
            groups.setdefault(key, []).append(service)
    assert groups, "the examples should show address sharing"
    for key, services in groups.items():
        ports = [
            (port.get("protocol", "TCP"), port["port"])
            for service in services
            for port in service["spec"]["ports"]
        ]
        policies = {service["spec"].get("externalTrafficPolicy", "Cluster") for service in services}
        pools = {annotation(service, names.ADDRESS_POOL) for service in services}
        assert len(services) >= 2, key
        assert len(ports) == len(set(ports)), f"{key}: two services use the same port"
        assert len(policies) == 1, f"{key}: Cluster and Local services never share"
        assert len(pools) == 1, f"{key}: services ask for different pools"


def test_the_examples_cover_each_way_of_choosing_an_address():
    services = {service["metadata"]["name"]: service for service in lb_services()}
    assert annotation(services["postgres-lb"], names.LOAD_BALANCER_IPS) == "192.0.2.50"
    assert annotation(services["web-app-admin-lb"], names.ADDRESS_POOL) == "admin-pool"
    assert services["node-exporter-lb"]["spec"]["externalTrafficPolicy"] == "Local"
    assert services["web-app-lb"]["metadata"].get("annotations") is None


def test_metalpools_own_workloads_run_on_linux_nodes_only():
    """As in MetalLB's manifests (`kubernetes.io/os: linux`): mixed clusters have Windows nodes."""
    deploy = CRDS.parent
    workloads = [
        obj
        for path in (deploy / "speaker.yaml", deploy / "controller.yaml")
        for obj in objects(path)
        if obj["kind"] in ("DaemonSet", "Deployment")
    ]
    assert {w["kind"] for w in workloads} == {"DaemonSet", "Deployment"}
    for workload in workloads:
        selector = workload["spec"]["template"]["spec"].get("nodeSelector")
        assert selector == {"kubernetes.io/os": "linux"}, describe(workload)
