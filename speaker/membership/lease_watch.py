"""Peers' Leases, watched in the speaker's own namespace only, for the membership.

Shell. kopf watches cluster-wide (it must, for Services), and for Leases that would bring every
node heartbeat of kube-node-lease to every speaker. So the speakers' Leases are listed and
watched here, in one namespace, from a thread of their own; each change is handed to the
event loop with the time it was seen. The first list completes before the speaker elects
anything: until then it does not know who else is alive.
"""

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from metalpool.leases import LeaseState, parse_lease
from speaker.membership.leases import node_of

logger = logging.getLogger(__name__)
WATCH_SECONDS = 30  # the server ends each watch after this; the thread then checks for stop
GONE = 410

Deliver = Callable[[str, LeaseState | None, float], None]


class PeerLeases:
    """Lists, then watches, the `metalpool-speaker-*` Leases of one namespace."""

    def __init__(
        self,
        api_client: client.ApiClient,
        namespace: str,
        deliver: Deliver,
        listed: Callable[[], None],
    ) -> None:
        self._api = client.CoordinationV1Api(api_client)
        self._client = api_client
        self._namespace = namespace
        self._deliver = deliver
        self._stop = threading.Event()
        self._known: set[str] = set()
        self._listed = listed
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="peer-leases", daemon=True)

    def start(self) -> None:
        """Start watching (call from the event loop that receives the changes)."""
        self._loop = asyncio.get_running_loop()
        self._thread.start()

    def stop(self) -> None:
        """Stop at the end of the current watch (the thread is a daemon: exit never waits)."""
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                version = self._list()
                while not self._stop.is_set():
                    version = self._watch(version)
            except ApiException as error:
                if error.status != GONE:
                    logger.warning("watching speaker Leases: %s; listing again", error.reason)
                    self._stop.wait(1.0)
            except Exception:  # a loop boundary: log, back off, list again
                logger.exception("watching speaker Leases failed; listing again")
                self._stop.wait(1.0)

    def _list(self) -> str:
        listed = self._api.list_namespaced_lease(self._namespace, _request_timeout=15)
        now = time.monotonic()
        present = set()
        for lease in listed.items:
            raw = self._client.sanitize_for_serialization(lease)  # type: ignore[no-untyped-call]  # untyped
            node = node_of(str(raw["metadata"]["name"]))
            if node:
                present.add(node)
                self._send(node, parse_lease(raw), now)
        for node in self._known - present:
            self._send(node, None, now)
        self._known = present
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._listed)
        return str(listed.metadata.resource_version if listed.metadata else "")

    def _watch(self, version: str) -> str:
        stream = watch.Watch().stream(  # type: ignore[no-untyped-call]  # the client is untyped
            self._api.list_namespaced_lease,
            self._namespace,
            resource_version=version,
            timeout_seconds=WATCH_SECONDS,
            _request_timeout=WATCH_SECONDS + 15,
        )
        for event in stream:
            raw: dict[str, Any] = event["raw_object"]
            if event["type"] == "ERROR":
                raise ApiException(status=raw.get("code", GONE), reason=raw.get("message"))
            version = str(raw["metadata"].get("resourceVersion") or version)
            node = node_of(str(raw["metadata"].get("name") or ""))
            if node is None:
                continue
            if event["type"] == "DELETED":
                self._known.discard(node)
                self._send(node, None, time.monotonic())
            else:
                self._known.add(node)
                self._send(node, parse_lease(raw), time.monotonic())
        return version

    def _send(self, node: str, lease: LeaseState | None, seen: float) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._deliver, node, lease, seen)
