"""`follow_excludes`: the metallb-excludel2 ConfigMap, read level-triggered, to the responder."""

import asyncio
import logging
from types import SimpleNamespace

import pytest
from kubernetes.client.exceptions import ApiException

from speaker import watch
from speaker.wire.interfaces import DEFAULT_EXCLUDES

KEY = "excludel2.yaml"
GOOD = {KEY: "announcedInterfacesToExclude: [^eth1$]"}
BAD = {KEY: "announcedInterfacesToExclude: [a"}
MISSING = object()
DENIED = object()


def api_returning(reads: list[object]) -> type:
    class Api:
        def __init__(self, _client: object) -> None:
            pass

        def read_namespaced_config_map(self, name: str, namespace: str, **_: object) -> object:
            assert (name, namespace) == ("metallb-excludel2", "metallb-system")
            data = reads.pop(0) if len(reads) > 1 else reads[0]
            if data is MISSING:
                raise ApiException(status=404, reason="Not Found")
            if data is DENIED:
                raise ApiException(status=403, reason="Forbidden")
            return SimpleNamespace(data=data)

    return Api


async def follow(monkeypatch, reads: list[object]) -> list[tuple[str, ...]]:
    monkeypatch.setattr("kubernetes.client.CoreV1Api", api_returning(reads))
    delivered: list[tuple[str, ...]] = []
    task = asyncio.create_task(
        watch.follow_excludes(None, "metallb-system", lambda p: delivered.append(tuple(p)), 0.01)  # type: ignore[arg-type]
    )
    await asyncio.sleep(0.1)
    task.cancel()
    return delivered


@pytest.mark.parametrize(
    ("reads", "expected"),
    [
        pytest.param([MISSING], [], id="absent: the responder keeps its defaults"),
        pytest.param([GOOD], [("^eth1$",)], id="present: delivered once"),
        pytest.param([GOOD, MISSING], [("^eth1$",), DEFAULT_EXCLUDES], id="deleted: defaults"),
        pytest.param([GOOD, BAD], [("^eth1$",)], id="malformed: the last list is kept"),
        pytest.param([BAD, GOOD], [("^eth1$",)], id="fixed: delivered"),
        pytest.param([GOOD, DENIED], [("^eth1$",)], id="API failure: kept"),
    ],
)
async def test_the_configmap_is_followed(monkeypatch, reads, expected):
    assert await follow(monkeypatch, reads) == expected


async def test_a_malformed_configmap_is_logged_once_naming_it_and_its_key(monkeypatch, caplog):
    caplog.set_level(logging.WARNING)
    await follow(monkeypatch, [BAD])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "metallb-system/metallb-excludel2" in warnings[0]
    assert KEY in warnings[0]
