"""Shell. The HMAC key of the LAN membership, from the `memberlist` Secret (MetalLB's name).

The controller creates the Secret at start when it is missing (so `kubectl apply -k deploy/`
alone is enough, and so is the lab); a Secret MetalLB left behind is used as it is. The
speaker reads it at start, retrying every few seconds until it exists, then every minute. A
rotation (delete the Secret; the controller makes a new one) never splits the speakers: a new
key verifies at once and signs only once every peer has had time to read it. Without a key a
speaker neither sends nor accepts heartbeats: every peer is judged by its Lease (degraded).
"""

import asyncio
import logging
from collections.abc import Callable, Mapping

from k8s.api import Api, ApiError
from metalpool import names
from metalpool.secrets import memberlist_key

logger = logging.getLogger(__name__)

SECRET_KEY = names.MEMBERLIST_KEY
MIN_KEY_BYTES = 16  # 128 bits, the least an HMAC key should have
SWITCH_AFTER = 2.5 * 60.0  # seconds a new key only verifies: over two refreshes of every peer
RETRY_FIRST = 0.5
RETRY_MAX = 30.0
REFRESH_EVERY = 60.0


class KeyRing:
    """Reads the Secret and hands the keys (current first, then the previous one) onwards."""

    def __init__(
        self,
        api: Api,
        namespace: str,
        deliver: Callable[[tuple[bytes, ...]], None],
        secret: str = names.MEMBERLIST_SECRET,
    ) -> None:
        self._api = api
        self._namespace = namespace
        self._secret = secret
        self._deliver = deliver
        self._newest: bytes | None = None  # the Secret's key as last read
        self._keys: tuple[bytes, ...] = ()  # as delivered: the first signs, all verify

    async def run(self) -> None:
        """Keep the keys current until cancelled; API failures keep the last keys (fail-static).

        A new key is first only *accepted*, for `SWITCH_AFTER`: long enough for every speaker
        to have read it (each re-reads every `REFRESH_EVERY`). Only then does it sign. Signing
        with it at once would make this speaker silent — dead — to peers that have not read it.
        """
        retry = RETRY_FIRST
        while True:
            key = await self._read()
            if key is not None and key != self._newest:
                self._learn(key)
            if self._keys:
                await asyncio.sleep(REFRESH_EVERY)
            else:  # soon at first: the controller creates the Secret as it starts
                await asyncio.sleep(retry)
                retry = min(retry * 2, RETRY_MAX)

    def _learn(self, key: bytes) -> None:
        old, self._newest = self._keys[:1], key
        if not old:
            logger.info("heartbeat key read from Secret %s/%s", self._namespace, self._secret)
            self._set((key,))
            return
        logger.info(
            "Secret %s changed: the new key is accepted now and signs in %.0f s",
            self._secret,
            SWITCH_AFTER,
        )
        self._set((old[0], key))
        asyncio.get_running_loop().call_later(SWITCH_AFTER, self._switch, key, old[0])

    def _switch(self, key: bytes, old: bytes) -> None:
        if self._newest == key:  # not superseded meanwhile
            logger.info("the new key from Secret %s signs now", self._secret)
            self._set((key, old))

    def _set(self, keys: tuple[bytes, ...]) -> None:
        self._keys = keys
        self._deliver(keys)

    async def _read(self) -> bytes | None:
        try:
            secret = await self._api.read_secret(self._namespace, self._secret)
        except ApiError as error:
            logger.warning("reading Secret %s: %s", self._secret, error)
            return None
        except Exception as error:  # noqa: BLE001 - a loop boundary: any failure keeps the keys
            logger.warning("reading Secret %s failed: %s", self._secret, error)
            return None
        if secret is None:
            if not self._keys:
                logger.warning(
                    "Secret %s/%s does not exist yet (the controller creates it); peers are "
                    "judged by their Leases until it does",
                    self._namespace,
                    self._secret,
                )
            return None
        return _key_of(secret.get("data") or {}, f"{self._namespace}/{self._secret}")


def _key_of(data: Mapping[str, str | bytes], where: str) -> bytes | None:
    """The key bytes: the decoded `secretkey` (metalpool.secrets), at least 16 bytes."""
    key = memberlist_key({"data": data})
    if key is None:
        logger.warning("Secret %s: data.%s is missing or not base64", where, SECRET_KEY)
        return None
    if len(key) < MIN_KEY_BYTES:
        logger.warning(
            "Secret %s: data.%s is %d bytes; at least %d are needed",
            where,
            SECRET_KEY,
            len(key),
            MIN_KEY_BYTES,
        )
        return None
    return key
