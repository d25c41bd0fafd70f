"""The two annotations of docs/lan.md: a Service's address conflicts, a pool's quarantine."""

import contextlib
import json
from datetime import UTC, datetime
from ipaddress import ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metalpool.errors import SpecError, Where
from metalpool.quarantine import (
    Conflict,
    Quarantined,
    format_conflicts,
    format_quarantine,
    parse_conflicts,
    parse_quarantine,
    read_conflicts,
    read_quarantine,
)
from tests.support.objects import pool_object, service_object

CONFLICT_KEY = "metalpool.io/address-conflict"
QUARANTINE_KEY = "metalpool.io/quarantine"
WHERE = Where("Service demo/web", "metadata.annotations").key(CONFLICT_KEY)
POOL_WHERE = Where("IPAddressPool metallb-system/lan", "metadata.annotations").key(QUARANTINE_KEY)
SINCE = datetime(2024, 5, 1, 12, 30, 5, tzinfo=UTC)


def conflict(ip: str = "198.51.100.75", mac: str = "02:00:00:00:00:99") -> Conflict:
    return Conflict(ip=ip_address(ip), mac=mac, interface="eth0", node="node-a")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(None, (), id="absent"),
        pytest.param("", (), id="blank"),
        pytest.param("[]", (), id="empty list"),
        pytest.param(
            '[{"ip": "198.51.100.75", "mac": "02:00:00:00:00:99", "interface": "eth0",'
            ' "node": "node-a"}]',
            (conflict(),),
            id="one conflict",
        ),
        pytest.param(
            '[{"ip": "2001:db8::7"}]',
            (Conflict(ip=ip_address("2001:db8::7"), mac="", interface="", node=""),),
            id="only the address",
        ),
    ],
)
def test_conflicts_parse(raw, expected):
    assert parse_conflicts(raw, WHERE) == expected


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        pytest.param("not json", "is not JSON (Expecting value at character 0)", id="not JSON"),
        pytest.param('{"ip": "192.0.2.1"}', "is not a JSON list of conflicts", id="an object"),
        pytest.param('["192.0.2.1"]', "[0] is not a JSON object", id="a bare address"),
        pytest.param('[{"mac": "x"}]', "[0].ip None is not an IP address", id="no address"),
        pytest.param('[{"ip": "192.0.2.300"}]', '[0].ip "192.0.2.300" is not', id="bad address"),
        pytest.param('[{"ip": "192.0.2.1", "mac": 7}]', "[0].mac 7 is not a string", id="mac"),
    ],
)
def test_a_malformed_conflict_annotation_is_an_error_naming_the_service_and_the_key(raw, problem):
    with pytest.raises(SpecError) as caught:
        parse_conflicts(raw, WHERE)
    message = str(caught.value)
    assert message.startswith(f'Service demo/web: metadata.annotations["{CONFLICT_KEY}"]')
    assert problem in message


def test_conflicts_are_read_from_a_service_object():
    obj = service_object(annotations={CONFLICT_KEY: format_conflicts([conflict()])})
    assert read_conflicts(obj) == (conflict(),)
    assert read_conflicts(service_object()) == ()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(None, {}, id="absent"),
        pytest.param("  ", {}, id="blank"),
        pytest.param("{}", {}, id="empty"),
        pytest.param(
            '{"198.51.100.75": {}}',
            {ip_address("198.51.100.75"): Quarantined(ip=ip_address("198.51.100.75"))},
            id="quarantined by hand",
        ),
        pytest.param(
            '{"198.51.100.75": {"mac": "02:00:00:00:00:99", "interface": "eth0", "node": "node-a",'
            ' "service": "demo/web", "since": "2024-05-01T12:30:05Z", "note": "ignored"}}',
            {
                ip_address("198.51.100.75"): Quarantined(
                    ip=ip_address("198.51.100.75"),
                    mac="02:00:00:00:00:99",
                    interface="eth0",
                    node="node-a",
                    service="demo/web",
                    since=SINCE,
                )
            },
            id="written by the controller",
        ),
    ],
)
def test_quarantine_parses(raw, expected):
    assert parse_quarantine(raw, POOL_WHERE) == expected


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        pytest.param("{", "is not JSON", id="not JSON"),
        pytest.param('["198.51.100.75"]', "is not a JSON object of address", id="a list"),
        pytest.param('{"lan": {}}', '["lan"] "lan" is not an IP address', id="key not an address"),
        pytest.param(
            '{"198.51.100.75": "x"}', '["198.51.100.75"] is not a JSON object', id="value"
        ),
        pytest.param(
            '{"2001:db8::1": {}, "2001:db8:0::1": {}}',
            '["2001:db8:0::1"] names 2001:db8::1 a second time',
            id="one address twice",
        ),
        pytest.param(
            '{"198.51.100.75": {"since": "yesterday"}}',
            "since 'yesterday' is not an RFC 3339 time",
            id="since",
        ),
    ],
)
def test_a_malformed_quarantine_is_an_error_naming_the_pool_and_the_key(raw, problem):
    with pytest.raises(SpecError) as caught:
        parse_quarantine(raw, POOL_WHERE)
    message = str(caught.value)
    assert message.startswith(
        f'IPAddressPool metallb-system/lan: metadata.annotations["{QUARANTINE_KEY}"]'
    )
    assert problem in message


def test_the_quarantine_is_read_from_a_pool_object():
    obj = pool_object("lan", "198.51.100.0/24")
    obj["metadata"]["annotations"] = {QUARANTINE_KEY: '{"198.51.100.75": {}}'}
    assert list(read_quarantine(obj)) == [ip_address("198.51.100.75")]
    assert read_quarantine(pool_object("lan", "198.51.100.0/24")) == {}


def test_the_quarantine_is_written_by_address_ipv4_first_with_every_field():
    entries = [
        Quarantined(ip=ip_address("2001:db8::1")),
        Quarantined(ip=ip_address("198.51.100.75"), mac="02:00:00:00:00:99", since=SINCE),
        Quarantined(ip=ip_address("198.51.100.9")),
    ]
    written = json.loads(format_quarantine(entries))
    assert list(written) == ["198.51.100.9", "198.51.100.75", "2001:db8::1"]
    assert written["198.51.100.75"] == {
        "mac": "02:00:00:00:00:99",
        "interface": "",
        "node": "",
        "service": "",
        "since": "2024-05-01T12:30:05Z",
    }


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        pytest.param(
            Quarantined(
                ip=ip_address("192.0.2.1"), mac="02:00:00:00:00:99", interface="eth0", node="n1"
            ),
            "02:00:00:00:00:99 on eth0, seen by node n1",
            id="everything known",
        ),
        pytest.param(Quarantined(ip=ip_address("192.0.2.1")), "MAC unknown", id="by hand"),
    ],
)
def test_a_quarantine_entry_says_who_holds_the_address(entry, words):
    assert entry.describe() == words


addresses = st.one_of(
    st.integers(0, 2**32 - 1).map(ip_address), st.integers(0, 2**128 - 1).map(ip_address)
)
texts = st.text(max_size=12)
conflicts = st.builds(Conflict, ip=addresses, mac=texts, interface=texts, node=texts)
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda t: t.replace(microsecond=0))
quarantined = st.builds(
    Quarantined,
    ip=addresses,
    mac=texts,
    interface=texts,
    node=texts,
    service=texts,
    since=st.none() | times,
)


@given(st.lists(conflicts, max_size=4))
def test_conflicts_read_back_as_written(written):
    assert parse_conflicts(format_conflicts(written), WHERE) == tuple(written)


@given(st.lists(quarantined, max_size=4, unique_by=lambda q: q.ip))
def test_the_quarantine_reads_back_as_written(written):
    assert parse_quarantine(format_quarantine(written), POOL_WHERE) == {q.ip: q for q in written}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@given(st.one_of(st.text(max_size=40), json_values.map(json.dumps)))
def test_parsing_anything_either_reads_or_raises_a_spec_error(raw):
    for parse, where in ((parse_conflicts, WHERE), (parse_quarantine, POOL_WHERE)):
        with contextlib.suppress(SpecError):
            parse(raw, where)
