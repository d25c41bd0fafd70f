"""A cluster in a test: the emulated API server with MetalLB's CRDs, clients, and a real controller.

The controller runs as a subprocess (`python -m controller`), exactly as users run it, against
the API server through a kubeconfig that acts as deploy/'s metalpool-controller ServiceAccount,
bound by deploy/'s own RBAC (lab/accounts.py): a call the manifests do not allow fails with 403
here as in a cluster. Tests drive it with kubectl and the kubernetes client, as the lab's admin.

With `METALPOOL_E2E=1` (tier T4, tests/support/e2e.py) the same fixtures hand the tests the
cluster in `KUBECONFIG` and the controller deploy/ runs there: nothing is started, and what a
test creates is labelled and removed when it ends.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from lab import accounts
from lab.apiserver.kubeconfig import write_kubeconfig
from lab.apiserver.runner import ApiServerThread
from lab.kubectl import KUBECTL
from tests.support import e2e
from tests.support.objects import pool_object

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "deploy" / "crds"
T = TypeVar("T")


def eventually(check: Callable[[], T], *, timeout: float = 10.0, every: float = 0.05) -> T:
    """Poll `check` until it returns something truthy (and return it), or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    last: T = check()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"still {last!r} after {timeout}s")
        time.sleep(every)
        last = check()
    return last


def free_port() -> int:
    """A TCP port nobody listens on right now (for the controller's probes)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """One fresh API server (or, in T4, the cluster under test), with clients and shortcuts."""

    def __init__(self, kubeconfig: Path, server: ApiServerThread | None = None) -> None:
        self._server = server
        self.kubeconfig = kubeconfig
        self.controller_kubeconfig = kubeconfig  # until `grant_accounts` makes the account's
        api_client = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]  # untyped
        # Typed as Any: the tests pass plain dicts, which the client accepts but its stubs do not.
        self.core: Any = client.CoreV1Api(api_client)
        self.custom: Any = client.CustomObjectsApi(api_client)

    @property
    def server(self) -> ApiServerThread:
        """The emulated API server (its faults, requests, denials); T4 skips a test that asks."""
        if self._server is None:
            pytest.skip("needs the emulated API server (mark it emulated_only)")
        return self._server

    def kubectl(self, *args: str) -> str:
        """Run the real kubectl against this cluster, as the admin; its stdout."""
        try:
            return accounts.run_kubectl(KUBECTL, self.kubeconfig)(list(args), None)
        except RuntimeError as error:
            raise AssertionError(str(error)) from None

    def grant_accounts(self, tmp: Path) -> None:
        """deploy/'s ServiceAccounts and RBAC; the controller's kubeconfig acts as its account."""
        admin = accounts.run_kubectl(KUBECTL, self.kubeconfig)
        accounts.grant(admin)
        self.controller_kubeconfig = accounts.account_kubeconfig(
            admin,
            accounts.CONTROLLER,
            tmp / "kubeconfig-controller",
            url=self.server.url,
            ca=self.server.ca,
        )

    def namespace(self, name: str, labels: dict[str, str] | None = None) -> None:
        """Create a namespace (with labels)."""
        labels = {**(labels or {}), **e2e.labels()}
        self.core.create_namespace({"metadata": {"name": name, "labels": labels}})

    def share_namespace(self, name: str) -> None:
        """T4: make sure a namespace the tests share exists; one we make goes with the session."""
        try:
            self.core.create_namespace({"metadata": {"name": name, "labels": e2e.shared_labels()}})
        except ApiException as error:
            if error.status != 409:  # AlreadyExists: theirs, or ours from before
                raise

    def pool(self, name: str, *addresses: str, **spec: Any) -> None:
        """Create an IPAddressPool in metallb-system."""
        body = pool_object(name, *addresses, labels=e2e.labels(), **spec)
        self.custom.create_namespaced_custom_object(
            "metallb.io", "v1beta1", "metallb-system", "ipaddresspools", body
        )

    def wait_pools(self, *names: str) -> None:
        """Wait until a running controller has seen these pools (it gave each a status).

        A Service created earlier may get an address from the pools known at that moment and
        then rightly keep it; tests about pool choice wait first.
        """
        for name in names:
            eventually(lambda name=name: self.read_pool(name).get("status"))  # type: ignore[misc]

    def patch_pool(self, name: str, spec: dict[str, Any]) -> None:
        """Merge-patch a pool's spec."""
        self.custom.patch_namespaced_custom_object(
            "metallb.io", "v1beta1", "metallb-system", "ipaddresspools", name, {"spec": spec}
        )

    def delete_pool(self, name: str) -> None:
        """Delete a pool."""
        self.custom.delete_namespaced_custom_object(
            "metallb.io", "v1beta1", "metallb-system", "ipaddresspools", name
        )

    def read_pool(self, name: str) -> dict[str, Any]:
        """A pool as a dict."""
        pool: dict[str, Any] = self.custom.get_namespaced_custom_object(
            "metallb.io", "v1beta1", "metallb-system", "ipaddresspools", name
        )
        return pool

    def service(
        self,
        name: str,
        namespace: str = "demo",
        *,
        ports: tuple[tuple[str, int], ...] = (("TCP", 80),),
        annotations: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        **spec: Any,
    ) -> None:
        """Create a LoadBalancer Service; extra keywords go into its spec."""
        body = {
            "metadata": {
                "name": name,
                "annotations": annotations or {},
                "labels": {**(labels or {}), **e2e.labels()},
            },
            "spec": {
                "type": "LoadBalancer",
                "selector": {"app": name},
                "ports": [{"protocol": p, "port": n, "name": f"p{n}{p.lower()}"} for p, n in ports],
                **spec,
            },
        }
        self.core.create_namespaced_service(namespace, body)

    def patch_service(self, name: str, body: dict[str, Any], namespace: str = "demo") -> None:
        """Strategic-merge-patch a Service."""
        self.core.patch_namespaced_service(name, namespace, body)

    def delete_service(self, name: str, namespace: str = "demo") -> None:
        """Delete a Service."""
        self.core.delete_namespaced_service(name, namespace)

    def raw_service(self, name: str, namespace: str = "demo") -> dict[str, Any]:
        """A Service as the API returns it (a dict)."""
        svc = self.core.read_namespaced_service(name, namespace)
        raw: dict[str, Any] = self.core.api_client.sanitize_for_serialization(svc)
        return raw

    def ips(self, name: str, namespace: str = "demo") -> list[str]:
        """The addresses in a Service's status."""
        svc = self.raw_service(name, namespace)
        ingress = (svc.get("status") or {}).get("loadBalancer", {}).get("ingress") or []
        return [entry["ip"] for entry in ingress if entry.get("ip")]

    def all_ips(self, namespace: str = "demo") -> dict[str, list[str]]:
        """Every Service's addresses in a namespace."""
        found = {}
        for svc in self.core.list_namespaced_service(namespace).items:
            ingress = (svc.status.load_balancer.ingress if svc.status.load_balancer else None) or []
            found[svc.metadata.name] = [i.ip for i in ingress if i.ip]
        return found

    def reasons(self, name: str, namespace: str = "demo") -> list[str]:
        """Reasons of the Events about a Service, oldest first.

        Only this Service's, by uid: a real cluster keeps Events for an hour
        (kube-apiserver --event-ttl), so one of the same name from an earlier test may remain.
        """
        uid = self.raw_service(name, namespace)["metadata"]["uid"]
        events = self.core.list_namespaced_event(
            namespace, field_selector=f"involvedObject.name={name},involvedObject.uid={uid}"
        ).items
        return [e.reason for e in sorted(events, key=lambda e: e.metadata.resource_version)]

    def condition(self, name: str, namespace: str = "demo") -> dict[str, Any]:
        """MetalPool's condition on a Service ({} while there is none)."""
        conditions = (self.raw_service(name, namespace).get("status") or {}).get("conditions")
        return next((c for c in conditions or [] if c["type"] == "metallb.io/IPAllocated"), {})


class Controller:
    """The real controller, as a subprocess of the test."""

    def __init__(self, kubeconfig: Path, log: Path, *args: str) -> None:
        self.health_port = free_port()
        self.identity = args[args.index("--identity") + 1] if "--identity" in args else ""
        self.log = log
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"}
        command = [
            sys.executable, "-m", "controller",
            "--metrics-port", "0",
            "--health-port", str(self.health_port),
            "--lease-duration", "2",
            "--lease-renew", "0.5",
            *args,
        ]  # fmt: skip
        with log.open("a") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own program
                command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
            )

    def ready(self) -> bool:
        """Whether it leads and finished its initial pass (/readyz)."""
        url = f"http://127.0.0.1:{self.health_port}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Block until ready; fail with the log if it never gets there."""
        try:
            eventually(lambda: self.ready() or self.process.poll() is not None, timeout=timeout)
        except AssertionError:
            raise AssertionError(f"controller not ready:\n{self.log.read_text()}") from None
        if self.process.poll() is not None:
            raise AssertionError(f"controller exited:\n{self.log.read_text()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send `sig` and wait for the process to end; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


class InClusterController(Controller):
    """T4: deploy/'s controller, running in the cluster under test; watched, never started.

    A `Controller` so that the fixtures keep one type; it has no process, port or log here. It
    is ready when its Lease is renewed (tests/support/e2e.py says why that and not the
    Deployment), and stopping it is not a test's to do.
    """

    def __init__(self, kubeconfig: Path) -> None:  # no super(): there is nothing to start
        self.identity = ""
        self.watch = e2e.leader_watch(kubeconfig)

    def ready(self) -> bool:
        """Whether its Lease shows a live leader (tests/support/e2e.py `is_leading`)."""
        return self.watch.is_ready()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until the Lease shows a live leader; fail naming the last holder if never."""
        try:
            self.watch.wait(timeout)
        except e2e.E2EError as error:
            raise AssertionError(str(error)) from None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> NoReturn:
        """Skip the test: the cluster's controller is not the test's to stop."""
        pytest.skip("stops the controller: emulated API server only (mark it emulated_only)")


def denials(server: ApiServerThread) -> list[str]:
    """Requests the server's gate refused: 401 (no valid token) or 403 (RBAC), not faults."""
    return list(server.access.denied)


@contextlib.contextmanager
def running_cluster(tmp: Path, *, denials_expected: bool = False) -> Iterator[Cluster]:
    """A fresh API server with the CRDs applied by kubectl and the namespaces the tests use.

    The controller acts as its ServiceAccount under deploy/'s RBAC; when the block ends, no
    request may have been refused (unless `denials_expected`): what the programs call is what
    the manifests grant, proven on every API-tier test.
    """
    if e2e.is_enabled():
        with cluster_under_test() as cluster:
            yield cluster
        return
    with ApiServerThread() as server:
        kubeconfig = write_kubeconfig(tmp / "kubeconfig", server.url, ca=server.ca)
        cluster = Cluster(kubeconfig, server)
        cluster.kubectl("apply", "-f", str(CRDS))
        cluster.namespace("metallb-system")
        cluster.namespace("demo")
        cluster.grant_accounts(tmp)
        yield cluster
        refused = denials(server)
        assert denials_expected or not refused, f"RBAC refused: {refused[:5]}"


@contextlib.contextmanager
def cluster_under_test() -> Iterator[Cluster]:
    """T4: the cluster in KUBECONFIG, with deploy/ installed; what the test creates is removed.

    Fails with one line when the cluster cannot serve: no KUBECONFIG, unreachable, deploy/
    missing, or pools of its own in metallb-system (the scenarios expect to own them). RBAC is
    the cluster's own to enforce; no denial count is kept here.
    """
    try:
        kubeconfig = e2e.preflight()
    except e2e.E2EError as error:
        pytest.fail(f"T4: {error}", pytrace=False)
    cluster = Cluster(kubeconfig)
    e2e.remove_created(cluster.core, cluster.custom)  # what an interrupted run left
    cluster.share_namespace("demo")
    try:
        yield cluster
    finally:
        e2e.remove_created(cluster.core, cluster.custom)


@contextlib.contextmanager
def running_controller(cluster: Cluster, tmp: Path, *args: str) -> Iterator[Controller]:
    """A ready controller, stopped (and its log shown on failure) when the block ends.

    In T4 it is the cluster's own, as deploy/ runs it: it must be ready, and `args` (flags for
    a controller started here) cannot apply, so a test that gives any is skipped.
    """
    if e2e.is_enabled():
        if args:
            pytest.skip(f"runs the controller with {' '.join(args)}: emulated API server only")
        in_cluster = InClusterController(cluster.kubeconfig)
        in_cluster.wait_ready()
        yield in_cluster
        return
    controller = Controller(cluster.controller_kubeconfig, tmp / "controller.log", *args)
    try:
        controller.wait_ready()
        yield controller
    finally:
        controller.stop()
