from ipaddress import ip_address

import pytest

from metalpool.addresses import MAX_INT64, Family
from metalpool.errors import SpecError
from metalpool.pools import parse_pool, parse_pools
from tests.support.objects import pool, pool_object


def test_parses_a_metallb_pool_with_defaults():
    parsed = pool("public", "192.0.2.0/24", "2001:db8::1-2001:db8::9")
    assert parsed.name == "public"
    assert parsed.namespace == "metallb-system"
    assert parsed.auto_assign is True
    assert parsed.avoid_buggy_ips is False
    assert parsed.allocation is None
    assert parsed.families == {Family.IPV4, Family.IPV6}


def test_parses_service_allocation():
    parsed = pool(
        "team",
        "192.0.2.0/24",
        serviceAllocation={
            "priority": 5,
            "namespaces": ["a", "b"],
            "namespaceSelectors": [{"matchLabels": {"team": "x"}}],
            "serviceSelectors": [
                {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]}
            ],
        },
    )
    assert parsed.allocation is not None
    assert parsed.allocation.priority == 5
    assert parsed.allocation.namespaces == {"a", "b"}
    assert str(parsed.allocation.namespace_selectors[0]) == "team=x"
    assert str(parsed.allocation.service_selectors[0]) == "tier in (web)"
    assert not parsed.allocation.selects_every_service


def test_a_service_allocation_with_only_a_priority_selects_every_service():
    parsed = pool("p", "192.0.2.0/24", serviceAllocation={"priority": 1})
    assert parsed.allocation is not None
    assert parsed.allocation.selects_every_service


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        pytest.param(
            pool_object("p"),
            "IPAddressPool metallb-system/p: spec.addresses must list at least one CIDR or range",
            id="no addresses",
        ),
        pytest.param(
            {"metadata": {"name": "p", "namespace": "metallb-system"}},
            "IPAddressPool metallb-system/p: spec is missing",
            id="no spec",
        ),
        pytest.param(
            pool_object("p", "192.0.2.0/24", "10.0.0.300/32"),
            'IPAddressPool metallb-system/p: spec.addresses[1] "10.0.0.300/32" is not an IP'
            " network or range",
            id="a bad entry",
        ),
        pytest.param(
            pool_object("p", "192.0.2.0/24", "192.0.2.128/25"),
            'IPAddressPool metallb-system/p: spec.addresses[1] "192.0.2.128/25" overlaps'
            ' spec.addresses[0] "192.0.2.0/24" (both hold 192.0.2.128/25)',
            id="entries overlapping inside one pool",
        ),
        pytest.param(
            pool_object("p", "192.0.2.0/24", autoAssign="yes"),
            "IPAddressPool metallb-system/p: spec.autoAssign 'yes' is not true or false",
            id="autoAssign not a bool",
        ),
        pytest.param(
            pool_object("p", "192.0.2.0/24", serviceAllocation={"priority": -1}),
            "IPAddressPool metallb-system/p: spec.serviceAllocation.priority -1 is not a whole"
            " number >= 0",
            id="negative priority",
        ),
        pytest.param(
            pool_object("p", "192.0.2.0/24", serviceAllocation={"namespaces": ["a", "a"]}),
            "IPAddressPool metallb-system/p: spec.serviceAllocation.namespaces names the same"
            " namespace twice",
            id="duplicate namespaces",
        ),
        pytest.param(
            pool_object(
                "p",
                "192.0.2.0/24",
                serviceAllocation={"serviceSelectors": [{"matchLabels": {"a": "b"}}] * 2},
            ),
            "IPAddressPool metallb-system/p: spec.serviceAllocation.serviceSelectors[1] repeats"
            ' the selector "a=b"',
            id="duplicate selectors",
        ),
        pytest.param(
            pool_object(
                "p",
                "192.0.2.0/24",
                serviceAllocation={
                    "namespaceSelectors": [
                        {"matchExpressions": [{"key": "a", "operator": "Near", "values": ["b"]}]}
                    ]
                },
            ),
            "IPAddressPool metallb-system/p: spec.serviceAllocation.namespaceSelectors[0]"
            ".matchExpressions[0].operator 'Near' is not one of In, NotIn, Exists, DoesNotExist",
            id="bad selector operator",
        ),
    ],
)
def test_rejects_invalid_pools_naming_object_and_field(obj, message):
    with pytest.raises(SpecError) as caught:
        parse_pool(obj)
    assert str(caught.value) == message


def test_overlapping_pools_reject_the_younger_naming_both_and_the_overlap():
    result = parse_pools(
        [
            pool_object("b-new", "192.0.2.128/25", created="2026-02-01T00:00:00Z"),
            pool_object("z-old", "192.0.2.0/24", created="2026-01-01T00:00:00Z"),
            pool_object("other", "198.51.100.0/24", created="2026-03-01T00:00:00Z"),
        ]
    )
    assert [p.name for p in result.pools] == ["other", "z-old"]
    assert [str(e) for e in result.problems] == [
        'IPAddressPool metallb-system/b-new: spec.addresses[0] "192.0.2.128/25" overlaps'
        ' IPAddressPool metallb-system/z-old spec.addresses[0] "192.0.2.0/24" (both hold'
        " 192.0.2.128/25); this pool is ignored until the overlap is removed"
    ]


def test_overlap_is_found_between_ranges_and_cidrs_of_any_shape():
    result = parse_pools(
        [
            pool_object("a", "192.0.2.10-192.0.2.20", "2001:db8::/120"),
            pool_object("b", "198.51.100.0/24", "2001:db8::ff-2001:db8::1ff"),
        ]
    )
    assert [p.name for p in result.pools] == ["a"]
    assert "(both hold 2001:db8::ff/128)" in str(result.problems[0])


def test_a_bad_pool_does_not_hide_the_good_ones():
    result = parse_pools([pool_object("bad", "nope/1"), pool_object("good", "192.0.2.0/24")])
    assert [p.name for p in result.pools] == ["good"]
    assert len(result.problems) == 1


@pytest.mark.parametrize(
    ("addresses", "avoid", "v4", "v6"),
    [
        pytest.param(("192.0.2.0/24",), False, 256, 0, id="a /24"),
        pytest.param(("192.0.2.0/24",), True, 254, 0, id="a /24 avoiding .0 and .255"),
        pytest.param(("10.0.0.0/16",), True, 65536 - 512, 0, id="a /16 avoiding buggy"),
        pytest.param(("192.0.2.0/30",), True, 3, 0, id="a /30 avoiding its .0"),
        pytest.param(("192.0.2.254-192.0.3.1",), True, 2, 0, id="a range across a /24 edge"),
        pytest.param(("192.0.2.10/32",), True, 1, 0, id="one address"),
        pytest.param(("2001:db8::/126",), True, 0, 4, id="IPv6 is never buggy"),
        pytest.param(("2001:db8::/64",), False, 0, MAX_INT64, id="a huge IPv6 CIDR is MaxInt64"),
        pytest.param(
            ("192.0.2.0/30", "2001:db8::/126"), False, 4, 4, id="the dual-stack e2e example"
        ),
    ],
)
def test_capacity_follows_metallbs_formula(addresses, avoid, v4, v6):
    parsed = pool("p", *addresses, avoidBuggyIPs=avoid)
    assert (parsed.capacity(Family.IPV4), parsed.capacity(Family.IPV6)) == (v4, v6)


def test_avoided_addresses_are_not_part_of_the_pool():
    parsed = pool("p", "192.0.2.0/24", avoidBuggyIPs=True)
    assert not parsed.contains(ip_address("192.0.2.0"))
    assert not parsed.contains(ip_address("192.0.2.255"))
    assert parsed.contains(ip_address("192.0.2.1"))
