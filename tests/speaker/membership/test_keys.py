import asyncio
import base64

import pytest

from speaker.membership import keys
from speaker.membership.keys import KeyRing

OLD, NEW = b"o" * 32, b"n" * 32


class Ring(KeyRing):
    """The KeyRing with the Secret read from a list instead of the API."""

    def __init__(self, reads: list[bytes | None]) -> None:
        self.delivered: list[tuple[bytes, ...]] = []
        super().__init__(None, "metallb-system", self.delivered.append)  # type: ignore[arg-type]
        self.reads = reads

    async def _read(self) -> bytes | None:
        return self.reads.pop(0) if len(self.reads) > 1 else self.reads[0]


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    monkeypatch.setattr(keys, "REFRESH_EVERY", 0.01)
    monkeypatch.setattr(keys, "SWITCH_AFTER", 0.05)


async def run_for(ring: Ring, seconds: float) -> None:
    task = asyncio.create_task(ring.run())
    await asyncio.sleep(seconds)
    task.cancel()


async def test_the_first_key_signs_at_once():
    ring = Ring([OLD])
    await run_for(ring, 0.03)
    assert ring.delivered == [(OLD,)]


async def test_a_new_key_verifies_at_once_and_signs_only_after_every_peer_could_read_it():
    ring = Ring([OLD, NEW])
    await run_for(ring, 0.2)
    assert ring.delivered == [(OLD,), (OLD, NEW), (NEW, OLD)]


async def test_a_missing_secret_keeps_the_last_keys():
    ring = Ring([OLD, None])
    await run_for(ring, 0.1)
    assert ring.delivered == [(OLD,)]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param({"secretkey": base64.b64encode(OLD).decode()}, OLD, id="ours"),
        pytest.param({"secretkey": base64.b64encode(b"short").decode()}, None, id="too short"),
        pytest.param({"secretkey": "not base64!"}, None, id="not base64"),
        pytest.param({}, None, id="no key"),
    ],
)
def test_the_key_is_the_decoded_secretkey_of_at_least_16_bytes(data, expected):
    assert keys._key_of(data, "metallb-system/memberlist") == expected
