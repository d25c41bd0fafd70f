"""Watch streams: newline-delimited JSON events from a resourceVersion on, until told to stop.

The rule: a watch subscribes to its resource and takes the backlog in one synchronous step, so no
change falls between them. `resourceVersion` unset or "0" starts with synthetic ADDED events for
the current objects; a number resumes after it, or gets a 410 ExpiredError ERROR event when history
has been compacted (kopf and client-go then re-list). Selectors see transitions: an object that
starts matching arrives as ADDED and one that stops matching leaves as DELETED. The stream ends on
`timeoutSeconds` (with a BOOKMARK first when bookmarks are allowed), on `Faults.drop_watches()`,
or when the client goes away.
"""

import asyncio
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from lab.apiserver.faults import Faults
from lab.apiserver.http import tables
from lab.apiserver.objects.cluster import Cluster
from lab.apiserver.objects.errors import ApiError
from lab.apiserver.objects.resources import ResourceType
from lab.apiserver.objects.selectors import FieldSelector, LabelSelector
from lab.apiserver.objects.store import Change, ExpiredError, Object

logger = logging.getLogger(__name__)
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


@dataclass(frozen=True, slots=True)
class WatchFilter:
    """Which objects a watch sees."""

    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector

    def matches(self, obj: Object | None) -> bool:
        """Whether the watch sees this object state."""
        if obj is None:
            return False
        namespace = obj["metadata"].get("namespace", "")
        if self.namespace is not None and namespace != self.namespace:
            return False
        return self.labels.matches(obj) and self.fields.matches(obj)


def translate(change: Change, watch: WatchFilter) -> str | None:
    """The event type this watch sees for a change, or None when it sees nothing."""
    now_matches = watch.matches(change.object)
    if change.type == "DELETED":
        return "DELETED" if now_matches or watch.matches(change.previous) else None
    was_matching = change.type == "MODIFIED" and watch.matches(change.previous)
    if now_matches:
        return "MODIFIED" if was_matching else "ADDED"
    return "DELETED" if was_matching else None


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchRequest:
    """The parsed query of a watch."""

    since: str = ""
    timeout: float | None = None
    bookmarks: bool = False
    initial_events: bool = False
    as_table: bool = False
    include_object: str = "Metadata"


class Stream:
    """One open watch: a queue fed by the store, drained into the HTTP response."""

    def __init__(self, cluster: Cluster, rt: ResourceType, watch: WatchFilter, req: WatchRequest):
        self.cluster, self.rt, self.watch, self.req = cluster, rt, watch, req
        self.queue: asyncio.Queue[Change | None] = asyncio.Queue()
        self.headers_sent = False

    def _subscriber(self, change: Change) -> None:
        self.queue.put_nowait(change)

    def close(self) -> None:
        """End the stream after what is already queued (thread-unsafe; call in the loop)."""
        self.queue.put_nowait(None)

    def _backlog(self) -> list[tuple[str, Object]]:
        """Events owed before live ones; raises ExpiredError. Must run right after subscribing."""
        if self.req.since in ("", "0") or self.req.initial_events:
            current = self.cluster.store.iterate(self.rt.storage, self.watch.namespace)
            return [("ADDED", obj) for obj in current if self.watch.matches(obj)]
        try:
            since = int(self.req.since)
        except ValueError:
            raise ApiError(400, f"invalid resourceVersion {self.req.since!r}") from None
        found = (
            (translate(c, self.watch), c.object)
            for c in self.cluster.store.since(self.rt.storage, since)
        )
        return [(kind, obj) for kind, obj in found if kind is not None]

    def _encode(self, kind: str, obj: Object) -> bytes:
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            obj = present(self.rt, obj)
            if self.req.as_table:
                obj = tables.table(
                    self.rt,
                    [obj],
                    resource_version=obj["metadata"]["resourceVersion"],
                    include_object=self.req.include_object,
                    headers=not self.headers_sent,
                )
                self.headers_sent = True
        return json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n"

    def _bookmark(self, *, initial_end: bool = False) -> bytes:
        metadata: dict[str, Any] = {"resourceVersion": str(self.cluster.store.resource_version)}
        if initial_end:
            metadata["annotations"] = {INITIAL_EVENTS_END: "true"}
        body = {"kind": self.rt.kind, "apiVersion": self.rt.api_version, "metadata": metadata}
        return self._encode("BOOKMARK", body)

    async def serve(self, request: web.Request, faults: Faults) -> web.StreamResponse:
        """Run the stream to its end."""
        store = self.cluster.store
        store.subscribe(self.rt.storage, self._subscriber)
        faults.track(self.close)
        try:
            try:
                backlog = self._backlog()
            except ExpiredError as error:
                backlog = []
                expired: bytes | None = self._encode("ERROR", ApiError(410, str(error)).status())
            else:
                expired = None
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            if expired is not None:
                await response.write(expired)
                return response
            await self._write_all(response, backlog)
            if self.req.initial_events and self.req.bookmarks:
                await response.write(self._bookmark(initial_end=True))
            await self._live(response)
        except ConnectionError:
            logger.debug("a watch client went away")
            return web.StreamResponse()
        else:
            return response
        finally:
            store.unsubscribe(self.rt.storage, self._subscriber)
            faults.untrack(self.close)

    async def _write_all(
        self, response: web.StreamResponse, events: Iterable[tuple[str, Object]]
    ) -> None:
        chunk = b"".join(self._encode(kind, obj) for kind, obj in events)
        if chunk:
            await response.write(chunk)

    async def _live(self, response: web.StreamResponse) -> None:
        loop = asyncio.get_running_loop()
        deadline = None if self.req.timeout is None else loop.time() + self.req.timeout
        while True:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                # Deliver what is queued before a bookmark that claims everything up to now.
                while not self.queue.empty():
                    pending = self.queue.get_nowait()
                    if pending is None:
                        return
                    await self._write_change(response, pending)
                if self.req.bookmarks:
                    await response.write(self._bookmark())
                return
            try:
                change = await asyncio.wait_for(self.queue.get(), remaining)
            except TimeoutError:
                continue
            if change is None:
                return
            await self._write_change(response, change)

    async def _write_change(self, response: web.StreamResponse, change: Change) -> None:
        kind = translate(change, self.watch)
        if kind is not None:
            await response.write(self._encode(kind, change.object))


def present(rt: ResourceType, obj: Object) -> Object:
    """The object as served at this version (CRD versions share storage), defaulted."""
    obj = rt.schema.on_read(obj) if rt.schema is not None else obj
    if obj.get("apiVersion") == rt.api_version:
        return obj
    return {**obj, "apiVersion": rt.api_version}
