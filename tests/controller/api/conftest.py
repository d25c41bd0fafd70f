"""API tier: the real controller and real kubectl against the emulated API server."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import Cluster, Controller, running_cluster, running_controller


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with running_cluster(tmp_path) as running:
        yield running


@pytest.fixture
def controller(cluster: Cluster, tmp_path: Path) -> Iterator[Controller]:
    with running_controller(cluster, tmp_path) as running:
        yield running
