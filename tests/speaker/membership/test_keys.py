import asyncio
import base64

import pytest

from speaker.membership import keys
from speaker.membership.keys import KeyRing
from tests.support.sentinels import run_until

OLD, NEW = b"o" * 32, b"n" * 32


class Ring(KeyRing):
    """The KeyRing with the Secret read from a list instead of the API; it counts its reads."""

    def __init__(self, reads: list[bytes | None]) -> None:
        self.delivered: list[tuple[bytes, ...]] = []
        self.reads_at: list[int] = []  # how many reads had started at each delivery
        self.times: list[float] = []  # and when (the loop's clock)
        super().__init__(None, "metallb-system", self._record)  # type: ignore[arg-type]
        self.reads = reads
        self.read_count = 0

    def _record(self, delivered: tuple[bytes, ...]) -> None:
        self.delivered.append(delivered)
        self.reads_at.append(self.read_count)
        self.times.append(asyncio.get_running_loop().time())

    async def _read(self) -> bytes | None:
        self.read_count += 1
        return self.reads.pop(0) if len(self.reads) > 1 else self.reads[0]

    def read_since_last_delivery(self, reads: int) -> bool:
        """The sentinel: `reads` more reads, each handled in full, since the last delivery."""
        return bool(self.delivered) and self.read_count > self.reads_at[-1] + reads


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    monkeypatch.setattr(keys, "REFRESH_EVERY", 0.01)
    monkeypatch.setattr(keys, "SWITCH_AFTER", 0.05)


async def test_the_first_key_signs_at_once():
    ring = Ring([OLD])
    # Reads start one after another, so a third read means the second (the same key) is done.
    await run_until(ring.run(), lambda: ring.read_count >= 3)
    assert ring.delivered == [(OLD,)]
    assert ring.reads_at == [1]


async def test_a_new_key_verifies_at_once_and_signs_only_after_every_peer_could_read_it():
    ring = Ring([OLD, NEW])
    await run_until(
        ring.run(), lambda: len(ring.delivered) >= 3 and ring.read_since_last_delivery(2)
    )
    assert ring.delivered == [(OLD,), (OLD, NEW), (NEW, OLD)]
    learned, switched = ring.times[1:]
    assert switched - learned >= keys.SWITCH_AFTER * 0.99  # the loop's timer may round down
    assert ring.reads_at[2] - ring.reads_at[1] >= 2  # it kept reading and still did not sign


async def test_a_missing_secret_keeps_the_last_keys():
    ring = Ring([OLD, None])
    await run_until(ring.run(), lambda: ring.read_count >= 4)  # the missing one, read twice
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
