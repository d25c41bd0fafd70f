from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from speaker.lan.guard import (
    Actions,
    Conflict,
    Finding,
    Guard,
    Interfaces,
    Report,
    Timing,
)
from speaker.wire.claims import Claim, ClaimKind, Heard
from speaker.wire.replies import IPAddress

IP = IPv4Address("192.0.2.10")
IP6 = IPv6Address("2001:db8::10")
OTHER_IP = IPv4Address("192.0.2.11")
OURS = bytes.fromhex("00005e005301")
PEER = bytes.fromhex("00005e005302")
FOREIGN = bytes.fromhex("00005e005399")
FOREIGN_2 = bytes.fromhex("00005e00539a")
PEERS = {PEER: "node-2"}
ETH0 = "eth0"
T = Timing()  # 3 probes 0.1 s apart, a 0.3 s window, re-probes every 30 s, rechecks every 60 s
ASSERTIONS = [kind for kind in ClaimKind if not kind.is_probe]
PROBES = [kind for kind in ClaimKind if kind.is_probe]


def ips(*members: IPAddress) -> frozenset[IPAddress]:
    return frozenset(members)


def heard(
    kind: ClaimKind = ClaimKind.ARP_REPLY,
    *,
    at: float,
    mac: bytes = FOREIGN,
    ip: IPAddress = IP,
    interface: str = ETH0,
) -> Heard:
    return Heard(Claim(ip, mac, kind), interface, at)


def conflict_report(kind: ClaimKind = ClaimKind.ARP_REPLY, mac: bytes = FOREIGN) -> Report:
    return Report(finding=Finding.CONFLICT, ip=IP, mac=mac, interface=ETH0, kind=kind)


@dataclass
class Loop:
    """The worker's use of a guard: each pass gates the IPs taken, then ticks with those owned.

    Passes happen when the guard says something is due (`next_due`), as the worker's wait does,
    or when a test asks for one; claims are heard between passes.
    """

    guard: Guard = field(default_factory=Guard)
    taking: dict[IPAddress, Interfaces] = field(default_factory=lambda: {IP: None})
    owned: dict[IPAddress, Interfaces] = field(default_factory=dict)
    probes: list[tuple[float, IPAddress]] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)
    let_through: dict[IPAddress, float] = field(default_factory=dict)
    now: float = 0.0

    def pass_(self, now: float) -> Actions:
        self.now = now
        for ip in self.guard.gate(self.taking, now):
            self.owned[ip] = self.taking.pop(ip)
            self.let_through[ip] = now
        actions = self.guard.tick(self.owned, now)
        self.probes += [(now, ip) for ip in actions.probe]
        self.reports += actions.reports
        return actions

    def run_until(self, end: float) -> None:
        """Pass at every time the guard asks for, up to `end`; each pass must change something."""
        for _ in range(1000):
            due = self.guard.next_due()
            if due is None or due > end:
                self.now = end
                return
            before = (self.guard.next_due(), len(self.probes), dict(self.owned))
            self.pass_(max(due, self.now))
            assert (self.guard.next_due(), len(self.probes), dict(self.owned)) != before, (
                f"next_due {due} asks for a pass that changes nothing"
            )
        pytest.fail("the guard asked for more than 1000 passes")

    def hear(self, claim: Heard) -> Actions:
        return self.guard.heard(claim, ours={OURS}, peers=PEERS, owned=self.owned.keys())

    def probe_times(self, ip: IPAddress = IP) -> list[float]:
        return [round(at, 6) for at, probed in self.probes if probed == ip]


def started() -> Loop:
    """IP taken for the first time at 0.0, and its first probe sent."""
    loop = Loop()
    loop.pass_(0.0)
    return loop


def in_conflict() -> Loop:
    """IP answered by FOREIGN at 0.15, during its first window."""
    loop = started()
    loop.run_until(0.15)
    loop.hear(heard(at=0.15))
    return loop


def owning(ip: IPAddress = IP) -> Loop:
    """`ip` let through at 0.3 after a clean window."""
    loop = Loop(taking={ip: None})
    loop.pass_(0.0)
    loop.run_until(1.0)
    assert loop.owned.keys() == {ip}
    return loop


# ------------------------------------------------------------------ probing first


def test_an_ip_taken_for_the_first_time_is_held_while_it_is_probed():
    guard = Guard()
    assert guard.gate({IP: None}, 0.0) == frozenset()
    assert (guard.probing, guard.watched) == (ips(IP), ips(IP))


def test_an_ip_taken_is_probed_three_times_spacing_apart():
    loop = started()
    loop.run_until(10.0)
    assert loop.probe_times() == [0.0, 0.1, 0.2]


def test_an_ip_is_let_through_when_its_window_closes_with_nothing_heard():
    loop = started()
    loop.run_until(10.0)
    assert loop.let_through == {IP: pytest.approx(T.window)}
    assert (loop.guard.probing, loop.guard.watched, loop.guard.conflicts) == (ips(), ips(), {})


def test_an_ip_is_not_let_through_before_its_window_closes():
    loop = started()
    for now in (0.1, 0.2, 0.29):
        loop.pass_(now)
    assert loop.let_through == {}


def test_an_ip_is_let_through_once_and_a_second_gate_needs_a_new_probe():
    loop = owning()
    assert loop.guard.gate({IP: None}, 5.0) == frozenset()
    assert loop.guard.probing == {IP}
    assert loop.guard.tick({}, 5.0).probe == {IP: None}


def test_the_gate_lets_an_ip_through_at_its_windows_end_before_tick_has_run():
    guard = Guard()
    guard.gate({IP: None}, 0.0)
    for now in (0.0, 0.1, 0.2):
        guard.tick({}, now)
    assert guard.gate({IP: None}, 0.3) == {IP}


def test_probes_go_out_on_the_interfaces_the_ip_is_taken_on():
    loop = Loop(taking={IP: frozenset({"eth1"}), IP6: None})
    assert loop.pass_(0.0).probe == {IP: frozenset({"eth1"}), IP6: None}


def test_ips_are_probed_and_let_through_independently():
    loop = started()
    loop.run_until(0.2)
    loop.taking[IP6] = None
    loop.pass_(0.2)
    loop.run_until(10.0)
    assert loop.probe_times(IP6) == [0.2, 0.3, 0.4]
    assert loop.let_through == {IP: pytest.approx(0.3), IP6: pytest.approx(0.5)}


def test_a_window_of_zero_turns_probing_off():
    guard = Guard(Timing(window=0))
    assert guard.gate({IP: None, IP6: None}, 0.0) == {IP, IP6}
    assert (guard.probing, guard.watched) == (ips(), ips())


def test_with_probing_off_an_announced_ip_is_never_probed_either():
    guard = Guard(Timing(window=0, recheck=1.0))
    guard.gate({IP: None}, 0.0)
    assert guard.tick({IP: None}, 0.0).probe == {}
    assert guard.tick({IP: None}, 5.0).probe == {}
    assert guard.next_due() is None


def test_the_window_closes_on_time_even_when_probes_are_spaced_wider_than_it():
    loop = Loop(guard=Guard(Timing(spacing=0.2, window=0.3)))
    loop.pass_(0.0)
    loop.run_until(10.0)
    assert loop.probe_times() == [0.0, 0.2]
    assert loop.let_through == {IP: pytest.approx(0.3)}


# ------------------------------------------------------------------ conflicts


@pytest.mark.parametrize("kind", list(ClaimKind))
def test_a_foreign_claim_during_the_window_is_a_conflict(kind):
    loop = started()
    actions = loop.hear(heard(kind, at=0.15, interface="eth1"))
    report = Report(finding=Finding.CONFLICT, ip=IP, mac=FOREIGN, interface="eth1", kind=kind)
    assert actions == Actions(reports=(report,), found=(Finding.CONFLICT,))
    assert loop.guard.conflicts == {
        IP: Conflict(ip=IP, mac=FOREIGN, interface="eth1", kind=kind, since=0.15)
    }


def test_an_ip_in_conflict_stays_held_and_watched_but_is_not_probing():
    loop = in_conflict()
    loop.run_until(29.0)
    assert loop.let_through == {}
    assert loop.probe_times() == [0.0, 0.1]
    assert (loop.guard.probing, loop.guard.watched) == (ips(), ips(IP))


def test_a_conflict_is_reprobed_after_the_reprobe_interval():
    loop = in_conflict()
    assert loop.guard.next_due() == pytest.approx(0.15 + T.reprobe)
    loop.run_until(30.3)
    assert loop.probe_times() == [0.0, 0.1, 30.15, 30.25]
    assert (loop.guard.probing, loop.guard.watched) == (ips(), ips(IP))


def test_a_clean_reprobe_window_clears_the_conflict_and_lets_the_ip_through():
    loop = in_conflict()
    loop.run_until(40.0)
    assert loop.probe_times() == [0.0, 0.1, 30.15, 30.25, 30.35]
    assert loop.reports == [
        Report(
            finding=Finding.CLEARED, ip=IP, mac=FOREIGN, interface=ETH0, kind=ClaimKind.ARP_REPLY
        )
    ]
    assert loop.let_through == {IP: pytest.approx(30.45)}
    assert loop.guard.conflicts == {}


def test_a_conflict_answered_again_is_kept_since_the_first_answer():
    loop = in_conflict()
    loop.run_until(30.2)
    actions = loop.hear(heard(ClaimKind.ARP_ANNOUNCEMENT, at=30.2))
    assert actions == Actions(found=(Finding.CONFLICT,))  # reported at 0.15 already
    assert loop.guard.conflicts == {
        IP: Conflict(
            ip=IP, mac=FOREIGN, interface=ETH0, kind=ClaimKind.ARP_ANNOUNCEMENT, since=0.15
        )
    }
    loop.run_until(60.0)
    assert loop.let_through == {}
    assert loop.guard.next_due() == pytest.approx(30.2 + T.reprobe)


def test_a_conflict_answered_by_another_mac_starts_over_and_is_reported():
    loop = in_conflict()
    loop.run_until(30.2)
    assert loop.hear(heard(at=30.2, mac=FOREIGN_2)).reports == (conflict_report(mac=FOREIGN_2),)
    assert loop.guard.conflicts[IP].since == 30.2


def test_a_claim_for_an_ip_in_conflict_between_reprobes_changes_nothing():
    loop = in_conflict()
    assert loop.hear(heard(at=10.0, mac=FOREIGN_2)) == Actions()
    assert loop.guard.conflicts[IP].mac == FOREIGN


# ------------------------------------------------------------------ peers and ourselves


def test_a_peer_answering_during_the_window_is_a_split_brain_and_restarts_the_window():
    loop = started()
    loop.run_until(0.15)
    actions = loop.hear(heard(at=0.15, mac=PEER))
    report = Report(
        finding=Finding.SPLIT_BRAIN,
        ip=IP,
        mac=PEER,
        interface=ETH0,
        kind=ClaimKind.ARP_REPLY,
        peer="node-2",
    )
    assert actions == Actions(reports=(report,), found=(Finding.SPLIT_BRAIN,))
    loop.run_until(10.0)
    assert loop.probe_times() == [0.0, 0.1, 0.15, 0.25, 0.35]
    assert loop.let_through == {IP: pytest.approx(0.45)}
    assert loop.guard.conflicts == {}


@pytest.mark.parametrize("kind", PROBES)
def test_a_peer_probing_the_same_ip_is_ignored(kind):
    loop = started()
    assert loop.hear(heard(kind, at=0.15, mac=PEER)) == Actions()
    loop.run_until(10.0)
    assert loop.let_through == {IP: pytest.approx(0.3)}


@pytest.mark.parametrize("kind", list(ClaimKind))
def test_our_own_mac_is_ignored_while_probing(kind):
    loop = started()
    assert loop.hear(heard(kind, at=0.15, mac=OURS)) == Actions()
    loop.run_until(10.0)
    assert loop.let_through == {IP: pytest.approx(0.3)}


@pytest.mark.parametrize("kind", list(ClaimKind))
def test_our_own_mac_is_ignored_for_an_owned_ip(kind):
    assert owning().hear(heard(kind, at=5.0, mac=OURS)) == Actions()


def test_claims_for_an_ip_neither_probed_nor_owned_are_ignored():
    loop = owning()
    assert loop.hear(heard(at=5.0, ip=OTHER_IP)) == Actions()


# ------------------------------------------------------------------ defence


@pytest.mark.parametrize(
    ("at", "reported", "defended"),
    [
        pytest.param(5.0, True, True, id="the first claim"),
        pytest.param(6.0, False, False, id="1 s later"),
        pytest.param(14.9, False, False, id="just before the defend interval"),
        pytest.param(15.0, False, True, id="a defend interval later"),
        pytest.param(20.0, False, False, id="5 s after that"),
        pytest.param(64.9, False, True, id="just before the report interval"),
        pytest.param(65.0, True, False, id="a report interval after the first"),
    ],
)
def test_a_foreign_assertion_on_an_owned_ip_is_reported_and_defended_at_a_limited_rate(
    at, reported, defended
):
    loop = owning()
    history = [5.0, 6.0, 14.9, 15.0, 20.0, 64.9, 65.0]
    for earlier in history[: history.index(at)]:
        loop.hear(heard(at=earlier))
    actions = loop.hear(heard(at=at))
    report = Report(
        finding=Finding.CLAIMED, ip=IP, mac=FOREIGN, interface=ETH0, kind=ClaimKind.ARP_REPLY
    )
    assert actions == Actions(
        reports=(report,) if reported else (),
        found=(Finding.CLAIMED,),
        defend=frozenset({IP}) if defended else frozenset(),
    )


@pytest.mark.parametrize("kind", ASSERTIONS)
def test_every_assertion_kind_on_an_owned_ip_is_claimed(kind):
    actions = owning().hear(heard(kind, at=5.0))
    assert (actions.found, actions.defend) == ((Finding.CLAIMED,), ips(IP))
    assert [report.kind for report in actions.reports] == [kind]


def test_reports_are_limited_per_mac_but_defence_per_ip():
    loop = owning()
    loop.hear(heard(at=5.0))
    actions = loop.hear(heard(at=6.0, mac=FOREIGN_2))
    assert [report.mac for report in actions.reports] == [FOREIGN_2]
    assert actions.defend == frozenset()


def test_a_peer_asserting_an_owned_ip_is_a_split_brain_and_is_defended():
    actions = owning(IP6).hear(heard(ClaimKind.NEIGHBOR_ADVERTISEMENT, at=5.0, mac=PEER, ip=IP6))
    report = Report(
        finding=Finding.SPLIT_BRAIN,
        ip=IP6,
        mac=PEER,
        interface=ETH0,
        kind=ClaimKind.NEIGHBOR_ADVERTISEMENT,
        peer="node-2",
    )
    assert actions == Actions(reports=(report,), found=(Finding.SPLIT_BRAIN,), defend=ips(IP6))


@pytest.mark.parametrize("kind", PROBES)
@pytest.mark.parametrize("mac", [FOREIGN, PEER], ids=["foreign", "peer"])
def test_a_probe_for_an_owned_ip_is_no_conflict(kind, mac):
    loop = owning()
    assert loop.hear(heard(kind, at=5.0, mac=mac)) == Actions()
    assert loop.guard.conflicts == {}
    assert loop.guard.watched == set()


def test_a_foreign_assertion_keeps_an_owned_ip_owned():
    loop = owning()
    loop.hear(heard(at=5.0))
    loop.run_until(200.0)
    assert loop.owned.keys() == {IP}
    assert loop.guard.conflicts == {}


# ------------------------------------------------------------------ rechecks


def test_an_ip_owned_without_the_gate_is_probed_at_once_then_every_recheck():
    guard = Guard()
    ticks = {now: guard.tick({IP: None}, now).probe for now in (5.0, 5.1, 64.9, 65.0, 125.0)}
    assert ticks == {5.0: {IP: None}, 5.1: {}, 64.9: {}, 65.0: {IP: None}, 125.0: {IP: None}}


def test_an_ip_let_through_is_next_probed_a_recheck_later():
    loop = owning()
    loop.run_until(130.0)
    assert loop.probe_times() == [0.0, 0.1, 0.2, 60.3, 120.3]


def test_an_owned_ip_no_longer_passed_to_tick_is_no_longer_rechecked():
    loop = owning()
    loop.owned.clear()
    loop.pass_(1.0)
    assert loop.guard.next_due() is None


# ------------------------------------------------------------------ keep


def test_keep_forgets_ips_no_longer_won():
    loop = in_conflict()
    loop.taking[IP6] = None
    loop.pass_(0.2)
    loop.guard.keep({IP6})
    assert (loop.guard.probing, loop.guard.conflicts) == (ips(IP6), {})
    loop.guard.keep(set())
    assert (loop.guard.watched, loop.guard.next_due()) == (ips(), None)


def test_an_ip_forgotten_and_won_again_is_probed_again():
    loop = started()
    loop.run_until(0.25)
    loop.guard.keep(set())
    assert loop.guard.gate({IP: None}, 0.3) == frozenset()
    assert loop.guard.tick({}, 0.3).probe == {IP: None}


def test_an_ip_forgotten_after_its_window_closed_is_probed_again():
    guard = Guard()
    guard.gate({IP: None}, 0.0)
    for now in (0.0, 0.1, 0.2, 0.3):
        guard.tick({}, now)
    guard.keep(set())
    assert guard.gate({IP: None}, 1.0) == frozenset()


def test_keep_forgets_the_defence_of_an_ip_no_longer_won():
    loop = owning()
    loop.hear(heard(at=5.0))
    loop.guard.keep(set())
    assert loop.hear(heard(at=6.0)).defend == {IP}


# ------------------------------------------------------------------ what the guard says


def hear_on(guard: Guard, claim: Heard) -> Actions:
    return guard.heard(claim, ours={OURS}, peers=PEERS, owned=())


# What happens to one IP, step by step; each step's name is the state it leaves the guard in.
HISTORY: list[tuple[str, Callable[[Guard], object]]] = [
    ("nothing", lambda guard: None),
    ("gated", lambda guard: guard.gate({IP: None}, 0.0)),
    ("first probe sent", lambda guard: guard.tick({}, 0.0)),
    ("every probe sent", lambda guard: (guard.tick({}, 0.1), guard.tick({}, 0.2))),
    ("in conflict", lambda guard: hear_on(guard, heard(at=0.25))),
    ("reprobing", lambda guard: guard.tick({}, 30.25)),
    ("owned", lambda guard: (guard.gate({IP: None}, 30.6), guard.tick({IP: None}, 30.6))),
]


def after(name: str) -> Guard:
    guard = Guard()
    for step, action in HISTORY:
        action(guard)
        if step == name:
            return guard
    raise AssertionError(name)


@pytest.mark.parametrize(
    ("name", "probing", "watched", "due"),
    [
        pytest.param("nothing", set(), set(), None, id="nothing: nothing due"),
        pytest.param("gated", {IP}, {IP}, 0.0, id="gated: first probe due at once"),
        pytest.param("first probe sent", {IP}, {IP}, 0.1, id="one probe sent: next spacing later"),
        pytest.param("every probe sent", {IP}, {IP}, 0.3, id="three sent: the window's end"),
        pytest.param("in conflict", set(), {IP}, 30.25, id="in conflict: the reprobe"),
        pytest.param("reprobing", set(), {IP}, 30.35, id="reprobing: watched, not probing"),
        pytest.param("owned", set(), set(), 90.6, id="owned: the recheck"),
    ],
)
def test_the_guard_says_what_it_probes_watches_and_when_it_is_due(name, probing, watched, due):
    guard = after(name)
    assert (guard.probing, guard.watched) == (probing, watched)
    assert guard.next_due() == (None if due is None else pytest.approx(due))


# ------------------------------------------------------------------ a property


class GuardMachine(RuleBasedStateMachine):
    """Any order of takes, losses, claims, waits and the worker's passes, for one IP.

    The property: once the IP is taken, or a claim that is not ours nor a peer's probe is heard
    while it is watched, the gate lets it through only after a probe sent after that, and a
    full window after that probe. The model is only that: where the probes since then begin.
    """

    def __init__(self) -> None:
        super().__init__()
        self.loop = Loop(taking={})
        self.now = 0.0
        self.since = 0  # the index in loop.probes from which a new probe must come

    @rule(dt=st.sampled_from([0.0, 0.01, 0.05, 0.1, 0.15, 0.3, 1.0, 10.0, 29.9, 30.0, 61.0]))
    def wait(self, dt: float) -> None:
        self.now += dt

    @precondition(lambda self: not self.loop.taking and not self.loop.owned)
    @rule()
    def take(self) -> None:
        self.loop.taking[IP] = None
        self.since = len(self.loop.probes)

    @rule()
    def lose(self) -> None:
        self.loop.taking.clear()
        self.loop.owned.clear()
        self.loop.guard.keep(set())

    @rule()
    def wake(self) -> None:
        """The passes the worker makes when the guard asks, up to now; then one now."""
        self.loop.run_until(self.now)
        self.loop.pass_(self.now)
        at = self.loop.let_through.pop(IP, None)
        if at is not None:
            probes = [t for t, ip in self.loop.probes[self.since :] if ip == IP]
            assert probes, "let through without a probe since it was taken or claimed"
            assert at >= probes[0] + T.window - 1e-9, "let through before a full window"

    @rule(
        kind=st.sampled_from(list(ClaimKind)),
        mac=st.sampled_from([FOREIGN, FOREIGN_2, PEER, OURS]),
    )
    def hear(self, kind: ClaimKind, mac: bytes) -> None:
        watched, owned = IP in self.loop.guard.watched, IP in self.loop.owned
        actions = self.loop.hear(heard(kind, at=self.now, mac=mac))
        ignored = mac == OURS or (mac == PEER and kind.is_probe)
        if ignored:
            assert actions == Actions()
        elif watched and IP in self.loop.taking:
            self.since = len(self.loop.probes)
        if owned and not ignored:
            expected = Finding.SPLIT_BRAIN if mac == PEER else Finding.CLAIMED
            assert actions.found == (() if kind.is_probe else (expected,))

    @invariant()
    def an_owned_ip_is_neither_watched_nor_in_conflict(self) -> None:
        if IP in self.loop.owned:
            assert IP not in self.loop.guard.watched


test_the_guard_never_lets_a_claimed_ip_through_without_a_clean_window = GuardMachine.TestCase


def test_rechecks_due_within_the_slack_ride_along_with_one_that_is_due():
    """Each batch of rechecks costs the worker one pass (docs/footprint.md, idle CPU)."""
    guard = Guard()
    guard.tick({IP: None}, 0.0)
    guard.tick({IP: None, IP6: None}, 10.0)
    assert guard.tick({IP: None, IP6: None}, 60.0).probe == {IP: None, IP6: None}
    assert guard.next_due() == pytest.approx(120.0)


def test_a_recheck_never_leaves_early_on_its_own():
    guard = Guard()
    guard.tick({IP: None}, 0.0)
    guard.tick({IP: None, IP6: None}, 30.0)
    assert guard.tick({IP: None, IP6: None}, 60.0).probe == {IP: None}
    assert guard.tick({IP: None, IP6: None}, 89.9).probe == {}
    assert guard.tick({IP: None, IP6: None}, 90.0).probe == {IP6: None}
