"""The speaker's loop: whenever anything changes, elect again and move IPs without overlap.

Shell: read (the mirrors and kopf's indexes for configuration, the membership's `View` for
liveness) → decide (`announcements.plan`, the same on every speaker; then
`membership.handoffs.decide`, which says when this node may start or must stop answering) →
act (the responder's owned table — the takeover burst leaves at once, hand-offs leave once we
have stopped answering — then metrics, logs and, in the background, Events and statuses).

Liveness comes from the LAN, never from the API server: a speaker that cannot reach the API
keeps its last configuration and keeps answering. Its own Lease is renewed for the peers that
cannot hear it on the LAN (the fallback); failing to renew it changes nothing here.
"""

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from k8s.api import Api, ApiError
from k8s.leases import LeaseHolder, LeaseLost
from k8s.mirror import Mirror
from metalpool.addresses import IPAddress
from metalpool.advertisements import L2Advertisement, parse_l2_advertisement
from metalpool.errors import SpecError
from metalpool.events import Severity
from metalpool.leases import LeaseState
from metalpool.pools import parse_pools
from metalpool.quarantine import Conflict
from metalpool.services import ServiceKey
from speaker import metrics
from speaker.cluster.announcements import (
    Announcement,
    Plan,
    ServiceIPs,
    Snapshot,
    announcements_for,
    plan,
)
from speaker.cluster.inputs import parse_service_ips, parse_slice
from speaker.cluster.l2status import Existing
from speaker.cluster.nodes import EndpointSlice, collect_endpoints
from speaker.cluster.pacing import Pacing
from speaker.conditions import Witness, desired
from speaker.lan.guard import Actions, Guard, Timing
from speaker.membership.handoffs import TAKEOVER_TIMEOUT, Cause, Situation, Step, decide
from speaker.membership.heartbeats import Heartbeats, View
from speaker.membership.table import Mode, State
from speaker.narrator import Narrator
from speaker.reports import Reports
from speaker.wire.claims import Heard
from speaker.wire.interfaces import Selection
from speaker.wire.replies import format_mac
from speaker.writes import Shown, parse_shown

logger = logging.getLogger(__name__)
Index = Mapping[Any, Any]
LEASE_RETRY = 5.0  # seconds between attempts to take our own Lease while the API is away
CUT_OFF_POLL = 0.5  # seconds between checks whether a node cut off from every link is back
# Takeovers probed first (docs/lan.md): nobody MetalPool answered the IP before. A move
# (crash, hand-off, ...) is not: its owner defended the IP until then, and a probe would add
# its window to every failover; the new owner probes it at once instead (`Guard.tick`).
PROBED = frozenset({Cause.START, Cause.TIMEOUT})
# Seconds the live set must stay the same before conditions are written: while a speaker joins
# or leaves, each one's view of who is live differs for a moment, and two of them would each
# think it speaks for a Service and write different reasons (with an Event each).
CONDITIONS_SETTLE = 1.0


class Owner(Protocol):
    """The responder, as the worker drives it."""

    def set_owned(
        self,
        ips: Mapping[IPAddress, frozenset[str] | None],
        *,
        epoch: int | None = None,
        after: Iterable[Callable[[], Iterable[bytes]]] = (),
        standby: Mapping[IPAddress, frozenset[str] | None] | None = None,
        watch: Iterable[IPAddress] = (),
    ) -> None:
        """Replace the owned table (gained IPs are announced at once; `after` sent once applied)."""

    def probe(self, ips: Mapping[IPAddress, frozenset[str] | None]) -> None:
        """Send one probe for each IP on its interfaces."""

    def defend(self, ips: Iterable[IPAddress]) -> None:
        """Send one announcement round for each owned IP."""

    def announce(self, ips: Iterable[IPAddress]) -> None:
        """Send the gratuitous burst of owned `ips` again."""

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
        membership: Heartbeats,
        *,
        node: str,
        namespace: str,
        lb_class: str | None,
        ignore_exclude_lb: bool = False,
        pod: Mapping[str, Any] | None = None,
        timing: Timing | None = None,
    ) -> None:
        self.membership = membership
        self.guard = Guard(timing or Timing())
        self.shown: Mirror[Shown] = Mirror(parse_shown)  # what Services show of our writes
        self.services: Mirror[ServiceIPs] = Mirror(parse_service_ips, also=self.shown)
        self.slices: Mirror[EndpointSlice] = Mirror(parse_slice)
        self.reports = Reports(
            api,
            node=node,
            namespace=namespace,
            existing=self._existing_statuses,
            pod=pod,
            shown=lambda key: self.shown.get((key.namespace, key.name)),
        )
        self.narrator = Narrator(node, self.reports)
        self._owner = owner
        self._lease = lease
        self._node = node
        self._lb_class = lb_class
        self._ignore_exclude_lb = ignore_exclude_lb
        self._views: Views | None = None
        self._wake = asyncio.Event()
        self._woken = asyncio.Event()  # any wake-up, for the Lease keeper (isolation)
        self._current: frozenset[Announcement] = frozenset()
        self._waiting: dict[IPAddress, float] = {}
        self._previous: dict[IPAddress, str | None] = {}
        self._candidates: frozenset[str] = frozenset()
        self._epoch = 0
        self._last_view: View | None = None  # the membership at the last pass
        self._changed = False  # an input besides the membership changed since the last wait
        self._pacing = Pacing()  # other news waits for its batch (speaker.cluster.pacing)
        self._settles_at: float | None = None
        self._peers_listed = False
        self._conditions_at: float | None = None  # conditions wait until the live set settles
        self._answered: set[IPAddress] = set()  # IPs a speaker was seen answering (claims)
        self.synced = False

    def attach(self, views: Views) -> None:
        """Take kopf's indexes (from the first handler call)."""
        if self._views is None:
            self._views = views
            self.membership.set_configured()
        self._poke()

    def touch(self) -> None:
        """Elect again soon."""
        self._poke()

    def _nudge(self) -> None:
        """Wake the loop without news: it passes only if the membership view changed."""
        self._wake.set()
        self._woken.set()

    def _poke(self) -> None:
        """Wake the loop for a change the membership view does not show: a pass is due."""
        self._changed = True
        self._nudge()

    def peer_seen(self, node: str, lease: LeaseState | None, seen: float) -> None:
        """A speaker Lease as `membership.lease_watch` saw it at monotonic time `seen`."""
        self.membership.observe_lease(node, lease, seen)
        if node == self._node or self._wire_peers_all_live(seen):
            # A renewal of ours, or of a peer heard on the LAN while every peer is: Leases
            # change nothing an election reads then (a pass each, every renewal period per
            # speaker, before); the loop still compares the view. Otherwise (a peer judged by
            # its Lease, or gone) every Lease event forces a pass, as it always did.
            self._nudge()
        else:
            self._poke()

    def _wire_peers_all_live(self, now: float) -> bool:
        view = self.membership.view(now)
        return all(mode is Mode.WIRE for mode in view.modes.values()) and all(
            state is State.READY for state in view.states.values()
        )

    def peers_listed(self) -> None:
        """Every peer's Lease is known: elections may start (the fallback needs them)."""
        self._peers_listed = True
        self._poke()

    def heard(self, heard: Iterable[Heard]) -> None:
        """Claims the responder's sentry heard (call in the loop's thread)."""
        owned = frozenset(a.ip for a in self._current)
        ours = self._owner.selection.macs
        peers = self.membership.speaker_macs()
        before = (self.guard.watched, self.guard.conflicts)
        for one in heard:
            self._act(self.guard.heard(one, ours=ours, peers=peers, owned=owned))
        # Defences and reports are sent above; a pass is needed only when what is held back
        # changed (a conflict found), so a host flooding claims cannot drive the election loop.
        if (self.guard.watched, self.guard.conflicts) != before:
            self._poke()

    def start(self) -> list[asyncio.Task[None]]:
        """Start the loop, the Lease keeper and the writer; the caller cancels them to stop."""
        keep_collections_short()
        return [
            asyncio.create_task(self._work(), name="speaker"),
            asyncio.create_task(self._keep_alive(), name="lease"),
            asyncio.create_task(self.reports.run(), name="reports"),
        ]

    async def withdraw_all(self) -> None:
        """Stop answering for everything, then say goodbye on the LAN (graceful stop)."""
        goodbye = self.membership.goodbye()
        self._owner.set_owned({}, after=[goodbye])
        self._apply_metrics(self._current, frozenset())
        self._current = frozenset()

    # ------------------------------------------------------------------ loops

    async def _keep_alive(self) -> None:
        """Hold our Lease, except while cut off from every link (we could not answer anyway).

        Peers that heard us on the LAN read a renewal after our silence as "running, just
        not heard here" (membership.table): a node without links must not look like that.
        An isolation wakes the loop (the membership tells it); only while cut off is the end of
        it polled for.
        """
        while True:
            if self.membership.is_cut_off(time.monotonic()):
                await asyncio.sleep(CUT_OFF_POLL)
                continue
            keeper = asyncio.create_task(self._hold_lease(), name="lease-holder")
            try:
                while not keeper.done() and not self.membership.is_cut_off(time.monotonic()):
                    self._woken.clear()
                    woken = asyncio.create_task(self._woken.wait())
                    try:
                        await asyncio.wait({keeper, woken}, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        woken.cancel()
            finally:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper
            if not keeper.cancelled() and keeper.exception() is None:
                continue
            logger.warning("isolated (a stall, or no carrier on any link): Lease renewals paused")

    async def _hold_lease(self) -> None:
        try:
            await self._lease.acquire()
            await self._lease.keep()
        except LeaseLost as lost:
            logger.warning("%s; peers that cannot hear us on the LAN count us dead", lost)
        except ApiError as error:
            logger.warning("cannot hold our Lease (%s); announcing goes on", error)
            await asyncio.sleep(LEASE_RETRY)

    async def _work(self) -> None:
        while True:
            if await self._wait():
                self._pacing.note()
            if self._views is None or not self._peers_listed:
                continue
            now = time.monotonic()
            if not self._pacing.due(now, urgent=self._is_urgent(now)):
                # The membership reads as at the last pass and no timer ran out (a Lease
                # renewal, a notice that changed nothing here), and other news, if any, waits
                # for its batch: no pass (docs/footprint.md).
                continue
            started = time.perf_counter()
            self._pass(now)
            self._pacing.ran(time.monotonic(), time.perf_counter() - started)

    def _is_urgent(self, now: float) -> bool:
        """Whether a pass must run now: who is live changed, a peer handed us IPs, a timer ran out.

        A change in what peers claim only is batched (`Pacing`): every pass of a peer that
        moves IPs changes its claims, and a pass here for each one made two speakers settling
        1,000 Services wake each other without end. A peer that stops claiming an IP for us
        hands it over (urgent), and its standby is taken by the responder at once anyway.
        """
        if self._is_due(now) or self.membership.has_handed():
            return True
        last = self._last_view
        if last is None:
            return True
        view = self.membership.view(now)
        if not view.same_members(last):
            return True
        if not view.same_election(last):
            self._pacing.note()
        return False

    def _next_due(self, now: float) -> float | None:
        """When a pass is next needed without a wake-up: a settle, probe, batch or wait ends."""
        # No timer for the peers' holds: the responder tells us when one runs out (heartbeats).
        times = [self._settles_at, self._conditions_at]
        times.append(self.guard.next_due())
        times += [since + TAKEOVER_TIMEOUT for since in self._waiting.values()]
        times.append(self._pacing.next_due())
        return min((t for t in times if t is not None), default=None)

    def _is_due(self, now: float) -> bool:
        """Whether a timer other than the membership's own has run out."""
        times = [self._settles_at, self._conditions_at, self.guard.next_due()]
        times += [since + TAKEOVER_TIMEOUT for since in self._waiting.values()]
        return any(t is not None and t <= now for t in times)

    async def _wait(self) -> bool:
        """Wait for a wake-up or the next due time; True if a non-membership input changed."""
        now = time.monotonic()
        due = self._next_due(now)
        timeout = None if due is None else max(0.0, due - now) + 0.001
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that lands
        # with the wake-up, and SIGTERM would then hang.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        changed, self._changed = self._changed, False
        self._wake.clear()
        return changed

    # ------------------------------------------------------------------ one pass

    def _pass(self, now: float) -> None:
        view = self.membership.view(now)
        self._last_view = view
        if view.epoch != self._epoch:  # the responder dropped everything when isolated
            self._epoch = view.epoch
            self.narrator.isolated(view.isolation, self._current)
            self._apply_metrics(self._current, frozenset())
            self._current, self._waiting = frozenset(), {}
        self.narrator.peers(view)
        snapshot = self._snapshot(view)
        planned = plan(snapshot)
        winners = {d.ip: d.winner for d in planned.decisions}
        step = decide(
            Situation(
                me=self._node,
                winners=winners,
                owned=frozenset(a.ip for a in self._current),
                claimants=view.claimants,
                firm=self._lease_claims(view),
                handed=self.membership.take_handed(),
                waiting=self._waiting,
                previous=self._previous,
                cause_of_absence=lambda node: _absence(view, node),
                now=now,
                settled=view.settled,
            )
        )
        won = announcements_for(self._node, snapshot, planned)
        step = self._probe_first(step, won, view, now, winners=winners.keys())
        mine = frozenset(a for a in won if a.ip in step.owned)
        handoffs = self.membership.handoffs(step.released)
        self._owner.set_owned(
            {a.ip: a.interfaces for a in mine},
            epoch=view.epoch,
            after=[handoffs] if step.released else [],
            standby={a.ip: a.interfaces for a in won if a.ip in step.waiting},
            watch=self.guard.watched,
        )
        self._act(self.guard.tick({a.ip: a.interfaces for a in mine}, now))
        if step.reassert:
            self._owner.announce(step.reassert)
        self.narrator.moves(
            step,
            mine=mine,
            view=view,
            now=now,
            previous=self._previous,
            candidates=self._candidates,
        )
        gained = _services(mine) - _services(self._current)
        self._apply_metrics(self._current, mine)
        self._current = mine
        self._waiting = dict(step.waiting)
        self._previous.update(winners)
        if snapshot.live != self._candidates:
            self._conditions_at = now + CONDITIONS_SETTLE
        self._candidates = snapshot.live
        self._settles_at = None if view.settled else view.settles_at
        self.synced = True
        self._post_assigned(gained)
        self._post_missing_interfaces(a for a in mine if a.ip in step.taken)
        self.reports.announced(mine)
        if self._conditions_at is None or now >= self._conditions_at:
            self._conditions_at = None
            self._tell_conditions(snapshot, planned, mine)

    def _tell_conditions(
        self, snapshot: Snapshot, planned: Plan, mine: frozenset[Announcement]
    ) -> None:
        """Hand the writer what the Services this node speaks for should say (docs/lan.md)."""
        witness = Witness(
            node=self._node,
            answering=mine,
            interfaces=self._owner.selection.local_names,
            probing=self.guard.probing,
            conflicts={
                ip: Conflict(ip=ip, mac=format_mac(c.mac), interface=c.interface, node=self._node)
                for ip, c in self.guard.conflicts.items()
            },
        )
        wanted = desired(snapshot, planned, witness)
        self.reports.conditions(wanted)
        self.narrator.unannounced(
            {
                key: d.condition.reason.value
                for key, d in wanted.items()
                if d.condition is not None and not d.condition.announced
            }
        )

    def _probe_first(
        self,
        step: Step,
        won: Iterable[Announcement],
        view: View,
        now: float,
        *,
        winners: Collection[IPAddress],
    ) -> Step:
        """Hold back the IPs taken for the first time until a probe says nobody holds them.

        A move is probed too when no speaker was ever seen answering the IP: a winner that
        died while the IP was in conflict (or being probed) never announced it.
        """
        interfaces = {a.ip: a.interfaces for a in won}
        self.guard.keep(interfaces.keys())
        self._answered = {ip for ip in self._answered if ip in winners}
        self._answered |= {ip for ip in winners if view.claimants(ip) - {self._node}}
        self._answered |= {a.ip for a in self._current}
        fresh = {
            ip: interfaces.get(ip)
            for ip, cause in step.taken.items()
            if cause in PROBED or ip not in self._answered
        }
        held = fresh.keys() - self.guard.gate(fresh, now)
        if not held:
            return step
        taken = {ip: cause for ip, cause in step.taken.items() if ip not in held}
        return replace(step, owned=step.owned - held, taken=taken)

    def _act(self, actions: Actions) -> None:
        """Send what the guard asks for, and tell what it found."""
        if actions.probe:
            self._owner.probe(actions.probe)
        if actions.defend:
            self._owner.defend(actions.defend)
            metrics.DEFENCES.inc(len(actions.defend))
        for finding in actions.found:
            metrics.CLAIMS.labels(finding.value).inc()
        for report in actions.reports:
            self.narrator.lan(report, services=self._services_of(report.ip))
        self.narrator.conflicts(self.guard.conflicts)

    def _services_of(self, ip: IPAddress) -> frozenset[ServiceKey]:
        """The Services holding `ip`: from what we announce, else from every Service's status."""
        held = next((a.services for a in self._current if a.ip == ip), None)
        if held is not None:
            return held
        return frozenset(s.service.key for s in self.services.values() if ip in s.ingress)

    def _snapshot(self, view: View) -> Snapshot:
        views = self._views
        assert views is not None  # noqa: S101 - _work checks first
        live = set(view.candidates)
        live.discard(self._node)
        if view.ready:
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
            ignore_exclude_lb=self._ignore_exclude_lb,
        )

    # ------------------------------------------------------------------ telling

    def _apply_metrics(self, old: frozenset[Announcement], new: frozenset[Announcement]) -> None:
        before = {(str(s), str(a.ip)) for a in old for s in a.services}
        after = {(str(s), str(a.ip)) for a in new for s in a.services}
        for service, ip in before - after:
            metrics.withdraw(service, self._node, ip)
        for service, ip in after - before:
            metrics.announce(service, self._node, ip)

    def _post_assigned(self, services: Iterable[ServiceKey]) -> None:
        message = f'announcing from node "{self._node}" with protocol "layer2"'
        for key in sorted(services):
            self.reports.about_service(key, Severity.NORMAL, "nodeAssigned", message)

    def _post_missing_interfaces(self, gained: Iterable[Announcement]) -> None:
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
                self.reports.about_service(key, Severity.WARNING, "announceFailed", message)

    def _lease_claims(self, view: View) -> Callable[[IPAddress], frozenset[str]]:
        """What live peers judged by their Leases announce, by their ServiceL2Statuses."""
        peers = {
            node
            for node, mode in view.modes.items()
            if mode is Mode.LEASE and view.states.get(node) is State.READY
        }
        claims: dict[IPAddress, set[str]] = {}
        if peers:
            ips = {held.service.key: held.ingress for held in self.services.values()}
            for status in self._existing_statuses():
                if isinstance(status, Existing) and status.node in peers:
                    for ip in ips.get(status.service, ()):
                        claims.setdefault(ip, set()).add(status.node)
        return lambda ip: frozenset(claims.get(ip, ()))

    def _existing_statuses(self) -> list[Any]:
        return [] if self._views is None else _values(self._views.l2s)


def keep_collections_short() -> None:
    """Keep the garbage collector's full passes short: they hold the GIL, so the responder too.

    A full collection walks every object the collector tracks: with 1,000 Services (~230,000
    objects, most of them kopf's per-object memories) each took 0.15-0.6 s, more than a
    heartbeat hold (0.35 s), so the responder stalled, withdrew everything and its peers
    declared it dead, and the moves that followed made more garbage and more full collections
    (docs/footprint.md). What is alive now (imports, the first lists) is frozen: never walked
    again. So is what survives each full collection afterwards, the moment the collector has
    just removed every cycle that was garbage: the next one walks only what is newer. Objects
    frozen so are still freed when their last reference goes; a cycle among them that dies
    later is not reclaimed, the price of short pauses (it is small: kopf and the speaker keep
    their long-lived state in acyclic structures). Idempotent.
    """
    gc.freeze()
    if _freeze_survivors not in gc.callbacks:
        gc.callbacks.append(_freeze_survivors)


def _freeze_survivors(phase: str, info: Mapping[str, int]) -> None:
    if phase == "stop" and info["generation"] == 2:  # noqa: PLR2004 - the oldest generation
        gc.freeze()


def _absence(view: View, node: str) -> Cause:
    """Why a former winner no longer answers: it left, fell silent, or handed the IP over."""
    state = view.states.get(node, State.DEAD)
    if state is State.LEFT:
        return Cause.LEAVE
    if state is State.DEAD:
        return Cause.CRASH
    return Cause.HANDOFF


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
