"""`follow_excludes`: the metallb-excludel2 ConfigMap, read level-triggered, to the responder."""

import logging
from typing import Any

import pytest

from k8s.api import ApiError
from speaker import watch
from speaker.wire.interfaces import DEFAULT_EXCLUDES
from tests.support.sentinels import run_until

KEY = "excludel2.yaml"
GOOD = {KEY: "announcedInterfacesToExclude: [^eth1$]"}
BAD = {KEY: "announcedInterfacesToExclude: [a"}
MISSING = object()
DENIED = object()


class ScriptedApi:
    """`Api.read_config_map` answering `reads` in turn (the last one repeats), counting reads."""

    def __init__(self, reads: list[object], count: list[int]) -> None:
        self.reads, self.count = reads, count

    async def read_config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        assert (namespace, name) == ("metallb-system", "metallb-excludel2")
        self.count.append(1)
        data = self.reads.pop(0) if len(self.reads) > 1 else self.reads[0]
        if data is MISSING:
            return None  # Api maps 404 to None
        if data is DENIED:
            raise ApiError(403, "Forbidden")
        return {"data": data}


async def follow(reads: list[object]) -> list[tuple[str, ...]]:
    """What the loop delivers for `reads` (the last one repeats), judged once it is settled.

    The sentinel: reads start one after another, so once the scripted ones and two repeats of
    the last have started, each before them is handled in full, the last one at least twice.
    """
    count: list[int] = []
    settled = len(reads) + 2
    delivered: list[tuple[str, ...]] = []
    following = watch.follow_excludes(
        ScriptedApi(reads, count),  # type: ignore[arg-type]  # the one method it calls
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
async def test_the_configmap_is_followed(reads, expected):
    assert await follow(reads) == expected


async def test_a_malformed_configmap_is_logged_once_naming_it_and_its_key(caplog):
    caplog.set_level(logging.WARNING)
    await follow([BAD])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "metallb-system/metallb-excludel2" in warnings[0]
    assert KEY in warnings[0]
