"""The allocator's rules, one table per section of metallb-compat.md §3."""

from ipaddress import ip_address

import pytest

from controller.allocator import Allocation, Allocator
from controller.refusals import PoolSkip, Reason, Refusal
from metalpool.addresses import Family
from tests.support.objects import pool, service, shared

POOL = "metallb.io/address-pool"
IPS = "metallb.io/loadBalancerIPs"
DUAL = ("10.96.0.1", "fd00::1")


def outcome(result: Allocation | Refusal | None) -> object:
    """A result as a test reads it: the pool and IPs, or the refusal reason."""
    if isinstance(result, Allocation):
        return result.pool, [str(ip) for ip in result.ips]
    return result.reason if result is not None else None


def fill(allocator: Allocator, count: int, prefix: str = "filler") -> None:
    for i in range(count):
        assert isinstance(allocator.allocate(service(f"{prefix}{i}")), Allocation)


# §3.2 — lowest free address first, in spec.addresses order --------------------------------


@pytest.mark.parametrize(
    ("addresses", "avoid", "already", "expected"),
    [
        pytest.param(("192.0.2.0/24",), False, 0, "192.0.2.0", id="network address first"),
        pytest.param(("192.0.2.0/24",), True, 0, "192.0.2.1", id="avoidBuggyIPs skips .0"),
        pytest.param(("192.0.2.0/24",), False, 255, "192.0.2.255", id="broadcast address last"),
        pytest.param(("192.0.2.0/23",), True, 253, "192.0.2.254", id="254 usable per /24"),
        pytest.param(("192.0.2.0/23",), True, 254, "192.0.3.1", id="skips .255 and .0"),
        pytest.param(
            ("198.51.100.8/30", "192.0.2.0/30"),
            False,
            4,
            "192.0.2.0",
            id="spec.addresses order, not numeric order",
        ),
        pytest.param(
            ("192.0.2.10-192.0.2.12", "192.0.2.40/31"),
            False,
            3,
            "192.0.2.40",
            id="a range, then the next entry",
        ),
        pytest.param(("2001:db8::/124",), False, 0, "2001:db8::", id="IPv6 hands out :: first"),
        pytest.param(("2001:db8::/124",), True, 0, "2001:db8::", id="no buggy IPv6 addresses"),
    ],
)
def test_hands_out_the_lowest_free_address_in_spec_order(addresses, avoid, already, expected):
    family = ("fd00::1",) if ":" in expected else ("10.96.0.1",)
    allocator = Allocator([pool("p", *addresses, avoidBuggyIPs=avoid)])
    for i in range(already):
        allocator.allocate(service(f"s{i}", cluster_ips=family))
    assert outcome(allocator.allocate(service("new", cluster_ips=family))) == ("p", [expected])


def test_a_released_address_is_the_next_one_handed_out():
    allocator = Allocator([pool("p", "192.0.2.0/24")])
    fill(allocator, 5)
    allocator.release(service("filler2").key)
    assert outcome(allocator.allocate(service("new"))) == ("p", ["192.0.2.2"])


# §3.3 — which pool --------------------------------------------------------------------------

PINNED = {"priority": 1}


@pytest.mark.parametrize(
    ("pools", "svc", "expected"),
    [
        pytest.param(
            [pool("b", "192.0.2.0/24"), pool("a", "198.51.100.0/24")],
            service(),
            ("a", ["198.51.100.0"]),
            id="plain pools are tried by name",
        ),
        pytest.param(
            [pool("a", "192.0.2.0/24"), pool("z", "198.51.100.0/24", serviceAllocation=PINNED)],
            service(),
            ("z", ["198.51.100.0"]),
            id="a pool with serviceAllocation comes before plain pools",
        ),
        pytest.param(
            [
                pool("p0", "192.0.2.0/24", serviceAllocation={"priority": 0}),
                pool("p5", "198.51.100.0/24", serviceAllocation={"priority": 5}),
                pool("p2", "203.0.113.0/24", serviceAllocation={"priority": 2}),
            ],
            service(),
            ("p2", ["203.0.113.0"]),
            id="lower positive priority first, 0 last",
        ),
        pytest.param(
            [
                pool("b", "192.0.2.0/24", serviceAllocation={"priority": 3}),
                pool("a", "198.51.100.0/24", serviceAllocation={"priority": 3}),
            ],
            service(),
            ("a", ["198.51.100.0"]),
            id="equal priorities are broken by name",
        ),
        pytest.param(
            [
                pool("mine", "192.0.2.0/24", serviceAllocation={"namespaces": ["demo"]}),
                pool("any", "198.51.100.0/24"),
            ],
            service(namespace="demo"),
            ("mine", ["192.0.2.0"]),
            id="a pool listing the namespace is pinned",
        ),
        pytest.param(
            [
                pool("theirs", "192.0.2.0/24", serviceAllocation={"namespaces": ["other"]}),
                pool("any", "198.51.100.0/24"),
            ],
            service(namespace="demo"),
            ("any", ["198.51.100.0"]),
            id="a pool for another namespace is skipped",
        ),
        pytest.param(
            [pool("theirs", "192.0.2.0/24", serviceAllocation={"namespaces": ["other"]})],
            service(namespace="demo"),
            Reason.NO_POOL_MATCHES,
            id="a pool with serviceAllocation is never a fallback",
        ),
        pytest.param(
            [
                pool(
                    "web",
                    "192.0.2.0/24",
                    serviceAllocation={"serviceSelectors": [{"matchLabels": {"tier": "web"}}]},
                ),
                pool("any", "198.51.100.0/24"),
            ],
            service(labels={"tier": "web"}),
            ("web", ["192.0.2.0"]),
            id="a service selector pins the pool",
        ),
        pytest.param(
            [
                pool(
                    "web",
                    "192.0.2.0/24",
                    serviceAllocation={
                        "namespaces": ["demo"],
                        "serviceSelectors": [{"matchLabels": {"tier": "web"}}],
                    },
                ),
                pool("any", "198.51.100.0/24"),
            ],
            service(labels={"tier": "db"}),
            ("any", ["198.51.100.0"]),
            id="namespace and selector must both match",
        ),
        pytest.param(
            [pool("off", "192.0.2.0/24", autoAssign=False), pool("on", "198.51.100.0/24")],
            service(),
            ("on", ["198.51.100.0"]),
            id="autoAssign false is not used automatically",
        ),
        pytest.param(
            [pool("off", "192.0.2.0/24", autoAssign=False), pool("on", "198.51.100.0/24")],
            service(annotations={POOL: "off"}),
            ("off", ["192.0.2.0"]),
            id="autoAssign false is used when named",
        ),
        pytest.param(
            [pool("a", "192.0.2.0/24"), pool("b", "198.51.100.0/24")],
            service(annotations={POOL: "b"}),
            ("b", ["198.51.100.0"]),
            id="the pool annotation wins over automatic order",
        ),
        pytest.param(
            [pool("a", "192.0.2.0/24")],
            service(annotations={POOL: "nope"}),
            Reason.POOL_NOT_FOUND,
            id="an unknown pool",
        ),
        pytest.param(
            [pool("a", "192.0.2.0/24", serviceAllocation={"namespaces": ["other"]})],
            service(annotations={POOL: "a"}),
            Reason.POOL_INCOMPATIBLE,
            id="a named pool must still accept the service",
        ),
        pytest.param(
            [pool("a", "192.0.2.0/24"), pool("b", "198.51.100.0/24")],
            service(annotations={IPS: "198.51.100.7", POOL: "a"}),
            Reason.REQUESTED_IP_NOT_IN_REQUESTED_POOL,
            id="requested IPs win but must agree with the pool annotation",
        ),
        pytest.param(
            [pool("a", "192.0.2.0/24", autoAssign=False)],
            service(loadBalancerIP="192.0.2.77"),
            ("a", ["192.0.2.77"]),
            id="a requested IP ignores autoAssign",
        ),
        pytest.param(
            [],
            service(),
            Reason.NO_POOL_MATCHES,
            id="no pools at all",
        ),
    ],
)
def test_chooses_the_pool_by_metallbs_precedence(pools, svc, expected):
    assert outcome(Allocator(pools).allocate(svc)) == expected


def test_namespace_selectors_resolve_against_namespace_labels():
    team = pool(
        "team",
        "192.0.2.0/24",
        serviceAllocation={"namespaceSelectors": [{"matchLabels": {"team": "x"}}]},
    )
    fallback = pool("any", "198.51.100.0/24")
    labelled = Allocator([team, fallback], {"demo": {"team": "x"}})
    unlabelled = Allocator([team, fallback], {"demo": {}})
    assert outcome(labelled.allocate(service())) == ("team", ["192.0.2.0"])
    assert outcome(unlabelled.allocate(service())) == ("any", ["198.51.100.0"])


def test_a_namespace_selector_matching_nothing_admits_nobody():
    # MetalLB lets any namespace request such a pool's IPs explicitly; we keep the restriction.
    team = pool(
        "team",
        "192.0.2.0/24",
        serviceAllocation={"namespaceSelectors": [{"matchLabels": {"team": "x"}}]},
    )
    refusal = Allocator([team], {}).allocate(service(loadBalancerIP="192.0.2.5"))
    assert outcome(refusal) == Reason.POOL_INCOMPATIBLE


def test_falls_through_exhausted_pools_in_order():
    allocator = Allocator(
        [pool("a", "192.0.2.0/31", serviceAllocation=PINNED), pool("b", "198.51.100.0/31")]
    )
    fill(allocator, 3)
    assert outcome(allocator.allocate(service("fourth"))) == ("b", ["198.51.100.1"])


def test_a_refusal_says_which_pools_were_considered_and_why():
    allocator = Allocator(
        [
            pool("full", "192.0.2.0/32"),
            pool("manual", "198.51.100.0/24", autoAssign=False),
            pool("others", "203.0.113.0/24", serviceAllocation={"namespaces": ["ops"]}),
            pool("v6", "2001:db8::/64"),
        ]
    )
    fill(allocator, 1)
    refusal = allocator.allocate(service("late"))
    assert isinstance(refusal, Refusal)
    assert refusal.reason is Reason.POOL_EXHAUSTED
    assert refusal.message == "no available IPs"
    assert {(v.pool, v.skip) for v in refusal.verdicts} == {
        ("full", PoolSkip.EXHAUSTED),
        ("manual", PoolSkip.AUTO_ASSIGN_DISABLED),
        ("others", PoolSkip.NOT_SELECTED),
        ("v6", PoolSkip.LACKS_FAMILY),
    }
    assert refusal.explain() == (
        "no available IPs (pool manual: autoAssign is false; ask for it with the"
        ' metallb.io/address-pool annotation; pool others: namespace "demo" is not among'
        " spec.serviceAllocation.namespaces/namespaceSelectors; pool full: no IPv4 address"
        " free for this Service (1 in use); pool v6: has no IPv4 addresses)"
    )


def test_a_named_exhausted_pool_says_so_in_metallbs_words():
    allocator = Allocator([pool("tiny", "192.0.2.0/32")])
    fill(allocator, 1)
    refusal = allocator.allocate(service("late", annotations={POOL: "tiny"}))
    assert isinstance(refusal, Refusal)
    assert refusal.reason is Reason.POOL_EXHAUSTED
    assert refusal.message == "no available IPs in pool tiny for IPv4 IPFamily"


# requested IPs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("svc", "expected"),
    [
        pytest.param(service(loadBalancerIP="192.0.2.9"), ("p", ["192.0.2.9"]), id="free IP"),
        pytest.param(
            service(loadBalancerIP="203.0.113.9"),
            Reason.REQUESTED_IP_NOT_IN_ANY_POOL,
            id="outside every pool",
        ),
        pytest.param(
            service(loadBalancerIP="198.51.100.0"),
            Reason.REQUESTED_IP_NOT_IN_ANY_POOL,
            id="an avoided .0 address is not in the pool",
        ),
        pytest.param(
            service(annotations={IPS: "192.0.2.9,2001:db8::9"}, cluster_ips=DUAL),
            ("p", ["192.0.2.9", "2001:db8::9"]),
            id="a dual-stack pair from one pool",
        ),
        pytest.param(
            service(annotations={IPS: "192.0.2.9,2001:db8:1::9"}, cluster_ips=DUAL),
            Reason.REQUESTED_IP_NOT_IN_ANY_POOL,
            id="a pair split over two pools",
        ),
        pytest.param(
            service(loadBalancerIP="2001:db8::9"),
            Reason.FAMILY_MISMATCH,
            id="an IPv6 address for an IPv4 service",
        ),
        pytest.param(
            service(
                loadBalancerIP="192.0.2.9", cluster_ips=DUAL, ipFamilyPolicy="RequireDualStack"
            ),
            Reason.FAMILY_MISMATCH,
            id="one address for a RequireDualStack service",
        ),
        pytest.param(
            service(loadBalancerIP="192.0.2.1"),
            Reason.REQUESTED_IP_IN_USE,
            id="an address another service holds",
        ),
    ],
)
def test_requested_ips_are_claimed_exactly_or_refused(svc, expected):
    allocator = Allocator(
        [
            pool("p", "192.0.2.0/24", "2001:db8::/64"),
            pool("q", "2001:db8:1::/64", "198.51.100.0/24", avoidBuggyIPs=True),
        ]
    )
    allocator.allocate(service("first", loadBalancerIP="192.0.2.1"))
    assert outcome(allocator.allocate(svc)) == expected


def test_a_refused_requested_ip_leaves_the_service_without_an_address():
    allocator = Allocator([pool("p", "192.0.2.0/24")])
    allocator.allocate(service(loadBalancerIP="192.0.2.5"))
    outcome(allocator.allocate(service(loadBalancerIP="203.0.113.5")))
    assert allocator.holding(service().key) is None


# §3.4 — IP families -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pools", "svc", "expected"),
    [
        pytest.param(
            [pool("dual", "192.0.2.0/24", "2001:db8::/64")],
            service(),
            ("dual", ["192.0.2.0"]),
            id="a single-stack service takes one family from a dual pool",
        ),
        pytest.param(
            [pool("dual", "192.0.2.0/24", "2001:db8::/64")],
            service(cluster_ips=("fd00::1",)),
            ("dual", ["2001:db8::"]),
            id="an IPv6 service takes IPv6",
        ),
        pytest.param(
            [pool("v4", "192.0.2.0/24"), pool("v6", "2001:db8::/64")],
            service(cluster_ips=("fd00::1",)),
            ("v6", ["2001:db8::"]),
            id="a pool without the family is skipped",
        ),
        pytest.param(
            [pool("a4", "198.51.100.0/24"), pool("b-dual", "192.0.2.0/24", "2001:db8::/64")],
            service(cluster_ips=DUAL, ipFamilyPolicy="RequireDualStack"),
            ("b-dual", ["192.0.2.0", "2001:db8::"]),
            id="RequireDualStack needs one pool with both families",
        ),
        pytest.param(
            [pool("v4", "192.0.2.0/24")],
            service(cluster_ips=DUAL, ipFamilyPolicy="RequireDualStack"),
            Reason.FAMILY_UNAVAILABLE,
            id="RequireDualStack with only an IPv4 pool gets nothing",
        ),
        pytest.param(
            [pool("v4", "192.0.2.0/24"), pool("v6", "2001:db8::/64")],
            service(cluster_ips=DUAL, ipFamilyPolicy="PreferDualStack"),
            ("v4", ["192.0.2.0"]),
            id="PreferDualStack falls back to the primary family",
        ),
        pytest.param(
            [pool("v4", "192.0.2.0/24"), pool("v6", "2001:db8::/64")],
            service(
                cluster_ips=("fd00::1", "10.96.0.1"),
                ipFamilies=["IPv6", "IPv4"],
                ipFamilyPolicy="PreferDualStack",
            ),
            ("v6", ["2001:db8::"]),
            id="ipFamilies[0] IPv6 makes IPv6 the primary family",
        ),
        pytest.param(
            [pool("v6", "2001:db8::/64")],
            service(cluster_ips=DUAL, ipFamilyPolicy="PreferDualStack"),
            ("v6", ["2001:db8::"]),
            id="PreferDualStack takes the secondary family when it is all there is",
        ),
        pytest.param(
            [pool("dual", "192.0.2.0/24", "2001:db8::/64")],
            service(cluster_ips=("10.96.0.1",), ipFamilyPolicy="RequireDualStack"),
            Reason.NOT_ENOUGH_CLUSTER_IPS,
            id="RequireDualStack with one cluster IP",
        ),
        pytest.param(
            [pool("dual", "192.0.2.0/24")],
            service(cluster_ips=()),
            Reason.NO_CLUSTER_IP,
            id="no cluster IP, no family, no address",
        ),
    ],
)
def test_follows_the_ip_family_rules(pools, svc, expected):
    assert outcome(Allocator(pools).allocate(svc)) == expected


def test_prefer_dual_stack_is_topped_up_from_the_same_pool():
    allocator = Allocator([pool("p", "192.0.2.0/24")])
    prefer = service(cluster_ips=DUAL, ipFamilyPolicy="PreferDualStack")
    assert outcome(allocator.allocate(prefer)) == ("p", ["192.0.2.0"])
    refusal = allocator.top_up(prefer)
    assert isinstance(refusal, Refusal)
    assert refusal.message == "no available IPs in pool p for IPv6 IPFamily"
    allocator.set_pools([pool("p", "192.0.2.0/24", "2001:db8::/64")])
    assert outcome(allocator.top_up(prefer)) == ("p", ["192.0.2.0", "2001:db8::"])
    assert allocator.top_up(prefer) is None


def test_a_held_pair_is_dropped_when_its_pool_loses_a_family():
    allocator = Allocator([pool("p", "192.0.2.0/24", "2001:db8::/64")])
    require = service(cluster_ips=DUAL, ipFamilyPolicy="RequireDualStack")
    allocator.allocate(require)
    evictions = allocator.set_pools([pool("p", "192.0.2.0/24")])
    assert [e.allocation.service for e in evictions] == [require.key]
    assert evictions[0].refusal.reason is Reason.REQUESTED_IP_NOT_IN_ANY_POOL


# §3.5 — sharing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("second", "expected"),
    [
        pytest.param(
            service("b", annotations=shared("k"), ports=(("UDP", 5353),)),
            ("p", ["192.0.2.0"]),
            id="same key, other ports: shares",
        ),
        pytest.param(
            service("b", annotations=shared("k"), ports=(("TCP", 53),)),
            ("p", ["192.0.2.0"]),
            id="TCP/53 and UDP/53 differ",
        ),
        pytest.param(
            service("b", annotations=shared("other"), ports=(("UDP", 53),)),
            ("p", ["192.0.2.1"]),
            id="another key gets its own address",
        ),
        pytest.param(
            service("b", ports=(("UDP", 53),)),
            ("p", ["192.0.2.1"]),
            id="no key gets its own address",
        ),
        pytest.param(
            service(
                "b", annotations=shared("k"), ports=(("UDP", 53),), externalTrafficPolicy="Local"
            ),
            ("p", ["192.0.2.1"]),
            id="Cluster and Local never share",
        ),
    ],
)
def test_same_key_services_pack_onto_one_address(second, expected):
    allocator = Allocator([pool("p", "192.0.2.0/24")])
    allocator.allocate(service("a", annotations=shared("k"), ports=(("TCP", 80), ("UDP", 53))))
    assert outcome(allocator.allocate(second)) == expected


@pytest.mark.parametrize(
    ("second", "reason"),
    [
        pytest.param(
            service("b", annotations=shared("k"), loadBalancerIP="192.0.2.5"),
            Reason.PORT_CONFLICT,
            id="the same port",
        ),
        pytest.param(
            service("b", annotations=shared("x"), ports=(("UDP", 1),), loadBalancerIP="192.0.2.5"),
            Reason.SHARING_KEY_CONFLICT,
            id="another key",
        ),
        pytest.param(
            service("b", ports=(("UDP", 1),), loadBalancerIP="192.0.2.5"),
            Reason.REQUESTED_IP_IN_USE,
            id="no key",
        ),
        pytest.param(
            service(
                "b",
                annotations=shared("k"),
                ports=(("UDP", 1),),
                loadBalancerIP="192.0.2.5",
                externalTrafficPolicy="Local",
            ),
            Reason.SHARING_KEY_CONFLICT,
            id="another backend",
        ),
    ],
)
def test_a_requested_shared_address_is_refused_when_sharing_is_not_allowed(second, reason):
    allocator = Allocator([pool("p", "192.0.2.0/24")])
    allocator.allocate(service("a", annotations=shared("k"), loadBalancerIP="192.0.2.5"))
    assert outcome(allocator.allocate(second)) == reason


def test_local_services_share_only_with_the_same_pods():
    allocator = Allocator([pool("p", "192.0.2.0/24")])
    key = shared("k")
    local = "Local"
    allocator.allocate(
        service("a", selector={"app": "x"}, annotations=key, externalTrafficPolicy=local)
    )
    same = allocator.allocate(
        service(
            "b",
            selector={"app": "x"},
            ports=(("UDP", 9),),
            annotations=key,
            externalTrafficPolicy=local,
        )
    )
    other = allocator.allocate(
        service(
            "c",
            selector={"app": "y"},
            ports=(("UDP", 8),),
            annotations=key,
            externalTrafficPolicy=local,
        )
    )
    assert outcome(same) == ("p", ["192.0.2.0"])
    assert outcome(other) == ("p", ["192.0.2.1"])


def test_a_sole_user_may_change_its_sharing_terms_in_place():
    allocator = Allocator([pool("p", "192.0.2.0/24")])
    allocator.allocate(service("a", annotations=shared("k")))
    assert outcome(allocator.allocate(service("a", externalTrafficPolicy="Local"))) == (
        "p",
        ["192.0.2.0"],
    )


def test_a_shared_address_is_freed_only_when_its_last_user_leaves():
    allocator = Allocator([pool("p", "192.0.2.0/24")])
    allocator.allocate(service("a", annotations=shared("k")))
    allocator.allocate(service("b", annotations=shared("k"), ports=(("UDP", 1),)))
    allocator.release(service("a").key)
    assert allocator.users(ip_address("192.0.2.0")) == {service("b").key}
    assert allocator.usage()[0].assigned[Family.IPV4] == 1
    allocator.release(service("b").key)
    assert allocator.usage()[0].assigned[Family.IPV4] == 0


def test_sharing_prefers_the_lowest_compatible_address():
    allocator = Allocator([pool("p", "192.0.2.0/24")])
    allocator.allocate(service("x"))
    allocator.allocate(service("a", annotations=shared("k")))
    allocator.release(service("x").key)
    assert outcome(
        allocator.allocate(service("b", annotations=shared("k"), ports=(("UDP", 1),)))
    ) == (
        "p",
        ["192.0.2.0"],
    )


# §3.6 to 3.8 — holding, re-validation, release -----------------------------------------------


def test_allocating_again_keeps_what_the_service_holds():
    allocator = Allocator([pool("p", "192.0.2.0/24")])
    first = allocator.allocate(service())
    allocator.release(service("other").key)
    assert allocator.allocate(service()) == first


def test_a_restart_reclaims_held_addresses_before_new_allocations():
    allocator = Allocator([pool("p", "192.0.2.0/24")])
    assert outcome(allocator.claim(service("old"), (ip_address("192.0.2.0"),))) == (
        "p",
        ["192.0.2.0"],
    )
    assert outcome(allocator.allocate(service("new"))) == ("p", ["192.0.2.1"])


def test_changing_the_requested_ip_moves_the_service():
    allocator = Allocator([pool("p", "192.0.2.0/24")])
    allocator.allocate(service())
    assert outcome(allocator.allocate(service(loadBalancerIP="192.0.2.50"))) == (
        "p",
        ["192.0.2.50"],
    )
    assert allocator.users(ip_address("192.0.2.0")) == frozenset()


def test_changing_the_pool_annotation_moves_the_service():
    allocator = Allocator([pool("a", "192.0.2.0/24"), pool("b", "198.51.100.0/24")])
    allocator.allocate(service())
    assert outcome(allocator.allocate(service(annotations={POOL: "b"}))) == ("b", ["198.51.100.0"])


@pytest.mark.parametrize(
    ("new_pools", "namespaces", "evicted", "pool_after"),
    [
        pytest.param([pool("p", "192.0.2.0/24")], None, False, "p", id="unchanged pools keep"),
        pytest.param([pool("p", "192.0.2.128/25")], None, True, None, id="a shrunk pool evicts"),
        pytest.param([pool("other", "203.0.113.0/24")], None, True, None, id="a deleted pool"),
        pytest.param([], None, True, None, id="all pools deleted"),
        pytest.param(
            [pool("p", "192.0.2.0/24", autoAssign=False)],
            None,
            False,
            "p",
            id="autoAssign turned off keeps what is held",
        ),
        pytest.param(
            [pool("p", "192.0.2.0/24", avoidBuggyIPs=True)],
            None,
            True,
            None,
            id="avoidBuggyIPs turned on evicts a .0 holder",
        ),
        pytest.param(
            [pool("renamed", "192.0.2.0/24")],
            None,
            False,
            "renamed",
            id="an address now in another pool is re-attributed",
        ),
        pytest.param(
            [pool("p", "192.0.2.0/24", serviceAllocation={"namespaces": ["ops"]})],
            None,
            True,
            None,
            id="a namespace restriction added evicts",
        ),
        pytest.param(
            [
                pool(
                    "p",
                    "192.0.2.0/24",
                    serviceAllocation={"namespaceSelectors": [{"matchLabels": {"t": "x"}}]},
                )
            ],
            {"demo": {"t": "y"}},
            True,
            None,
            id="namespace labels no longer matching evict",
        ),
        pytest.param(
            [
                pool(
                    "p",
                    "192.0.2.0/24",
                    serviceAllocation={"serviceSelectors": [{"matchLabels": {"t": "x"}}]},
                )
            ],
            None,
            True,
            None,
            id="a service selector no longer matching evicts",
        ),
    ],
)
def test_pool_changes_revalidate_held_addresses(new_pools, namespaces, evicted, pool_after):
    allocator = Allocator([pool("p", "192.0.2.0/24")])
    allocator.allocate(service())
    evictions = allocator.set_pools(new_pools, namespaces)
    assert bool(evictions) is evicted
    held = allocator.holding(service().key)
    assert (held.pool if held else None) == pool_after


def test_an_eviction_frees_the_address_for_others():
    allocator = Allocator([pool("p", "192.0.2.0/31")])
    fill(allocator, 2)
    allocator.set_pools([pool("p", "192.0.2.1/32")])
    assert allocator.usage()[0].assigned[Family.IPV4] == 1
    assert allocator.holding(service("filler0").key) is None


def test_release_frees_and_returns_what_was_held():
    allocator = Allocator([pool("p", "192.0.2.0/24")])
    held = allocator.allocate(service())
    assert allocator.release(service().key) == held
    assert allocator.release(service().key) is None
    assert allocator.holding(service().key) is None


# §3.10 — counters -------------------------------------------------------------------------


def test_usage_counts_distinct_addresses_per_family_as_the_e2e_example():
    allocator = Allocator([pool("p", "192.0.2.0/30", "2001:db8::/126")])
    allocator.allocate(service(cluster_ips=DUAL, ipFamilyPolicy="RequireDualStack"))
    usage = allocator.usage()[0]
    assert (usage.assigned[Family.IPV4], usage.assigned[Family.IPV6]) == (1, 1)
    assert (usage.available(Family.IPV4), usage.available(Family.IPV6)) == (3, 3)
    allocator.set_pools([pool("p", "192.0.2.0/29", "2001:db8::/125")])
    usage = allocator.usage()[0]
    assert (usage.available(Family.IPV4), usage.available(Family.IPV6)) == (7, 7)
    allocator.release(service().key)
    usage = allocator.usage()[0]
    assert (usage.available(Family.IPV4), usage.available(Family.IPV6)) == (8, 8)


# §3.2 — avoidBuggyIPs, pool exhausted ------------------------------------------------------


def exhaust(allocator: Allocator) -> list[str]:
    """Allocate to new Services until the allocator refuses; the addresses handed out."""
    handed: list[str] = []
    for i in range(1024):
        result = allocator.allocate(service(f"s{i}"))
        if not isinstance(result, Allocation):
            return handed
        handed.extend(str(ip) for ip in result.ips)
    raise AssertionError("the pool never ran out")


@pytest.mark.parametrize(
    ("addresses", "expected"),
    [
        pytest.param(
            ("192.0.2.0/24",),
            [f"192.0.2.{n}" for n in range(1, 255)],
            id="a /24 hands out .1 to .254",
        ),
        pytest.param(
            ("192.0.2.250-192.0.2.255", "198.51.100.0-198.51.100.5"),
            [f"192.0.2.{n}" for n in range(250, 255)] + [f"198.51.100.{n}" for n in range(1, 6)],
            id="ranges ending in .255 and starting at .0",
        ),
        pytest.param(
            ("192.0.2.254-192.0.3.1",),
            ["192.0.2.254", "192.0.3.1"],
            id="a range across a /24 edge",
        ),
    ],
)
def test_an_exhausted_avoid_buggy_pool_handed_out_every_usable_address_once(addresses, expected):
    parsed = pool("p", *addresses, avoidBuggyIPs=True)
    handed = exhaust(Allocator([parsed]))
    assert handed == expected
    assert all(parsed.contains(ip_address(ip)) for ip in handed)
    assert not any(ip.endswith((".0", ".255")) for ip in handed)
