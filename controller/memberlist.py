"""Making sure the memberlist Secret exists: whichever controller replica starts first creates it.

Shell. At start, apart from leadership (a standby may create it as well), read the Secret; when it
is missing, create it with a fresh random key. An existing Secret, ours or MetalLB's, is never
changed; a 409 on create means another replica won the race, which is just as good. A failure
never holds allocation up: it is logged, naming the Secret, and retried every 10 s until the
Secret exists. Deleting the Secret rotates the key: the next controller start makes a new one.
"""

import asyncio
import logging
import secrets
from collections.abc import Mapping
from typing import Any, Protocol

from k8s.api import Api, ApiError
from metalpool import names
from metalpool.secrets import KEY_BYTES, memberlist_secret

logger = logging.getLogger(__name__)
RETRY_EVERY = 10.0  # seconds between attempts while the Secret cannot be read or created
CHECK_EVERY = 60.0  # seconds between checks once it exists: rotation is delete-and-wait


class SecretStore(Protocol):
    """The two Secret calls this needs."""

    async def exists(self, namespace: str, name: str) -> bool:
        """Whether the Secret is there; raises `ApiError` when that cannot be told."""

    async def create(self, namespace: str, body: Mapping[str, Any]) -> None:
        """Create a Secret; raises `ApiError` (409 when it already exists)."""


class Secrets:
    """`SecretStore` through `k8s.api`."""

    def __init__(self, api: Api) -> None:
        self._api = api

    async def exists(self, namespace: str, name: str) -> bool:
        """Whether the Secret is there (its content is dropped at once)."""
        return await self._api.read_secret(namespace, name) is not None

    async def create(self, namespace: str, body: Mapping[str, Any]) -> None:
        """Create a Secret."""
        await self._api.create_secret(namespace, body)


async def ensure_memberlist(store: SecretStore, namespace: str) -> bool:
    """Create the memberlist Secret unless it exists; True when this call created it.

    Raises `ApiError` when the Secret could not be read or created (a 409 is not an error).
    """
    name = names.MEMBERLIST_SECRET
    if await store.exists(namespace, name):
        logger.info("Secret %s/%s exists: kept as it is", namespace, name)
        return False
    try:
        await store.create(namespace, memberlist_secret(namespace, secrets.token_bytes(KEY_BYTES)))
    except ApiError as error:
        if not error.is_conflict:
            raise
        logger.info("Secret %s/%s was created by another replica first", namespace, name)
        return False
    logger.info("created Secret %s/%s with a new speaker key", namespace, name)
    return True


async def provide_memberlist(
    store: SecretStore, namespace: str, *, every: float = RETRY_EVERY, watch: float = CHECK_EVERY
) -> None:
    """Keep the Secret in place; never raises ApiError.

    Retries every `every` seconds until it exists, then checks it every `watch` seconds, so a
    deleted Secret (a key rotation) comes back without a controller restart.
    """
    while True:
        try:
            await ensure_memberlist(store, namespace)
        except ApiError as error:
            logger.warning(
                "could not create Secret %s/%s, which speakers need to authenticate heartbeats"
                " (retrying in %.0f s): %s",
                namespace,
                names.MEMBERLIST_SECRET,
                every,
                error,
            )
        else:
            await asyncio.sleep(watch)
            continue
        await asyncio.sleep(every)
