"""Why a Service is not announced: each reason, its words, and agreement with the plan."""

from ipaddress import ip_address
from typing import Any

import pytest
from hypothesis import given

from metalpool.advertisements import L2Advertisement, parse_l2_advertisement
from metalpool.services import ServiceKey
from speaker.cluster.announcements import ServiceIPs, Snapshot, plan
from speaker.cluster.nodes import Endpoints, EndpointState, NodeInfo
from speaker.cluster.reasons import AnnouncedReason, Explanation, explain, unannounced
from tests.speaker.cluster.test_announcements_properties import snapshots
from tests.support.objects import l2_advertisement_object, pool, service

R = AnnouncedReason
EXCLUDE = "node.kubernetes.io/exclude-from-external-load-balancers"
NODES = {
    n: NodeInfo(name=n, labels={"zone": z}) for n, z in [("n1", "a"), ("n2", "a"), ("n3", "b")]
}
EVERYWHERE = Endpoints.of(EndpointState(node=n) for n in NODES)
POOLS = (pool("public", "192.0.2.0/24", "2001:db8::/120"), pool("lab", "198.51.100.0/24"))


def ad(name: str = "l2", **spec: Any) -> L2Advertisement:
    return parse_l2_advertisement(l2_advertisement_object(name, **spec))


def held(*ips: str, name: str = "web", **kwargs: Any) -> ServiceIPs:
    return ServiceIPs(service=service(name, **kwargs), ingress=tuple(ip_address(i) for i in ips))


WEB = held("192.0.2.10")
LOCAL = held("192.0.2.10", externalTrafficPolicy="Local")


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


def on(*nodes: str | None) -> dict[ServiceKey, Endpoints]:
    """The web Service's endpoints, ready on these nodes."""
    return {WEB.service.key: Endpoints.of(EndpointState(node=n) for n in nodes)}


def labelled(**extra: dict[str, str]) -> dict[str, NodeInfo]:
    """NODES with extra labels on some of them."""
    return {
        name: NodeInfo(name=name, labels={**node.labels, **extra.get(name, {})})
        for name, node in NODES.items()
    }


@pytest.mark.parametrize(
    ("held_service", "overrides", "expected"),
    [
        pytest.param(
            held("203.0.113.7"),
            {},
            Explanation(
                reason=R.NO_ADVERTISEMENT,
                message="no IPAddressPool holds 203.0.113.7, so no L2Advertisement announces it",
            ),
            id="an address no pool holds is announced by no advertisement",
        ),
        pytest.param(
            WEB,
            {"advertisements": (ad("lab-only", ipAddressPools=["lab"]),)},
            Explanation(
                reason=R.NO_ADVERTISEMENT, message='no L2Advertisement selects pool "public"'
            ),
            id="no advertisement selects the pool",
        ),
        pytest.param(
            WEB,
            {"advertisements": (ad("lan", serviceSelectors=[{"matchLabels": {"x": "y"}}]),)},
            Explanation(
                reason=R.NO_ADVERTISEMENT,
                message='L2Advertisement "lan" selects pool "public", but its serviceSelectors'
                " do not select this Service",
            ),
            id="the advertisements for the pool do not select the Service",
        ),
        pytest.param(
            WEB,
            {"endpoints": {}},
            Explanation(reason=R.NO_ENDPOINTS, message="the Service has no ready endpoint"),
            id="no endpoint at all",
        ),
        pytest.param(
            WEB,
            {"endpoints": {WEB.service.key: Endpoints.of([EndpointState(node="n1", ready=False)])}},
            Explanation(reason=R.NO_ENDPOINTS, message="the Service has no ready endpoint"),
            id="endpoints that are not ready",
        ),
        pytest.param(
            WEB,
            {
                "advertisements": (
                    ad("zone-c", nodeSelectors=[{"matchLabels": {"zone": "c"}}]),
                    ad("gpu", nodeSelectors=[{"matchLabels": {"gpu": "yes"}}]),
                )
            },
            Explanation(
                reason=R.NO_NODE_SELECTED,
                message='the nodeSelectors of L2Advertisements "gpu", "zone-c" match no node',
            ),
            id="the nodeSelectors match no node",
        ),
        pytest.param(
            WEB,
            {"nodes": {}, "live": frozenset()},
            Explanation(
                reason=R.NO_NODE_SELECTED,
                message='the nodeSelectors of L2Advertisement "l2" match no node',
            ),
            id="no node is known at all",
        ),
        pytest.param(
            WEB,
            {
                "nodes": labelled(n1={EXCLUDE: ""}, n2={EXCLUDE: "true"})
                | {"n3": NodeInfo(name="n3", labels={"zone": "b"}, network_unavailable=True)}
            },
            Explanation(
                reason=R.NO_ELIGIBLE_NODE,
                message='no node selected by L2Advertisement "l2" may announce it: n1, n2'
                f" (label {EXCLUDE}), n3 (NetworkUnavailable)",
            ),
            id="every selected node is excluded, and the message says how",
        ),
        pytest.param(
            WEB,
            {
                "advertisements": (ad(nodeSelectors=[{"matchLabels": {"zone": "a"}}]),),
                "live": frozenset({"n3"}),
            },
            Explanation(
                reason=R.NO_ELIGIBLE_NODE,
                message='no node selected by L2Advertisement "l2" may announce it: n1, n2'
                " (no live speaker)",
            ),
            id="the selected nodes have no live speaker",
        ),
        pytest.param(
            LOCAL,
            {"endpoints": {LOCAL.service.key: Endpoints.of([EndpointState(node=None)])}},
            Explanation(
                reason=R.NO_LOCAL_ENDPOINT,
                message="externalTrafficPolicy is Local and no node that may announce it"
                " (n1, n2, n3) runs a ready endpoint",
            ),
            id="Local, with endpoints on no named node",
        ),
        pytest.param(
            LOCAL,
            {
                "endpoints": on("n3", "n4"),
                "advertisements": (ad(nodeSelectors=[{"matchLabels": {"zone": "a"}}]),),
            },
            Explanation(
                reason=R.NO_LOCAL_ENDPOINT,
                message="externalTrafficPolicy is Local and no node that may announce it"
                " (n1, n2) runs a ready endpoint; its ready endpoints run on n3 (not selected"
                " by the advertisements), n4 (no such Node)",
            ),
            id="Local, with endpoints only where nobody may announce",
        ),
        pytest.param(
            LOCAL,
            {"endpoints": on("n3"), "live": frozenset({"n1", "n2"})},
            Explanation(
                reason=R.NO_LOCAL_ENDPOINT,
                message="externalTrafficPolicy is Local and no node that may announce it"
                " (n1, n2) runs a ready endpoint; its ready endpoints run on n3 (no live"
                " speaker)",
            ),
            id="Local, with the endpoint's node without a speaker",
        ),
        pytest.param(
            LOCAL,
            {
                "endpoints": on("n3"),
                "nodes": labelled(n1={EXCLUDE: ""}, n2={EXCLUDE: ""}, n3={EXCLUDE: ""}),
            },
            Explanation(
                reason=R.NO_ELIGIBLE_NODE,
                message='no node selected by L2Advertisement "l2" may announce it: n1, n2, n3'
                f" (label {EXCLUDE})",
            ),
            id="Local, but no node may announce at all: that is said first",
        ),
    ],
)
def test_each_reason_names_what_is_missing(held_service, overrides, expected):
    snap = snapshot(held_service, **overrides)
    assert explain(held_service, snap) == expected


def test_the_exclusion_label_counts_for_nothing_with_ignore_exclude_lb():
    nodes = labelled(n1={EXCLUDE: ""}, n2={EXCLUDE: ""}, n3={EXCLUDE: ""})
    snap = snapshot(LOCAL, endpoints=on(None), nodes=nodes, ignore_exclude_lb=True)
    assert explain(LOCAL, snap).reason is R.NO_LOCAL_ENDPOINT


def test_long_node_lists_name_five_nodes_and_count_the_rest():
    nodes = {f"node-{i:02}": NodeInfo(name=f"node-{i:02}") for i in range(8)}
    snap = snapshot(WEB, nodes=nodes, live=frozenset())
    assert explain(WEB, snap).message == (
        'no node selected by L2Advertisement "l2" may announce it: node-00, node-01, node-02,'
        " node-03, node-04 and 3 more (no live speaker)"
    )


@pytest.mark.parametrize(
    ("services", "expected"),
    [
        pytest.param((WEB,), {}, id="an announced Service is not mentioned"),
        pytest.param(
            (
                held("192.0.2.10", type="ClusterIP"),
                held(name="new"),
                held("192.0.2.11", loadBalancerClass="other", name="other"),
            ),
            {},
            id="nothing is said on Services that are not ours, not LoadBalancers or hold nothing",
        ),
        pytest.param(
            (held("203.0.113.7"),),
            {
                WEB.service.key: Explanation(
                    reason=R.NO_ADVERTISEMENT,
                    message="no IPAddressPool holds 203.0.113.7, so no L2Advertisement"
                    " announces it",
                )
            },
            id="a Service no pool holds the address of is told why",
        ),
    ],
)
def test_unannounced_lists_our_services_with_an_address_nobody_won(services, expected):
    snap = snapshot(*services)
    assert unannounced(snap, plan(snap)) == expected


def test_unannounced_explains_a_service_whose_endpoints_are_gone():
    snap = snapshot(WEB, endpoints={})
    assert unannounced(snap, plan(snap)) == {
        WEB.service.key: Explanation(
            reason=R.NO_ENDPOINTS, message="the Service has no ready endpoint"
        )
    }


@given(snapshots())
def test_a_service_is_explained_exactly_when_one_of_its_addresses_has_no_winner(snap):
    planned = plan(snap)
    winners = {d.ip: d.winner for d in planned.decisions}
    explained = unannounced(snap, planned)
    for held_service in snap.services:
        ours = held_service.service.is_load_balancer and held_service.ingress
        unwon = any(winners.get(ip) is None for ip in held_service.ingress)
        assert (held_service.service.key in explained) == bool(ours and unwon)


@given(snapshots())
def test_an_explanation_never_contradicts_the_plan(snap):
    """Whatever the cluster, the reason given matches the plan's own verdict for the Service."""
    planned = plan(snap)
    verdicts = {v.service: v.reason.value for v in planned.verdicts}
    expected = {
        "ipNotAllowed": {R.NO_ADVERTISEMENT},
        "noAdvertisement": {R.NO_ADVERTISEMENT},
        "noServingEndpoints": {R.NO_ENDPOINTS},
        "noCandidates": {R.NO_NODE_SELECTED, R.NO_ELIGIBLE_NODE, R.NO_LOCAL_ENDPOINT},
        "electedForSharedIP": {R.NO_NODE_SELECTED, R.NO_ELIGIBLE_NODE, R.NO_LOCAL_ENDPOINT},
    }
    for key, explanation in unannounced(snap, planned).items():
        assert explanation.reason in expected[verdicts[key]]
        assert "may announce it (nodes selected" not in explanation.message  # never the fallback
