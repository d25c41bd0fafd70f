"""The real kubectl applies every kustomization under deploy/ to the emulated API server.

What a user types (`kubectl apply -f deploy/crds/`, `-k deploy/`, `-k deploy/examples`,
`-k deploy/monitoring/`) must create every object the kustomization renders, and a second apply
must find nothing to change. deploy/monitoring/ needs the Prometheus operator's CRDs; stand-ins
from fixtures/ are registered first. The emulated server enforces no RBAC, so permissions are
checked by reading the rules (test_manifests.py), not here.
"""

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from lab.apiserver.kubeconfig import write_kubeconfig
from lab.apiserver.runner import ApiServerThread
from lab.kubectl import kubectl_path
from tests.deploy.schemas import CRDS, DEPLOY, EXAMPLES

KUBECTL = kubectl_path()  # the lab's own: .venv/bin/kubectl (lab.kubectl)
MONITORING = DEPLOY / "monitoring"
MONITORING_CRDS = Path(__file__).parent / "fixtures" / "monitoring-crds.yaml"

pytestmark = [
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed"),
    pytest.mark.timeout(60),
]

ObjectKey = tuple[str, str, str]  # (kind.group, namespace, name)


class Kubectl:
    """kubectl with its own kubeconfig and cache, failing the test on a non-zero exit."""

    def __init__(self, kubeconfig: Path, home: Path) -> None:
        self.env = {"KUBECONFIG": str(kubeconfig), "HOME": str(home), "PATH": "/usr/bin:/bin"}
        self.cache = home / "cache"

    def __call__(self, *args: str) -> str:
        assert KUBECTL is not None
        done = subprocess.run(  # noqa: S603 -- our own arguments
            [KUBECTL, f"--cache-dir={self.cache}", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
        return done.stdout


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kubectl]:
    home = tmp_path_factory.mktemp("kubectl")
    with ApiServerThread() as server:
        yield Kubectl(write_kubeconfig(home / "kubeconfig", server.url, ca=server.ca), home)


def key(obj: dict[str, object]) -> ObjectKey:
    """(kind.group, namespace, name) of an object as rendered or as read back."""
    meta = obj["metadata"]
    assert isinstance(meta, dict)
    group = str(obj["apiVersion"]).rpartition("/")[0]
    kind = f"{obj['kind']}.{group}" if group else str(obj["kind"])
    return kind, str(meta.get("namespace", "")), str(meta["name"])


def rendered(kubectl: Kubectl, *source: str) -> set[ObjectKey]:
    """The objects `kubectl apply <source>` sends, as kubectl itself renders them."""
    flag, path = source
    if flag == "-k":
        texts = [kubectl("kustomize", path)]
    else:
        texts = [file.read_text(encoding="utf-8") for file in sorted(Path(path).glob("*.yaml"))]
    return {key(obj) for text in texts for obj in yaml.safe_load_all(text) if obj}


def stored(kubectl: Kubectl, *source: str) -> set[ObjectKey]:
    """The objects of a source as the API server returns them (`kubectl get <source>`)."""
    items = json.loads(kubectl("get", *source, "-o", "json"))["items"]
    return {key(obj) for obj in items}


def apply(kubectl: Kubectl, *source: str) -> list[str]:
    """Apply a source; kubectl's one line per object ("<kind>/<name> created")."""
    return kubectl("apply", *source).splitlines()


@pytest.fixture(scope="module")
def installed(kubectl: Kubectl) -> Kubectl:
    """MetalPool installed the way the quick start does it: CRDs, then everything."""
    apply(kubectl, "-f", str(CRDS))
    apply(kubectl, "-k", str(DEPLOY))
    return kubectl


def test_the_crds_apply_on_their_own(kubectl):
    apply(kubectl, "-f", str(CRDS))
    assert stored(kubectl, "-f", str(CRDS)) == rendered(kubectl, "-f", str(CRDS))


def test_apply_k_deploy_creates_every_object_it_renders(installed):
    objects = rendered(installed, "-k", str(DEPLOY))
    assert stored(installed, "-k", str(DEPLOY)) == objects
    kinds = {kind for kind, _, _ in objects}
    assert {"Deployment.apps", "DaemonSet.apps", "Namespace"} <= kinds
    assert len([k for k in kinds if k.startswith("CustomResourceDefinition")]) == 1


def test_a_second_apply_changes_nothing(installed):
    lines = apply(installed, "-k", str(DEPLOY))
    assert [line for line in lines if not line.endswith(" unchanged")] == []


def test_the_controller_and_speaker_come_back_as_written(installed):
    deployment = json.loads(
        installed("get", "-n", "metallb-system", "deployment/metalpool-controller", "-o", "json")
    )
    speaker = json.loads(
        installed("get", "-n", "metallb-system", "daemonset/metalpool-speaker", "-o", "json")
    )
    (controller_container,) = deployment["spec"]["template"]["spec"]["containers"]
    (speaker_container,) = speaker["spec"]["template"]["spec"]["containers"]
    assert deployment["spec"]["replicas"] == 2
    assert controller_container["command"] == ["metalpool-controller"]
    assert speaker["spec"]["template"]["spec"]["hostNetwork"] is True
    assert speaker_container["command"] == ["metalpool-speaker"]
    assert speaker_container["securityContext"]["capabilities"] == {
        "drop": ["ALL"],
        "add": ["NET_RAW"],
    }


def test_the_examples_apply_after_metalpool(installed):
    apply(installed, "-k", str(EXAMPLES))
    assert stored(installed, "-k", str(EXAMPLES)) == rendered(installed, "-k", str(EXAMPLES))


def test_monitoring_applies_once_the_operator_crds_exist(installed):
    apply(installed, "-f", str(MONITORING_CRDS))
    apply(installed, "-k", str(MONITORING))
    objects = rendered(installed, "-k", str(MONITORING))
    assert stored(installed, "-k", str(MONITORING)) == objects
    assert {kind for kind, _, _ in objects} == {
        "Service",
        "ConfigMap",
        "ServiceMonitor.monitoring.coreos.com",
        "PodMonitor.monitoring.coreos.com",
        "PrometheusRule.monitoring.coreos.com",
    }


def test_the_kube_prometheus_stack_overlay_labels_what_that_prometheus_selects(kubectl):
    """kube-prometheus-stack selects monitors and rules by `release` (MicroK8s: kube-prom-stack)."""
    overlay = DEPLOY / "monitoring-kube-prometheus-stack"
    objects = [o for o in yaml.safe_load_all(kubectl("kustomize", str(overlay))) if o]
    release = {o["kind"]: o["metadata"].get("labels", {}).get("release") for o in objects}
    assert {kind for kind, value in release.items() if value == "kube-prom-stack"} == {
        "ServiceMonitor",
        "PodMonitor",
        "PrometheusRule",
    }
    plain = rendered(kubectl, "-k", str(MONITORING))
    assert {key(o) for o in objects} == plain  # the same objects as deploy/monitoring/
