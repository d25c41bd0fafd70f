"""The real kubectl works against the emulated API server (validation on, no special flags)."""

import contextlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from lab.apiserver.kubeconfig import write_kubeconfig
from lab.apiserver.runner import ApiServerThread
from lab.kubectl import kubectl_path
from tests.lab.conftest import WIDGETS_CRD
from tests.lab.rest import Rest, eventually

KUBECTL = kubectl_path()  # the lab's own: .venv/bin/kubectl (lab.kubectl)
CRDS = Path(__file__).parents[2] / "deploy" / "crds"

pytestmark = [
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed"),
    pytest.mark.timeout(60),
]

SERVICE = """
apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {app: web}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports:
  - {name: http, port: 80}
  - {name: https, port: 443}
"""


class Kubectl:
    def __init__(self, kubeconfig: Path, cache: Path) -> None:
        self.env = {"KUBECONFIG": str(kubeconfig), "HOME": str(cache), "PATH": "/usr/bin:/bin"}
        self.cache = cache

    def __call__(
        self, *args: str, stdin: str | None = None, ok: bool = True
    ) -> subprocess.CompletedProcess[str]:
        assert KUBECTL is not None
        done = subprocess.run(  # noqa: S603 -- our own arguments
            [KUBECTL, f"--cache-dir={self.cache}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=30,
            check=False,
        )
        if ok:
            assert done.returncode == 0, done.stderr
        return done


@contextlib.contextmanager
def running(kubectl: Kubectl, *args: str) -> Iterator[subprocess.Popen[str]]:
    """kubectl in the background; killed (by PID) and reaped on exit."""
    assert KUBECTL is not None
    with subprocess.Popen(  # noqa: S603 -- our own arguments
        [KUBECTL, f"--cache-dir={kubectl.cache}", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=kubectl.env,
    ) as process:
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=10)


@pytest.fixture(scope="module")
def kubectl(apiserver: ApiServerThread, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    home = tmp_path_factory.mktemp("kubectl")
    return Kubectl(write_kubeconfig(home / "kubeconfig", apiserver.url, ca=apiserver.ca), home)


@pytest.fixture
def web(kubectl: Kubectl, namespace: str) -> str:
    kubectl("create", "-n", namespace, "-f", "-", stdin=SERVICE)
    return namespace


def test_version_and_discovery_are_accepted(kubectl):
    assert "Server Version: v1.32" in kubectl("version").stdout
    resources = kubectl("api-resources").stdout
    for row in ("services", "endpointslices", "leases", "customresourcedefinitions", "nodes"):
        assert row in resources


def test_apply_of_a_crd_serves_its_kind_with_short_names_and_columns(kubectl, namespace):
    kubectl("apply", "-f", str(WIDGETS_CRD))
    kubectl("wait", "--for=condition=Established", "crd/widgets.lab.metalpool.io", "--timeout=5s")
    rows = kubectl("api-resources", "--api-group=lab.metalpool.io").stdout
    assert "widgets" in rows
    assert "wg" in rows
    widget = "apiVersion: lab.metalpool.io/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 3}\n"
    kubectl("apply", "-n", namespace, "-f", "-", stdin=widget)
    table = kubectl("get", "wg", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "SIZE", "PHASE", "AGE"]
    assert table[1].split()[:2] == ["w", "3"]
    assert (
        "widget.lab.metalpool.io/w" in kubectl("get", "lab", "-n", namespace, "-o", "name").stdout
    )


def test_a_custom_resource_refuses_strategic_merge_but_takes_merge_patch(kubectl, namespace):
    kubectl("apply", "-f", str(WIDGETS_CRD))
    widget = "apiVersion: lab.metalpool.io/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 3}\n"
    kubectl("apply", "-n", namespace, "-f", "-", stdin=widget)
    refused = kubectl("patch", "-n", namespace, "wg/w", "-p", '{"spec":{"size":4}}', ok=False)
    assert "application/strategic-merge-patch+json is not supported" in refused.stderr
    kubectl("patch", "-n", namespace, "wg/w", "--type=merge", "-p", '{"spec":{"size":4}}')
    kubectl(
        "patch",
        "-n",
        namespace,
        "wg/w",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"phase":"Ready"}}',
    )
    assert (
        kubectl(
            "get", "-n", namespace, "wg/w", "-o", "jsonpath={.spec.size} {.status.phase}"
        ).stdout
        == "4 Ready"
    )


@pytest.mark.skipif(not CRDS.is_dir(), reason="deploy/crds/ is not there yet")
def test_the_projects_crds_apply_with_kubectl(kubectl):
    files = sorted(p for p in CRDS.glob("*.yaml") if p.name != "kustomization.yaml")
    kubectl("apply", *(arg for f in files for arg in ("-f", str(f))))
    if (CRDS / "kustomization.yaml").exists():
        kubectl("apply", "-k", str(CRDS))
    names = kubectl("get", "crd", "-o", "name").stdout
    for path in files:
        crd = yaml.safe_load(path.read_text())
        assert f"customresourcedefinition.apiextensions.k8s.io/{crd['metadata']['name']}" in names
        group = crd["spec"]["group"]
        assert (
            crd["spec"]["names"]["plural"]
            in kubectl("api-resources", f"--api-group={group}").stdout
        )


def test_create_then_apply_twice_merges_ports_by_key(kubectl, web):
    kubectl("apply", "-n", web, "-f", "-", stdin=SERVICE)
    changed = SERVICE.replace("port: 443", "port: 8443")
    assert "configured" in kubectl("apply", "-n", web, "-f", "-", stdin=changed).stdout
    ports = kubectl("get", "svc/web", "-n", web, "-o", "jsonpath={.spec.ports[*].port}").stdout
    assert ports == "80 8443"


def test_get_prints_service_columns_and_honours_selectors(kubectl, web):
    table = kubectl("get", "svc", "-n", web, "-o", "wide").stdout.splitlines()
    assert table[0].split() == [
        "NAME",
        "TYPE",
        "CLUSTER-IP",
        "EXTERNAL-IP",
        "PORT(S)",
        "AGE",
        "SELECTOR",
    ]
    assert table[1].split()[:5] == [
        "web",
        "LoadBalancer",
        table[1].split()[2],
        "<pending>",
        "80/TCP,443/TCP",
    ]
    assert table[1].split()[2].startswith("10.9")
    assert "web" in kubectl("get", "svc", "-n", web, "-l", "app in (web,x)", "-o", "name").stdout
    assert kubectl("get", "svc", "-n", web, "-l", "app!=web", "-o", "name").stdout == ""
    assert (
        "web"
        in kubectl(
            "get", "svc", "-n", web, "--field-selector", "metadata.name=web", "-o", "name"
        ).stdout
    )
    assert f"{web}" in kubectl("get", "svc", "-A").stdout
    as_json = json.loads(kubectl("get", "svc", "web", "-n", web, "-o", "json").stdout)
    assert as_json["spec"]["ipFamilyPolicy"] == "SingleStack"
    custom = kubectl(
        "get", "svc", "-n", web, "-o", "custom-columns=N:.metadata.name,T:.spec.type"
    ).stdout
    assert custom.split() == ["N", "T", "web", "LoadBalancer"]


def test_patch_in_every_language_and_on_the_status_subresource(kubectl, web):
    kubectl("patch", "svc/web", "-n", web, "-p", '{"spec":{"ports":[{"port":80,"name":"web"}]}}')
    kubectl(
        "patch", "svc/web", "-n", web, "--type=merge", "-p", '{"metadata":{"labels":{"m":"1"}}}'
    )
    kubectl(
        "patch",
        "svc/web",
        "-n",
        web,
        "--type=json",
        "-p",
        '[{"op":"test","path":"/spec/type","value":"LoadBalancer"},'
        '{"op":"add","path":"/metadata/labels/j","value":"2"}]',
    )
    failed = kubectl(
        "patch",
        "svc/web",
        "-n",
        web,
        "--type=json",
        "-p",
        '[{"op":"test","path":"/spec/type","value":"NodePort"}]',
        ok=False,
    )
    assert failed.returncode != 0
    kubectl(
        "patch",
        "svc/web",
        "-n",
        web,
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.7"}]}}}',
    )
    body = json.loads(kubectl("get", "svc/web", "-n", web, "-o", "json").stdout)
    assert [p["name"] for p in body["spec"]["ports"]] == ["web", "https"]
    assert body["metadata"]["labels"] == {"app": "web", "m": "1", "j": "2"}
    assert "192.0.2.7" in kubectl("get", "svc/web", "-n", web).stdout


def test_label_annotate_replace_and_server_side_apply(kubectl, web):
    kubectl("label", "svc/web", "-n", web, "tier=front")
    kubectl("annotate", "svc/web", "-n", web, "note=hello")
    current = kubectl("get", "svc/web", "-n", web, "-o", "yaml").stdout
    kubectl("replace", "-n", web, "-f", "-", stdin=current.replace("note: hello", "note: again"))
    assert (
        kubectl("get", "svc/web", "-n", web, "-o", "jsonpath={.metadata.annotations.note}").stdout
        == "again"
    )
    kubectl("apply", "--server-side", "-n", web, "-f", "-", stdin=SERVICE)
    kubectl("apply", "--server-side", "--force-conflicts", "-n", web, "-f", "-", stdin=SERVICE)
    other = SERVICE.replace("name: web", "name: ssa")
    assert (
        "serverside-applied"
        in kubectl("apply", "--server-side", "-n", web, "-f", "-", stdin=other).stdout
    )
    assert kubectl("diff", "-n", web, "-f", "-", stdin=other, ok=False).returncode in (0, 1)


def test_describe_shows_the_services_events(kubectl, web, rest: Rest):
    uid = json.loads(kubectl("get", "svc/web", "-n", web, "-o", "json").stdout)["metadata"]["uid"]
    event = {
        "metadata": {"generateName": "web-"},
        "involvedObject": {
            "kind": "Service",
            "namespace": web,
            "name": "web",
            "uid": uid,
            "apiVersion": "v1",
        },
        "reason": "IPAllocated",
        "message": "Assigned IP 192.0.2.1",
        "type": "Normal",
        "source": {"component": "metalpool-controller"},
        "firstTimestamp": "2025-01-01T00:00:00Z",
        "lastTimestamp": "2025-01-01T00:00:00Z",
        "count": 1,
    }
    rest.ok("POST", f"/api/v1/namespaces/{web}/events", event)
    described = kubectl("describe", "svc", "web", "-n", web).stdout
    assert "IPAllocated" in described
    assert "Assigned IP 192.0.2.1" in described
    listed = kubectl(
        "get", "events", "-n", web, "--field-selector", "involvedObject.name=web,reason=IPAllocated"
    ).stdout
    assert "Assigned IP 192.0.2.1" in listed


def test_get_watch_streams_changes(kubectl, web, rest: Rest):
    with running(kubectl, "get", "svc", "-n", web, "-w") as watcher:
        assert watcher.stdout is not None
        assert watcher.stdout.readline().split()[0] == "NAME"
        assert "<pending>" in watcher.stdout.readline()
        rest.ok(
            "PATCH",
            f"/api/v1/namespaces/{web}/services/web/status",
            {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.8"}]}}},
            content_type="application/merge-patch+json",
        )
        assert "192.0.2.8" in watcher.stdout.readline()


def test_wait_for_a_jsonpath_value(kubectl, web, rest: Rest):
    jsonpath = "--for=jsonpath={.status.loadBalancer.ingress[0].ip}=192.0.2.9"
    with running(kubectl, "wait", "-n", web, "svc/web", "--timeout=10s", jsonpath) as waiter:
        rest.ok(
            "PATCH",
            f"/api/v1/namespaces/{web}/services/web/status",
            {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.9"}]}}},
            content_type="application/merge-patch+json",
        )
        out, err = waiter.communicate(timeout=15)
        assert "condition met" in out, err


def test_delete_waits_for_finalizers_to_go(kubectl, web, rest: Rest, apiserver):
    finalizer = '{"metadata":{"finalizers":["lab/x"]}}'
    kubectl("patch", "svc/web", "-n", web, "--type=merge", "-p", finalizer)
    kubectl("delete", "svc/web", "-n", web, "--wait=false")
    marked = kubectl("get", "svc/web", "-n", web, "-o", "jsonpath={.metadata.deletionTimestamp}")
    assert marked.stdout
    path = f"/api/v1/namespaces/{web}/services/web"
    with running(kubectl, "delete", "svc/web", "-n", web, "--timeout=10s") as deleter:
        # Once the second DELETE has been answered, kubectl is waiting for the object to go.
        eventually(
            lambda: sum(r.path == path and r.method == "DELETE" for r in apiserver.requests) == 2
        )
        unfinalize = '[{"op":"remove","path":"/metadata/finalizers"}]'
        kubectl("patch", "svc/web", "-n", web, "--type=json", "-p", unfinalize)
        _, err = deleter.communicate(timeout=15)
        assert deleter.returncode == 0, err
    assert rest.get(path)[0] == 404


def test_namespaces_and_nodes_via_manifests(kubectl):
    manifest = kubectl(
        "create", "namespace", "made-by-kubectl", "--dry-run=client", "-o", "yaml"
    ).stdout
    kubectl("apply", "-f", "-", stdin=manifest)
    node = """
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {node-role.kubernetes.io/worker: ""}}
status:
  conditions: [{type: Ready, status: "True"}]
  addresses: [{type: InternalIP, address: 192.0.2.21}]
  nodeInfo: {kubeletVersion: v1.32.0}
"""
    kubectl("apply", "-f", "-", stdin=node)
    row = kubectl("get", "nodes", "-o", "wide").stdout.splitlines()[1].split()
    assert row[:3] == ["node-a", "Ready", "worker"]
    assert "192.0.2.21" in row
    kubectl("delete", "namespace", "made-by-kubectl")
    assert kubectl("get", "ns", "made-by-kubectl", ok=False).returncode != 0


def test_imperative_creates_send_protobuf_and_are_understood(kubectl):
    kubectl("create", "namespace", "imperative")
    kubectl("create", "configmap", "cm", "-n", "imperative", "--from-literal=a=b")
    kubectl("create", "secret", "generic", "s", "-n", "imperative", "--from-literal=p=secret")
    kubectl("create", "serviceaccount", "robot", "-n", "imperative")
    get = kubectl("get", "cm/cm", "secret/s", "sa/robot", "-n", "imperative", "-o", "json").stdout
    items = json.loads(get)["items"]
    assert items[0]["data"] == {"a": "b"}
    assert items[1]["data"] == {"p": "c2VjcmV0"}
    assert items[1]["type"] == "Opaque"
    assert items[2]["metadata"]["name"] == "robot"
    refused = kubectl("create", "deployment", "d", "--image=x", "-n", "imperative", ok=False)
    assert "not supported" in refused.stderr
