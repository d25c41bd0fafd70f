from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metalpool.addresses import AddressRange, Family, count_buggy, parse_range
from metalpool.errors import SpecError, Where

WHERE = Where("IPAddressPool metallb-system/public", "spec.addresses[1]")


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        pytest.param("192.0.2.0/24", "192.0.2.0", "192.0.2.255", id="an IPv4 CIDR"),
        pytest.param("192.0.2.7/24", "192.0.2.0", "192.0.2.255", id="host bits are dropped"),
        pytest.param("192.0.2.9/32", "192.0.2.9", "192.0.2.9", id="a single address"),
        pytest.param("192.0.2.10-192.0.2.20", "192.0.2.10", "192.0.2.20", id="a range"),
        pytest.param(" 192.0.2.10 - 192.0.2.20 ", "192.0.2.10", "192.0.2.20", id="spaces"),
        pytest.param("192.0.2.5-192.0.2.5", "192.0.2.5", "192.0.2.5", id="a one-address range"),
        pytest.param("2001:db8::/64", "2001:db8::", "2001:db8::ffff:ffff:ffff:ffff", id="v6 /64"),
        pytest.param("2001:db8::1-2001:db8::9", "2001:db8::1", "2001:db8::9", id="a v6 range"),
    ],
)
def test_parses_cidrs_and_ranges(text, first, last):
    assert parse_range(text, WHERE) == AddressRange(ip_address(first), ip_address(last))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("10.0.0.300/32", '"10.0.0.300/32" is not an IP network or range', id="octet"),
        pytest.param("192.0.2.0/33", "is not an IP network or range", id="prefix too long"),
        pytest.param("192.0.2.9", "write 192.0.2.9/32 for one address", id="no prefix length"),
        pytest.param("x-192.0.2.9", 'invalid start IP "x"', id="bad range start"),
        pytest.param("192.0.2.1-y", 'invalid end IP "y"', id="bad range end"),
        pytest.param("192.0.2.9-192.0.2.1", "starts after it ends", id="backwards"),
        pytest.param("192.0.2.1-2001:db8::1", "mixes IPv4 and IPv6", id="mixed families"),
        pytest.param("1-2-3", "is not an IP network or range", id="two dashes"),
        pytest.param("", "is not an IP network or range", id="empty"),
    ],
)
def test_rejects_bad_entries_naming_pool_field_and_value(text, problem):
    with pytest.raises(SpecError) as caught:
        parse_range(text, WHERE)
    message = str(caught.value)
    assert message.startswith("IPAddressPool metallb-system/public: spec.addresses[1] ")
    assert problem in message


def test_the_issue_example_message_is_exact():
    with pytest.raises(SpecError) as caught:
        parse_range("10.0.0.300/32", WHERE)
    assert str(caught.value) == (
        'IPAddressPool metallb-system/public: spec.addresses[1] "10.0.0.300/32" is not an IP'
        " network or range"
    )


def test_a_range_prints_as_a_cidr_when_it_is_one():
    assert str(parse_range("192.0.2.0-192.0.2.255", WHERE)) == "192.0.2.0/24"
    assert str(parse_range("192.0.2.1-192.0.2.3", WHERE)) == "192.0.2.1-192.0.2.3"


def test_huge_ranges_have_a_size_without_being_listed():
    r = parse_range("2001:db8::/32", WHERE)
    assert r.size == 2**96
    assert r.family is Family.IPV6
    assert IPv6Address("2001:db8:ffff::1") in r
    assert IPv4Address("192.0.2.1") not in r


def test_intersection_of_overlapping_ranges():
    a = parse_range("192.0.2.0/25", WHERE)
    b = parse_range("192.0.2.100-192.0.2.200", WHERE)
    assert a.intersection(b) == parse_range("192.0.2.100-192.0.2.127", WHERE)
    assert a.intersection(parse_range("192.0.2.128/25", WHERE)) is None
    assert a.intersection(parse_range("2001:db8::/64", WHERE)) is None


@given(st.integers(0, 2**20), st.integers(0, 2**12))
def test_counting_buggy_addresses_matches_listing_them(first, span):
    last = first + span
    assert count_buggy(first, last) == sum(1 for x in range(first, last + 1) if x % 256 in (0, 255))
