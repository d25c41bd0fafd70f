"""The install manifests (deploy/*.yaml, deploy/monitoring/) say what the issue asks, and no more.

RBAC is compared rule by rule with the table below, so widening a permission is a visible
change to this file; every rule carries a comment saying what it is for. The pods' security
settings, probes and image are checked field by field. The alerts and the dashboard may only
query metrics that docs/metrics.md documents.
"""

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from controller import metrics as controller_metrics
from speaker import metrics as speaker_metrics
from speaker.wire.answers import Tally
from tests.deploy.schemas import CRDS, DEPLOY, Manifest, load_manifests

MONITORING = DEPLOY / "monitoring"
ROOT = DEPLOY.parent
METRICS_DOC = ROOT / "docs" / "metrics.md"
INSTALL_FILES = sorted([*DEPLOY.glob("*.yaml"), *MONITORING.glob("*.yaml")])

Rule = tuple[str, str, str, str]  # (apiGroup, resource, resourceName or "", verb)


def objects(*paths: Path) -> list[Manifest]:
    return [manifest for path in paths for manifest in load_manifests(path)]


def find(kind: str, name: str, path: Path) -> Manifest:
    (found,) = [m for m in objects(path) if m["kind"] == kind and m["metadata"]["name"] == name]
    return found


def rules(role: Manifest) -> set[Rule]:
    return {
        (group, resource, name, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for name in rule.get("resourceNames", [""])
        for verb in rule["verbs"]
    }


def grants(group: str, resources: list[str], verbs: list[str], name: str = "") -> set[Rule]:
    return {(group, resource, name, verb) for resource in resources for verb in verbs}


EXPECTED_RBAC: dict[tuple[str, str, str], set[Rule]] = {
    ("ClusterRole", "metalpool:controller", "controller.yaml"): (
        grants("", ["services", "namespaces"], ["list", "watch"])
        | grants("", ["services/status"], ["patch"])
        | grants("", ["events"], ["create"])
        | grants("metallb.io", ["ipaddresspools"], ["list", "watch"])
    ),
    ("Role", "metalpool-controller", "controller.yaml"): (
        grants("metallb.io", ["ipaddresspools", "ipaddresspools/status"], ["patch"])
        | grants("coordination.k8s.io", ["leases"], ["create"])
        | grants("coordination.k8s.io", ["leases"], ["get", "update"], "metalpool-controller")
        | grants("", ["secrets"], ["create"])
        | grants("", ["secrets"], ["get"], "memberlist")
    ),
    ("ClusterRole", "metalpool:speaker", "speaker.yaml"): (
        grants("", ["services", "nodes"], ["list", "watch"])
        | grants("", ["services/status"], ["patch"])
        | grants("discovery.k8s.io", ["endpointslices"], ["list", "watch"])
        | grants("", ["events"], ["create"])
        | grants(
            "metallb.io",
            ["ipaddresspools", "l2advertisements", "servicel2statuses"],
            ["list", "watch"],
        )
    ),
    ("Role", "metalpool-speaker", "speaker.yaml"): (
        grants("coordination.k8s.io", ["leases"], ["create", "get", "update"])
        | grants("coordination.k8s.io", ["leases"], ["list", "watch"])
        | grants("metallb.io", ["servicel2statuses"], ["create", "delete"])
        | grants("metallb.io", ["servicel2statuses/status"], ["patch"])
        | grants("", ["secrets"], ["get", "list", "watch"], "memberlist")
        | grants("", ["configmaps"], ["get", "list", "watch"], "metallb-excludel2")
    ),
}


@pytest.mark.parametrize(
    ("kind", "name", "file"), list(EXPECTED_RBAC), ids=[n for _, n, _ in EXPECTED_RBAC]
)
def test_each_role_grants_exactly_what_its_program_calls(kind, name, file):
    assert rules(find(kind, name, DEPLOY / file)) == EXPECTED_RBAC[(kind, name, file)]


def test_every_role_in_deploy_is_in_the_table():
    roles = {
        (m["kind"], m["metadata"]["name"], path.name)
        for path in INSTALL_FILES
        for m in objects(path)
        if m["kind"] in {"Role", "ClusterRole"}
    }
    assert roles == set(EXPECTED_RBAC)


@pytest.mark.parametrize("file", ["controller.yaml", "speaker.yaml"])
def test_every_rbac_rule_has_a_comment_saying_what_it_is_for(file):
    lines = (DEPLOY / file).read_text(encoding="utf-8").splitlines()
    uncommented = [
        f"line {number + 1}"
        for number, line in enumerate(lines)
        if line.startswith("  - apiGroups:") and not lines[number - 1].lstrip().startswith("#")
    ]
    assert uncommented == []


@pytest.mark.parametrize(
    ("kind", "name", "file"),
    [
        ("ClusterRoleBinding", "metalpool:controller", "controller.yaml"),
        ("RoleBinding", "metalpool-controller", "controller.yaml"),
        ("ClusterRoleBinding", "metalpool:speaker", "speaker.yaml"),
        ("RoleBinding", "metalpool-speaker", "speaker.yaml"),
    ],
)
def test_each_binding_gives_its_role_to_its_own_service_account_only(kind, name, file):
    binding = find(kind, name, DEPLOY / file)
    account = f"metalpool-{file.removesuffix('.yaml')}"
    assert binding["roleRef"]["name"] == name
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account, "namespace": "metallb-system"}
    ]


def pod_spec(kind: str, name: str, file: str) -> dict[str, Any]:
    spec: dict[str, Any] = find(kind, name, DEPLOY / file)["spec"]["template"]["spec"]
    return spec


def test_the_controller_runs_non_root_read_only_without_capabilities():
    pod = pod_spec("Deployment", "metalpool-controller", "controller.yaml")
    (container,) = pod["containers"]
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert (
        find("Deployment", "metalpool-controller", DEPLOY / "controller.yaml")["spec"]["replicas"]
        == 2
    )


def test_the_speaker_holds_net_raw_alone_on_the_host_network():
    pod = pod_spec("DaemonSet", "metalpool-speaker", "speaker.yaml")
    (container,) = pod["containers"]
    assert pod["hostNetwork"] is True
    assert pod["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["NET_RAW"]}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    node_name = {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
    assert node_name in container["env"]
    tolerated = {(t["key"], t["effect"]) for t in pod["tolerations"]}
    assert tolerated == {
        ("node-role.kubernetes.io/control-plane", "NoSchedule"),
        ("node-role.kubernetes.io/master", "NoSchedule"),
    }


@pytest.mark.parametrize(
    ("kind", "name", "file", "health", "metrics"),
    [
        ("Deployment", "metalpool-controller", "controller.yaml", 17472, 7472),
        ("DaemonSet", "metalpool-speaker", "speaker.yaml", 17473, 7473),
    ],
)
def test_probes_and_ports(kind, name, file, health, metrics):
    (container,) = pod_spec(kind, name, file)["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"metrics": metrics, "health": health}
    probes = {
        probe: (container[probe]["httpGet"]["path"], container[probe]["httpGet"]["port"])
        for probe in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert probes == {
        "startupProbe": ("/healthz", "health"),
        "livenessProbe": ("/healthz", "health"),
        "readinessProbe": ("/readyz", "health"),
    }
    assert set(container["resources"]) == {"requests", "limits"}


def test_both_programs_run_the_release_image_of_pyproject_version():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    images = {
        container["image"]
        for kind, name, file in [
            ("Deployment", "metalpool-controller", "controller.yaml"),
            ("DaemonSet", "metalpool-speaker", "speaker.yaml"),
        ]
        for container in pod_spec(kind, name, file)["containers"]
    }
    assert images == {f"ghcr.io/metalpool/metalpool:{version}"}


def kustomization(folder: Path) -> list[str]:
    (document,) = load_manifests(folder / "kustomization.yaml")
    resources: list[str] = document["resources"]
    return resources


def test_the_install_kustomization_lists_each_top_level_file_and_each_crd():
    top = [p.name for p in sorted(DEPLOY.glob("*.yaml")) if p.name != "kustomization.yaml"]
    crds = [f"crds/{p.name}" for p in sorted(CRDS.glob("*.yaml"))]
    assert sorted(kustomization(DEPLOY)) == sorted(top + crds)
    assert kustomization(DEPLOY)[0] == "namespace.yaml"


def test_the_monitoring_kustomization_lists_every_file_of_its_folder():
    files = [p.name for p in MONITORING.glob("*.yaml") if p.name != "kustomization.yaml"]
    assert sorted(kustomization(MONITORING)) == sorted(files)


@pytest.mark.parametrize("path", INSTALL_FILES, ids=[p.name for p in INSTALL_FILES])
def test_every_install_file_starts_with_a_comment_saying_what_it_is(path):
    assert path.read_text(encoding="utf-8").startswith("# ")


# ------------------------------------------------------------------ monitoring

# Series that come from Prometheus itself or kube-state-metrics, not from MetalPool.
EXTERNAL_SERIES = frozenset({"up", "kube_daemonset_status_number_unavailable"})
_HISTOGRAM_PARTS = re.compile(r"_(bucket|count|sum)$")


def queried_metrics(expression: str) -> set[str]:
    """Metric names in a PromQL expression (also inside {__name__=~"..."} matchers)."""
    names = set(re.findall(r"\b(metal(?:lb|pool)_[a-z0-9_]+)", expression))
    names |= {name for name in re.findall(r"\b([a-z_]+)\{", expression) if name in EXTERNAL_SERIES}
    return {_HISTOGRAM_PARTS.sub("", name) for name in names}


def alert_expressions() -> list[str]:
    (rule,) = objects(MONITORING / "prometheusrule.yaml")
    return [entry["expr"] for group in rule["spec"]["groups"] for entry in group["rules"]]


def dashboard() -> dict[str, Any]:
    (config_map,) = objects(MONITORING / "dashboard.yaml")
    document: dict[str, Any] = json.loads(config_map["data"]["metalpool.json"])
    return document


def dashboard_expressions() -> list[str]:
    return [
        target["expr"] for panel in dashboard()["panels"] for target in panel.get("targets", [])
    ]


def documented_metrics() -> dict[str, str]:
    """Name -> type from the tables of docs/metrics.md (rows "| `name` | type | ...")."""
    text = METRICS_DOC.read_text(encoding="utf-8")
    return dict(re.findall(r"^\| `([a-z0-9_]+)` \| ([a-z]+) \|", text, flags=re.MULTILINE))


def exported_metrics() -> dict[str, str]:
    """Name -> type of every MetalPool series both programs expose (their /metrics pages).

    Importing both metrics modules puts both programs' metrics in prometheus_client's registry,
    which the speaker's page renders after its hand-written layer-2 counters.
    """
    assert controller_metrics.UPDATES is not None  # imported for its registrations
    page = speaker_metrics.render(Tally()).decode()
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", page, flags=re.MULTILINE))
    return {name: kind for name, kind in types.items() if name.startswith("metal")}


def test_the_dashboard_is_grafana_json_with_a_datasource_variable():
    document = dashboard()
    assert document["uid"] == "metalpool"
    assert [v["name"] for v in document["templating"]["list"]] == ["datasource"]
    ids = [panel["id"] for panel in document["panels"]]
    assert len(ids) == len(set(ids))


def test_the_alerts_cover_pool_usage_exhaustion_speakers_and_failover():
    (rule,) = objects(MONITORING / "prometheusrule.yaml")
    alerts = {entry["alert"] for group in rule["spec"]["groups"] for entry in group["rules"]}
    assert {
        "MetalPoolAddressPoolUsage75Percent",
        "MetalPoolAddressPoolUsage85Percent",
        "MetalPoolAddressPoolUsage95Percent",
        "MetalPoolAddressPoolExhausted",
        "MetalPoolSpeakerDown",
        "MetalPoolFailover",
        "MetalPoolAddressConflict",
        "MetalPoolSplitBrain",
        "MetalPoolAddressUnannounced",
    } <= alerts


def test_alerts_and_dashboard_query_only_documented_metrics():
    queried = set().union(*map(queried_metrics, alert_expressions() + dashboard_expressions()))
    assert queried - EXTERNAL_SERIES - set(documented_metrics()) == set()


def test_every_metric_both_programs_expose_is_documented_with_its_type():
    documented = documented_metrics()
    assert {name: documented.get(name) for name in exported_metrics()} == exported_metrics()
