from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

import pytest

from metalpool.advertisements import L2Advertisement, parse_l2_advertisement
from metalpool.services import ServiceKey
from speaker.cluster.election import (
    Decision,
    Entrant,
    Reason,
    candidates_for,
    elect,
    hashed_text,
    is_available,
    preference_score,
    rank,
)
from speaker.cluster.nodes import Endpoints, NodeInfo
from tests.support.objects import l2_advertisement_object

EXCLUDE = "node.kubernetes.io/exclude-from-external-load-balancers"
EVERYWHERE = Endpoints(any_serving=True, serving_nodes=frozenset({"n1", "n2", "n3"}))


def ad(name: str = "l2", **spec: Any) -> L2Advertisement:
    return parse_l2_advertisement(l2_advertisement_object(name, **spec))


def nodes(*infos: NodeInfo) -> dict[str, NodeInfo]:
    return {n.name: n for n in infos}


def key(name: str) -> ServiceKey:
    return ServiceKey("demo", name)


def entrant(name: str, *ips: str, candidates: set[str], ads: tuple[L2Advertisement, ...] = ()):
    return Entrant(
        service=key(name),
        ips=tuple(ip_address(ip) for ip in ips),
        advertisements=ads or (ad(),),
        candidates=frozenset(candidates),
    )


# metallb-compat.md §4.3, verbatim (from MetalLB's TestSortL2Candidates).
@pytest.mark.parametrize(
    ("candidates", "ip", "scores", "expected"),
    [
        pytest.param(
            ["node-a", "node-b", "node-c"],
            "10.0.0.1",
            {},
            ["node-b", "node-a", "node-c"],
            id="three plain nodes for 10.0.0.1",
        ),
        pytest.param(
            ["node-a", "node-b", "node-c"],
            "10.0.0.2",
            {},
            ["node-b", "node-c", "node-a"],
            id="three plain nodes for 10.0.0.2",
        ),
        pytest.param(
            ["edge-a", "edge-b", "worker-a", "worker-b"],
            "10.20.30.1",
            {"edge-a": 100},
            ["edge-a", "edge-b", "worker-a", "worker-b"],
            id="a preferred node comes first",
        ),
        pytest.param(
            ["node-a", "node-b"],
            "10.20.30.1",
            {"node-a": 100, "node-b": 100},
            ["node-b", "node-a"],
            id="equal scores fall back to the hash",
        ),
        pytest.param(
            ["edge-a", "edge-b", "worker-a"],
            "10.20.30.1",
            {"edge-a": 100, "edge-b": 100},
            ["edge-b", "edge-a", "worker-a"],
            id="the hash orders nodes within a score",
        ),
    ],
)
def test_ranks_candidates_as_metallb(candidates, ip, scores, expected):
    assert rank(candidates, ip_address(ip), scores) == tuple(expected)
    assert rank(reversed(candidates), ip_address(ip), scores) == tuple(expected)


@pytest.mark.parametrize(
    ("ip", "text"),
    [
        pytest.param("192.0.2.1", "192.0.2.1", id="IPv4 is dotted"),
        pytest.param("2001:DB8:0:0:0:0:0:1", "2001:db8::1", id="IPv6 is RFC 5952 text"),
        pytest.param("2001:db8:0:1:0:0:1:1", "2001:db8:0:1::1:1", id="the longest zero run"),
        pytest.param("::ffff:192.0.2.1", "192.0.2.1", id="IPv4-mapped IPv6 prints as Go does"),
    ],
)
def test_hashes_the_ip_as_go_prints_it(ip, text):
    assert hashed_text(ip_address(ip)) == text


@pytest.mark.parametrize(
    ("node", "ignore_exclude_lb", "available"),
    [
        pytest.param(NodeInfo(name="n1"), False, True, id="a plain node is available"),
        pytest.param(
            NodeInfo(name="n1", network_unavailable=True),
            False,
            False,
            id="a node without network is not",
        ),
        pytest.param(
            NodeInfo(name="n1", labels={EXCLUDE: ""}),
            False,
            False,
            id="the exclusion label counts with any value",
        ),
        pytest.param(
            NodeInfo(name="n1", labels={EXCLUDE: "true"}),
            True,
            True,
            id="--ignore-exclude-lb lets excluded nodes announce",
        ),
        pytest.param(
            NodeInfo(name="n1", labels={EXCLUDE: "true"}, network_unavailable=True),
            True,
            False,
            id="--ignore-exclude-lb does not bring back a node without network",
        ),
    ],
)
def test_which_nodes_are_available(node, ignore_exclude_lb, available):
    assert is_available(node, ignore_exclude_lb=ignore_exclude_lb) is available


ZONED = nodes(
    NodeInfo(name="n1", labels={"zone": "a"}),
    NodeInfo(name="n2", labels={"zone": "b"}),
    NodeInfo(name="n3", labels={"zone": "a", EXCLUDE: ""}),
)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param({}, {"n1", "n2"}, id="live available nodes an advertisement selects"),
        pytest.param({"live": {"n1"}}, {"n1"}, id="only live speakers"),
        pytest.param(
            {"live": {"n1", "n2", "n4"}},
            {"n1", "n2"},
            id="not a live speaker whose Node is unknown",
        ),
        pytest.param(
            {"advertisements": (ad(nodeSelectors=[{"matchLabels": {"zone": "b"}}]),)},
            {"n2"},
            id="only nodes the advertisement selects",
        ),
        pytest.param(
            {
                "advertisements": (
                    ad("a", nodeSelectors=[{"matchLabels": {"zone": "a"}}]),
                    ad("b", nodeSelectors=[{"matchLabels": {"zone": "b"}}]),
                )
            },
            {"n1", "n2"},
            id="nodes any applicable advertisement selects",
        ),
        pytest.param(
            {"ignore_exclude_lb": True}, {"n1", "n2", "n3"}, id="excluded nodes when told to"
        ),
        pytest.param(
            {
                "local": True,
                "endpoints": Endpoints(any_serving=True, serving_nodes=frozenset({"n2"})),
            },
            {"n2"},
            id="under traffic policy Local only nodes with a serving endpoint",
        ),
        pytest.param(
            {"local": True, "endpoints": Endpoints(any_serving=True)},
            set(),
            id="under Local endpoints without a node name elect nobody",
        ),
        pytest.param(
            {"endpoints": Endpoints(any_serving=True)},
            {"n1", "n2"},
            id="under Cluster endpoints anywhere will do",
        ),
        pytest.param({"endpoints": Endpoints()}, set(), id="nobody without a serving endpoint"),
    ],
)
def test_candidates(kwargs, expected):
    arguments = {
        "advertisements": (ad(),),
        "nodes": ZONED,
        "live": {"n1", "n2", "n3"},
        "endpoints": EVERYWHERE,
        "local": False,
    } | kwargs
    assert candidates_for(**arguments) == frozenset(expected)


@pytest.mark.parametrize(
    ("advertisements", "expected"),
    [
        pytest.param((ad(),), 0, id="no preferences score nothing"),
        pytest.param(
            (ad(preferredNodeSelectors=[{"weight": 30, "preference": {}}]),),
            30,
            id="an empty preference matches every node",
        ),
        pytest.param(
            (
                ad(
                    preferredNodeSelectors=[
                        {"weight": 30, "preference": {"matchLabels": {"zone": "a"}}},
                        {"weight": 20, "preference": {"matchLabels": {"disk": "ssd"}}},
                        {"weight": 5, "preference": {"matchLabels": {"zone": "b"}}},
                    ]
                ),
            ),
            50,
            id="the weights of matching preferences add up",
        ),
        pytest.param(
            (
                ad("a", preferredNodeSelectors=[{"weight": 30, "preference": {}}]),
                ad("b", preferredNodeSelectors=[{"weight": 40, "preference": {}}]),
            ),
            70,
            id="scores add up over advertisements",
        ),
        pytest.param(
            (
                ad(
                    nodeSelectors=[{"matchLabels": {"zone": "b"}}],
                    preferredNodeSelectors=[{"weight": 30, "preference": {}}],
                ),
            ),
            0,
            id="preferences count only where the advertisement selects the node",
        ),
    ],
)
def test_preference_scores(advertisements, expected):
    node = NodeInfo(name="n1", labels={"zone": "a", "disk": "ssd"})
    assert preference_score(node, advertisements) == expected


def test_a_preferred_node_wins_over_the_hash():
    # Without preferences node-b wins 10.20.30.1; a preference for node-a turns that round.
    preferring_a = ad(
        preferredNodeSelectors=[{"weight": 10, "preference": {"matchLabels": {"n": "a"}}}]
    )
    infos = nodes(NodeInfo(name="node-a", labels={"n": "a"}), NodeInfo(name="node-b"))
    plain = elect([entrant("web", "10.20.30.1", candidates={"node-a", "node-b"})], infos)
    preferred = elect(
        [entrant("web", "10.20.30.1", candidates={"node-a", "node-b"}, ads=(preferring_a,))], infos
    )
    assert [d.winner for d in plain] == ["node-b"]
    assert [d.winner for d in preferred] == ["node-a"]


def test_both_ips_of_a_dual_stack_service_follow_the_first():
    infos = nodes(*(NodeInfo(name=f"node-{x}") for x in "abc"))
    decisions = elect(
        [entrant("web", "10.0.0.2", "2001:db8::2", candidates={"node-a", "node-b", "node-c"})],
        infos,
    )
    expected_ranking = rank({"node-a", "node-b", "node-c"}, IPv4Address("10.0.0.2"))
    assert [(str(d.ip), d.winner, d.ranking) for d in decisions] == [
        ("10.0.0.2", "node-b", expected_ranking),
        ("2001:db8::2", "node-b", expected_ranking),
    ]


def test_the_first_ip_in_status_order_is_hashed_even_when_it_is_ipv6():
    # MetalLB hashes the first ingress IP as written (§4.3 step 6; §7 #15 on reordering).
    candidates = {f"node-{x}" for x in "abcdef"}
    infos = nodes(*(NodeInfo(name=n) for n in candidates))
    decisions = elect([entrant("web", "2001:db8::7", "10.0.0.7", candidates=candidates)], infos)
    assert {d.winner for d in decisions} == {rank(candidates, IPv6Address("2001:db8::7"))[0]}


def test_services_sharing_an_ip_get_one_owner_even_with_different_first_ips():
    # MetalLB would hash 10.0.0.1 for "web" and 2001:db8::1 for "dns": two owners possible.
    candidates = {f"node-{x}" for x in "abcdef"}
    infos = nodes(*(NodeInfo(name=n) for n in candidates))
    decisions = elect(
        [
            entrant("web", "10.0.0.1", "2001:db8::1", candidates=candidates),
            entrant("dns", "2001:db8::1", candidates=candidates),
        ],
        infos,
    )
    winner = rank(candidates, IPv4Address("10.0.0.1"))[0]
    assert decisions == (
        Decision(
            ip=IPv4Address("10.0.0.1"),
            winner=winner,
            reason=Reason.ELECTED,
            ranking=rank(candidates, IPv4Address("10.0.0.1")),
            selected=frozenset(candidates),
            services=frozenset({key("web")}),
            advertisements=(ad(),),
        ),
        Decision(
            ip=IPv6Address("2001:db8::1"),
            winner=winner,
            reason=Reason.ELECTED,
            ranking=rank(candidates, IPv4Address("10.0.0.1")),
            selected=frozenset(candidates),
            services=frozenset({key("web"), key("dns")}),
            advertisements=(ad(),),
        ),
    )


def test_a_shared_ip_prefers_nodes_that_serve_every_service_on_it():
    infos = nodes(*(NodeInfo(name=f"node-{x}") for x in "abc"))
    # node-b would win 10.0.0.1 by hash, but only node-c can serve both Services.
    decisions = elect(
        [
            entrant("web", "10.0.0.1", candidates={"node-b", "node-c"}),
            entrant("dns", "10.0.0.1", candidates={"node-a", "node-c"}),
        ],
        infos,
    )
    assert [(d.winner, d.ranking) for d in decisions] == [
        ("node-c", ("node-c", "node-b", "node-a"))
    ]


def test_an_ip_without_candidates_has_no_winner():
    decisions = elect([entrant("web", "10.0.0.1", candidates=set())], nodes(NodeInfo(name="n1")))
    assert [(d.winner, d.reason) for d in decisions] == [(None, Reason.NO_CANDIDATES)]


@pytest.mark.parametrize(
    ("decision", "node", "reason"),
    [
        pytest.param(
            Decision(
                ip=IPv4Address("10.0.0.1"),
                winner="n1",
                reason=Reason.ELECTED,
                selected=frozenset({"n1", "n2"}),
                services=frozenset({key("web")}),
            ),
            "n1",
            Reason.ELECTED,
            id="the winner is elected",
        ),
        pytest.param(
            Decision(
                ip=IPv4Address("10.0.0.1"),
                winner="n1",
                reason=Reason.ELECTED,
                selected=frozenset({"n1", "n2"}),
                services=frozenset({key("web")}),
            ),
            "n2",
            Reason.NOT_OWNER,
            id="a selected loser is not the owner",
        ),
        pytest.param(
            Decision(
                ip=IPv4Address("10.0.0.1"),
                winner="n1",
                reason=Reason.ELECTED,
                selected=frozenset({"n1"}),
                services=frozenset({key("web")}),
            ),
            "n3",
            Reason.NO_MATCHING_ADVERTISEMENT,
            id="a node no advertisement selects has no matching advertisement",
        ),
        pytest.param(
            Decision(
                ip=IPv4Address("10.0.0.1"),
                winner=None,
                reason=Reason.NO_CANDIDATES,
                selected=frozenset({"n1"}),
                services=frozenset({key("web")}),
            ),
            "n1",
            Reason.NO_CANDIDATES,
            id="without candidates nobody is elected",
        ),
        pytest.param(
            Decision(ip=IPv4Address("10.0.0.1"), winner=None, reason=Reason.NO_ENDPOINTS),
            "n1",
            Reason.NO_ENDPOINTS,
            id="an IP no Service stands for says why",
        ),
    ],
)
def test_a_decision_as_each_node_sees_it(decision, node, reason):
    assert decision.reason_for(node) is reason
