"""`follow_excludes`: the metallb-excludel2 ConfigMap, read level-triggered, to the responder."""

import logging
from types import SimpleNamespace

import pytest
from kubernetes.client.exceptions import ApiException

from speaker import watch
from speaker.wire.interfaces import DEFAULT_EXCLUDES
from tests.support.sentinels import run_until

KEY = "excludel2.yaml"
GOOD = {KEY: "announcedInterfacesToExclude: [^eth1$]"}
BAD = {KEY: "announcedInterfacesToExclude: [a"}
MISSING = object()
DENIED = object()


def api_returning(reads: list[object], count: list[int]) -> type:
    class Api:
        def __init__(self, _client: object) -> None:
            pass

        def read_namespaced_config_map(self, name: str, namespace: str, **_: object) -> object:
            assert (name, namespace) == ("metallb-excludel2", "metallb-system")
            count.append(1)
            data = reads.pop(0) if len(reads) > 1 else reads[0]
            if data is MISSING:
                raise ApiException(status=404, reason="Not Found")
            if data is DENIED:
                raise ApiException(status=403, reason="Forbidden")
            return SimpleNamespace(data=data)

    return Api


async def follow(monkeypatch, reads: list[object]) -> list[tuple[str, ...]]:
    """What the loop delivers for `reads` (the last one repeats), judged once it is settled.

    The sentinel: reads start one after another, so once the scripted ones and two repeats of
    the last have started, each before them is handled in full, the last one at least twice.
    """
    count: list[int] = []
    settled = len(reads) + 2
    monkeypatch.setattr("kubernetes.client.CoreV1Api", api_returning(reads, count))
    delivered: list[tuple[str, ...]] = []
    following = watch.follow_excludes(
        None,  # type: ignore[arg-type]
        "metallb-system",
        lambda p: delivered.append(tuple(p)),
        0.01,
    )
    await run_until(following, lambda: len(count) >= settled)
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
