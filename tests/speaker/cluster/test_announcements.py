from ipaddress import IPv4Address, ip_address
from typing import Any

import pytest

from metalpool.advertisements import L2Advertisement, parse_l2_advertisement
from metalpool.services import ServiceKey
from speaker.cluster.announcements import (
    Announcement,
    Changes,
    ServiceIPs,
    Snapshot,
    Verdict,
    announcements_for,
    diff,
    plan,
)
from speaker.cluster.election import Decision, Reason
from speaker.cluster.nodes import Endpoints, EndpointState, NodeInfo
from tests.support.objects import l2_advertisement_object, pool, service, shared

NODES = {
    n: NodeInfo(name=n, labels={"zone": z}) for n, z in [("n1", "a"), ("n2", "a"), ("n3", "b")]
}
EVERYWHERE = Endpoints.of(EndpointState(node=n) for n in NODES)
POOLS = (
    pool("public", "192.0.2.0/24", "2001:db8::/120", avoidBuggyIPs=True),
    pool("lab", "198.51.100.0/24"),
)


def ad(name: str = "l2", **spec: Any) -> L2Advertisement:
    return parse_l2_advertisement(l2_advertisement_object(name, **spec))


def held(name: str, *ips: str, **kwargs: Any) -> ServiceIPs:
    return ServiceIPs(service=service(name, **kwargs), ingress=tuple(ip_address(i) for i in ips))


def key(name: str) -> ServiceKey:
    return ServiceKey("demo", name)


def snapshot(*services: ServiceIPs, **overrides: Any) -> Snapshot:
    """Three live nodes, two pools, one catch-all advertisement, endpoints everywhere."""
    fields: dict[str, Any] = {
        "services": services,
        "pools": POOLS,
        "advertisements": (ad(),),
        "nodes": NODES,
        "endpoints": {s.service.key: EVERYWHERE for s in services},
        "live": frozenset(NODES),
    }
    return Snapshot(**(fields | overrides))


def verdict_of(snap: Snapshot, name: str = "web") -> Reason:
    (found,) = [v for v in plan(snap).verdicts if v.service == key(name)]
    return found.reason


@pytest.mark.parametrize(
    ("snap", "reason"),
    [
        pytest.param(snapshot(held("web", "192.0.2.10")), Reason.ELECTED, id="a plain Service"),
        pytest.param(
            snapshot(held("web", "192.0.2.10", type="ClusterIP")),
            Reason.NOT_LOAD_BALANCER,
            id="a Service that is no longer a LoadBalancer",
        ),
        pytest.param(
            snapshot(held("web", "192.0.2.10", loadBalancerClass="other")),
            Reason.OTHER_CLASS,
            id="a Service of another load balancer class",
        ),
        pytest.param(
            snapshot(held("web", "192.0.2.10"), lb_class="ours"),
            Reason.OTHER_CLASS,
            id="a Service without a class when we run with --lb-class",
        ),
        pytest.param(
            snapshot(held("web", "192.0.2.10", loadBalancerClass="ours"), lb_class="ours"),
            Reason.ELECTED,
            id="a Service of our --lb-class",
        ),
        pytest.param(snapshot(held("web")), Reason.NO_IP_ALLOCATED, id="a Service without IPs"),
        pytest.param(
            snapshot(held("web", "203.0.113.1")),
            Reason.IP_NOT_ALLOWED,
            id="an IP outside every pool",
        ),
        pytest.param(
            snapshot(held("web", "192.0.2.10", "198.51.100.10")),
            Reason.IP_NOT_ALLOWED,
            id="IPs from two pools (MetalLB needs one pool holding all)",
        ),
        pytest.param(
            snapshot(held("web", "192.0.2.0")),
            Reason.ELECTED,
            id="an avoided .0 address still in the pool is announced, as MetalLB",
        ),
        pytest.param(
            snapshot(held("web", "192.0.2.10"), advertisements=(ad(ipAddressPools=["lab"]),)),
            Reason.NO_ADVERTISEMENT,
            id="a pool no advertisement covers",
        ),
        pytest.param(
            snapshot(
                held("web", "192.0.2.10"),
                advertisements=(ad(serviceSelectors=[{"matchLabels": {"expose": "lan"}}]),),
            ),
            Reason.NO_ADVERTISEMENT,
            id="advertisements whose serviceSelectors skip the Service",
        ),
        pytest.param(
            snapshot(held("web", "192.0.2.10"), endpoints={}),
            Reason.NO_ENDPOINTS,
            id="a Service without endpoints (no selector)",
        ),
        pytest.param(
            snapshot(
                held("web", "192.0.2.10"),
                endpoints={key("web"): Endpoints.of([EndpointState(node="n1", ready=False)])},
            ),
            Reason.NO_ENDPOINTS,
            id="a Service whose endpoints are not ready",
        ),
        pytest.param(
            snapshot(
                held("web", "192.0.2.10"),
                endpoints={
                    key("web"): Endpoints.of(
                        [EndpointState(node="n1", ready=False, serving=True, terminating=True)]
                    )
                },
            ),
            Reason.ELECTED,
            id="a Service whose only endpoint is terminating but serving",
        ),
        pytest.param(
            snapshot(
                held("web", "192.0.2.10", externalTrafficPolicy="Local"),
                endpoints={key("web"): Endpoints.of([EndpointState(node="n3")])},
                live=frozenset({"n1", "n2"}),
            ),
            Reason.NO_CANDIDATES,
            id="traffic policy Local with endpoints only where no speaker lives",
        ),
        pytest.param(
            snapshot(
                held("web", "192.0.2.10"),
                nodes={
                    n: NodeInfo(
                        name=n,
                        labels={"node.kubernetes.io/exclude-from-external-load-balancers": ""},
                    )
                    for n in NODES
                },
            ),
            Reason.NO_CANDIDATES,
            id="every node excluded from load balancers",
        ),
        pytest.param(
            snapshot(
                held("web", "192.0.2.10"),
                nodes={
                    n: NodeInfo(
                        name=n,
                        labels={"node.kubernetes.io/exclude-from-external-load-balancers": ""},
                    )
                    for n in NODES
                },
                ignore_exclude_lb=True,
            ),
            Reason.ELECTED,
            id="excluded nodes announce with --ignore-exclude-lb (single-node clusters)",
        ),
        pytest.param(
            snapshot(
                held("web", "192.0.2.10", annotations=shared("k"), labels={"expose": "lan"}),
                held("dns", "192.0.2.10", annotations=shared("k"), labels={"expose": "lan"}),
                advertisements=(ad(serviceSelectors=[{"matchLabels": {"expose": "lan"}}]),),
            ),
            Reason.ELECTED,
            id="a shared IP under serviceSelectors is announced (MetalLB drops it, §7 #15)",
        ),
    ],
)
def test_says_why_a_service_is_or_is_not_announced(snap, reason):
    assert verdict_of(snap) is reason


def test_the_winner_announces_on_all_interfaces_and_the_others_nothing():
    snap = snapshot(held("web", "192.0.2.10"))
    (decision,) = plan(snap).decisions
    assert decision.winner is not None
    assert announcements_for(decision.winner, snap) == {
        Announcement(ip=IPv4Address("192.0.2.10"), services=frozenset({key("web")}))
    }
    for other in set(NODES) - {decision.winner}:
        assert announcements_for(other, snap) == frozenset()


def test_an_unknown_node_announces_nothing():
    assert announcements_for("elsewhere", snapshot(held("web", "192.0.2.10"))) == frozenset()


@pytest.mark.parametrize(
    ("advertisements", "interfaces"),
    [
        pytest.param((ad(),), None, id="no interfaces listed means all of them"),
        pytest.param(
            (ad("a", interfaces=["eth1"]), ad("b", interfaces=["eth2", "eth1"])),
            frozenset({"eth1", "eth2"}),
            id="the union of the interfaces of every advertisement selecting the node",
        ),
        pytest.param(
            (ad("a", interfaces=["eth1"]), ad("b")),
            None,
            id="one advertisement allowing all interfaces allows all",
        ),
        pytest.param(
            (
                ad("a", interfaces=["eth1"]),
                ad("b", interfaces=["eth9"], nodeSelectors=[{"matchLabels": {"zone": "z"}}]),
            ),
            frozenset({"eth1"}),
            id="not the interfaces of an advertisement that does not select the node",
        ),
        pytest.param(
            (
                ad("a", interfaces=["eth1"]),
                ad("b", interfaces=["eth9"], ipAddressPools=["lab"]),
            ),
            frozenset({"eth1"}),
            id="not the interfaces of an advertisement for another pool",
        ),
    ],
)
def test_interfaces_come_from_the_advertisements_that_select_the_node(advertisements, interfaces):
    snap = snapshot(held("web", "192.0.2.10"), advertisements=advertisements)
    (decision,) = plan(snap).decisions
    assert decision.winner is not None
    (announcement,) = announcements_for(decision.winner, snap)
    assert announcement.interfaces == interfaces


def test_services_sharing_an_ip_are_announced_together_by_one_node():
    snap = snapshot(
        held("web", "192.0.2.10", annotations=shared("k")),
        held("dns", "192.0.2.10", annotations=shared("k")),
    )
    (decision,) = plan(snap).decisions
    everyone = {n: announcements_for(n, snap) for n in NODES}
    assert {n for n, found in everyone.items() if found} == {decision.winner}
    assert everyone[str(decision.winner)] == {
        Announcement(ip=IPv4Address("192.0.2.10"), services=frozenset({key("web"), key("dns")}))
    }


def test_a_shared_ip_is_announced_for_the_services_that_have_endpoints():
    snap = snapshot(
        held("web", "192.0.2.10", annotations=shared("k")),
        held("dns", "192.0.2.10", annotations=shared("k")),
        endpoints={key("web"): EVERYWHERE},
    )
    result = plan(snap)
    assert [d.services for d in result.decisions] == [frozenset({key("web")})]
    assert [(v.service.name, v.reason) for v in result.verdicts] == [
        ("dns", Reason.NO_ENDPOINTS),
        ("web", Reason.ELECTED),
    ]


def test_a_service_whose_own_nodes_lost_a_shared_ip_says_so():
    # Both Local with endpoints on different nodes: one owner, and one Service served elsewhere.
    snap = snapshot(
        held("web", "192.0.2.10", annotations=shared("k"), externalTrafficPolicy="Local"),
        held("dns", "192.0.2.10", annotations=shared("k"), externalTrafficPolicy="Local"),
        endpoints={
            key("web"): Endpoints.of([EndpointState(node="n1")]),
            key("dns"): Endpoints.of([EndpointState(node="n3")]),
        },
    )
    result = plan(snap)
    (decision,) = result.decisions
    assert decision.winner in {"n1", "n3"}
    assert sorted(v.reason for v in result.verdicts) == sorted(
        [Reason.ELECTED, Reason.ELECTED_FOR_SHARED_IP]
    )
    assert {v.winner for v in result.verdicts} == {decision.winner}


def test_an_ip_nobody_stands_for_reports_the_furthest_reason():
    snap = snapshot(
        held("web", "192.0.2.10", annotations=shared("k")),
        held("old", "192.0.2.10", type="ClusterIP"),
        held("foreign", "192.0.2.10", loadBalancerClass="other"),
        endpoints={},
    )
    assert plan(snap).decisions == (
        Decision(ip=IPv4Address("192.0.2.10"), winner=None, reason=Reason.NO_ENDPOINTS),
    )


def test_the_ips_of_another_class_are_not_ours_to_mention():
    snap = snapshot(held("foreign", "192.0.2.10", loadBalancerClass="other"))
    assert plan(snap).decisions == ()
    assert plan(snap).verdicts == (
        Verdict(
            service=key("foreign"),
            reason=Reason.OTHER_CLASS,
            ips=(IPv4Address("192.0.2.10"),),
        ),
    )


def test_both_ips_of_a_dual_stack_service_are_announced_by_one_node():
    snap = snapshot(held("web", "192.0.2.10", "2001:db8::10"))
    winners = {d.winner for d in plan(snap).decisions}
    assert len(winners) == 1
    (winner,) = winners
    assert {a.ip for a in announcements_for(str(winner), snap)} == {
        ip_address("192.0.2.10"),
        ip_address("2001:db8::10"),
    }


A = Announcement(ip=IPv4Address("192.0.2.1"), services=frozenset({key("a")}))
B = Announcement(ip=IPv4Address("192.0.2.2"), services=frozenset({key("b")}))
B_ETH1 = Announcement(
    ip=IPv4Address("192.0.2.2"), services=frozenset({key("b")}), interfaces=frozenset({"eth1"})
)
B_SHARED = Announcement(ip=IPv4Address("192.0.2.2"), services=frozenset({key("b"), key("c")}))


@pytest.mark.parametrize(
    ("old", "new", "changes"),
    [
        pytest.param(set(), set(), Changes(), id="nothing before or after"),
        pytest.param({A}, {A}, Changes(), id="the same set"),
        pytest.param(set(), {A}, Changes(gained=frozenset({A})), id="a takeover gains an IP"),
        pytest.param({A}, set(), Changes(lost=frozenset({A})), id="a loss loses an IP"),
        pytest.param(
            {A, B}, {A, B_ETH1}, Changes(changed=frozenset({B_ETH1})), id="other interfaces"
        ),
        pytest.param(
            {B}, {B_SHARED}, Changes(changed=frozenset({B_SHARED})), id="another Service joins"
        ),
        pytest.param(
            {A},
            {B},
            Changes(gained=frozenset({B}), lost=frozenset({A})),
            id="one IP for another",
        ),
    ],
)
def test_diffs_announcement_sets_by_ip(old, new, changes):
    assert diff(old, new) == changes
