from ipaddress import ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


# Overlaps: a sweep in start order must keep the farthest end seen so far ------------------

OLDEST, OLDER, YOUNGEST = "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"


@pytest.mark.parametrize(
    ("ranges", "rejected"),
    [
        pytest.param(
            [("a", "192.0.2.0-192.0.2.100"), ("b", "192.0.2.10-192.0.2.20")],
            ["b"],
            id="a contains b",
        ),
        pytest.param(
            [
                ("a", "192.0.2.0-192.0.2.100"),
                ("b", "192.0.2.10-192.0.2.20"),
                ("c", "192.0.2.50-192.0.2.60"),
            ],
            ["b", "c"],
            id="a holds both b and c, which are disjoint",
        ),
        pytest.param(
            [
                ("a", "192.0.2.0-192.0.2.10"),
                ("b", "192.0.2.50-192.0.2.60"),
                ("c", "192.0.2.20-192.0.2.55"),
            ],
            ["c"],
            id="the youngest reaches past a range that starts after it",
        ),
        pytest.param(
            [
                ("a", "192.0.2.0-192.0.2.10"),
                ("b", "192.0.2.11-192.0.2.20"),
                ("c", "192.0.2.21-192.0.2.30"),
            ],
            [],
            id="adjacent ranges do not overlap",
        ),
    ],
)
def test_the_younger_of_overlapping_pools_is_rejected_however_they_nest(ranges, rejected):
    ages = iter([OLDEST, OLDER, YOUNGEST])
    result = parse_pools([pool_object(name, r, created=next(ages)) for name, r in ranges])
    assert sorted(str(e).split(":")[0].rsplit("/", 1)[1] for e in result.problems) == rejected
    assert [p.name for p in result.pools] == [n for n, _ in ranges if n not in rejected]


@pytest.mark.parametrize(
    "addresses",
    [
        pytest.param(
            ("192.0.2.0-192.0.2.10", "192.0.2.50-192.0.2.60", "192.0.2.20-192.0.2.55"),
            id="the last entry reaches into one that starts after it",
        ),
        pytest.param(
            ("192.0.2.0-192.0.2.100", "192.0.2.200/29", "192.0.2.90/30"),
            id="the first entry holds the last",
        ),
    ],
)
def test_a_pool_whose_own_entries_overlap_is_rejected(addresses):
    with pytest.raises(SpecError, match=r"spec\.addresses\[2\] .* overlaps spec\.addresses"):
        parse_pool(pool_object("p", *addresses))


def overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def dotted(r: tuple[int, int]) -> str:
    return f"192.0.2.{r[0]}-192.0.2.{r[1]}"


small_ranges = st.lists(
    st.tuples(st.integers(0, 40), st.integers(0, 8)).map(lambda t: (t[0], t[0] + t[1])),
    max_size=6,
)


@given(small_ranges.filter(bool))
def test_a_pool_is_rejected_exactly_when_two_of_its_entries_overlap(ranges):
    clash = any(overlap(a, b) for i, a in enumerate(ranges) for b in ranges[i + 1 :])
    try:
        parse_pool(pool_object("p", *map(dotted, ranges)))
    except SpecError:
        assert clash
    else:
        assert not clash


@given(st.lists(small_ranges.filter(bool), max_size=5))
def test_parse_pools_keeps_every_pool_clear_of_older_kept_ones_and_no_other(pools):
    # Each pool is a set of disjoint ranges; the oracle accepts pools oldest first, pairwise.
    pools = [
        kept
        for kept in pools
        if not any(overlap(a, b) for i, a in enumerate(kept) for b in kept[i + 1 :])
    ]
    expected: list[list[tuple[int, int]]] = []
    for ranges in pools:
        if not any(overlap(a, b) for older in expected for a in older for b in ranges):
            expected.append(ranges)
    objects = [
        pool_object(f"p{i}", *map(dotted, ranges), created=f"2026-01-01T00:00:{i:02d}Z")
        for i, ranges in enumerate(pools)
    ]
    result = parse_pools(objects)
    assert [p.name for p in result.pools] == [f"p{pools.index(r)}" for r in expected]
    assert len(result.problems) == len(pools) - len(expected)
