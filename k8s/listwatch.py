"""List once, then watch from the list's resourceVersion: the kinds that number in thousands.

Shell. client-go's reflector, for one collection (Services, EndpointSlices, a namespace's
Leases): the list fills the caller's mirror before any decision; each watch resumes from the
last version seen (BOOKMARK events keep it fresh while nothing changes) and is ended by the
server after a random 5 to 10 minutes (client-go's spread, so that many clients do not all
come back at once). A 410 (the version is older than the server keeps) lists again, and the
list is told as events: every object present as MODIFIED, every one known before and now gone
as DELETED, so the mirror ends equal to the list. Any other failure is logged and the watch is
made again after a backoff that grows to 5 s, from the same version.

Why not kopf for these: kopf's per-event processing was the controller's largest cost in a
5,000-Service burst, and it lists everything again at each start, which a restart with 10,000
Services then handles twice (docs/benchmarks.md, Profile).
"""

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from typing import Any

from k8s.api import Api, ApiError
from k8s.mirror import Key, key_of

logger = logging.getLogger(__name__)
WATCH_MIN = 300  # seconds a watch lasts at least; at most twice that (client-go's reflector)
# Seconds before watching again after a failure. Capped low: an API server that was away
# (an upgrade, a restart) is followed again within 5 s of its return, which is what the speaker's
# property "a stall changes nothing, and afterwards it is current" needs; a refused connection
# every 5 s costs the server nothing.
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 5.0

Deliver = Callable[[str, Mapping[str, Any]], None]


class ListWatch:
    """One collection's list and its watch, handing each change to `deliver(type, object)`."""

    def __init__(
        self, api: Api, path: str, deliver: Deliver, *, what: str, watch_min: int = WATCH_MIN
    ) -> None:
        self._api = api
        self._path = path
        self._deliver = deliver
        self._what = what
        self._watch_min = watch_min
        self._version = ""
        self._known: set[Key] = set()

    async def list(self) -> list[dict[str, Any]]:
        """The collection now (for the caller's mirror); the watch resumes from here."""
        items, self._version = await self._api.list_at(self._path)
        self._known = {key_of(item) for item in items}
        return items

    async def follow(self) -> None:
        """Watch until cancelled (call `list` first)."""
        backoff, relist = BACKOFF_FIRST, False
        while True:
            try:
                if relist:
                    await self._relist()
                    relist = False
                await self._watch()
                backoff = BACKOFF_FIRST
            except ApiError as error:
                if error.is_gone:
                    relist = True
                    continue
                logger.warning("watching %s: %s; again in %.1f s", self._what, error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)

    async def _watch(self) -> None:
        seconds = random.randint(self._watch_min, 2 * self._watch_min)  # noqa: S311 - a spread
        query = {"resourceVersion": self._version, "allowWatchBookmarks": "true"}
        async for event in self._api.watch_at(self._path, query, seconds=seconds):
            kind, obj = str(event.get("type")), event.get("object") or {}
            version = (obj.get("metadata") or {}).get("resourceVersion")
            if version:
                self._version = str(version)
            if kind == "BOOKMARK":
                continue
            key = key_of(obj)
            if kind == "DELETED":
                self._known.discard(key)
            else:
                self._known.add(key)
            self._deliver(kind, obj)

    async def _relist(self) -> None:
        logger.info("%s: the watch fell too far behind; listing again", self._what)
        before = self._known
        items = await self.list()
        for item in items:
            self._deliver("MODIFIED", item)
        for namespace, name in before - self._known:
            self._deliver("DELETED", {"metadata": {"namespace": namespace, "name": name}})
