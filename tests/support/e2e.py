"""T4: the API tier against a real cluster (`METALPOOL_E2E=1`, `KUBECONFIG=...`).

Shell (kubectl and the kubernetes client). The rule: the tests own only what they create.
deploy/ belongs to whoever installed it (bin/e2e); every object a test makes through
`tests.support.cluster.Cluster` carries `LABEL`, and everything carrying it is deleted, by that
label, before and after each test, with the Events about it. The demo namespace the scenarios
share carries `SHARED` instead and goes at the end of the session.

The in-cluster controller counts as ready while its Lease is held and we saw it written less
than a lease duration ago (`is_leading`): what a standby would respect. A real cluster and the
emulated server (which runs no Deployment controller, so "Deployment available" never comes
true there) both satisfy it, and no clock of the cluster's is compared with ours.
"""

import functools
import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes.client.exceptions import ApiException

from lab.kubectl import KUBECTL
from metalpool.leases import LeaseState, Observation, observe, parse_lease

ENABLED = "METALPOOL_E2E"
NAMESPACE = "metallb-system"
LEASE = "metalpool-controller"  # controller/__main__.py's Lease, held by the allocating replica
SPEAKERS = "metalpool-speaker"  # deploy/speaker.yaml's DaemonSet
LABEL = "metalpool.io/e2e-test"  # on every object a test creates
SHARED = "metalpool.io/e2e-shared"  # on the namespaces the tests share (demo)
MARK = "t4"  # the value of both labels
DEFAULT_DURATION = 15.0  # controller/__main__.py's --lease-duration, for a Lease that sets none
GONE_WITHIN = 120.0  # seconds a deletion may take: a namespace's goes through its controller


class E2EError(Exception):
    """Why the T4 tier cannot run against this cluster, in one line that says what to do."""


def is_enabled() -> bool:
    """Whether this run targets a real cluster (`METALPOOL_E2E=1`)."""
    return os.environ.get(ENABLED) == "1"


def kubeconfig() -> Path:
    """The cluster under test's kubeconfig (`KUBECONFIG`: one existing file)."""
    given = os.environ.get("KUBECONFIG", "")
    if not given:
        raise E2EError(
            "KUBECONFIG is unset: T4 needs the kubeconfig of the cluster to test "
            "(MicroK8s: microk8s config > /tmp/kubeconfig)"
        )
    path = Path(given)
    if os.pathsep in given or not path.is_file():
        raise E2EError(f"KUBECONFIG={given} is not one kubeconfig file")
    return path


def kubectl(config: Path, *args: str, stdin: str | None = None, timeout: float = 60) -> str:
    """Run kubectl against the cluster as the kubeconfig's user; its stdout.

    Raises E2EError with kubectl's last line of complaint when it fails.
    """
    try:
        done = subprocess.run(  # noqa: S603 - our kubectl, our arguments
            [KUBECTL, f"--kubeconfig={config}", *args],
            input=stdin, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise E2EError(f"kubectl {' '.join(args)}: no answer within {timeout:.0f}s") from None
    if done.returncode:
        lines = done.stderr.strip().splitlines() or ["(no message)"]
        raise E2EError(f"kubectl {' '.join(args)}: {lines[-1]}")
    return done.stdout


def check_reachable(config: Path) -> None:
    """Raise E2EError unless the cluster answers and lets this user list namespaces."""
    try:
        kubectl(config, "get", "namespaces", "-o", "name", "--request-timeout=10s", timeout=20)
    except E2EError as error:
        raise E2EError(f"the cluster in KUBECONFIG={config} is unreachable: {error}") from None


def check_installed(config: Path) -> None:
    """Raise E2EError unless deploy/'s controller is installed, without the speakers.

    The API tier's scenarios expect what they expect in emulation: the controller alone. A
    speaker would write its Announced condition, post Events on the tests' Services and clear
    conflict reports no node of this cluster made (speaker/conditions.py), and would announce
    the test addresses on the nodes' LAN.
    """
    found = kubectl(
        config, "get", "deployment/metalpool-controller", f"daemonset/{SPEAKERS}",
        "-n", NAMESPACE, "--ignore-not-found", "-o", "name",
    ).split()  # fmt: skip
    if "deployment.apps/metalpool-controller" not in found:
        raise E2EError(f"deploy/ is not installed in this cluster: run bin/e2e ({NAMESPACE} "
                       "has no Deployment metalpool-controller)")  # fmt: skip
    if f"daemonset.apps/{SPEAKERS}" in found:
        raise E2EError(
            f"the speakers run here, and T4 tests the controller alone (bin/e2e installs deploy/ "
            f"without them): kubectl -n {NAMESPACE} delete daemonset {SPEAKERS}"
        )


def check_no_foreign_pools(config: Path) -> None:
    """Raise E2EError if metallb-system holds pools no test made: the tests expect to own them."""
    found = kubectl(
        config, "get", "ipaddresspools.metallb.io", "-n", NAMESPACE, "-l", f"!{LABEL}", "-o", "name"
    ).split()
    if found:
        names = ", ".join(name.rpartition("/")[2] for name in found)
        raise E2EError(
            f"{NAMESPACE} holds IPAddressPools no test made ({names}); "
            "the scenarios need a cluster without pools of its own"
        )


def check_no_foreign_services(config: Path) -> None:
    """Raise E2EError if LoadBalancer Services no test made would take the tests' addresses.

    The controller serves every such Service without a loadBalancerClass, in any namespace
    (k3s's traefik, for one), and the scenarios expect the first free addresses for their own.
    """
    listed = json.loads(kubectl(config, "get", "services", "-A", "-l", f"!{LABEL}", "-o", "json"))
    found = [
        f"{s['metadata']['namespace']}/{s['metadata']['name']}"
        for s in listed["items"]
        if s["spec"].get("type") == "LoadBalancer" and not s["spec"].get("loadBalancerClass")
    ]
    if found:
        raise E2EError(
            f"LoadBalancer Services no test made would take the test pools' addresses "
            f"({', '.join(found)}): delete them, or test on a cluster without them"
        )


def preflight() -> Path:
    """The kubeconfig of a cluster the tier can run against; E2EError says why not."""
    config = kubeconfig()
    check_reachable(config)
    check_installed(config)
    check_no_foreign_pools(config)
    check_no_foreign_services(config)
    return config


@functools.cache
def is_dual_stack(config: Path) -> bool:
    """Whether the cluster gives Services both families: it accepts a RequireDualStack one.

    kube-apiserver refuses one (with a selector) on a single-stack cluster: "this cluster is
    not configured for dual-stack services" (pkg/registry/core/service/storage/alloc.go,
    initIPFamilyFields). A server-side dry run asks without creating anything.
    """
    probe = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "metalpool-t4-dual-stack-probe", "namespace": "default"},
        "spec": {
            "ipFamilyPolicy": "RequireDualStack",
            "selector": {"app": "metalpool-t4"},
            "ports": [{"port": 80}],
        },
    }
    try:
        kubectl(config, "create", "--dry-run=server", "-o", "name", "-f", "-",
                stdin=json.dumps(probe))  # fmt: skip
    except E2EError as error:
        if "not configured for dual-stack" in str(error):
            return False
        raise
    return True


def read_lease(config: Path) -> LeaseState | None:
    """The controller's Lease; None while there is none."""
    raw = kubectl(
        config, "get", "lease", LEASE, "-n", NAMESPACE, "--ignore-not-found", "-o", "json"
    )
    return parse_lease(json.loads(raw)) if raw.strip() else None


def is_leading(seen: Observation | None, witnessed: bool, now: float) -> bool:
    """Whether the Lease as `seen` shows a live leader at `now` (our monotonic clock).

    Pure. It must be held, its last write must have been seen happen (`witnessed`: it changed
    between two of our looks, so a first sight proves nothing), and that change must be younger
    than the Lease's duration: until then no standby may take it over (client-go's
    leaderelection `isLeaseValid`, which metalpool.leases.is_claimable follows). No renewTime
    is compared with our clock.
    """
    if seen is None or seen.holder is None or not witnessed:
        return False
    return now - seen.since < (seen.duration or DEFAULT_DURATION)


@dataclass
class LeaderWatch:
    """What we last saw of the controller's Lease, so each test waits only when it must."""

    config: Path
    seen: Observation | None = None
    witnessed: bool = False  # whether `seen` began between two of our looks

    def is_ready(self) -> bool:
        """Look at the Lease once: whether it shows a live leader (`is_leading`)."""
        now = time.monotonic()
        before = self.seen
        self.seen = observe(before, read_lease(self.config), now)
        if self.seen is not before:
            self.witnessed = before is not None
        return is_leading(self.seen, self.witnessed, now)

    def wait(self, timeout: float) -> str:
        """Block until `is_ready`; the holder. Raises E2EError naming the last one on timeout."""
        deadline = time.monotonic() + timeout
        while not self.is_ready():
            if time.monotonic() > deadline:
                holder = self.seen.holder if self.seen else None
                raise E2EError(
                    f"the controller's Lease {NAMESPACE}/{LEASE} was not renewed within "
                    f"{timeout:.0f}s (holder: {holder or 'none'})"
                )
            time.sleep(0.25)
        return str(self.seen.holder if self.seen else "")


@functools.cache
def leader_watch(config: Path) -> LeaderWatch:
    """One watch per cluster for the whole session: a renewal seen once serves later tests."""
    return LeaderWatch(config)


def remove_created(core: Any, custom: Any) -> None:
    """Delete every Service, pool and namespace carrying `LABEL`, and the Events about them.

    Services first, so that no pool's deletion moves them (and posts Events) on the way out.
    Waits until each is gone: the next test may make objects of the same names.
    """
    selector = f"{LABEL}={MARK}"
    services = [
        (s.metadata.namespace, s.metadata.name)
        for s in core.list_service_for_all_namespaces(label_selector=selector).items
    ]
    for namespace, name in services:
        _delete(functools.partial(core.delete_namespaced_service, name, namespace))
    _wait_gone(lambda: core.list_service_for_all_namespaces(label_selector=selector).items)
    pools = [p["metadata"]["name"] for p in _pools(custom, selector)]
    for name in pools:
        _delete(functools.partial(custom.delete_namespaced_custom_object, *_POOLS, name))
    _wait_gone(lambda: _pools(custom, selector))
    for namespace, name in [*services, *((NAMESPACE, p) for p in pools)]:
        core.delete_collection_namespaced_event(
            namespace, field_selector=f"involvedObject.name={name}"
        )
    remove_namespaces(core, selector)


def remove_namespaces(core: Any, selector: str) -> None:
    """Delete the namespaces `selector` picks, and wait until they are gone."""
    for namespace in core.list_namespace(label_selector=selector).items:
        _delete(functools.partial(core.delete_namespace, namespace.metadata.name))
    _wait_gone(lambda: core.list_namespace(label_selector=selector).items)


def remove_shared(config: Path) -> None:
    """Delete the namespaces the tests shared, if they made them (`SHARED`), and wait."""
    kubectl(config, "delete", "namespace", "-l", f"{SHARED}={MARK}", "--ignore-not-found",
            "--wait", f"--timeout={GONE_WITHIN:.0f}s", timeout=GONE_WITHIN + 10)  # fmt: skip


_POOLS = ("metallb.io", "v1beta1", NAMESPACE, "ipaddresspools")


def _pools(custom: Any, selector: str) -> list[dict[str, Any]]:
    found: dict[str, Any] = custom.list_namespaced_custom_object(*_POOLS, label_selector=selector)
    items: list[dict[str, Any]] = found["items"]
    return items


def _delete(call: Callable[[], object]) -> None:
    """Run a delete; one already gone (404) or already going (409) is fine."""
    try:
        call()
    except ApiException as error:
        if error.status not in (404, 409):
            raise


def _wait_gone(remaining: Callable[[], list[Any]]) -> None:
    deadline = time.monotonic() + GONE_WITHIN
    while left := remaining():
        if time.monotonic() > deadline:
            raise E2EError(f"still there after {GONE_WITHIN:.0f}s: {left!r:.200}")
        time.sleep(0.2)


def labels() -> dict[str, str]:
    """The labels a test's objects carry in this mode ({} in emulation)."""
    return {LABEL: MARK} if is_enabled() else {}


def shared_labels() -> dict[str, str]:
    """The labels of a namespace the tests share and the session removes."""
    return {SHARED: MARK}
