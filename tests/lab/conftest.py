"""Fixtures for the API-server tests: one server per module, a fresh namespace per test."""

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab.apiserver.runner import ApiServerThread
from tests.lab.rest import Rest

HERE = Path(__file__).parent
WIDGETS_CRD = HERE / "crd-widgets.yaml"
_numbers = itertools.count()


@pytest.fixture(scope="module")
def apiserver() -> Iterator[ApiServerThread]:
    with ApiServerThread() as server:
        yield server


@pytest.fixture
def rest(apiserver: ApiServerThread) -> Rest:
    return Rest(apiserver.url)


@pytest.fixture
def namespace(rest: Rest) -> str:
    name = f"test-{next(_numbers)}"
    rest.ok("POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    return name


@pytest.fixture
def widgets_crd(rest: Rest) -> dict[str, Any]:
    crd: dict[str, Any] = yaml.safe_load(WIDGETS_CRD.read_text())
    status, body = rest.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    assert status in (201, 409), body
    return crd
