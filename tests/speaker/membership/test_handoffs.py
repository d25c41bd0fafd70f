import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv6Address
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metalpool.addresses import IPAddress
from speaker.membership.handoffs import TAKEOVER_TIMEOUT, Cause, Situation, Step, decide

ME = "me"
IP1 = IPv4Address("192.0.2.1")
IP2 = IPv4Address("192.0.2.2")
IP6 = IPv6Address("2001:db8::1")
NOW = 100.0


def situation(
    *,
    winners: Mapping[IPAddress, str | None],
    owned: frozenset[IPAddress] = frozenset(),
    claims: Mapping[IPAddress, frozenset[str]] | None = None,
    handed: frozenset[IPAddress] = frozenset(),
    waiting: Mapping[IPAddress, float] | None = None,
    previous: Mapping[IPAddress, str | None] | None = None,
    absent: Mapping[str, Cause] | None = None,
) -> Situation:
    """A situation at NOW; `claims`: the live claimants of each IP, `absent`: why each is out."""
    claimants = dict(claims or {})
    causes = dict(absent or {})
    return Situation(
        me=ME,
        winners=winners,
        owned=owned,
        claimants=lambda ip: claimants.get(ip, frozenset()),
        handed=handed,
        waiting=dict(waiting or {}),
        previous=dict(previous or {}),
        cause_of_absence=lambda node: causes[node],
        now=NOW,
    )


@pytest.mark.parametrize(
    ("given_", "step"),
    [
        pytest.param(
            situation(winners={IP1: "b"}, owned=frozenset({IP1})),
            Step(owned=frozenset(), released={IP1: "b"}),
            id="owner-that-lost-releases-to-the-winner",
        ),
        pytest.param(
            situation(winners={IP1: None}, owned=frozenset({IP1})),
            Step(owned=frozenset(), released={IP1: None}),
            id="owner-of-an-ip-nobody-won-releases-to-nobody",
        ),
        pytest.param(
            situation(winners={}, owned=frozenset({IP1})),
            Step(owned=frozenset(), released={IP1: None}),
            id="owner-of-an-ip-no-longer-planned-releases-it",
        ),
        pytest.param(
            situation(winners={IP1: ME, IP6: ME}),
            Step(owned=frozenset({IP1, IP6}), taken={IP1: Cause.START, IP6: Cause.START}),
            id="winner-without-claimant-or-previous-owner-starts",
        ),
        pytest.param(
            situation(winners={IP1: ME}, previous={IP1: ME}),
            Step(owned=frozenset({IP1}), taken={IP1: Cause.START}),
            id="winner-that-was-the-previous-winner-starts",
        ),
        pytest.param(
            situation(winners={IP1: ME}, previous={IP1: "b"}, absent={"b": Cause.CRASH}),
            Step(owned=frozenset({IP1}), taken={IP1: Cause.CRASH}),
            id="previous-winner-crashed",
        ),
        pytest.param(
            situation(winners={IP1: ME}, previous={IP1: "b"}, absent={"b": Cause.LEAVE}),
            Step(owned=frozenset({IP1}), taken={IP1: Cause.LEAVE}),
            id="previous-winner-left",
        ),
        pytest.param(
            situation(winners={IP1: ME}, previous={IP1: "b"}, absent={"b": Cause.LINK}),
            Step(owned=frozenset({IP1}), taken={IP1: Cause.LINK}),
            id="previous-winner-lost-its-links",
        ),
        pytest.param(
            situation(winners={IP1: ME}, previous={IP1: "b"}, absent={"b": Cause.HANDOFF}),
            Step(owned=frozenset({IP1}), taken={IP1: Cause.HANDOFF}),
            id="previous-winner-alive-but-no-longer-claims",
        ),
        pytest.param(
            situation(winners={IP1: ME}, claims={IP1: frozenset({"b"})}),
            Step(owned=frozenset(), waiting={IP1: NOW}),
            id="winner-waits-while-a-live-peer-claims",
        ),
        pytest.param(
            situation(winners={IP1: ME}, claims={IP1: frozenset({"b"})}, waiting={IP1: NOW - 0.5}),
            Step(owned=frozenset(), waiting={IP1: NOW - 0.5}),
            id="winner-keeps-waiting-since-it-started-waiting",
        ),
        pytest.param(
            situation(winners={IP1: ME}, claims={IP1: frozenset({"b"})}, handed=frozenset({IP1})),
            Step(owned=frozenset({IP1}), taken={IP1: Cause.HANDOFF}),
            id="winner-takes-on-handoff-though-still-claimed",
        ),
        pytest.param(
            situation(
                winners={IP1: ME},
                claims={IP1: frozenset({"b"})},
                waiting={IP1: NOW - TAKEOVER_TIMEOUT},
            ),
            Step(owned=frozenset({IP1}), taken={IP1: Cause.TIMEOUT}),
            id="winner-takes-after-the-takeover-timeout",
        ),
        pytest.param(
            situation(
                winners={IP1: ME},
                claims={IP1: frozenset({"b"})},
                waiting={IP1: NOW - TAKEOVER_TIMEOUT + 0.01},
            ),
            Step(owned=frozenset(), waiting={IP1: NOW - TAKEOVER_TIMEOUT + 0.01}),
            id="winner-waits-until-the-takeover-timeout",
        ),
        pytest.param(
            situation(winners={IP1: ME}, claims={IP1: frozenset({ME})}),
            Step(owned=frozenset({IP1}), taken={IP1: Cause.START}),
            id="our-own-claim-does-not-make-us-wait",
        ),
        pytest.param(
            situation(winners={IP1: ME}, owned=frozenset({IP1}), handed=frozenset({IP1})),
            Step(owned=frozenset({IP1}), reassert=frozenset({IP1})),
            id="handoff-for-an-ip-we-own-reasserts",
        ),
        pytest.param(
            situation(winners={IP1: ME}, owned=frozenset({IP1}), claims={IP1: frozenset({"b"})}),
            Step(owned=frozenset({IP1})),
            id="owner-that-won-keeps-it-whoever-claims",
        ),
        pytest.param(
            situation(
                winners={IP1: "b", IP2: None},
                claims={IP1: frozenset({"b"})},
                handed=frozenset({IP1}),
                previous={IP1: ME},
            ),
            Step(owned=frozenset()),
            id="ips-won-by-others-and-not-owned-are-untouched-even-when-handed",
        ),
        pytest.param(
            situation(
                winners={IP1: "b", IP2: ME, IP6: ME},
                owned=frozenset({IP1, IP2}),
                claims={IP6: frozenset({"c"})},
            ),
            Step(owned=frozenset({IP2}), released={IP1: "b"}, waiting={IP6: NOW}),
            id="each-ip-on-its-own",
        ),
    ],
)
def test_decide_moves_an_ip_only_when_no_two_nodes_can_answer_it(given_, step):
    assert decide(given_) == step


NAMES = ("me", "b", "c")
SIM_IPS: tuple[IPAddress, ...] = (IP1, IP2, IP6)
# Each pair of NAMES splits these between them, and so do all three (sha256 as `rendezvous`).
SPLIT_IPS: tuple[IPAddress, ...] = (*(IPv4Address(f"192.0.2.{i}") for i in (1, 2, 3, 5, 7)), IP6)
CAUSES = st.sampled_from(list(Cause))
SOME_IPS = st.frozensets(st.sampled_from(SIM_IPS), max_size=len(SIM_IPS))


def some_ips_to(values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[IPAddress, Any]]:
    return st.dictionaries(st.sampled_from(SIM_IPS), values, max_size=len(SIM_IPS))


@st.composite
def situations(draw: st.DrawFn) -> Situation:
    claims = draw(some_ips_to(st.frozensets(st.sampled_from(NAMES), max_size=len(NAMES))))
    causes = dict(zip(NAMES, draw(st.tuples(CAUSES, CAUSES, CAUSES)), strict=True))
    return Situation(
        me=ME,
        winners=draw(some_ips_to(st.none() | st.sampled_from(NAMES))),
        owned=draw(SOME_IPS),
        claimants=lambda ip: claims.get(ip, frozenset()),
        handed=draw(SOME_IPS),
        waiting=draw(some_ips_to(st.sampled_from((98.0, 99.5)))),
        previous=draw(some_ips_to(st.none() | st.sampled_from(NAMES))),
        cause_of_absence=causes.__getitem__,
        now=NOW,
    )


@given(situations())
def test_decide_never_releases_and_takes_one_ip_and_owns_exactly_what_it_keeps_or_takes(s):
    step = decide(s)
    won = frozenset(ip for ip, winner in s.winners.items() if winner == ME)
    assert not step.taken.keys() & step.released.keys()
    assert step.released.keys() == s.owned - won
    assert step.owned == (s.owned & won) | step.taken.keys()
    assert step.owned.isdisjoint(step.waiting)
    assert step.waiting.keys() | step.taken.keys() == won - s.owned
    assert step.reassert == s.owned & won & s.handed


# ---------------------------------------------------------------------- several nodes


def rendezvous(ip: IPAddress, alive: frozenset[str]) -> str | None:
    """The election's shape (sha256(node#ip), lowest wins): a join only ever wins for itself."""
    return min(alive, key=lambda n: hashlib.sha256(f"{n}#{ip}".encode()).digest(), default=None)


@dataclass
class Node:
    """One speaker as the simulation sees it: what it answers and what it has heard."""

    owned: frozenset[IPAddress] = frozenset()
    waiting: dict[IPAddress, float] = field(default_factory=dict)
    previous: dict[IPAddress, str | None] = field(default_factory=dict)
    handed: set[IPAddress] = field(default_factory=set)
    heard: dict[str, frozenset[IPAddress]] = field(default_factory=dict)  # live peer → claims


@dataclass(frozen=True)
class Joins:
    node: str


@dataclass(frozen=True)
class Leaves:
    node: str


@dataclass(frozen=True)
class Decides:
    node: str


@dataclass(frozen=True)
class EveryoneDecides:
    """Every live node decides in turn, in name order."""


@dataclass(frozen=True)
class Hears:
    sender: str
    receiver: str


@dataclass(frozen=True)
class Delivers:
    index: int


Event = Joins | Leaves | Decides | EveryoneDecides | Hears | Delivers


class Cluster:
    """Speakers that join and leave as READY, heartbeat what they own and hand IPs over.

    A joiner has listened before it is READY: it has heard every live peer's claims, and they
    know it claims nothing. A hand-off is queued by its sender's step, after that step's release
    is applied (the responder sends it after the new table). One to a node that leaves is lost
    (after its restart it is a replay of an older sequence), and so is one from a node that
    rejoins (its old incarnation is superseded). Time stands still and the takeover timeout is
    infinite: the timeout is the way out of a Bloom false positive, traded against overlap.
    """

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.pending: list[tuple[str, str, frozenset[IPAddress]]] = []

    def apply(self, event: Event) -> None:
        match event:
            case Joins(node) if node not in self.nodes:
                self.nodes[node] = Node(heard={p: n.owned for p, n in self.nodes.items()})
                for peer in self.nodes.values():
                    peer.heard.setdefault(node, frozenset())
                self.pending = [h for h in self.pending if h[0] != node]
            case Leaves(node) if node in self.nodes:
                del self.nodes[node]
                for peer in self.nodes.values():
                    peer.heard.pop(node, None)
                self.pending = [h for h in self.pending if h[1] != node]
            case Hears(sender, receiver) if sender != receiver and {sender, receiver} <= set(
                self.nodes
            ):
                self.nodes[receiver].heard[sender] = self.nodes[sender].owned
            case Delivers(index) if self.pending:
                _, receiver, ips = self.pending.pop(index % len(self.pending))
                if receiver in self.nodes:
                    self.nodes[receiver].handed |= ips
            case Decides(node) if node in self.nodes:
                self.decide(node)
            case EveryoneDecides():
                for node in sorted(self.nodes):
                    self.decide(node)
            case _:
                pass

    def decide(self, name: str) -> None:
        node = self.nodes[name]
        winners = {ip: rendezvous(ip, frozenset(self.nodes)) for ip in SPLIT_IPS}
        step = decide(
            Situation(
                me=name,
                winners=winners,
                owned=node.owned,
                claimants=lambda ip: frozenset(p for p, c in node.heard.items() if ip in c),
                handed=frozenset(node.handed),
                waiting=node.waiting,
                previous=node.previous,
                cause_of_absence=lambda p: Cause.HANDOFF if p in self.nodes else Cause.CRASH,
                now=NOW,
                takeover_timeout=math.inf,
            )
        )
        assert not step.taken.keys() & step.released.keys()
        node.handed.clear()
        node.owned = step.owned
        node.waiting = dict(step.waiting)
        node.previous.update(winners)
        by_winner: dict[str, set[IPAddress]] = {}
        for ip, winner in step.released.items():
            if winner is not None:
                by_winner.setdefault(winner, set()).add(ip)
        self.pending += [(name, w, frozenset(ips)) for w, ips in sorted(by_winner.items())]

    def answerers(self) -> dict[IPAddress, set[str]]:
        answering: dict[IPAddress, set[str]] = {ip: set() for ip in SPLIT_IPS}
        for name, node in self.nodes.items():
            for ip in node.owned:
                answering[ip].add(name)
        return answering

    def settle(self) -> None:
        """Every node steps, every hand-off arrives, everyone hears everyone; a few times."""
        for _ in range(3):
            self.apply(EveryoneDecides())
            while self.pending:
                self.apply(Delivers(0))
            for sender in list(self.nodes):
                for receiver in list(self.nodes):
                    self.apply(Hears(sender, receiver))


@dataclass(frozen=True)
class Scenario:
    start: frozenset[str]  # nodes up and settled before the events
    events: list[Event]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    names = NAMES[: draw(st.sampled_from((2, 3)))]
    node = st.sampled_from(names)
    # Weighted by repetition. Joins, leaves and decisions make the trouble; a heartbeat only
    # ever freshens a view (staleness is the adversary), so it comes least often.
    joins, leaves, decides = (
        st.builds(Joins, node),
        st.builds(Leaves, node),
        st.builds(Decides, node),
    )
    delivers = st.builds(Delivers, st.integers(0, 7))
    event = st.one_of(
        *(joins, joins, leaves, leaves, decides, decides, decides),
        *(delivers, delivers, st.just(EveryoneDecides()), st.builds(Hears, node, node)),
    )
    return Scenario(
        start=draw(st.frozensets(node, min_size=1)),
        events=draw(st.lists(event, min_size=10, max_size=40)),
    )


def settled(nodes: frozenset[str]) -> Cluster:
    cluster = Cluster()
    for node in sorted(nodes):
        cluster.apply(Joins(node))
    cluster.settle()
    return cluster


@given(scenarios())
def test_two_nodes_never_answer_one_ip_and_every_ip_ends_with_its_winner(scenario):
    cluster = settled(scenario.start)
    for event in scenario.events:
        cluster.apply(event)
        assert all(len(nodes) <= 1 for nodes in cluster.answerers().values()), event
    cluster.settle()
    alive = frozenset(cluster.nodes)
    expected = {ip: ({w} if (w := rendezvous(ip, alive)) else set()) for ip in SPLIT_IPS}
    assert cluster.answerers() == expected


def test_a_join_moves_an_ip_by_handoff_without_overlap():
    cluster = settled(frozenset({"b"}))
    assert cluster.answerers() == {ip: {"b"} for ip in SPLIT_IPS}
    cluster.apply(Joins("me"))
    moving = {ip for ip in SPLIT_IPS if rendezvous(ip, frozenset({"b", "me"})) == "me"}
    cluster.apply(Decides("me"))  # "b" still claims them: wait
    assert (cluster.nodes["me"].owned, cluster.nodes["me"].waiting) == (
        frozenset(),
        dict.fromkeys(moving, NOW),
    )
    cluster.apply(Decides("b"))  # release, then the hand-off is queued
    assert cluster.pending == [("b", "me", frozenset(moving))]
    cluster.apply(Delivers(0))
    cluster.apply(Decides("me"))
    assert cluster.nodes["me"].owned == moving
    assert cluster.answerers() == {ip: {rendezvous(ip, frozenset({"b", "me"}))} for ip in SPLIT_IPS}


@pytest.mark.parametrize(
    "nodes",
    [
        pytest.param(("me", "b"), id="me-and-b"),
        pytest.param(("me", "c"), id="me-and-c"),
        pytest.param(("b", "c"), id="b-and-c"),
        pytest.param(NAMES, id="all-three"),
    ],
)
def test_the_simulation_ips_are_split_between_any_nodes(nodes):
    assert {rendezvous(ip, frozenset(nodes)) for ip in SPLIT_IPS} == set(nodes)


def test_a_handoff_that_arrives_after_the_ip_moved_on_to_a_third_node_is_ignored():
    # For IP1 "c" beats "b", which beats "me": "b" joins and wins it, "me" hands it over, then
    # "c" joins and wins it before the hand-off reaches "b".
    assert [rendezvous(IP1, frozenset(n)) for n in (("me", "b"), NAMES)] == ["b", "c"]
    cluster = settled(frozenset({"me"}))
    for event in (Joins("b"), Decides("me"), Joins("c"), Decides("c"), Delivers(0), Decides("b")):
        cluster.apply(event)
    assert (cluster.answerers()[IP1], IP1 in cluster.nodes["b"].owned) == ({"c"}, False)


def test_a_crashed_owner_is_replaced_without_a_handoff():
    cluster = settled(frozenset(NAMES))
    owner = rendezvous(IP1, frozenset(NAMES))
    assert owner is not None
    cluster.apply(Leaves(owner))
    cluster.apply(EveryoneDecides())
    assert cluster.answerers()[IP1] == {rendezvous(IP1, frozenset(NAMES) - {owner})}


def test_a_lease_mode_peers_status_holds_the_winner_back_without_a_timeout():
    s = replace(
        situation(winners={IP1: ME}, waiting={IP1: NOW - 3600}),
        firm=lambda ip: frozenset({"b"}) if ip == IP1 else frozenset(),
    )
    assert decide(s) == Step(owned=frozenset(), waiting={IP1: NOW - 3600})


def test_a_handoff_beats_a_lease_mode_peers_stale_status():
    s = replace(
        situation(winners={IP1: ME}, handed=frozenset({IP1})),
        firm=lambda _: frozenset({"b"}),
    )
    assert decide(s).taken == {IP1: Cause.HANDOFF}


def test_a_speaker_just_ready_waits_an_interval_before_taking_what_nobody_claims():
    s = replace(situation(winners={IP1: ME}), settled=False)
    assert decide(s) == Step(owned=frozenset(), waiting={IP1: NOW})
    assert decide(replace(s, settled=True)).taken == {IP1: Cause.START}


def test_a_speaker_just_ready_takes_a_handed_ip_at_once():
    s = replace(situation(winners={IP1: ME}, handed=frozenset({IP1})), settled=False)
    assert decide(s).taken == {IP1: Cause.HANDOFF}
