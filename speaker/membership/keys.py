"""Shell. The HMAC key of the LAN membership, from the `memberlist` Secret (MetalLB's name).

The controller creates the Secret at start when it is missing (so `kubectl apply -k deploy/`
alone is enough, and so is the lab); a Secret MetalLB left behind is used as it is. The
speaker reads it at start, retrying every few seconds until it exists, then every minute:
a new key signs at once and the previous one still verifies, so a rotation (delete the Secret;
the controller makes a new one) never splits the speakers. Without a key a speaker neither
sends nor accepts heartbeats: every peer is judged by its Lease (the degraded mode).
"""

import asyncio
import base64
import binascii
import logging
from collections.abc import Callable, Mapping

from kubernetes import client
from kubernetes.client.exceptions import ApiException

logger = logging.getLogger(__name__)

SECRET_NAME = "memberlist"  # noqa: S105 - a name, not a password
SECRET_KEY = "secretkey"  # noqa: S105 - the data key MetalLB uses
RETRY_EVERY = 5.0
REFRESH_EVERY = 60.0
NOT_FOUND = 404


class KeyRing:
    """Reads the Secret and hands the keys (current first, then the previous one) onwards."""

    def __init__(
        self,
        api_client: client.ApiClient,
        namespace: str,
        deliver: Callable[[tuple[bytes, ...]], None],
    ) -> None:
        self._api = client.CoreV1Api(api_client)
        self._namespace = namespace
        self._deliver = deliver
        self._keys: tuple[bytes, ...] = ()

    async def run(self) -> None:
        """Keep the keys current until cancelled; API failures keep the last keys (fail-static)."""
        while True:
            key = await self._read()
            if key is not None and (not self._keys or key != self._keys[0]):
                if self._keys:
                    logger.info("Secret %s changed: new key signs, the old one still verifies",
                                SECRET_NAME)  # fmt: skip
                else:
                    logger.info("heartbeat key read from Secret %s/%s", self._namespace,
                                SECRET_NAME)  # fmt: skip
                self._keys = (key, *self._keys[:1])
                self._deliver(self._keys)
            await asyncio.sleep(REFRESH_EVERY if self._keys else RETRY_EVERY)

    async def _read(self) -> bytes | None:
        try:
            secret = await asyncio.to_thread(
                self._api.read_namespaced_secret, SECRET_NAME, self._namespace, _request_timeout=10
            )
        except ApiException as error:
            if error.status == NOT_FOUND and not self._keys:
                logger.warning(
                    "Secret %s/%s does not exist yet (the controller creates it); peers are "
                    "judged by their Leases until it does",
                    self._namespace,
                    SECRET_NAME,
                )
            elif error.status != NOT_FOUND:
                logger.warning("reading Secret %s: %s", SECRET_NAME, error.reason)
            return None
        except Exception as error:  # noqa: BLE001 - a loop boundary: any failure keeps the keys
            logger.warning("reading Secret %s failed: %s", SECRET_NAME, error)
            return None
        return _key_of(secret.data or {}, self._namespace)


def _key_of(data: Mapping[str, str | bytes], namespace: str) -> bytes | None:
    """The key bytes: the decoded value of `secretkey` (at least 16 bytes)."""
    raw = data.get(SECRET_KEY)
    if not raw:
        logger.warning("Secret %s/%s has no data.%s", namespace, SECRET_NAME, SECRET_KEY)
        return None
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        logger.warning("Secret %s/%s: data.%s is not base64", namespace, SECRET_NAME, SECRET_KEY)
        return None
    if len(key) < 16:  # noqa: PLR2004 - 128 bits, the least an HMAC key should have
        logger.warning(
            "Secret %s/%s: data.%s is %d bytes; at least 16 are needed",
            namespace,
            SECRET_NAME,
            SECRET_KEY,
            len(key),
        )
        return None
    return key
