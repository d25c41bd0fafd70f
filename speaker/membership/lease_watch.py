"""Peers' Leases, watched in the speaker's own namespace only, for the membership.

Shell. kopf watches cluster-wide (it must, for Services), and for Leases that would bring every
node heartbeat of kube-node-lease to every speaker. So the speakers' Leases are listed and
watched here, in one namespace, on the event loop; each change is handed over with the time it
was seen. The first list completes before the speaker elects anything: until then it does not
know who else is alive.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from k8s.api import Api, ApiError
from metalpool.leases import LeaseState, parse_lease
from speaker.membership.leases import node_of

logger = logging.getLogger(__name__)
WATCH_SECONDS = 30  # the server ends each watch after this; then the watch is made again
RETRY_AFTER = 1.0  # seconds before listing again after a failure

Deliver = Callable[[str, LeaseState | None, float], None]


class PeerLeases:
    """Lists, then watches, the `metalpool-speaker-*` Leases of one namespace."""

    def __init__(
        self,
        api: Api,
        namespace: str,
        deliver: Deliver,
        listed: Callable[[], None],
    ) -> None:
        self._api = api
        self._namespace = namespace
        self._deliver = deliver
        self._known: set[str] = set()
        self._listed = listed

    async def run(self) -> None:
        """List, then watch, until cancelled; a failure lists again after a second."""
        while True:
            try:
                version = await self._list()
                while True:
                    version = await self._watch(version)
            except ApiError as error:
                if not error.is_gone:  # 410: the version is too old; a new list is the cure
                    logger.warning("watching speaker Leases: %s; listing again", error)
                    await asyncio.sleep(RETRY_AFTER)
            except Exception:  # a loop boundary: log, back off, list again
                logger.exception("watching speaker Leases failed; listing again")
                await asyncio.sleep(RETRY_AFTER)

    async def _list(self) -> str:
        items, version = await self._api.list_leases(self._namespace)
        now = time.monotonic()
        present = set()
        for raw in items:
            node = node_of(str(raw["metadata"]["name"]))
            if node:
                present.add(node)
                self._deliver(node, parse_lease(raw), now)
        for node in self._known - present:
            self._deliver(node, None, now)
        self._known = present
        self._listed()
        return version

    async def _watch(self, version: str) -> str:
        events = self._api.watch_leases(self._namespace, version, seconds=WATCH_SECONDS)
        async for event in events:
            raw: dict[str, Any] = event["object"]
            version = str(raw["metadata"].get("resourceVersion") or version)
            node = node_of(str(raw["metadata"].get("name") or ""))
            if node is None or event["type"] not in {"ADDED", "MODIFIED", "DELETED"}:
                continue
            if event["type"] == "DELETED":
                self._known.discard(node)
                self._deliver(node, None, time.monotonic())
            else:
                self._known.add(node)
                self._deliver(node, parse_lease(raw), time.monotonic())
        return version
