"""The programs' own API client against the emulated API server, over TLS with bearer tokens.

What it relies on is kube-apiserver's: refusals carry a Status whose `message` says what was
refused (apimachinery's StatusError, `k8s.io/apimachinery/pkg/api/errors`); a watch is
newline-delimited JSON events, and resuming from a compacted resourceVersion ends in an
ERROR event carrying a 410 Status (`staging/src/k8s.io/apiserver/pkg/endpoints/handlers/
watch.go`, etcd3's "too old resource version").
"""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from k8s import transport
from k8s.api import Api, ApiError
from k8s.credentials import Credentials, Pem
from k8s.listwatch import ListWatch
from lab.apiserver.auth import tls
from lab.apiserver.auth.tokens import ADMIN_TOKEN
from lab.apiserver.runner import ApiServerThread
from tests.lab.rest import Rest

pytestmark = pytest.mark.timeout(30)
UNKNOWN = "not-a-token"  # a token the server never issued
LEASE = {"holderIdentity": "node-a", "leaseDurationSeconds": 10}


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServerThread]:
    with ApiServerThread(history=4) as running:  # a short history, so a watch can fall behind
        yield running


def as_admin(running: ApiServerThread, **given: object) -> Credentials:
    chosen: dict[str, object] = {"server": running.url, "ca": Pem(data=running.ca)}
    return Credentials(**(chosen | {"token": ADMIN_TOKEN} | given))  # type: ignore[arg-type]


@pytest.fixture
async def api(server: ApiServerThread) -> AsyncIterator[Api]:
    connected = Api(transport.Transport(as_admin(server)))
    yield connected
    await connected.close()


async def test_a_lease_is_created_read_and_replaced_as_plain_json(api):
    await api.write_lease("default", "t-plain", LEASE, "")
    read = await api.read_lease("default", "t-plain")
    assert read is not None
    assert read["spec"]["holderIdentity"] == "node-a"
    await api.write_lease(
        "default",
        "t-plain",
        {**LEASE, "holderIdentity": "node-b"},
        read["metadata"]["resourceVersion"],
    )
    assert (await api.read_lease("default", "t-plain") or {})["spec"]["holderIdentity"] == "node-b"


async def test_missing_objects_read_as_none_and_a_stale_write_is_a_conflict(api):
    assert await api.read_lease("default", "t-absent") is None
    assert await api.read_secret("default", "t-absent") is None
    await api.write_lease("default", "t-stale", LEASE, "")
    with pytest.raises(ApiError) as stale:
        await api.write_lease("default", "t-stale", LEASE, "1")
    assert stale.value.is_conflict
    assert "the object has been modified" in str(stale.value)


async def test_an_unknown_token_is_told_401_with_the_servers_message(server):
    stranger = Api(transport.Transport(as_admin(server, token=UNKNOWN)))
    try:
        with pytest.raises(ApiError) as refused:
            await stranger.read_lease("default", "any")
    finally:
        await stranger.close()
    assert (refused.value.status, refused.value.is_refusal) == (401, True)
    assert "Unauthorized" in str(refused.value)


async def test_a_token_file_is_read_again_once_it_is_a_minute_old(server, tmp_path, monkeypatch):
    token = tmp_path / "token"
    token.write_text("expired-token\n")
    rotating = Api(transport.Transport(as_admin(server, token=None, token_file=token)))
    try:
        with pytest.raises(ApiError):
            await rotating.read_lease("default", "any")
        token.write_text(ADMIN_TOKEN + "\n")  # kubelet rotated it
        with pytest.raises(ApiError):  # within the minute: the token read last is still used
            await rotating.read_lease("default", "any")
        monkeypatch.setattr(transport, "TOKEN_REREAD", 0.0)
        assert await rotating.read_lease("default", "any") is None
    finally:
        await rotating.close()


async def test_a_server_that_is_not_there_is_status_0(server):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        gone = Api(transport.Transport(as_admin(server, server=f"https://127.0.0.1:{port}")))
        try:
            with pytest.raises(ApiError) as unreachable:
                await gone.read_lease("default", "any")
        finally:
            await gone.close()
    assert unreachable.value.status == 0
    assert "API server unreachable" in str(unreachable.value)


async def test_a_watch_brings_changes_after_the_listed_version(api):
    _, version = await api.list_at(api.leases_at("default"))
    await api.write_lease("default", "t-watched", LEASE, "")
    events = api.watch_at(api.leases_at("default"), {"resourceVersion": version}, seconds=1)
    seen = [(event["type"], event["object"]["metadata"]["name"]) async for event in events]
    assert seen == [("ADDED", "t-watched")]


async def test_a_watch_from_a_compacted_version_ends_in_410(api):
    _, version = await api.list_at(api.leases_at("default"))
    for number in range(6):  # more changes than the server's history keeps
        await api.write_lease("default", f"t-compact-{number}", LEASE, "")
    with pytest.raises(ApiError) as expired:
        async for _ in api.watch_at(
            api.leases_at("default"), {"resourceVersion": version}, seconds=1
        ):
            pass
    assert expired.value.is_gone


def test_a_client_certificate_given_inline_is_loaded_from_a_private_file(tmp_path: Path):
    """ssl loads a certificate chain from files only; the inline PEM goes through one."""
    pair = tls.credentials()
    context = transport.tls_context(
        Credentials(
            server="https://192.0.2.1:6443",
            ca=Pem(data=pair.ca),
            certificate=Pem(data=pair.certificate),
            key=Pem(data=pair.key),
        )
    )
    assert context.verify_mode.name == "CERT_REQUIRED"


class Mirror:
    """What a ListWatch tells, applied to a dict by name."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.told: list[tuple[str, str]] = []

    def deliver(self, kind: str, obj: Mapping[str, Any]) -> None:
        name = obj["metadata"]["name"]
        self.told.append((kind, name))
        if kind == "DELETED":
            self.names.pop(name, None)
        else:
            self.names[name] = obj["spec"]["holderIdentity"]


async def stopped(task: asyncio.Task[None]) -> None:
    """Cancelled, and its connection given back, before the test's client closes."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def until(check: Callable[[], bool]) -> None:
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("not reached in 4 s")


async def test_a_listwatch_follows_changes_and_relists_when_it_fell_behind(server, api):
    """kube-apiserver's 410 means "list again"; the list is told as events, deletions too."""
    path = api.leases_at("relist")
    Rest(server.url).ok("POST", "/api/v1/namespaces", {"metadata": {"name": "relist"}})
    await api.write_lease("relist", "kept", LEASE, "")
    await api.write_lease("relist", "dropped", LEASE, "")
    mirror = Mirror()
    watching = ListWatch(api, path, mirror.deliver, what="test Leases", watch_min=1)
    for item in await watching.list():
        mirror.deliver("ADDED", item)
    follower = asyncio.create_task(watching.follow())
    try:
        await api.write_lease("relist", "new", LEASE, "")
        await until(lambda: "new" in mirror.names)
        await stopped(follower)
        # Behind the server's history (4 changes), with "dropped" deleted meanwhile.
        Rest(server.url).ok("DELETE", f"{path}/dropped")
        for number in range(6):
            await api.write_lease("default", f"t-churn-{number}", LEASE, "")
        follower = asyncio.create_task(watching.follow())
        await until(lambda: "dropped" not in mirror.names)
        assert sorted(mirror.names) == ["kept", "new"]
        assert ("DELETED", "dropped") in mirror.told
    finally:
        await stopped(follower)
