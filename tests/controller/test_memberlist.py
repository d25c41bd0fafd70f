"""The memberlist Secret: created once when missing, never changed when present, retried on failure.

The shell runs against an in-memory fake of its two Secret calls; the Secret's body and key
encoding (metalpool/secrets.py, pure) are checked here too, through what the shell creates.
"""

import asyncio
import base64
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from controller.memberlist import ensure_memberlist, provide_memberlist
from k8s.api import ApiError
from metalpool.secrets import memberlist_key, memberlist_secret

NAMESPACE = "metallb-system"


class FakeSecrets:
    """Secrets by (namespace, name); `failures` are raised, one per call, before anything else."""

    def __init__(self, *failures: ApiError) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.failures = list(failures)
        self.creates = 0
        self.race_lost = False  # a peer creates the Secret between our read and our create

    async def exists(self, namespace: str, name: str) -> bool:
        self._fail()
        return (namespace, name) in self.objects

    async def create(self, namespace: str, body: Mapping[str, Any]) -> None:
        self._fail()
        self.creates += 1
        key = (namespace, body["metadata"]["name"])
        if self.race_lost:
            self.objects[key] = memberlist_secret(namespace, b"peer's key")
        if key in self.objects:
            raise ApiError(409, "AlreadyExists")
        self.objects[key] = dict(body)

    def _fail(self) -> None:
        if self.failures:
            raise self.failures.pop(0)


def created_key(store: FakeSecrets) -> bytes | None:
    return memberlist_key(store.objects[(NAMESPACE, "memberlist")])


async def test_a_missing_secret_is_created_with_64_random_bytes_labelled_as_ours():
    store = FakeSecrets()
    assert await ensure_memberlist(store, NAMESPACE) is True
    secret = store.objects[(NAMESPACE, "memberlist")]
    key = created_key(store)
    assert key is not None
    assert len(key) == 64
    assert secret == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "memberlist",
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "metalpool"},
        },
        "type": "Opaque",
        "data": {"secretkey": base64.b64encode(key).decode()},
    }


async def test_two_secrets_get_different_keys():
    first, second = FakeSecrets(), FakeSecrets()
    await ensure_memberlist(first, NAMESPACE)
    await ensure_memberlist(second, NAMESPACE)
    assert created_key(first) != created_key(second)


async def test_an_existing_secret_is_left_as_it_is():
    store = FakeSecrets()
    metallbs = {"data": {"secretkey": base64.b64encode(b"A" * 172).decode()}}
    store.objects[(NAMESPACE, "memberlist")] = metallbs
    assert await ensure_memberlist(store, NAMESPACE) is False
    assert (store.objects[(NAMESPACE, "memberlist")], store.creates) == (metallbs, 0)


async def test_losing_the_create_race_to_another_replica_is_success():
    store = FakeSecrets()
    store.race_lost = True
    assert await ensure_memberlist(store, NAMESPACE) is False
    assert created_key(store) == b"peer's key"


@pytest.mark.parametrize("status", [403, 500, 0])
async def test_a_failure_is_raised_by_one_attempt(status):
    with pytest.raises(ApiError):
        await ensure_memberlist(FakeSecrets(ApiError(status, "no")), NAMESPACE)


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(2):
        while not condition():  # noqa: ASYNC110 - polling a fake store that signals nothing
            await asyncio.sleep(0.001)


async def until_created(store: FakeSecrets, count: int) -> None:
    task = asyncio.create_task(provide_memberlist(store, NAMESPACE, every=0.001, watch=0.001))
    try:
        await until(lambda: store.creates >= count)
    finally:
        task.cancel()


async def test_failures_are_logged_naming_the_secret_and_retried_until_it_exists(caplog):
    store = FakeSecrets(ApiError(403, "Forbidden"), ApiError(0, "unreachable"))
    await until_created(store, 1)
    assert created_key(store) is not None
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 2
    assert all("Secret metallb-system/memberlist" in message for message in warnings)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param({"secretkey": base64.b64encode(b"k" * 64).decode()}, b"k" * 64, id="ours"),
        pytest.param({}, None, id="no-key"),
        pytest.param({"secretkey": ""}, None, id="empty"),
        pytest.param({"secretkey": "not base64!"}, None, id="not-base64"),
    ],
)
def test_the_key_is_read_back_from_the_secret(data, expected):
    assert memberlist_key({"data": data}) == expected


async def test_a_deleted_secret_comes_back_with_a_new_key_without_a_restart():
    store = FakeSecrets()
    task = asyncio.create_task(provide_memberlist(store, NAMESPACE, every=0.001, watch=0.001))
    try:
        await until(lambda: store.creates >= 1)
        first = created_key(store)
        del store.objects[(NAMESPACE, "memberlist")]  # a rotation: delete it
        await until(lambda: (NAMESPACE, "memberlist") in store.objects)
    finally:
        task.cancel()
    assert created_key(store) not in (None, first)
