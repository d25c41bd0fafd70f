"""The reconcile loop: every Service decision goes through one task, in order, like MetalLB's mutex.

Shell: read (the Service mirror; kopf's indexes for pools and namespaces) → parse and decide
(`reconcile.converge`, pure) → act (quarantine conflicted addresses in their pool, write the
Service status, post Events, update pool status and metrics). Decisions are serial; writes run a
few at a time and are retried with backoff until they land, so a failed write never loses an
allocation. On start, Services that show addresses are converged first, so none of them loses
its address to a pending Service (compat §3.7); those showing a quarantined address come last
among them, so the address they move to is one nobody shows.
"""

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from controller import metrics
from controller.allocator import Allocator
from controller.conflicts import PoolQuarantines, QuarantineRequest, read_quarantines
from controller.quarantine import PoolWriter
from controller.reconcile import Notice, Plan, converge, forget, needs_write, observe
from controller.writes import (
    event_body,
    plan_notices_changed,
    pool_status,
    quarantine_notice,
    quarantine_write,
    status_patch,
)
from k8s.api import Api, ApiError
from k8s.mirror import Mirror
from metalpool import names
from metalpool.errors import SpecError
from metalpool.events import Severity
from metalpool.pools import PoolSet, parse_pools
from metalpool.services import ServiceKey

logger = logging.getLogger(__name__)

Index = Mapping[Any, Iterable[Any]]  # a kopf index: key → store of values
WRITERS = 16  # status writes in flight at once
RETRY_FIRST, RETRY_MAX = 0.2, 10.0  # seconds of backoff for a failed write
YIELD_EVERY = 100  # reconciles between yields to the loop in a long pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Views:
    """kopf's indexes of the small kinds, complete before any handler runs."""

    pools: Index
    namespaces: Index


class Reconciler:
    """Decides and writes; `touch`/`touch_config` schedule work, `start` does it."""

    def __init__(
        self,
        api: Api,
        pools: PoolWriter,
        *,
        namespace: str,
        lb_class: str | None,
        identity: str,
    ) -> None:
        self.allocator = Allocator()
        self.services: Mirror[Mapping[str, Any]] = Mirror(lambda obj: obj)
        self.synced = False
        self._api = api
        self._pools = pools
        self._namespace = namespace
        self._lb_class = lb_class
        self._identity = identity
        self._views: Views | None = None
        self._due: dict[ServiceKey, float] = {}
        self._failures: dict[ServiceKey, int] = {}
        self._notices: dict[ServiceKey, tuple[Notice, ...]] = {}
        self._complaints: dict[ServiceKey, str] = {}
        self._pending: set[ServiceKey] = set()
        self._writing: set[ServiceKey] = set()
        self._again: set[ServiceKey] = set()  # touched while their write was in flight
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers = asyncio.Semaphore(WRITERS)
        self._wake = asyncio.Event()
        self._attached = asyncio.Event()  # kopf's indexes are complete: decisions may start
        self._config_dirty = True
        self._pool_set = PoolSet()
        self._config: tuple[object, ...] | None = None
        self._pool_problems: set[str] = set()
        self._events: asyncio.Queue[tuple[Mapping[str, Any], Notice, str]] = asyncio.Queue()

    # ------------------------------------------------------------------ scheduling

    def attach(self, views: Views) -> None:
        """Take kopf's indexes (from the first handler call) and start working."""
        if self._views is None:
            self._views = views
            self._attached.set()

    def service_event(self, kind: str | None, body: Mapping[str, Any]) -> None:
        """A Service changed (or is gone): mirror it and reconcile it soon."""
        namespace, name = self.services.event(kind, body)
        self.touch(ServiceKey(namespace, name))

    def touch(self, key: ServiceKey) -> None:
        """Reconcile `key` soon."""
        self._due[key] = 0.0
        self._wake.set()

    def touch_config(self) -> None:
        """Pools or namespace labels changed: reload them, then reconcile every Service."""
        self._config_dirty = True
        self._wake.set()

    # ------------------------------------------------------------------ the loop

    def start(self) -> list[asyncio.Task[None]]:
        """Start the reconcile loop and the Event poster; the caller cancels them to stop."""
        return [
            asyncio.create_task(self._work(), name="reconciler"),
            asyncio.create_task(self._post_events(), name="events"),
        ]

    async def _work(self) -> None:
        await self._attached.wait()  # Service events may come first: they only mark work due
        self._reload_config()
        for count, key in enumerate(self._startup_order()):
            await self._reconcile(key)
            await _yield_now_and_then(count)
        self.synced = True
        logger.info("initial pass done: %d Services seen", len(self.services))
        await self._flush_pools()
        while True:
            await self._wait_for_work()
            if self._config_dirty:
                self._reload_config()
            loop_time = asyncio.get_running_loop().time()
            due = sorted(k for k, at in self._due.items() if at <= loop_time)
            for count, key in enumerate(due):
                await self._reconcile(key)
                await _yield_now_and_then(count)
            await self._flush_pools()

    async def _wait_for_work(self) -> None:
        self._wake.clear()
        loop_time = asyncio.get_running_loop().time()
        if any(due <= loop_time for due in self._due.values()) or self._config_dirty:
            return
        timeout = min(self._due.values(), default=loop_time + 3600) - loop_time
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that lands
        # with the wake-up, and a stop would then never end this loop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(timeout, 0.0)):
                await self._wake.wait()

    def _startup_order(self) -> list[ServiceKey]:
        """Services holding addresses first, most first; then by key (compat §3.7).

        Among those, the ones showing a quarantined address come last: they are moved, and the
        address they move to must not be one a Service not yet seen shows.
        """
        order = {}
        for key in self.services:
            obj = self.services.get(key)
            if obj is not None:
                shown = observe(obj).ingress
                moving = any(self.allocator.quarantined(ip) is not None for ip in shown)
                order[ServiceKey(*key)] = (not shown, moving, -len(shown))
        return sorted(order, key=lambda k: (order[k], k))

    # ------------------------------------------------------------------ one Service

    async def _reconcile(self, key: ServiceKey) -> None:
        self._due.pop(key, None)
        if key in self._writing:
            self._again.add(key)  # reconciled again once the write in flight settles
            return
        metrics.UPDATES.inc()
        obj = self.services.get((key.namespace, key.name))
        if obj is None:
            self._notices.pop(key, None)
            self._complaints.pop(key, None)
            self._pending.discard(key)
            if forget(self.allocator, key):
                self._wake_pending()
            return
        plan = converge(self.allocator, obj, self._lb_class)
        if plan.complaint and self._complaints.get(key) != plan.complaint:
            logger.warning("%s: %s", key, plan.complaint)  # said once, not on every reconcile
            self._complaints[key] = plan.complaint
        elif not plan.complaint:
            self._complaints.pop(key, None)
        self._note_pending(plan)
        for notice in plan_notices_changed(self._notices.get(key), plan):
            self._events.put_nowait((obj, notice, "Service"))
        self._notices[key] = plan.notices
        if plan.freed:
            self._wake_pending()
        status = needs_write(plan, observe(obj))
        if status or plan.quarantine:
            self._writing.add(key)
            await self._writers.acquire()
            task = asyncio.create_task(self._write(key, plan, obj, status), name=f"write {key}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _write(
        self, key: ServiceKey, plan: Plan, obj: Mapping[str, Any], status: bool
    ) -> None:
        try:
            # The pool's quarantine first: it is what makes the move survive a restart.
            if plan.quarantine:
                await self._quarantine(key, plan.quarantine)
            if status:
                await self._api.patch_service_status(
                    key.namespace, key.name, status_patch(plan, obj, datetime.now(UTC))
                )
            self._failures.pop(key, None)
            if status and plan.ingress:
                logger.info(
                    "%s: %s from pool %s", key, ", ".join(map(str, plan.ingress)), plan.pool
                )
        except ApiError as error:
            metrics.UPDATE_ERRORS.inc()
            failures = self._failures[key] = self._failures.get(key, 0) + 1
            delay = min(RETRY_FIRST * 2 ** (failures - 1), RETRY_MAX)
            logger.warning("%s: write failed (%s); retrying in %.1fs", key, error, delay)
            self._due[key] = asyncio.get_running_loop().time() + delay
            self._wake.set()
        finally:
            self._writing.discard(key)
            self._writers.release()
            if key in self._again:
                self._again.discard(key)
                self.touch(key)

    async def _quarantine(self, key: ServiceKey, requests: tuple[QuarantineRequest, ...]) -> None:
        """Add conflicted addresses to their pools' quarantine annotation.

        The pool's watch event then reloads the configuration, and the Service is moved by its
        next reconcile. An annotation that cannot be read is never replaced: the Service keeps
        its address (and its conflict annotation) until the user fixes or removes it.
        """
        views = self._require_views()
        for name in sorted({r.pool for r in requests}):
            obj = _first(views.pools.get((self._namespace, name), ()))
            if obj is None:
                continue
            try:
                write = quarantine_write(obj, [r for r in requests if r.pool == name], _now())
            except SpecError as error:
                logger.error(  # noqa: TRY400 - the user's annotation, not our bug: no traceback
                    "%s: cannot quarantine in pool %s: %s", key, name, error
                )
                continue
            if write is None:
                continue
            await self._pools.patch_pool(self._namespace, name, write.patch)
            for entry in write.added:
                logger.warning(
                    "pool %s: %s quarantined for %s: held by %s", name, entry.ip, key,
                    entry.describe(),
                )  # fmt: skip
                self._events.put_nowait((obj, quarantine_notice(entry), names.POOL_KIND))

    def _note_pending(self, plan: Plan) -> None:
        if plan.ingress == () and plan.condition is not None and not plan.condition.allocated:
            self._pending.add(plan.key)
        else:
            self._pending.discard(plan.key)

    def _wake_pending(self) -> None:
        """An address was freed: every pending Service gets another chance now."""
        for key in self._pending:
            self.touch(key)

    # ------------------------------------------------------------------ pools

    def _reload_config(self) -> None:
        self._config_dirty = False
        views = self._require_views()
        objs = [_first(store) for store in views.pools.values()]
        ours = [o for o in objs if o is not None and _ns(o) == self._namespace]
        pools = parse_pools(ours)
        quarantines = read_quarantines(pools.pools, {_name(o): o for o in ours})
        labels = {name: _first(store) or {} for name, store in views.namespaces.items()}
        metrics.CONFIG_LOADED.set(1)
        metrics.CONFIG_STALE.set(1 if pools.problems else 0)
        self._report_pool_problems(pools, quarantines, objs)
        config = (pools.pools, labels, quarantines.entries)
        if config == self._config:
            return  # a namespace event that changed no labels, a pool status write, ...
        self._config = config
        self.allocator.set_pools(pools.pools, labels, quarantines.entries)
        self._pool_set = pools
        for namespace, name in self.services:
            self.touch(ServiceKey(namespace, name))

    def _report_pool_problems(
        self, pools: PoolSet, quarantines: PoolQuarantines, objs: list[Any]
    ) -> None:
        """Say once (log, and a Warning Event on the pool) what in the pools cannot be used."""
        by_name = {(_ns(o), _name(o)): o for o in objs if o}
        reports = [(p, str(p), "pool ignored: %s") for p in pools.problems]
        reports += [
            (p, f"{p}; nothing in this pool is quarantined until it is fixed or removed", "%s")
            for p in quarantines.problems
        ]
        for ignored in quarantines.ignored:
            if ignored not in self._pool_problems:
                logger.warning("%s", ignored)
        for problem, message, log in reports:
            if message in self._pool_problems:
                continue
            logger.error(log, message)
            obj = by_name.get((self._namespace, problem.obj.split("/")[-1]))
            if obj is not None:
                notice = Notice(
                    severity=Severity.WARNING,
                    reason=names.EVENT_INVALID_CONFIGURATION,
                    message=message,
                )
                self._events.put_nowait((obj, notice, names.POOL_KIND))
        self._pool_problems = {m for _, m, _ in reports} | set(quarantines.ignored)

    async def _flush_pools(self) -> None:
        usages = self.allocator.usage()
        metrics.export_usage(usages)
        views = self._require_views()
        for usage in usages:
            obj = _first(views.pools.get((self._namespace, usage.pool), ()))
            wanted = pool_status(usage)
            if obj is None or (obj.get("status") or {}) == wanted:
                continue
            try:
                await self._api.patch_pool_status(self._namespace, usage.pool, wanted)
            except ApiError as error:
                logger.warning("pool %s: status write failed: %s", usage.pool, error)

    # ------------------------------------------------------------------ events

    async def _post_events(self) -> None:
        while True:
            obj, notice, kind = await self._events.get()
            meta = obj.get("metadata") or {}
            body = event_body(obj, notice, datetime.now(UTC), kind=kind, instance=self._identity)
            try:
                await self._api.create_event(str(meta.get("namespace")), body)
            except ApiError as error:
                logger.warning("event %s on %s lost: %s", notice.reason, meta.get("name"), error)

    # ------------------------------------------------------------------ views

    def _require_views(self) -> Views:
        if self._views is None:
            raise RuntimeError("the reconciler runs only after kopf's indexes are attached")
        return self._views


async def _yield_now_and_then(count: int) -> None:
    """Let signals, Lease renewals and watch events in every so often during long passes."""
    if count % YIELD_EVERY == YIELD_EVERY - 1:
        await asyncio.sleep(0)


def _first(store: Iterable[Any]) -> Any:
    return next(iter(store), None)


def _ns(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _now() -> datetime:
    return datetime.now(UTC)
