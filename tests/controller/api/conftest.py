"""API tier: the real controller and real kubectl against the emulated API server.

With METALPOOL_E2E=1 the same tests run against the cluster in KUBECONFIG (tier T4,
tests/support/e2e.py), except those marked `emulated_only`: they inject faults, start, stop or
skew controllers of their own, or read the emulated server's records.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import e2e
from tests.support.cluster import Cluster, Controller, running_cluster, running_controller


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "dual_stack: needs Services of both families; T4 skips it on a single-stack cluster",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """T4: stop before the first test, with one line, when the cluster cannot serve."""
    if e2e.is_enabled() and items and not config.option.collectonly:
        try:
            e2e.preflight()
        except e2e.E2EError as error:
            raise pytest.UsageError(f"T4: {error}") from None


@pytest.fixture(autouse=True)
def _skip_what_a_real_cluster_cannot_run(request: pytest.FixtureRequest) -> None:
    if not e2e.is_enabled():
        return
    marker = request.node.get_closest_marker("emulated_only")
    if marker is not None:
        pytest.skip(f"emulated API server only: {marker.args[0] if marker.args else 'T2'}")
    if request.node.get_closest_marker("dual_stack") and not e2e.is_dual_stack(e2e.kubeconfig()):
        pytest.skip("the cluster is single-stack: it refuses RequireDualStack Services")


@pytest.fixture(scope="session")
def _shared_namespaces() -> Iterator[None]:
    """T4: the namespaces the tests shared (demo) go when the session ends, if we made them."""
    yield
    if e2e.is_enabled():
        e2e.remove_shared(e2e.kubeconfig())


@pytest.fixture
def cluster(tmp_path: Path, _shared_namespaces: None) -> Iterator[Cluster]:
    with running_cluster(tmp_path) as running:
        yield running


@pytest.fixture
def controller(cluster: Cluster, tmp_path: Path) -> Iterator[Controller]:
    with running_controller(cluster, tmp_path) as running:
        yield running
