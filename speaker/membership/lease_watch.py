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
from collections.abc import Callable, Mapping
from typing import Any

from k8s.api import Api, ApiError
from k8s.listwatch import ListWatch
from metalpool.leases import LeaseState, parse_lease
from speaker.membership.leases import node_of

logger = logging.getLogger(__name__)
RETRY_AFTER = 1.0  # seconds before listing again after a failed first list

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
        self._deliver = deliver
        self._listed = listed
        self._leases = ListWatch(
            api, api.leases_at(namespace), self._changed, what=f"Leases in {namespace}"
        )

    async def run(self) -> None:
        """List (until that works), tell, then follow the changes until cancelled."""
        while True:
            try:
                items = await self._leases.list()
                break
            except ApiError as error:
                logger.warning("listing speaker Leases: %s; again in %.0f s", error, RETRY_AFTER)
                await asyncio.sleep(RETRY_AFTER)
        for item in items:
            self._changed("ADDED", item)
        self._listed()
        await self._leases.follow()

    def _changed(self, kind: str, raw: Mapping[str, Any]) -> None:
        node = node_of(str((raw.get("metadata") or {}).get("name") or ""))
        if node is not None:
            lease = None if kind == "DELETED" else parse_lease(raw)
            self._deliver(node, lease, time.monotonic())
