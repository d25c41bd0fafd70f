"""The speaker's loop: whenever anything changes, elect again and apply what this node owns.

Shell: read (kopf's indexes, the Lease sightings) → decide (`announcements.plan`, pure, the same
on every speaker) → act (the responder's owned table, which sends the takeover burst at once;
then metrics, `nodeAssigned` Events and ServiceL2Status objects). A speaker that cannot renew
its own Lease announces nothing: its peers already count it dead and have taken over.
"""

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from k8s.api import Api, ApiError
from k8s.leases import LeaseHolder, LeaseLost
from k8s.mirror import Mirror
from metalpool.addresses import IPAddress
from metalpool.advertisements import L2Advertisement, parse_l2_advertisement
from metalpool.errors import SpecError
from metalpool.events import Severity, event_body
from metalpool.leases import LeaseState
from metalpool.pools import parse_pools
from metalpool.services import ServiceKey
from speaker import metrics
from speaker.cluster.announcements import (
    Announcement,
    ServiceIPs,
    Snapshot,
    announcements_for,
    diff,
    plan,
)
from speaker.cluster.inputs import parse_service_ips, parse_slice
from speaker.cluster.l2status import Existing, plan_statuses
from speaker.cluster.nodes import EndpointSlice, collect_endpoints
from speaker.membership.leases import Membership
from speaker.wire.interfaces import Selection

logger = logging.getLogger(__name__)
Index = Mapping[Any, Any]
COMPONENT = "metallb-speaker"


class Owner(Protocol):
    """The responder, as the worker drives it."""

    def set_owned(self, ips: Mapping[IPAddress, frozenset[str] | None]) -> None:
        """Replace the owned table (gained IPs are announced at once)."""

    @property
    def selection(self) -> Selection:
        """The last interface scan (`local_names`: interfaces that exist here)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Views:
    """kopf's indexes (key → store of parsed values), complete before any handler runs."""

    nodes: Index
    pools: Index
    ads: Index
    l2s: Index


class Speaker:
    """Elects and applies; `touch` schedules a pass, `start` runs the loop."""

    def __init__(
        self,
        api: Api,
        owner: Owner,
        lease: LeaseHolder,
        *,
        node: str,
        namespace: str,
        lb_class: str | None,
        lease_duration: float,
        pod: Mapping[str, Any] | None = None,
    ) -> None:
        self.membership = Membership(lease_duration)
        self.services: Mirror[ServiceIPs] = Mirror(parse_service_ips)
        self.slices: Mirror[EndpointSlice] = Mirror(parse_slice)
        self._api = api
        self._owner = owner
        self._lease = lease
        self._node = node
        self._namespace = namespace
        self._lb_class = lb_class
        self._pod = pod
        self._views: Views | None = None
        self._wake = asyncio.Event()
        self._current: frozenset[Announcement] = frozenset()
        self._winners: dict[IPAddress, str | None] = {}
        self._created: dict[ServiceKey, Existing] = {}  # made, not yet seen in the index
        self._peers_listed = False
        self.synced = False

    def attach(self, views: Views) -> None:
        """Take kopf's indexes (from the first handler call)."""
        if self._views is None:
            self._views = views
        self._wake.set()

    def touch(self) -> None:
        """Elect again soon."""
        self._wake.set()

    def peer_seen(self, node: str, lease: LeaseState | None, seen: float) -> None:
        """A speaker Lease as `speaker.membership.lease_watch` saw it at monotonic time `seen`."""
        self.membership.observe(node, lease, seen)
        self._wake.set()

    def peers_listed(self) -> None:
        """Every peer's Lease is known: elections may start (before, all peers looked dead)."""
        self._peers_listed = True
        self._wake.set()

    def start(self) -> list[asyncio.Task[None]]:
        """Start the loop and the Lease keeper; the caller cancels them to stop."""
        return [
            asyncio.create_task(self._work(), name="speaker"),
            asyncio.create_task(self._keep_alive(), name="lease"),
        ]

    async def withdraw_all(self) -> None:
        """Stop answering for everything (on shutdown, after the Lease is released)."""
        self._owner.set_owned({})
        self._apply_metrics(self._current, frozenset())
        self._current = frozenset()

    # ------------------------------------------------------------------ loops

    async def _keep_alive(self) -> None:
        while True:
            await self._lease.acquire()
            self.touch()
            try:
                await self._lease.keep()
            except LeaseLost as lost:
                logger.warning("%s: announcing nothing until it is renewed", lost)
                self.touch()

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wait(loop)
            if self._views is None or not self._peers_listed:
                continue
            try:
                await self._pass(loop.time())
            except ApiError as error:
                logger.warning("status or event write failed (%s); retrying", error)
                await asyncio.sleep(1)
                self.touch()

    async def _wait(self, loop: asyncio.AbstractEventLoop) -> None:
        expires = self.membership.expires(loop.time(), datetime.now(UTC))
        timeout = None if expires is None else max(0.0, expires - loop.time()) + 0.001
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that lands
        # with the wake-up (touch() runs several times a second), and SIGTERM would then hang.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        self._wake.clear()

    # ------------------------------------------------------------------ one pass

    async def _pass(self, now: float) -> None:
        snapshot = self._snapshot(now)
        planned = plan(snapshot)
        holds = self._lease.holds_lease
        mine = announcements_for(self._node, snapshot, planned) if holds else frozenset()
        changes = diff(self._current, mine)
        self._owner.set_owned({a.ip: a.interfaces for a in mine})  # the takeover burst leaves now
        self._observe_failovers(changes.gained, snapshot.live, now)
        self._apply_metrics(self._current, mine)
        for a in changes.gained:
            logger.info("announcing %s for %s", a.ip, ", ".join(sorted(map(str, a.services))))
        for a in changes.lost:
            logger.info("no longer announcing %s", a.ip)
        gained = _services(mine) - _services(self._current)
        self._current = mine
        self._winners = {d.ip: d.winner for d in planned.decisions}
        self.synced = True
        await self._post_assigned(gained)
        await self._post_missing_interfaces(changes.gained)
        await self._sync_statuses(mine)

    def _snapshot(self, now: float) -> Snapshot:
        views = self._views
        assert views is not None  # noqa: S101 - _work checks first
        live = set(self.membership.live(now, datetime.now(UTC)))
        live.discard(self._node)
        if self._lease.holds_lease:
            live.add(self._node)
        pools = parse_pools(_values(views.pools))
        return Snapshot(
            services=tuple(self.services.values()),
            pools=pools.pools,
            advertisements=tuple(_advertisements(_values(views.ads))),
            nodes={n.name: n for n in _values(views.nodes)},
            endpoints=collect_endpoints(self.slices.values()),
            live=frozenset(live),
            lb_class=self._lb_class,
        )

    def _observe_failovers(
        self, gained: Iterable[Announcement], live: frozenset[str], now: float
    ) -> None:
        for announcement in gained:
            before = self._winners.get(announcement.ip)
            if before and before != self._node and before not in live:
                died = self.membership.died_at(before)
                if died is not None:
                    metrics.FAILOVER.observe(max(0.0, now - died))
                    logger.info("took %s over from %s", announcement.ip, before)

    def _apply_metrics(self, old: frozenset[Announcement], new: frozenset[Announcement]) -> None:
        before = {(str(s), str(a.ip)) for a in old for s in a.services}
        after = {(str(s), str(a.ip)) for a in new for s in a.services}
        for service, ip in before - after:
            metrics.withdraw(service, self._node, ip)
        for service, ip in after - before:
            metrics.announce(service, self._node, ip)

    async def _post_assigned(self, services: Iterable[ServiceKey]) -> None:
        message = f'announcing from node "{self._node}" with protocol "layer2"'
        for key in sorted(services):
            await self._event(key, Severity.NORMAL, "nodeAssigned", message)

    async def _post_missing_interfaces(self, gained: Iterable[Announcement]) -> None:
        """Warn when an advertisement names interfaces this node does not have (compat §4.11)."""
        local = self._owner.selection.local_names
        for a in sorted(gained, key=lambda a: str(a.ip)):
            if a.interfaces is None or a.interfaces & local:
                continue
            message = (
                f'the interfaces specified by LB IP "{a.ip}" doesn\'t exist in assigned node'
                f' "{self._node}" with protocol "layer2"'
            )
            logger.warning("%s (wanted %s)", message, ", ".join(sorted(a.interfaces)))
            for key in sorted(a.services):
                await self._event(key, Severity.WARNING, "announceFailed", message)

    async def _event(self, key: ServiceKey, severity: Severity, reason: str, message: str) -> None:
        involved = {"apiVersion": "v1", "metadata": {"name": key.name, "namespace": key.namespace}}
        body = event_body(
            involved,
            kind="Service",
            severity=severity,
            reason=reason,
            message=message,
            component=COMPONENT,
            instance=self._node,
            now=datetime.now(UTC),
        )
        await self._api.create_event(key.namespace, body)

    async def _sync_statuses(self, mine: frozenset[Announcement]) -> None:
        views = self._views
        assert views is not None  # noqa: S101 - only called from _pass
        announced: dict[ServiceKey, frozenset[str] | None] = {}
        for a in mine:
            for service in a.services:
                announced[service] = a.interfaces
        existing = {e.name: e for e in _values(views.l2s) if isinstance(e, Existing)}
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


def _values(index: Index) -> list[Any]:
    return [value for store in list(index.values()) for value in store]


def _advertisements(objs: Iterable[Mapping[str, Any]]) -> Iterable[L2Advertisement]:
    for obj in objs:
        try:
            yield parse_l2_advertisement(obj)
        except SpecError as error:
            logger.warning("ignoring: %s", error)


def _services(announcements: Iterable[Announcement]) -> set[ServiceKey]:
    return {s for a in announcements for s in a.services}
