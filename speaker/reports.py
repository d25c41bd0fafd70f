"""Shell. What the speaker writes to the API server: Events, ServiceL2Statuses, conditions.

Writes run in a task of their own, behind the announcing loop, never in it: a stalled or
unreachable API server must not hold back a single ownership change (fail-static). The loop
hands over the latest announcement set and Service conditions and queues Events; this task
writes when it can, keeps what failed and retries, and always syncs statuses and conditions to
the newest set (older ones are moot). A condition is written only where the Service shows
something else (`speaker.writes`), with the resourceVersion it was compared with: a Service
that changed meanwhile (409) or is gone (404) is skipped, and the next pass judges it again.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from k8s.api import Api, ApiError
from metalpool.events import Severity, event_body
from metalpool.services import ServiceKey
from speaker.cluster.announcements import Announcement
from speaker.cluster.l2status import Existing, plan_statuses
from speaker.conditions import Desired
from speaker.writes import Shown, notice, status_patch

logger = logging.getLogger(__name__)
COMPONENT = "metallb-speaker"
EVENTS_KEPT = 1000  # queued while the API is away; the oldest are dropped (and counted) beyond
RETRY_DELAY = 1.0
REFUSAL_LOG_EVERY = 60.0  # seconds between warnings about condition writes the API refuses


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice:
    """One Event to post: on a Service (namespace, name) or on a Node (namespace None)."""

    kind: str
    namespace: str | None
    name: str
    severity: Severity
    reason: str
    message: str


class Reports:
    """Posts queued Events and keeps this node's ServiceL2Statuses in step."""

    def __init__(
        self,
        api: Api,
        *,
        node: str,
        namespace: str,
        existing: Callable[[], Iterable[Any]],
        pod: Mapping[str, Any] | None = None,
        shown: Callable[[ServiceKey], Shown | None] = lambda _: None,
    ) -> None:
        self._api = api
        self._node = node
        self._namespace = namespace
        self._existing = existing
        self._pod = pod
        self._shown = shown
        self._notices: deque[Notice] = deque()
        self._announced: frozenset[Announcement] | None = None
        self._created: dict[ServiceKey, Existing] = {}  # made, not yet seen in the index
        self._desired: Mapping[ServiceKey, Desired] = {}
        self._written: dict[ServiceKey, tuple[str, Desired]] = {}  # not yet seen in the mirror
        self._refusal_logged = float("-inf")
        self._wake = asyncio.Event()
        self.dropped = 0

    def post(self, notice: Notice) -> None:
        """Queue an Event (the oldest is dropped when too many wait)."""
        if len(self._notices) >= EVENTS_KEPT:
            self._notices.popleft()
            self.dropped += 1
        self._notices.append(notice)
        self._wake.set()

    def about_service(self, key: ServiceKey, severity: Severity, reason: str, message: str) -> None:
        """Queue an Event on a Service."""
        self.post(
            Notice(
                kind="Service",
                namespace=key.namespace,
                name=key.name,
                severity=severity,
                reason=reason,
                message=message,
            )
        )

    def about_node(self, node: str, severity: Severity, reason: str, message: str) -> None:
        """Queue an Event on a Node (it lands in namespace default)."""
        self.post(
            Notice(
                kind="Node",
                namespace=None,
                name=node,
                severity=severity,
                reason=reason,
                message=message,
            )
        )

    def announced(self, announcements: frozenset[Announcement]) -> None:
        """The set to reflect in ServiceL2Statuses (the newest wins)."""
        self._announced = announcements
        self._wake.set()

    def conditions(self, desired: Mapping[ServiceKey, Desired]) -> None:
        """What the Services this speaker speaks for should show (the newest wins)."""
        self._desired = desired
        self._wake.set()

    async def run(self) -> None:
        """Write until cancelled; failures are retried after RETRY_DELAY."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except ApiError as error:
                logger.warning("status or event write failed (%s); retrying", error)
                await asyncio.sleep(RETRY_DELAY)
                self._wake.set()

    async def flush(self) -> None:
        """Write what is pending once: Events, then statuses, then conditions (`run` does this)."""
        while self._notices:
            await self._post(self._notices[0])
            self._notices.popleft()
        if self._announced is not None:
            await self._sync_statuses(self._announced)
        await self._sync_conditions(self._desired)

    async def _post(self, notice: Notice) -> None:
        involved: dict[str, Any] = {"apiVersion": "v1", "metadata": {"name": notice.name}}
        if notice.namespace is not None:
            involved["metadata"]["namespace"] = notice.namespace
        if notice.kind == "Service" and notice.namespace is not None:
            # `kubectl describe` finds a Service's Events by its uid too.
            shown = self._shown(ServiceKey(notice.namespace, notice.name))
            involved["metadata"]["uid"] = shown.uid if shown is not None else None
        body = event_body(
            involved,
            kind=notice.kind,
            severity=notice.severity,
            reason=notice.reason,
            message=notice.message,
            component=COMPONENT,
            instance=self._node,
            now=datetime.now(UTC),
        )
        namespace = notice.namespace or "default"  # Events about Nodes live in default
        body["metadata"]["namespace"] = namespace
        await self._api.create_event(namespace, body)

    async def _sync_statuses(self, mine: frozenset[Announcement]) -> None:
        announced: dict[ServiceKey, frozenset[str] | None] = {}
        for a in mine:
            for service in a.services:
                announced[service] = a.interfaces
        existing = {e.name: e for e in self._existing() if isinstance(e, Existing)}
        self._created = {k: e for k, e in self._created.items() if e.name not in existing}
        existing.update({e.name: e for e in self._created.values()})
        todo = plan_statuses(self._node, announced, existing.values(), self._namespace, self._pod)
        for name in todo.delete:
            await self._api.delete_l2_status(self._namespace, name)
            self._created = {k: e for k, e in self._created.items() if e.name != name}
        for service, body, status in todo.create:
            name = await self._api.create_l2_status(self._namespace, body)
            await self._api.patch_l2_status(self._namespace, name, status)
            self._created[service] = Existing(
                name=name, node=self._node, service=service, status=status
            )
        for name, status in todo.set_status:
            await self._api.patch_l2_status(self._namespace, name, status)

    async def _sync_conditions(self, desired: Mapping[ServiceKey, Desired]) -> None:
        self._written = {k: w for k, w in self._written.items() if k in desired}
        for key, wanted in desired.items():
            shown = self._shown(key)
            if shown is None or self._written.get(key) == (shown.resource_version, wanted):
                continue  # gone, not ours to write, or written and not yet seen back
            patch = status_patch(wanted, shown, datetime.now(UTC))
            if patch is None:
                self._written.pop(key, None)
            elif await self._patch_service(key, patch):
                self._written[key] = (shown.resource_version, wanted)
                told = notice(wanted, shown)
                if told is not None:
                    self.about_service(key, told.severity, told.reason, told.message)

    async def _patch_service(self, key: ServiceKey, patch: Mapping[str, Any]) -> bool:
        """Whether the patch landed; a refusal skips the Service until the next pass.

        409 and 404 are the Service changing or going meanwhile. Other refusals (403: RBAC
        without `patch` on services/status) would fail again at once, so they are skipped and
        logged at most once a minute; only an unreachable or failing server is retried here.
        """
        try:
            await self._api.patch_service_status(key.namespace, key.name, patch)
        except ApiError as error:
            if error.is_conflict or error.is_not_found:
                logger.debug("%s changed or went before its condition was written", key)
            elif error.is_refusal:
                now = time.monotonic()
                if now >= self._refusal_logged + REFUSAL_LOG_EVERY:
                    self._refusal_logged = now
                    logger.warning("cannot write the condition of %s: %s", key, error)
            else:
                raise
            return False
        return True
