"""The real controller gives the speakers their memberlist Secret: once, and never over another."""

import base64
import functools
import secrets
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.support.cluster import Cluster, Controller, eventually, running_controller

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.emulated_only("starts and kills controllers of its own, or injects faults"),
]

NAMESPACE = "metallb-system"
CREATED = "created Secret metallb-system/memberlist"
KEPT = "Secret metallb-system/memberlist exists: kept as it is"
RACE_LOST = "Secret metallb-system/memberlist was created by another replica first"


def read_secret(cluster: Cluster) -> dict[str, Any]:
    secret = cluster.core.read_namespaced_secret("memberlist", NAMESPACE)
    raw: dict[str, Any] = cluster.core.api_client.sanitize_for_serialization(secret)
    return raw


def secret_names(cluster: Cluster) -> list[str]:
    return [s.metadata.name for s in cluster.core.list_namespaced_secret(NAMESPACE).items]


def logged(controller: Controller, line: str) -> bool:
    return line in controller.log.read_text()


def run_until_logged(cluster: Cluster, log: Path, line: str) -> str:
    """Start a controller, wait for `line` in its log, kill it; the whole log."""
    controller = Controller(cluster.controller_kubeconfig, log)
    try:
        eventually(lambda: logged(controller, line))
    finally:
        controller.stop(signal.SIGKILL)
    return log.read_text()


def metallbs_secret(cluster: Cluster) -> dict[str, Any]:
    """The Secret MetalLB's installer makes: base64 text of 128 random bytes, as the key."""
    text = base64.b64encode(secrets.token_bytes(128))
    body = {
        "metadata": {"name": "memberlist"},
        "data": {"secretkey": base64.b64encode(text).decode()},
    }
    cluster.core.create_namespaced_secret(NAMESPACE, body)
    return read_secret(cluster)


def test_the_controller_creates_the_secret_once_with_a_64_byte_key(
    cluster: Cluster, tmp_path: Path
):
    run_until_logged(cluster, tmp_path / "first.log", CREATED)
    created = read_secret(cluster)
    assert len(base64.b64decode(created["data"]["secretkey"])) == 64
    assert created["type"] == "Opaque"
    assert created["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "metalpool"}

    run_until_logged(cluster, tmp_path / "restarted.log", KEPT)
    assert read_secret(cluster) == created


def test_a_secret_metallb_left_is_kept_unchanged(cluster: Cluster, tmp_path: Path):
    before = metallbs_secret(cluster)
    run_until_logged(cluster, tmp_path / "controller.log", KEPT)
    assert read_secret(cluster) == before


def test_losing_the_create_race_counts_as_success(cluster: Cluster, tmp_path: Path):
    before = metallbs_secret(cluster)
    # The controller's read says "missing" although it exists: its create then gets a 409.
    rule = cluster.server.faults.fail(status=404, method="GET", resource="secrets", times=1)
    log = run_until_logged(cluster, tmp_path / "controller.log", RACE_LOST)
    assert "could not create Secret" not in log
    assert rule.hits == 1
    assert read_secret(cluster) == before


def test_two_controllers_starting_together_leave_exactly_one_secret(
    cluster: Cluster, tmp_path: Path
):
    pair = [Controller(cluster.controller_kubeconfig, tmp_path / f"c{i}.log", "--identity", f"c{i}")
            for i in range(2)]  # fmt: skip

    def outcome(controller: Controller) -> str:
        return next((line for line in (CREATED, KEPT, RACE_LOST) if logged(controller, line)), "")

    try:
        outcomes = [eventually(functools.partial(outcome, c)) for c in pair]
    finally:
        for controller in pair:
            controller.stop(signal.SIGKILL)
    assert outcomes.count(CREATED) == 1, outcomes
    assert secret_names(cluster) == ["memberlist"]
    assert len(base64.b64decode(read_secret(cluster)["data"]["secretkey"])) == 64


def test_a_secret_that_cannot_be_created_holds_no_allocation_up(cluster: Cluster, tmp_path: Path):
    cluster.server.faults.fail(status=403, method="POST", resource="secrets", times=None)
    cluster.pool("p", "192.0.2.0/24")
    with running_controller(cluster, tmp_path) as controller:
        cluster.service("web")
        assert eventually(lambda: cluster.ips("web")) == ["192.0.2.0"]
        eventually(lambda: logged(controller, "could not create Secret metallb-system/memberlist"))
    assert secret_names(cluster) == []
