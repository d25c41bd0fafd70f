"""Tier T4's code path, run in CI with the emulated API server standing in for a real cluster.

bin/e2e cannot tell the two apart: it is given a kubeconfig, applies deploy/ (less the
speakers), waits for the controller's Lease to be renewed and runs the API tier with
METALPOOL_E2E=1. Here `python -m lab.apiserver` is the cluster and this test its kubelet: once
bin/e2e has applied the metalpool-controller ServiceAccount, it starts `python -m controller`
with a token of that account from `kubectl create token` (the TokenRequest API a pod's
projected token comes from: kubernetes pkg/registry/core/serviceaccount/storage/token.go), as
the Deployment's pod would run. The emulated server runs no Deployment controller, so readiness
cannot be "Deployment available"; a renewed Lease is what both have.
"""

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from lab import accounts
from lab.kubectl import KUBECTL
from metalpool.leases import Observation
from tests.support.cluster import Controller, eventually
from tests.support.e2e import is_leading
from tests.support.e2e_run import manifests

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
# Three scenarios a real cluster can run, and two it cannot (they inject faults).
RUNS = (
    "test_a_service_gets_the_first_free_address_with_events_annotation_and_condition",
    "test_a_dual_stack_service_requesting_one_ipv4_address_is_refused",
    "test_a_new_service_never_gets_a_quarantined_address",
)
SKIPS = ("test_losing_the_create_race_counts_as_success", "test_dropped_watches_are_resumed")


@pytest.fixture
def stand_in(tmp_path: Path) -> Iterator[Path]:
    """A separate emulated API server process; its admin kubeconfig."""
    kubeconfig = tmp_path / "kubeconfig"
    server = subprocess.Popen(  # noqa: S603 - our own program
        [sys.executable, "-m", "lab.apiserver", "--kubeconfig", str(kubeconfig)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        assert server.stdout.readline().startswith("https://")
        yield kubeconfig
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()


def start_controller_pod(kubeconfig: Path, tmp: Path) -> Controller:
    """Once deploy/'s ServiceAccount exists, run the controller as it, as its pod would."""
    admin = accounts.run_kubectl(KUBECTL, kubeconfig)

    def account_exists() -> bool:
        found = admin(["get", "serviceaccounts", "-n", "metallb-system", "-o", "name"], None)
        return "serviceaccount/metalpool-controller" in found

    eventually(account_exists, timeout=30, every=0.2)
    cluster = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]
    pod_kubeconfig = accounts.account_kubeconfig(
        admin,
        accounts.CONTROLLER,
        tmp / "kubeconfig-controller",
        url=cluster["server"],
        ca=base64.b64decode(cluster["certificate-authority-data"]),
    )
    return Controller(pod_kubeconfig, tmp / "controller.log")


def test_bin_e2e_installs_runs_the_api_tier_and_cleans_up(stand_in: Path, tmp_path: Path):
    selection = " or ".join((*RUNS, *SKIPS))
    env = {**os.environ, "KUBECONFIG": str(stand_in)}
    env.pop("METALPOOL_E2E", None)  # bin/e2e sets it for its pytest, and only there
    output = tmp_path / "e2e.out"
    with output.open("w") as out:
        run = subprocess.Popen(  # noqa: S603 - our own command
            [str(ROOT / "bin" / "e2e"), "--timeout", "30", "--",
             "-q", "-p", "no:cacheprovider", "-rs", "-k", selection],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
    controller = None
    try:
        controller = start_controller_pod(stand_in, tmp_path)
        status = run.wait(timeout=90)
    finally:
        if run.poll() is None:
            run.kill()
        if controller is not None:
            controller.stop()
    text = output.read_text()
    assert status == 0, text
    assert f"{len(RUNS)} passed, {len(SKIPS)} skipped" in text, text
    assert text.count("emulated API server only") == len(SKIPS), text
    admin = accounts.run_kubectl(KUBECTL, stand_in)
    namespaces = admin(["get", "namespaces", "-o", "name"], None).split()
    assert "namespace/metallb-system" not in namespaces  # bin/e2e installed it, and removed it
    assert "namespace/demo" not in namespaces  # the tests made it, and removed it
    assert admin(["get", "clusterroles", "-o", "name"], None).count("metalpool") == 0


def seen(holder: str | None, since: float, duration: float = 15.0) -> Observation:
    return Observation(holder=holder, resource_version="7", duration=duration, since=since)


@pytest.mark.parametrize(
    ("observation", "witnessed", "now", "leading"),
    [
        pytest.param(seen("pod-a", 100.0), True, 101.0, True, id="written-just-now"),
        pytest.param(seen("pod-a", 100.0), True, 114.9, True, id="within-its-duration"),
        pytest.param(seen("pod-a", 100.0), True, 115.0, False, id="a-duration-without-writes"),
        pytest.param(seen("pod-a", 100.0, 2.0), True, 102.5, False, id="its-own-duration"),
        pytest.param(seen("pod-a", 100.0, 0.0), True, 110.0, True, id="no-duration-15s"),
        pytest.param(seen("pod-a", 100.0), False, 101.0, False, id="first-sight-proves-nothing"),
        pytest.param(seen(None, 100.0), True, 101.0, False, id="released"),
        pytest.param(None, False, 101.0, False, id="never-seen"),
    ],
)
def test_the_controller_leads_while_a_holders_write_we_saw_is_younger_than_the_lease(
    observation: Observation | None, witnessed: bool, now: float, leading: bool
):
    assert is_leading(observation, witnessed, now) is leading


def test_bin_e2e_installs_deploy_without_the_speakers_and_with_the_given_image(tmp_path: Path):
    unused = tmp_path / "kubeconfig"  # kubectl kustomize reads no cluster
    unused.write_text("")
    documents = list(yaml.safe_load_all(manifests(unused, "localhost:32000/metalpool:t4-1")))
    kinds = {(d["kind"], d["metadata"]["name"]) for d in documents}
    assert ("DaemonSet", "metalpool-speaker") not in kinds
    assert ("ServiceAccount", "metalpool-speaker") in kinds  # only the workload is left out
    assert ("Deployment", "metalpool-controller") in kinds
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
    images = [c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    assert images == ["localhost:32000/metalpool:t4-1"]
