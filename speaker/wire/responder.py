"""Shell. The ARP/NDP responder: design (c) of arp-responder.md, in one thread.

One thread polls every interface's packet sockets plus a wakeup eventfd. Per frame: recv_into →
`speaker.wire.answers.answer` (parse → decide, pure) → send on the socket it came in on. One thread
rather than one per interface: the GIL serialises Python work anyway, one owner means the owned
table, filters, groups and bursts need no locks, and stop() is one eventfd write. A busy interface
cannot starve the others: each gets at most `DRAIN_LIMIT` frames per turn.
Other threads only call `set_owned`/`announce`/`stop`, which swap state under a lock and wake the
loop, so the first announcement leaves within about a millisecond of `set_owned`.
Rules: no IP is ever added to an interface; nothing escapes the loop (a frame cannot raise, a
socket error closes that interface's port and a rescan reopens it); logs are throttled.
"""

import contextlib
import errno
import logging
import os
import re
import select
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from ipaddress import IPv6Address

from speaker.wire.answers import Counters, Family, answer
from speaker.wire.chatter import Chatter, ChatterLinks, Payloads
from speaker.wire.claims import Heard
from speaker.wire.gratuitous import BurstSchedule, build_announcements
from speaker.wire.interfaces import (
    DEFAULT_EXCLUDES,
    Interface,
    Selection,
    choose_interfaces,
    compile_excludes,
)
from speaker.wire.links import read_interfaces
from speaker.wire.ownership import Interfaces, OwnedTable
from speaker.wire.ports import Port
from speaker.wire.replies import IPAddress
from speaker.wire.sentry import Sentry
from speaker.wire.throttling import LogThrottle

logger = logging.getLogger(__name__)

RESCAN_INTERVAL = 10.0  # metallb-compat.md §4.5: MetalLB rescans interfaces every 10 s
RECEIVE_BUFFER = 2 << 20  # 2 MiB asked, 4 MiB granted (Linux doubles): zero loss at 20k/s (§2.3)
DRAIN_LIMIT = 64  # frames per socket per turn, so that one flooded interface cannot starve others
SILENCE_MARGIN = 0.9  # isolate once our last heartbeat is 90 % of a hold old (receipt is later)
RETRY_DELAY = 1.0  # first reopen attempt after a socket failure; doubles up to RESCAN_INTERVAL
# Seconds another thread may hold the GIL while this one waits for it (CPython's default is
# 5 ms). Each system call of a turn gives the GIL up and waits for it again: with the event loop
# busy (a pass over 1,000 Services, a flood of watch events), a turn of a few dozen calls took
# long enough to miss heartbeats (docs/footprint.md). Costs nothing while the loop is idle.
SWITCH_INTERVAL = 0.001
_FRAME_BUFFER = 2048  # an ARP request is 42-60 bytes and an NS ~86: longer frames are truncated
_GONE = frozenset({errno.ENETDOWN, errno.ENXIO, errno.ENODEV})  # the interface went away


class Responder:
    """Answers ARP and NDP for the owned IPs on the chosen interfaces, from its own thread."""

    def __init__(
        self,
        counters: Counters,
        *,
        allowed_names: frozenset[str] | None = None,
        excludes: Iterable[str] = DEFAULT_EXCLUDES,
        rescan_interval: float = RESCAN_INTERVAL,
        receive_buffer: int = RECEIVE_BUFFER,
        read_links: Callable[[], list[Interface]] = read_interfaces,
        clock: Callable[[], float] = time.monotonic,
        chatter: Chatter | None = None,
        stall_limit: float | None = None,
        on_heard: Callable[[list[Heard]], None] | None = None,
    ) -> None:
        self._counters = counters
        self._allowed = allowed_names
        self._excludes = compile_excludes(tuple(excludes))
        self._new_excludes: tuple[re.Pattern[str] | None] | None = None  # under the lock
        self._rescan_interval = rescan_interval
        self._receive_buffer = receive_buffer
        self._read_links = read_links
        self._clock = clock
        self._lock = threading.Lock()
        self._wanted = OwnedTable()  # written by callers under the lock
        self._triggers: list[IPAddress] = []  # likewise
        self._wanted_epoch: int | None = None  # likewise: the isolation the caller had seen
        self._after: list[Payloads] = []  # likewise: chatter messages to send once applied
        self._standby: Mapping[IPAddress, Interfaces] = {}  # likewise: taken on a hand-off
        self._promoted: set[IPAddress] = set()  # likewise: taken so, not yet in a set_owned
        self._watch: frozenset[IPAddress] = frozenset()  # likewise: claims heard, not answered
        self._probes: dict[IPAddress, Interfaces] = {}  # likewise: probes to send
        self._defend: set[IPAddress] = set()  # likewise: one announcement round each
        self._epoch = 0  # isolations so far (loop stalls, carrier losses)
        self._stall_limit = stall_limit
        self._last_turn = clock()
        self._last_beat: float | None = None  # our last heartbeat: what peers judge us by
        self._isolated = False
        self._table = OwnedTable()  # what the ports apply; loop thread only
        self._ports: dict[str, Port] = {}
        self._by_fd: dict[int, tuple[Port, Family]] = {}
        self._retry: dict[str, tuple[float, float]] = {}  # name -> (not before, last delay)
        self._schedule = BurstSchedule()
        self._selection = Selection(arp=(), ndp=(), local_names=frozenset(), skipped=())
        self._next_scan = 0.0
        self._buffer = bytearray(_FRAME_BUFFER)
        self._view = memoryview(self._buffer)
        self._throttle = LogThrottle(logger, clock=clock)
        self._wakeup = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._poll = select.poll()
        self._poll.register(self._wakeup, select.POLLIN)
        self._stopping = False
        self._closed = False  # the eventfd is closed: its number may belong to someone else now
        self._links = None if chatter is None else ChatterLinks(chatter, self._poll, self._error)
        self._on_heard = on_heard
        self._sentry = None if on_heard is None else Sentry(self._poll, self._error)
        self._thread = threading.Thread(target=self._run, name="metalpool-responder", daemon=True)

    @property
    def selection(self) -> Selection:
        """The last interface scan: what is answered on, and the node's local interface names."""
        return self._selection

    def start(self) -> None:
        """Scan interfaces and open their sockets (in the caller), then start the loop thread."""
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        self._rescan(self._clock())
        self._thread.start()

    @property
    def epoch(self) -> int:
        """How many times this node has been isolated (see `set_owned`)."""
        return self._epoch

    def set_owned(
        self,
        ips: Mapping[IPAddress, Interfaces],
        *,
        epoch: int | None = None,
        after: Iterable[Payloads] = (),
        standby: Mapping[IPAddress, Interfaces] | None = None,
        watch: Iterable[IPAddress] = (),
    ) -> None:
        """Replace the owned table: IP → interface names it may be answered on (None = all).

        IPs gained (or whose interfaces changed) are announced at once and then on MetalLB's
        schedule; IPs lost are no longer answered nor announced. `after`: chatter payloads
        (hand-offs) sent once the table is applied, so a peer told to take an IP over never
        overlaps with us. With `epoch`, a table decided before the latest isolation (a stall
        the caller had not yet heard of) is applied as empty. `standby`: IPs this node won
        but waits to be handed; when a hand-off for one arrives, this thread takes it at once
        (answers, announces), a fraction of a millisecond after the old owner stopped — the
        caller's next table then includes it. `watch`: IPs not answered whose claims the
        sentry reports too (being probed, or in conflict); owned IPs are always watched.
        Thread-safe.
        """
        with self._lock:
            wanted = dict(ips)
            for ip in list(self._promoted):  # taken here since the caller decided
                if ip in wanted or standby is None or ip not in standby:
                    self._promoted.discard(ip)  # acknowledged, or no longer wanted
                else:
                    wanted[ip] = standby[ip]
            self._standby = dict(standby or {})
            table = OwnedTable.of(wanted)
            self._triggers += table.gained_since(self._wanted)
            self._wanted = table
            self._wanted_epoch = epoch
            self._after += after
            self._watch = frozenset(watch)
        self._wake()

    def set_excludes(self, patterns: Sequence[str]) -> None:
        """Replace the exclude list; interfaces are rescanned on the next turn. Thread-safe.

        Raises re.error for an invalid pattern, before anything changes.
        """
        compiled = compile_excludes(tuple(patterns))
        with self._lock:
            self._new_excludes = (compiled,)
        self._wake()

    def announce(self, ips: Iterable[IPAddress]) -> None:
        """Start (or extend) the announcement burst of owned `ips`, as MetalLB does on reconcile."""
        with self._lock:
            self._triggers += ips
        self._wake()

    def probe(self, ips: Mapping[IPAddress, Interfaces]) -> None:
        """Send one probe for each IP on its interfaces (None: all), from the loop. Thread-safe."""
        with self._lock:
            self._probes.update(ips)
        self._wake()

    def defend(self, ips: Iterable[IPAddress]) -> None:
        """Send one announcement round (no burst) for each owned IP (RFC 5227 §2.4 (b))."""
        with self._lock:
            self._defend.update(ips)
        self._wake()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the loop, close every socket and wait for the thread (well under 0.2 s)."""
        self._stopping = True
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("responder thread did not stop within %.1f s", timeout)
            return
        self._close_all()
        with self._lock:
            if not self._closed:
                self._closed = True
                os.close(self._wakeup)

    def _wake(self) -> None:
        with self._lock:
            if not self._closed:
                os.eventfd_write(self._wakeup, 1)

    def _run(self) -> None:
        self._last_turn = self._clock()
        while not self._stopping:
            try:
                self._turn()
            except Exception:  # noqa: BLE001 - the loop boundary (style.md §5.5): log, go on
                self._throttle.exception("loop", "responder loop error; continuing")
                time.sleep(0.05)
        self._close_all()

    def _turn(self) -> None:
        woken = False
        events = self._poll.poll(self._timeout_ms())
        now = self._clock()
        # Checked before a single queued request is answered: after a freeze our peers have
        # taken our IPs over, and answering now would make two answerers.
        self._stalled()
        for fd, _ in events:
            if fd == self._wakeup:
                _drain_eventfd(fd)
                woken = True
            elif fd in self._by_fd:  # else closed earlier in this turn
                self._service(*self._by_fd[fd])
            elif self._links is not None and self._links.owns(fd):
                self._take_handed(self._links.receive(fd, self._buffer, now), now)
            elif self._sentry is not None and self._sentry.owns(fd):
                self._heard(self._sentry.receive(fd, self._buffer, now))
        # The per-turn work is skipped when it has nothing to do: at 20k requests/s a turn
        # usually carries one frame, so its overhead is per-frame overhead.
        if woken:  # set_owned/announce always write the eventfd after changing the table
            self._take_excludes(now)
            self._take_changes(now)  # even when stopping: the goodbye rides on the last table
        if self._stopping:
            return
        if self._links is not None and self._links.chatter.next_due() <= now:
            self._chat(now)
        due = self._schedule.next_due()
        if due is not None and due <= now:
            self._announce_due(now)
        if now >= self._next_scan:
            self._rescan(now)

    def _timeout_ms(self) -> int:
        """Sleep until the next announcement, heartbeat or rescan; at most 1 s."""
        due = self._schedule.next_due()
        deadline = self._next_scan if due is None else min(due, self._next_scan)
        if self._links is not None:
            deadline = min(deadline, self._links.chatter.next_due())
        return max(0, min(1000, int((deadline - self._clock()) * 1000) + 1))

    def _service(self, port: Port, family: Family) -> None:
        """Answer what is queued on one socket; a pending socket error surfaces from recv."""
        sock = port.sockets[family]
        try:
            for _ in range(DRAIN_LIMIT):
                try:
                    size = sock.recv_into(self._buffer)
                except BlockingIOError:
                    break
                reply = answer(self._view[:size], family, port.owned, port.mac, self._counters)
                if reply is not None and not self._stalled():
                    port.send(family, reply.frame)
                    self._counters.response_sent(reply.ip)
        except OSError as error:
            self._failed(port, family, error)

    def _stalled(self) -> bool:
        """Whether this thread was frozen since its last look at the clock (then isolate).

        Checked before every reply, not only once per turn: a SIGSTOP can land between the
        turn's check and a queued request, and the reply would then leave seconds late, after
        a peer took the address over, and turn a client's entry back to us. Peers judge us by
        our last heartbeat, not by our last turn: once that is nearly a hold time old, they
        may have declared us dead, however recently this loop last ran.
        """
        if self._stall_limit is None:
            return False
        now = self._clock()
        silent = 0.0 if self._last_beat is None else now - self._last_beat
        gap = max(now - self._last_turn, silent / SILENCE_MARGIN)
        stalled = gap > self._stall_limit
        if stalled:
            self._isolate(f"the responder stalled for {gap:.2f} s", now)
        self._last_turn = now
        return stalled

    def _failed(self, port: Port, family: Family, error: OSError) -> None:
        """A send or receive failed: transient errors are logged, others close the port."""
        key = f"io:{port.name}:{family.name}"
        if error.errno in {errno.ENOBUFS, errno.EAGAIN}:
            self._throttle.log(logging.WARNING, key, "%s: send dropped: %s", port.name, error)
            return
        if error.errno not in _GONE:
            self._throttle.log(logging.ERROR, key, "%s/%s: %s", port.name, family.name, error)
        self._close(port.name)
        self._delay_retry(port.name, self._clock())

    def _heard(self, heard: list[Heard]) -> None:
        if heard and self._on_heard is not None:
            self._on_heard(heard)

    def _take_handed(self, handed: frozenset[IPAddress], now: float) -> None:
        """Answer at once the IPs in standby that a peer has just handed to us."""
        with self._lock:
            taking = {ip: self._standby[ip] for ip in handed if ip in self._standby}
            taking = {ip: names for ip, names in taking.items() if ip not in self._wanted.entries}
            if not taking:
                return
            self._wanted = OwnedTable.of({**self._wanted.entries, **taking})
            self._triggers += taking
            self._promoted |= taking.keys()
        self._take_changes(now)

    def _chat(self, now: float, *, force: bool = False) -> None:
        """Send the heartbeat; with no carrier on any link, this node is isolated."""
        assert self._links is not None  # noqa: S101 - only called with a chatter
        if not force and not self._links.any_carrier():
            self._isolate("no interface has a carrier", now)
        owned = frozenset(self._table.entries)
        payload = self._links.chatter.outgoing(owned, now, force=force)
        if payload is not None:
            self._links.send(payload)
            self._last_beat = now

    def _isolate(self, why: str, now: float) -> None:
        """Stop answering everything at once; the chatter decides when to come back."""
        assert self._links is not None or self._stall_limit is not None  # noqa: S101
        self._epoch += 1
        if not self._isolated or self._table.entries:
            logger.warning("%s: answering nothing until the peers are heard again", why)
        self._isolated = True
        if self._links is not None:  # first, so the heartbeat the table change forces says so
            self._links.chatter.isolated(why, self._epoch, now)
        with self._lock:
            self._wanted = OwnedTable()
            self._triggers = []
            self._standby, self._promoted = {}, set()
        self._take_changes(now)

    def _error(self, key: str, message: str) -> None:
        self._throttle.log(logging.WARNING, key, "%s", message)

    def _take_changes(self, now: float) -> None:
        with self._lock:
            table, triggers = self._wanted, self._triggers
            if self._wanted_epoch is not None and self._wanted_epoch < self._epoch:
                table, triggers = OwnedTable(), []
            after, self._after = self._after, []
            self._triggers = []
            watch, probes, self._probes = self._watch, self._probes, {}
            defend, self._defend = self._defend, set()
        if table.entries:
            self._isolated = False
        if table is not self._table:
            for ip in table.lost_since(self._table):
                self._schedule.forget(ip)
                logger.info("no longer answering for %s", ip)
            claims_changed = table.entries.keys() != self._table.entries.keys()
            self._table = table
            for port in list(self._ports.values()):
                self._apply(port)
            if claims_changed and self._links is not None:
                self._chat(now, force=True)  # peers learn what we answer now, not in 0.1 s
        for ip in triggers:
            if ip in table.entries:
                if ip not in self._schedule:
                    logger.info("announcing %s", ip)
                self._schedule.trigger(ip, now)
        if after and self._links is not None:
            for build in after:  # built now: numbered in the order they leave
                for payload in build():
                    self._links.send(payload)
        self._guard(table, watch, probes, defend)

    def _guard(
        self,
        table: OwnedTable,
        watch: frozenset[IPAddress],
        probes: Mapping[IPAddress, Interfaces],
        defend: Iterable[IPAddress],
    ) -> None:
        """The sentry's share of a change: what it watches, the probes, the defences."""
        if self._sentry is not None:
            self._sentry.watch(frozenset(table.entries) | watch)
            self._sentry.probe(probes)
        for ip in defend:
            if ip in table.entries:
                self._announce_once(ip)

    def _apply(self, port: Port) -> None:
        try:
            port.apply(self._table.on(port.name))
        except OSError as error:
            self._failed(port, Family.ARP, error)

    def _announce_due(self, now: float) -> None:
        for ip in self._schedule.take_due(now):
            self._announce_once(ip)

    def _announce_once(self, ip: IPAddress) -> None:
        family = Family.NDP if isinstance(ip, IPv6Address) else Family.ARP
        for port in list(self._ports.values()):
            if family in port.sockets and self._table.is_allowed(ip, port.name):
                self._send_announcements(port, family, ip)

    def _send_announcements(self, port: Port, family: Family, ip: IPAddress) -> None:
        for frame in build_announcements(ip, port.mac):
            try:
                port.send(family, frame)
            except OSError as error:
                self._failed(port, family, error)
                return
            self._counters.gratuitous_sent(ip)

    def _take_excludes(self, now: float) -> None:
        with self._lock:
            new, self._new_excludes = self._new_excludes, None
        if new is not None:
            self._excludes = new[0]
            self._next_scan = now  # rescanned at the end of this turn

    def _rescan(self, now: float) -> None:
        self._next_scan = now + self._rescan_interval
        selection = choose_interfaces(self._read_links(), self._allowed, self._excludes)
        wanted = _families_by_interface(selection)
        for name, port in list(self._ports.items()):
            interface, families = wanted.get(name, (None, frozenset()))
            if interface is None or not _same_link(port, interface, families):
                logger.info("closing responder on %s", name)
                self._close(name)
        for name, (interface, families) in wanted.items():
            if name not in self._ports and self._retry.get(name, (0.0, 0.0))[0] <= now:
                self._open(interface, families, now)
        if self._links is not None:
            self._links.sync(port.interface for port in self._ports.values())
        if self._sentry is not None:
            self._sentry.sync((port.interface, port.families) for port in self._ports.values())
        if selection.chosen != self._selection.chosen:
            logger.info("answering on %s", ", ".join(i.name for i in selection.chosen) or "none")
        self._selection = selection

    def _open(self, interface: Interface, families: frozenset[Family], now: float) -> None:
        owned = self._table.on(interface.name)
        try:
            port = Port(interface, families, owned, self._receive_buffer, self._throttle)
        except OSError as error:
            key = f"open:{interface.name}"
            self._throttle.log(logging.ERROR, key, "%s: %s", interface.name, error)
            self._delay_retry(interface.name, now)
            return
        self._retry.pop(interface.name, None)
        self._ports[interface.name] = port
        for family, sock in port.sockets.items():
            self._by_fd[sock.fileno()] = (port, family)
            self._poll.register(sock, select.POLLIN)

    def _delay_retry(self, name: str, now: float) -> None:
        delay = min(self._retry.get(name, (0.0, RETRY_DELAY / 2))[1] * 2, self._rescan_interval)
        self._retry[name] = (now + delay, delay)
        self._next_scan = min(self._next_scan, now + delay)

    def _close(self, name: str) -> None:
        port = self._ports.pop(name, None)
        if port is None:
            return
        for sock in port.sockets.values():
            self._by_fd.pop(sock.fileno(), None)
            self._poll.unregister(sock)
        port.close()

    def _close_all(self) -> None:
        for name in list(self._ports):
            self._close(name)
        if self._links is not None:
            self._links.close_all()
        if self._sentry is not None:
            self._sentry.close_all()


def _families_by_interface(selection: Selection) -> dict[str, tuple[Interface, frozenset[Family]]]:
    arp = {interface.name for interface in selection.arp}
    ndp = {interface.name for interface in selection.ndp}
    return {
        interface.name: (
            interface,
            frozenset(
                family
                for family, names in ((Family.ARP, arp), (Family.NDP, ndp))
                if interface.name in names
            ),
        )
        for interface in selection.chosen
    }


def _same_link(port: Port, interface: Interface, families: frozenset[Family]) -> bool:
    """Whether an open port still fits: same device (index), MAC and families."""
    current = port.interface
    return (current.index, current.mac, port.families) == (interface.index, interface.mac, families)


def _drain_eventfd(fd: int) -> None:
    with contextlib.suppress(BlockingIOError):  # another turn already read it
        os.eventfd_read(fd)
