"""Pure. No I/O. Probe before announcing, find conflicts, defend: RFC 5227 and RFC 4862 DAD.

The rules (docs/lan.md), per IP this node won:

- **Probe first.** An IP about to be announced for the first time (`gate`) is held back and
  probed: `probes` probes, `spacing` apart; it may be announced once `window` has passed since
  the first with no foreign claim heard.
- **Conflict.** While probing, any claim from a MAC that is neither ours nor a MetalPool peer's
  puts the IP in conflict (RFC 5227 §2.1.1: a reply, an assertion, or another host's probe).
  A conflicted IP is not announced; it is probed again every `reprobe` seconds, and a clean
  window clears it.
- **A peer answers.** While probing, a claim from a peer speaker's MAC (known from its
  heartbeats) is no conflict, but two speakers must never answer one IP: the window starts
  over, and the split brain is reported.
- **Defence.** For an owned IP, a foreign assertion (not a probe: we answer probes) is reported
  and defended with one announcement at most every `defend_interval` (RFC 5227 §2.4 (b),
  DEFEND_INTERVAL); the IP stays announced. A peer's assertion is a split brain, reported and
  defended alike. Every owned IP is probed every `recheck` seconds, and at once when it was
  taken over without a probe (a move), so a device holding it that only answers requests is
  found too. When one recheck falls due, those due within `RECHECK_SLACK` of a recheck come
  along: the checks fall into a few batches, and each batch costs the worker one pass, not one
  per IP (docs/footprint.md, idle CPU).
- **Reports** about one (finding, IP, MAC) are made at most once every `report_interval`.
"""

import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from speaker.wire.claims import ClaimKind, Heard
from speaker.wire.replies import IPAddress

PROBES = 3
SPACING = 0.1  # seconds between probes: RFC 5227's PROBE_MIN/MAX are 1-2 s; a LAN answers in µs
WINDOW = 0.3  # seconds from the first probe until an unanswered IP may be announced
REPROBE = 30.0  # seconds between probes of an IP in conflict
RECHECK = 60.0  # seconds between probes of an announced IP
RECHECK_SLACK = 0.25  # of a recheck: how early a recheck may ride along with one that is due
DEFEND_INTERVAL = 10.0  # RFC 5227 §1.1 DEFEND_INTERVAL
REPORT_INTERVAL = 60.0  # seconds between reports of the same finding, IP and MAC

Interfaces = frozenset[str] | None  # None: every interface


class Finding(enum.StrEnum):
    """What a claim meant; values are log words and metric labels."""

    CONFLICT = "conflict"  # another device holds an IP we were about to announce
    CLAIMED = "claimed"  # another device claims an IP we announce
    SPLIT_BRAIN = "split_brain"  # another MetalPool speaker answers an IP we hold or probe
    CLEARED = "cleared"  # a conflicted IP probed clean: it will be announced (mac: who held it)


@dataclass(frozen=True, slots=True, kw_only=True)
class Conflict:
    """Another device holds `ip`: `mac` said so on `interface`."""

    ip: IPAddress
    mac: bytes
    interface: str
    kind: ClaimKind
    since: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """Something to log, count and post as an Event."""

    finding: Finding
    ip: IPAddress
    mac: bytes = b""
    interface: str = ""
    kind: ClaimKind | None = None
    peer: str | None = None  # the other speaker's node, for a split brain


@dataclass(frozen=True, slots=True, kw_only=True)
class Actions:
    """What the shell does about what was heard or is due."""

    reports: tuple[Report, ...] = ()
    found: tuple[Finding, ...] = ()  # every finding, reported or not: the counters
    defend: frozenset[IPAddress] = frozenset()  # one announcement round each, now
    probe: Mapping[IPAddress, Interfaces] = field(default_factory=dict)  # one probe each, now


@dataclass(slots=True)
class _Probe:
    interfaces: Interfaces
    started: float
    sent: int = 0
    reprobe: bool = False  # of an IP in conflict


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    """The guard's intervals (flags can change them; tests shorten them)."""

    probes: int = PROBES
    spacing: float = SPACING
    window: float = WINDOW
    reprobe: float = REPROBE
    recheck: float = RECHECK
    defend_interval: float = DEFEND_INTERVAL
    report_interval: float = REPORT_INTERVAL


class Guard:
    """Per-IP probing, conflict and defence state of one speaker. Not thread-safe."""

    def __init__(self, timing: Timing = Timing()) -> None:
        self.timing = timing
        self._probing: dict[IPAddress, _Probe] = {}
        self._clear: set[IPAddress] = set()
        self._conflicts: dict[IPAddress, Conflict] = {}
        self._next_reprobe: dict[IPAddress, tuple[float, Interfaces]] = {}
        self._next_recheck: dict[IPAddress, float] = {}
        self._defended: dict[IPAddress, float] = {}
        self._reported: dict[tuple[Finding, IPAddress, bytes], float] = {}
        self._cleared: list[Report] = []  # conflicts cleared by `gate`, for `tick` to report

    @property
    def probing(self) -> frozenset[IPAddress]:
        """IPs held back while their first probe window runs."""
        return frozenset(ip for ip, p in self._probing.items() if not p.reprobe)

    @property
    def conflicts(self) -> Mapping[IPAddress, Conflict]:
        """IPs another device holds, not announced."""
        return dict(self._conflicts)

    @property
    def watched(self) -> frozenset[IPAddress]:
        """IPs whose claims matter beyond those we own: probed or in conflict."""
        return frozenset(self._probing) | frozenset(self._conflicts)

    def gate(self, taking: Mapping[IPAddress, Interfaces], now: float) -> frozenset[IPAddress]:
        """Of IPs about to be announced for the first time, those that may be, now.

        The others are held: a probe starts for each one not yet probing or in conflict.
        An IP let through is not let through again without a new probe. A window that closed
        clean by `now` lets its IP through here even if `tick` has not run since: in the pass
        `next_due` asks for at the window's end, the worker gates before it ticks.
        """
        if self.timing.window <= 0:  # probing is off
            return frozenset(taking)
        self._close_windows(now)
        allowed = set()
        for ip, interfaces in taking.items():
            if ip in self._clear:
                self._clear.discard(ip)
                self._next_recheck[ip] = now + self.timing.recheck
                allowed.add(ip)
            elif ip not in self._probing and ip not in self._conflicts:
                self._probing[ip] = _Probe(interfaces=interfaces, started=now)
        return frozenset(allowed)

    def keep(self, won: Collection[IPAddress]) -> None:
        """Forget every IP this node no longer won (moved away, Service gone, new address)."""
        for table in (self._probing, self._conflicts, self._next_reprobe, self._next_recheck):
            for ip in [ip for ip in table if ip not in won]:
                del table[ip]
        self._clear &= set(won)
        for ip in [ip for ip in self._defended if ip not in won]:
            del self._defended[ip]

    def heard(
        self,
        heard: Heard,
        *,
        ours: Collection[bytes],
        peers: Mapping[bytes, str],
        owned: Collection[IPAddress],
    ) -> Actions:
        """What a claim means: nothing, a conflict, a claim on an owned IP, or a split brain."""
        claim, now = heard.claim, heard.at
        if claim.mac in ours:
            return Actions()
        peer = peers.get(claim.mac)
        if claim.ip in self._probing:
            return self._heard_while_probing(heard, peer)
        if claim.ip in owned and not claim.kind.is_probe:
            finding = Finding.CLAIMED if peer is None else Finding.SPLIT_BRAIN
            report = self._report(finding, heard, peer)
            found = (finding,)
            defend: frozenset[IPAddress] = frozenset()
            last = self._defended.get(claim.ip)
            if last is None or now - last >= self.timing.defend_interval:
                self._defended[claim.ip] = now
                defend = frozenset({claim.ip})
            return Actions(reports=report, defend=defend, found=found)
        return Actions()

    def _heard_while_probing(self, heard: Heard, peer: str | None) -> Actions:
        claim, now = heard.claim, heard.at
        probe = self._probing[claim.ip]
        if peer is not None:
            if claim.kind.is_probe:  # a peer probing too: the election gives it to one of us
                return Actions()
            self._probing[claim.ip] = _Probe(
                interfaces=probe.interfaces, started=now, reprobe=probe.reprobe
            )
            found = (Finding.SPLIT_BRAIN,)
            return Actions(reports=self._report(Finding.SPLIT_BRAIN, heard, peer), found=found)
        del self._probing[claim.ip]
        known = self._conflicts.get(claim.ip)
        self._conflicts[claim.ip] = Conflict(
            ip=claim.ip,
            mac=claim.mac,
            interface=heard.interface,
            kind=claim.kind,
            since=known.since if known is not None and known.mac == claim.mac else now,
        )
        self._next_reprobe[claim.ip] = (now + self.timing.reprobe, probe.interfaces)
        found = (Finding.CONFLICT,)
        return Actions(reports=self._report(Finding.CONFLICT, heard, None), found=found)

    def tick(self, owned: Mapping[IPAddress, Interfaces], now: float) -> Actions:
        """Probes due now, windows that closed clean, reprobes and rechecks that fell due."""
        probe: dict[IPAddress, Interfaces] = {}
        self._close_windows(now)
        reports, self._cleared = self._cleared, []
        t = self.timing
        for ip, state in self._probing.items():
            if state.sent < t.probes and now >= state.started + state.sent * t.spacing:
                state.sent += 1
                probe[ip] = state.interfaces
        for ip, (due, interfaces) in list(self._next_reprobe.items()):
            if now >= due and ip in self._conflicts and ip not in self._probing:
                self._next_reprobe[ip] = (now + t.reprobe, interfaces)
                self._probing[ip] = _Probe(interfaces=interfaces, started=now, sent=1, reprobe=True)
                probe[ip] = interfaces
        rechecking = t.window > 0  # 0: probing is off
        # Taken without a probe: check at once (hence `now` as the default due time).
        dues = {ip: self._next_recheck.get(ip, now) for ip in owned} if rechecking else {}
        if any(now >= due for due in dues.values()):
            early = now + t.recheck * RECHECK_SLACK
            for ip, due in dues.items():
                if early >= due:
                    self._next_recheck[ip] = now + t.recheck
                    probe[ip] = owned[ip]
        for ip in [ip for ip in self._next_recheck if ip not in owned]:
            del self._next_recheck[ip]
        return Actions(reports=tuple(reports), probe=probe)

    def _close_windows(self, now: float) -> None:
        """Let the IPs whose window has passed with no foreign claim through (`_clear`)."""
        for ip, state in list(self._probing.items()):
            # Compared as next_due computes it, so that a pass at that time closes the window.
            if now >= state.started + self.timing.window:
                del self._probing[ip]
                if state.reprobe:
                    self._next_reprobe.pop(ip, None)
                    self._cleared.append(_cleared(ip, self._conflicts.pop(ip, None)))
                self._clear.add(ip)

    def next_due(self) -> float | None:
        """When `tick` (or `gate`) next has something to do (None: nothing scheduled)."""
        t = self.timing
        times = [
            p.started + (min(p.sent * t.spacing, t.window) if p.sent < t.probes else t.window)
            for p in self._probing.values()
        ]
        times += [due for due, _ in self._next_reprobe.values()]
        times += self._next_recheck.values()
        return min(times, default=None)

    def _report(self, finding: Finding, heard: Heard, peer: str | None) -> tuple[Report, ...]:
        key = (finding, heard.claim.ip, heard.claim.mac)
        last = self._reported.get(key)
        if last is not None and heard.at - last < self.timing.report_interval:
            return ()
        self._reported[key] = heard.at
        if len(self._reported) > 4096:  # noqa: PLR2004 - bound the memory a flood can take
            horizon = heard.at - self.timing.report_interval
            self._reported = {k: v for k, v in self._reported.items() if v >= horizon}
        return (
            Report(
                finding=finding,
                ip=heard.claim.ip,
                mac=heard.claim.mac,
                interface=heard.interface,
                kind=heard.claim.kind,
                peer=peer,
            ),
        )


def _cleared(ip: IPAddress, conflict: Conflict | None) -> Report:
    """The report that `ip` probed clean, naming who held it (the shell formats every MAC)."""
    if conflict is None:  # a re-probe runs only for an IP in conflict; never reached
        return Report(finding=Finding.CLEARED, ip=ip)
    return Report(
        finding=Finding.CLEARED,
        ip=ip,
        mac=conflict.mac,
        interface=conflict.interface,
        kind=conflict.kind,
    )
