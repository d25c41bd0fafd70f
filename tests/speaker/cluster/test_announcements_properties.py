"""Invariants of the whole speaker decision over arbitrary clusters (Hypothesis)."""

from dataclasses import replace
from ipaddress import ip_address
from random import Random
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from metalpool.advertisements import L2Advertisement, parse_l2_advertisement
from metalpool.services import TrafficPolicy
from speaker.cluster.announcements import ServiceIPs, Snapshot, announcements_for, plan
from speaker.cluster.election import is_available
from speaker.cluster.nodes import Endpoints, EndpointState, NodeInfo
from tests.support.objects import l2_advertisement_object, pool, service

NODE_NAMES = [f"node-{i}" for i in range(5)]
IPS = ["192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2", "198.51.100.1", "203.0.113.1"]
POOLS = (
    pool("public", "192.0.2.0/24", "2001:db8::/120"),
    pool("lab", "198.51.100.0/24", labels={"tier": "lab"}),
)
EXCLUDE = "node.kubernetes.io/exclude-from-external-load-balancers"


def ad(name: str, **spec: Any) -> L2Advertisement:
    return parse_l2_advertisement(l2_advertisement_object(name, **spec))


MENU = (
    ad("everything"),
    ad(
        "zone-a",
        nodeSelectors=[{"matchLabels": {"zone": "a"}}],
        preferredNodeSelectors=[{"weight": 40, "preference": {"matchLabels": {"disk": "ssd"}}}],
    ),
    ad("zone-b", nodeSelectors=[{"matchLabels": {"zone": "b"}}], interfaces=["eth1"]),
    ad("lab", ipAddressPoolSelectors=[{"matchLabels": {"tier": "lab"}}], interfaces=["eth2"]),
    ad("lan", serviceSelectors=[{"matchLabels": {"expose": "lan"}}]),
    ad(
        "prefer-b",
        preferredNodeSelectors=[{"weight": 60, "preference": {"matchLabels": {"zone": "b"}}}],
    ),
)


@st.composite
def nodes(draw: st.DrawFn) -> dict[str, NodeInfo]:
    found = {}
    for name in NODE_NAMES:
        labels = {"zone": draw(st.sampled_from("ab"))}
        if draw(st.booleans()):
            labels["disk"] = "ssd"
        if draw(st.integers(0, 9)) == 0:
            labels[EXCLUDE] = ""
        found[name] = NodeInfo(
            name=name, labels=labels, network_unavailable=draw(st.integers(0, 9)) == 0
        )
    return found


endpoint_states = st.builds(
    EndpointState,
    node=st.sampled_from([*NODE_NAMES, None]),
    ready=st.sampled_from([True, False, None]),
    serving=st.sampled_from([True, False, None]),
)


@st.composite
def snapshots(draw: st.DrawFn) -> Snapshot:
    services, endpoints = [], {}
    for i in range(draw(st.integers(1, 5))):
        parsed = service(
            f"svc-{i}",
            labels={"expose": "lan"} if draw(st.booleans()) else {},
            externalTrafficPolicy=draw(st.sampled_from(["Cluster", "Local"])),
            type=draw(st.sampled_from(["LoadBalancer"] * 4 + ["ClusterIP"])),
        )
        ips = draw(st.lists(st.sampled_from(IPS), min_size=1, max_size=2, unique=True))
        ips = ips if draw(st.integers(0, 9)) else []
        services.append(ServiceIPs(service=parsed, ingress=tuple(ip_address(ip) for ip in ips)))
        if draw(st.integers(0, 4)):
            endpoints[parsed.key] = Endpoints.of(draw(st.lists(endpoint_states, max_size=4)))
    return Snapshot(
        services=tuple(services),
        pools=POOLS,
        advertisements=tuple(
            draw(st.lists(st.sampled_from(MENU), unique=True, min_size=1, max_size=4))
        ),
        nodes=draw(nodes()),
        endpoints=endpoints,
        live=frozenset(NODE_NAMES) - draw(st.sets(st.sampled_from(NODE_NAMES), max_size=3)),
    )


def announcers(snap: Snapshot) -> dict[str, set[str]]:
    """IP → the nodes that announce it, asking every node as its own speaker would."""
    found: dict[str, set[str]] = {}
    planned = plan(snap)
    for node in snap.nodes:
        for announcement in announcements_for(node, snap, planned):
            found.setdefault(str(announcement.ip), set()).add(node)
    return found


@given(snapshots())
def test_every_ip_is_announced_by_at_most_one_node_and_that_is_the_winner(snap):
    decisions = {str(d.ip): d for d in plan(snap).decisions}
    for ip, nodes_announcing in announcers(snap).items():
        assert nodes_announcing == {decisions[ip].winner}
    assert len(decisions) == len(plan(snap).decisions)


@given(snapshots(), st.randoms(use_true_random=False))
def test_the_order_of_services_pools_advertisements_and_nodes_never_matters(snap, random):
    def shuffled(items: tuple[Any, ...] | list[Any], rng: Random) -> tuple[Any, ...]:
        copy = list(items)
        rng.shuffle(copy)
        return tuple(copy)

    permuted = replace(
        snap,
        services=shuffled(snap.services, random),
        pools=shuffled(snap.pools, random),
        advertisements=shuffled(snap.advertisements, random),
        nodes=dict(shuffled(list(snap.nodes.items()), random)),
        endpoints=dict(shuffled(list(snap.endpoints.items()), random)),
    )
    assert plan(permuted) == plan(snap)
    assert announcers(permuted) == announcers(snap)


@given(snapshots())
def test_a_winner_is_always_a_live_available_selected_node(snap):
    for decision in plan(snap).decisions:
        if decision.winner is None:
            continue
        node = snap.nodes[decision.winner]
        assert decision.winner in snap.live
        assert is_available(node)
        assert any(a.covers_node(node.labels) for a in decision.advertisements)
        assert decision.winner in decision.selected


@given(snapshots())
def test_a_node_never_announces_for_a_service_without_a_serving_endpoint(snap):
    planned = plan(snap)
    for node in snap.nodes:
        for announcement in announcements_for(node, snap, planned):
            assert announcement.services
            for key in announcement.services:
                assert snap.endpoints[key].any_serving


@given(snapshots())
def test_under_local_traffic_the_winner_runs_an_endpoint_of_some_service_on_the_ip(snap):
    local = {
        s.service.key for s in snap.services if s.service.traffic_policy is TrafficPolicy.LOCAL
    }
    for decision in plan(snap).decisions:
        if decision.winner is None or not decision.services <= local:
            continue
        assert any(decision.winner in snap.endpoints[k].serving_nodes for k in decision.services)


@given(snapshots())
def test_when_the_winner_dies_the_runner_up_takes_over_and_nobody_else_moves(snap):
    before = {d.ip: d for d in plan(snap).decisions}
    for decision in before.values():
        if decision.winner is None:
            continue
        after = {d.ip: d for d in plan(replace(snap, live=snap.live - {decision.winner})).decisions}
        runner_up = decision.ranking[1] if len(decision.ranking) > 1 else None
        assert after[decision.ip].winner == runner_up
        for ip, other in before.items():
            if other.winner != decision.winner:
                assert after[ip].winner == other.winner
