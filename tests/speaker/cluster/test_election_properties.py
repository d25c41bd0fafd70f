"""Invariants of the election over arbitrary entrants (Hypothesis)."""

import hashlib
from ipaddress import ip_address

from hypothesis import given
from hypothesis import strategies as st

from metalpool.advertisements import parse_l2_advertisement
from metalpool.services import ServiceKey
from speaker.cluster.election import Entrant, elect, ip_order, rank
from speaker.cluster.nodes import NodeInfo
from tests.support.objects import l2_advertisement_object

EVERY_NODE = (parse_l2_advertisement(l2_advertisement_object("l2")),)


def entrant(name: str, *ips: str, candidates: set[str]) -> Entrant:
    return Entrant(
        service=ServiceKey("demo", name),
        ips=tuple(ip_address(ip) for ip in ips),
        advertisements=EVERY_NODE,
        candidates=frozenset(candidates),
    )


NODE_NAMES = [f"node-{i}" for i in range(6)]
IPS = ["192.0.2.1", "192.0.2.2", "192.0.2.3", "2001:db8::1", "2001:db8::2"]


@st.composite
def entrant_lists(draw: st.DrawFn) -> list[Entrant]:
    count = draw(st.integers(min_value=1, max_value=5))
    found = []
    for i in range(count):
        ips = draw(st.lists(st.sampled_from(IPS), min_size=1, max_size=2, unique=True))
        candidates = draw(st.sets(st.sampled_from(NODE_NAMES)))
        found.append(entrant(f"svc-{i}", *ips, candidates=candidates))
    return found


ALL_NODES = {n: NodeInfo(name=n) for n in NODE_NAMES}


def linked(ip, entrants: list[Entrant]) -> list[Entrant]:
    """The entrants whose IPs connect to `ip` through other entrants: a slow, obvious oracle."""
    reach, group = {ip}, []
    while True:
        group = [e for e in entrants if reach & set(e.ips)]
        grown = reach | {i for e in group for i in e.ips}
        if grown == reach:
            return group
        reach = grown


@given(entrant_lists())
def test_every_ip_gets_one_decision_whose_winner_is_a_candidate_of_its_services(entrants):
    decisions = elect(entrants, ALL_NODES)
    assert sorted(str(d.ip) for d in decisions) == sorted(
        {str(ip) for e in entrants for ip in e.ips}
    )
    for decision in decisions:
        holders = [e for e in entrants if decision.ip in e.ips]
        assert set(decision.ranking) == {n for e in holders for n in e.candidates}
        assert decision.winner == (decision.ranking[0] if decision.ranking else None)
        assert decision.services == frozenset(e.service for e in holders)


@given(entrant_lists())
def test_linked_ips_rank_nodes_in_one_order(entrants):
    decisions = {d.ip: d for d in elect(entrants, ALL_NODES)}
    for ip, decision in decisions.items():
        for other in linked(ip, entrants):
            for other_ip in other.ips:
                theirs = decisions[other_ip].ranking
                common = [n for n in decision.ranking if n in theirs]
                assert common == [n for n in theirs if n in decision.ranking]


@given(entrant_lists(), st.randoms(use_true_random=False))
def test_the_order_of_the_inputs_never_changes_the_outcome(entrants, random):
    shuffled = list(entrants)
    random.shuffle(shuffled)
    names = list(ALL_NODES.items())
    random.shuffle(names)
    assert elect(shuffled, dict(names)) == elect(entrants, ALL_NODES)


@given(entrant_lists(), st.sets(st.sampled_from(NODE_NAMES)))
def test_linked_ips_share_one_winner_when_their_services_agree_on_candidates(entrants, agreed):
    same = [
        Entrant(service=e.service, ips=e.ips, advertisements=e.advertisements, candidates=agreed)
        for e in entrants
    ]
    by_ip = {d.ip: d.winner for d in elect(same, ALL_NODES)}
    for e in same:
        group = linked(e.ips[0], same)
        hashed = min((g.ips[0] for g in group), key=ip_order)
        expected = rank(agreed, hashed)[0] if agreed else None
        assert {by_ip[ip] for g in group for ip in g.ips} == {expected}


@given(entrant_lists())
def test_dropping_the_winner_hands_each_ip_to_the_runner_up(entrants):
    before = elect(entrants, ALL_NODES)
    for decision in before:
        if decision.winner is None:
            continue
        gone = decision.winner
        without = [
            Entrant(
                service=e.service,
                ips=e.ips,
                advertisements=e.advertisements,
                candidates=e.candidates - {gone},
            )
            for e in entrants
        ]
        after = {d.ip: d for d in elect(without, ALL_NODES)}[decision.ip]
        assert after.ranking == tuple(n for n in decision.ranking if n != gone)
        assert after.winner == (decision.ranking[1] if len(decision.ranking) > 1 else None)


@given(entrant_lists(), st.sampled_from(NODE_NAMES))
def test_dropping_a_loser_never_moves_an_ip(entrants, gone):
    before = {d.ip: d.winner for d in elect(entrants, ALL_NODES)}
    without = [
        Entrant(
            service=e.service,
            ips=e.ips,
            advertisements=e.advertisements,
            candidates=e.candidates - {gone},
        )
        for e in entrants
    ]
    after = {d.ip: d.winner for d in elect(without, ALL_NODES)}
    for ip, winner in before.items():
        if winner != gone:
            assert after[ip] == winner


@given(st.sets(st.sampled_from(NODE_NAMES), min_size=1), st.sampled_from(IPS))
def test_a_single_service_is_elected_exactly_as_metallb_would(candidates, ip):
    decisions = elect([entrant("web", ip, candidates=candidates)], ALL_NODES)
    expected = min(candidates, key=lambda n: hashlib.sha256(f"{n}#{ip}".encode()).digest())
    assert [d.winner for d in decisions] == [expected]
