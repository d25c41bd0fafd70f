import hashlib
import hmac
import struct
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metalpool.addresses import IPAddress
from speaker.membership.messages import (
    ETHERTYPE,
    GROUP_MAC,
    MAX_CLAIM_FILTER,
    MAX_FRAME,
    Handoff,
    Heartbeat,
    Rejection,
    build_frame,
    claim_filter,
    decode,
    encode_handoffs,
    encode_heartbeat,
    may_claim,
)

KEY = b"k" * 32
OLD_KEY = b"o" * 32
MAC = bytes.fromhex("02aabbccddee")
HEARTBEAT = Heartbeat(
    node="node-a",
    incarnation=7,
    sequence=42,
    interval=0.5,
    hold=1.5,
    ready=True,
    claims=claim_filter([IPv4Address("10.0.0.1")]),
)
HANDOFF = Handoff(
    node="node-a",
    incarnation=7,
    sequence=43,
    to="node-b",
    ips=(IPv4Address("10.0.0.1"), IPv6Address("fd00::1")),
)
U64 = st.integers(0, 2**64 - 1)
MILLIS = st.integers(1, 65535).map(lambda ms: ms / 1000)
LABEL = r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?"
DNS_NAMES = st.from_regex(rf"{LABEL}(\.{LABEL}){{0,4}}", fullmatch=True)
UTF8_NAMES = st.text(min_size=1, max_size=80).filter(lambda s: len(s.encode()) <= 253)
NAMES = DNS_NAMES | UTF8_NAMES
HEARTBEATS = st.builds(
    Heartbeat,
    node=NAMES,
    incarnation=U64,
    sequence=U64,
    interval=MILLIS,
    hold=MILLIS,
    ready=st.booleans(),
    leaving=st.booleans(),
    claims=st.binary(max_size=MAX_CLAIM_FILTER),
)
IPS = st.ip_addresses()


def frame_of(payload: bytes) -> bytes:
    return build_frame(MAC, payload)


def signed(
    body: bytes,
    *,
    magic: bytes = b"MP",
    version: int = 1,
    kind: int = 1,
    flags: int = 0,
    reserved: int = 0,
    key: bytes = KEY,
) -> bytes:
    """A frame laid out by hand from the wire table and signed here, not by the codec."""
    data = struct.pack("!2sBBBBH", magic, version, kind, flags, reserved, len(body)) + body
    tag = hmac.new(key, data, hashlib.sha256).digest()[:16]
    return GROUP_MAC + MAC + struct.pack("!H", ETHERTYPE) + data + tag


def identity(node: bytes = b"a", incarnation: int = 1, sequence: int = 2) -> bytes:
    return struct.pack("!QQB", incarnation, sequence, len(node)) + node


def timers(interval: int = 500, hold: int = 1500, claims: bytes = b"") -> bytes:
    return struct.pack("!HHH", interval, hold, len(claims)) + claims


def hand_to(to: bytes = b"b", *entries: bytes, count: int | None = None) -> bytes:
    declared = len(entries) if count is None else count
    return bytes([len(to)]) + to + struct.pack("!H", declared) + b"".join(entries)


def handoff_in(frame: bytes) -> Handoff:
    result = decode(frame, [KEY])
    assert not isinstance(result, Rejection)
    message, source = result
    assert isinstance(message, Handoff)
    assert source == MAC
    return message


# ---------------------------------------------------------------- round trips


@given(heartbeat=HEARTBEATS)
def test_any_heartbeat_survives_a_round_trip_through_a_frame(heartbeat):
    assert decode(frame_of(encode_heartbeat(heartbeat, KEY)), [KEY]) == (heartbeat, MAC)


@pytest.mark.parametrize(
    "heartbeat",
    [
        pytest.param(HEARTBEAT, id="ready-with-claims"),
        pytest.param(
            Heartbeat(node="n", incarnation=0, sequence=0, interval=0.001, hold=0.001),
            id="smallest",
        ),
        pytest.param(
            Heartbeat(
                node="x" * 253,
                incarnation=2**64 - 1,
                sequence=2**64 - 1,
                interval=65.535,
                hold=65.535,
                ready=True,
                leaving=True,
                claims=b"\xff" * MAX_CLAIM_FILTER,
            ),
            id="largest",
        ),
        pytest.param(
            Heartbeat(node="nœud-ü", incarnation=1, sequence=1, interval=1, hold=3, leaving=True),
            id="non-ascii-name-leaving",
        ),
    ],
)
def test_heartbeats_round_trip(heartbeat):
    frame = frame_of(encode_heartbeat(heartbeat, KEY))
    assert len(frame) <= MAX_FRAME
    assert decode(frame, [KEY]) == (heartbeat, MAC)


@pytest.mark.parametrize(
    "handoff",
    [
        pytest.param(HANDOFF, id="both-families"),
        pytest.param(Handoff(node="a", incarnation=1, sequence=1, to="b", ips=()), id="no-ips"),
        pytest.param(
            Handoff(node="ノード", incarnation=1, sequence=1, to="b", ips=(ip_address("::"),)),
            id="non-ascii-name",
        ),
    ],
)
def test_small_handoffs_round_trip_in_one_frame(handoff):
    [payload] = encode_handoffs(handoff, KEY)
    assert decode(frame_of(payload), [KEY]) == (handoff, MAC)


@settings(max_examples=40)
@given(
    node=NAMES,
    to=NAMES,
    sequence=st.integers(0, 2**32),
    ips=st.lists(IPS, max_size=800),
)
def test_a_handoff_is_split_into_frames_that_carry_every_ip_in_order(node, to, sequence, ips):
    handoff = Handoff(node=node, incarnation=9, sequence=sequence, to=to, ips=tuple(ips))
    frames = [frame_of(payload) for payload in encode_handoffs(handoff, KEY)]
    parts = [handoff_in(frame) for frame in frames]
    assert all(len(frame) <= MAX_FRAME for frame in frames)
    assert parts == [
        Handoff(node=node, incarnation=9, sequence=sequence + i, to=to, ips=part.ips)
        for i, part in enumerate(parts)
    ]
    assert tuple(ip for part in parts for ip in part.ips) == handoff.ips


def test_a_thousand_ipv4_addresses_take_four_frames_with_consecutive_sequences():
    ips = tuple(IPv4Address("10.0.0.0") + n for n in range(1000))
    handoff = Handoff(node="node-a", incarnation=1, sequence=100, to="node-b", ips=ips)
    payloads = encode_handoffs(handoff, KEY)
    # 1500 - (8 header + 16 counters + 7 + 7 names + 2 count + 16 MAC) = 1444 bytes = 288 entries
    assert [decode(frame_of(payload), [KEY]) for payload in payloads] == [
        (Handoff(node="node-a", incarnation=1, sequence=100 + i, to="node-b", ips=part), MAC)
        for i, part in enumerate((ips[:288], ips[288:576], ips[576:864], ips[864:]))
    ]
    assert len(frame_of(payloads[0])) == MAX_FRAME - 4  # the 289th entry would need 5 bytes


def test_decode_accepts_a_memoryview_and_ignores_bytes_after_the_mac():
    frame = frame_of(encode_heartbeat(HEARTBEAT, KEY)) + bytes(20)
    assert decode(memoryview(frame), [KEY]) == (HEARTBEAT, MAC)


def test_a_short_frame_is_padded_to_the_ethernet_minimum_for_group_mac():
    frame = build_frame(MAC, b"MP")
    assert frame == GROUP_MAC + MAC + b"\x88\xb5" + b"MP" + bytes(44)


# ---------------------------------------------------------------- rejections


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(encode_heartbeat(HEARTBEAT, KEY), id="heartbeat"),
        pytest.param(encode_handoffs(HANDOFF, KEY)[0], id="handoff"),
    ],
)
def test_a_frame_cut_anywhere_before_the_end_of_its_mac_is_truncated(payload):
    frame = frame_of(payload)
    assert len(frame) == 14 + len(payload)  # no padding: every cut removes a MAC byte or more
    assert {decode(frame[:cut], [KEY]) for cut in range(len(frame))} == {Rejection.TRUNCATED}


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(encode_heartbeat(HEARTBEAT, KEY), id="heartbeat"),
        pytest.param(encode_handoffs(HANDOFF, KEY)[0], id="handoff"),
    ],
)
def test_flipping_any_single_payload_bit_is_never_accepted(payload):
    frame = frame_of(payload)
    results = set()
    for bit in range(14 * 8, len(frame) * 8):
        flipped = bytearray(frame)
        flipped[bit // 8] ^= 1 << (bit % 8)
        results.add(decode(bytes(flipped), [KEY]))
    # A flip that grows the body length makes the frame look cut short: TRUNCATED.
    assert results == {Rejection.FORGED, Rejection.MALFORMED, Rejection.TRUNCATED}


@pytest.mark.parametrize(
    ("frame", "keys", "expected"),
    [
        pytest.param(frame_of(encode_heartbeat(HEARTBEAT, KEY)), [OLD_KEY], Rejection.FORGED,
                     id="wrong-key"),
        pytest.param(frame_of(encode_heartbeat(HEARTBEAT, KEY)), [], Rejection.FORGED,
                     id="no-keys"),
        pytest.param(b"", [KEY], Rejection.TRUNCATED, id="empty"),
        pytest.param(GROUP_MAC + MAC + b"\x88", [KEY], Rejection.TRUNCATED,
                     id="shorter-than-ethernet-header"),
        pytest.param(GROUP_MAC + MAC + b"\x88\xb5MP\x01", [KEY], Rejection.TRUNCATED,
                     id="shorter-than-our-header"),
        pytest.param(GROUP_MAC + MAC + b"\x08\x06" + encode_heartbeat(HEARTBEAT, KEY), [KEY],
                     Rejection.MALFORMED, id="arp-ethertype"),
    ],
)  # fmt: skip
def test_frames_are_rejected_for_a_reason(frame, keys, expected):
    assert decode(frame, keys) == expected


def test_the_previous_key_still_verifies_during_a_rotation():
    frame = frame_of(encode_heartbeat(HEARTBEAT, OLD_KEY))
    assert decode(frame, [KEY, OLD_KEY]) == (HEARTBEAT, MAC)


def test_a_hand_laid_frame_decodes_so_the_malformed_table_below_tests_one_field_each():
    frame = signed(identity(b"a", 1, 2) + timers(500, 1500, b"\x01" * 8), flags=0b11)
    expected = Heartbeat(
        node="a",
        incarnation=1,
        sequence=2,
        interval=0.5,
        hold=1.5,
        ready=True,
        leaving=True,
        claims=b"\x01" * 8,
    )
    assert decode(frame, [KEY]) == (expected, MAC)
    ipv4, ipv6 = b"\x04" + bytes(4), b"\x06" + bytes(16)
    frame = signed(identity() + hand_to(b"b", ipv4, ipv6), kind=2)
    expected_handoff = Handoff(
        node="a", incarnation=1, sequence=2, to="b", ips=(IPv4Address(0), IPv6Address(0))
    )
    assert decode(frame, [KEY]) == (expected_handoff, MAC)


HEARTBEAT_BODY = identity() + timers()
HANDOFF_BODY = identity() + hand_to(b"b", b"\x04" + bytes(4))


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(signed(HEARTBEAT_BODY, magic=b"MQ"), id="bad-magic"),
        pytest.param(signed(HEARTBEAT_BODY, version=2), id="version-2"),
        pytest.param(signed(HEARTBEAT_BODY, kind=0), id="kind-0"),
        pytest.param(signed(HEARTBEAT_BODY, kind=3), id="kind-3"),
        pytest.param(signed(HEARTBEAT_BODY, flags=0b100), id="heartbeat-unknown-flag"),
        pytest.param(signed(HANDOFF_BODY, kind=2, flags=1), id="handoff-flag"),
        pytest.param(signed(HEARTBEAT_BODY, reserved=1), id="reserved-set"),
        pytest.param(signed(identity() + timers(interval=0)), id="zero-interval"),
        pytest.param(signed(identity() + timers(hold=0)), id="zero-hold"),
        pytest.param(signed(identity(b"") + timers()), id="empty-node-name"),
        pytest.param(signed(identity(b"\xff\xfe") + timers()), id="node-name-not-utf8"),
        pytest.param(signed(identity(b"x" * 254) + timers()), id="node-name-254-bytes"),
        pytest.param(signed(identity() + timers(claims=bytes(513))), id="claims-over-512"),
        pytest.param(signed(HEARTBEAT_BODY + b"\x00"), id="heartbeat-trailing-byte"),
        pytest.param(signed(HEARTBEAT_BODY[:-1]), id="heartbeat-body-short"),
        pytest.param(signed(identity()[:-1]), id="body-ends-in-node-name"),
        pytest.param(signed(b""), id="empty-body"),
        pytest.param(signed(HEARTBEAT_BODY, kind=2), id="heartbeat-body-as-handoff"),
        pytest.param(signed(HANDOFF_BODY, kind=1), id="handoff-body-as-heartbeat"),
        pytest.param(signed(identity() + hand_to(b""), kind=2), id="empty-target"),
        pytest.param(
            signed(identity() + hand_to(b"b", b"\x04" + bytes(4), count=2), kind=2),
            id="count-beyond-body",
        ),
        pytest.param(signed(HANDOFF_BODY + b"\x00", kind=2), id="handoff-trailing-byte"),
        pytest.param(signed(identity() + hand_to(b"b", b"\x05" + bytes(4)), kind=2), id="family-5"),
        pytest.param(
            signed(identity() + hand_to(b"b", b"\x06" + bytes(4)), kind=2), id="ipv6-cut-short"
        ),
    ],
)
def test_a_correctly_signed_frame_with_a_bad_field_is_malformed(frame):
    assert decode(frame, [KEY]) == Rejection.MALFORMED


# ---------------------------------------------------------------- fuzz


@given(frame=st.binary(max_size=1600))
def test_decoding_random_bytes_never_raises_and_rejects_them(frame):
    assert isinstance(decode(frame, [KEY]), Rejection)


@given(rest=st.binary(max_size=600))
def test_decoding_random_bytes_after_our_header_and_magic_rejects_them(rest):
    frame = GROUP_MAC + MAC + struct.pack("!H", ETHERTYPE) + b"MP" + rest
    assert isinstance(decode(frame, [KEY]), Rejection)


@given(
    kind=st.integers(0, 3),
    flags=st.sampled_from([0, 1, 2, 3, 4, 128]),
    body=st.binary(max_size=600) | st.builds(bytes.__add__, st.just(identity()), st.binary()),
)
def test_a_signed_random_body_is_rejected_or_decodes_to_what_encodes_back_to_it(kind, flags, body):
    frame = signed(body, kind=kind, flags=flags)
    result = decode(frame, [KEY])
    if isinstance(result, Rejection):
        assert result == Rejection.MALFORMED
        return
    message, _ = result
    payloads = (
        [encode_heartbeat(message, KEY)]
        if isinstance(message, Heartbeat)
        else encode_handoffs(message, KEY)
    )
    assert payloads == [frame[14:]]


# ---------------------------------------------------------------- encoding errors


@pytest.mark.parametrize(
    "heartbeat",
    [
        pytest.param(Heartbeat(node="", incarnation=1, sequence=1, interval=1, hold=3),
                     id="empty-name"),
        pytest.param(Heartbeat(node="x" * 254, incarnation=1, sequence=1, interval=1, hold=3),
                     id="name-254-bytes"),
        pytest.param(Heartbeat(node="\udc80", incarnation=1, sequence=1, interval=1, hold=3),
                     id="name-lone-surrogate"),
        pytest.param(Heartbeat(node="a", incarnation=2**64, sequence=1, interval=1, hold=3),
                     id="incarnation-over-u64"),
        pytest.param(Heartbeat(node="a", incarnation=1, sequence=-1, interval=1, hold=3),
                     id="negative-sequence"),
        pytest.param(Heartbeat(node="a", incarnation=1, sequence=1, interval=0, hold=3),
                     id="zero-interval"),
        pytest.param(Heartbeat(node="a", incarnation=1, sequence=1, interval=1, hold=65.536),
                     id="hold-over-u16-ms"),
        pytest.param(Heartbeat(node="a", incarnation=1, sequence=1, interval=float("nan"),
                               hold=3), id="nan-interval"),
        pytest.param(Heartbeat(node="a", incarnation=1, sequence=1, interval=1, hold=3,
                               claims=bytes(513)), id="claims-over-512"),
    ],
)  # fmt: skip
def test_a_heartbeat_the_wire_cannot_carry_is_a_programming_error(heartbeat):
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        encode_heartbeat(heartbeat, KEY)


@pytest.mark.parametrize(
    "handoff",
    [
        pytest.param(Handoff(node="a", incarnation=1, sequence=1, to="", ips=()), id="empty-to"),
        pytest.param(
            Handoff(
                node="a",
                incarnation=1,
                sequence=2**64 - 1,
                to="b",
                ips=tuple(IPv4Address(n) for n in range(400)),
            ),
            id="second-part-sequence-overflows",
        ),
    ],
)
def test_a_handoff_the_wire_cannot_carry_is_a_programming_error(handoff):
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        encode_handoffs(handoff, KEY)


@pytest.mark.parametrize(
    ("mac", "payload"),
    [
        pytest.param(b"\x02" * 5, b"", id="short-mac"),
        pytest.param(MAC, bytes(1501), id="payload-over-1500"),
    ],
)
def test_build_frame_refuses_what_ethernet_cannot_carry(mac, payload):
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        build_frame(mac, payload)


# ---------------------------------------------------------------- claims Bloom filter


def spread(count: int, seed: int) -> set[IPAddress]:
    """`count` addresses of both families, scattered by hashing, so that big sets build fast."""
    digests = (hashlib.sha256(f"{seed}/{n}".encode()).digest() for n in range(count))
    return {IPv4Address(d[:4]) if d[-1] % 2 else IPv6Address(d[:16]) for d in digests}


@settings(max_examples=40)
@given(ips=st.sets(IPS, max_size=60) | st.builds(spread, st.integers(0, 2000), st.integers(0)))
def test_a_claim_filter_holds_every_ip_it_was_built_from_in_at_most_512_bytes(ips):
    claims = claim_filter(ips)
    assert len(claims) <= MAX_CLAIM_FILTER
    assert all(may_claim(claims, ip) for ip in ips)


def test_no_ips_make_an_empty_filter_that_claims_nothing():
    assert claim_filter([]) == b""
    assert not may_claim(b"", IPv4Address("10.0.0.1"))


@pytest.mark.parametrize(
    ("count", "size"),
    [
        pytest.param(1, 8, id="one-ip-minimum"),
        pytest.param(5, 16, id="five-ips"),
        pytest.param(50, 128, id="fifty-ips"),
        pytest.param(256, 512, id="cap-reached"),
        pytest.param(2000, 512, id="capped"),
    ],
)
def test_a_claim_filter_is_two_bytes_per_ip_rounded_up_to_a_power_of_two(count, size):
    assert len(claim_filter(IPv4Address("10.0.0.0") + n for n in range(count))) == size


def test_duplicate_ips_do_not_grow_the_filter():
    ip = IPv4Address("10.0.0.1")
    assert claim_filter([ip] * 100) == claim_filter([ip])


def test_fifty_ips_give_under_two_percent_false_positives():
    claims = claim_filter(IPv4Address("10.0.0.0") + n for n in range(50))
    others: list[IPAddress] = [IPv4Address("10.1.0.0") + n for n in range(5000)]
    others += [IPv6Address("fd00::") + n for n in range(5000)]
    assert sum(may_claim(claims, ip) for ip in others) < 200
