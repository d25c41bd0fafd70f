"""Pure. No I/O. The membership codec: heartbeats and hand-offs as signed raw Ethernet frames.

Bytes in, a frozen message or a `Rejection` out; `decode` never raises. A frame is checked in
this order: Ethernet header, our magic and version (they say where the length lies), length,
the MAC (constant time, against each key of the rotation), and only then the fields it covers.
Every integer is big-endian. After the 14-byte Ethernet header (dst GROUP_MAC, EtherType):

    off  len  field
    0    2    magic "MP"
    2    1    version (1)
    3    1    kind: 1 heartbeat, 2 hand-off
    4    1    flags: heartbeat bit 0 ready, bit 1 leaving, other bits 0; hand-off 0
    5    1    reserved, 0
    6    2    body length N: the bytes after this 8-byte header, before the MAC
    8    8    incarnation
    16   8    sequence
    24   1    node name length L (1..253), then L bytes of UTF-8
    heartbeat: u16 interval ms (1..), u16 hold ms (1..), u16 claim filter length F (..512), F bytes
    hand-off:  u8 target name length (1..253), the name, u16 count C, then C times
               u8 family (4 or 6) and the address's 4 or 16 bytes
    8+N  16   HMAC-SHA256(key, payload[0 : 8+N]) truncated to 16 bytes

The body must use exactly N bytes. Bytes after the MAC (Ethernet padding) are ignored. The
Ethernet source MAC is returned as received: the HMAC does not cover it, the node name is who.
"""

import enum
import hashlib
import hmac
import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from metalpool.addresses import IPAddress

# IEEE Std 802 "Local Experimental EtherType 1": free for private protocols on one LAN and never
# assigned to anyone. Host firewalls must let it pass between nodes: the operator docs list it.
ETHERTYPE = 0x88B5
# Bit 0 of the first octet: multicast (I/G); bit 1: locally administered (U/L); then "mp".
GROUP_MAC = bytes.fromhex("036d70000001")
MAGIC = b"MP"
VERSION = 1
MAC_SIZE = 16  # HMAC-SHA256 truncated to 128 bits, as RFC 4868's truncations do
MAX_FRAME = 1514  # Ethernet header + a 1500-byte payload (no jumbo frames assumed)
MAX_CLAIM_FILTER = 512  # bytes: a heartbeat stays one frame at most 812 bytes long
MIN_FRAME = 60  # IEEE 802.3 minimum without the FCS: shorter frames are padded
ETHERNET_HEADER = 14
MAX_PAYLOAD = MAX_FRAME - ETHERNET_HEADER
MAX_NAME = 253  # a Kubernetes node name is a DNS-1123 subdomain (RFC 1123)

_U64_MAX = 2**64 - 1
_U16_MAX = 2**16 - 1
_READY = 0x01
_LEAVING = 0x02
_ETHERNET = struct.Struct("!6s6sH")  # destination, source, EtherType
_HEADER = struct.Struct("!2sBBBBH")  # magic, version, kind, flags, reserved, body length
_COUNTERS = struct.Struct("!QQ")  # incarnation, sequence
_TIMERS = struct.Struct("!HHH")  # interval ms, hold ms, claim filter length
_COUNT = struct.Struct("!H")
_BIT_POSITIONS = struct.Struct("!II")  # k = 2 Bloom positions from the first 8 digest bytes
_MIN_CLAIM_FILTER = 8
_CLAIM_BYTES_PER_IP = 2  # 16 bits per IP: with k = 2, at most ~1.4 % false positives until capped


class Rejection(enum.StrEnum):
    """Why a frame was dropped: stable Prometheus label values."""

    TRUNCATED = "truncated"  # shorter than its header or declared length
    MALFORMED = "malformed"  # not our EtherType, magic, version, kind, flags, lengths, UTF-8...
    FORGED = "forged"  # the MAC verifies with no known key (or no key is known)
    REPLAYED = "replayed"  # the peer table: a sequence not newer than the last one accepted
    STALE = "stale"  # the peer table: an incarnation that was superseded
    OWN = "own"  # the peer table: our own frame, looped back


class _Kind(enum.IntEnum):
    HEARTBEAT = 1
    HANDOFF = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class Heartbeat:
    """A speaker's periodic "I am alive", with the IPs it answers for as a Bloom filter.

    Times are seconds, carried as whole milliseconds. `sequence` is shared with hand-offs.
    """

    node: str
    incarnation: int  # random per speaker start
    sequence: int  # grows with every message of this incarnation
    interval: float  # seconds between the sender's heartbeats
    hold: float  # seconds of silence after which the sender counts as dead
    ready: bool = False  # listened for a hold time and has its configuration
    leaving: bool = False  # graceful stop: count me dead now
    claims: bytes = b""  # `claim_filter` of the IPs it answers for; empty: none


@dataclass(frozen=True, slots=True, kw_only=True)
class Handoff:
    """The sender has stopped answering `ips`; `to` should answer them now."""

    node: str
    incarnation: int
    sequence: int
    to: str
    ips: tuple[IPAddress, ...]


Message = Heartbeat | Handoff


def encode_heartbeat(heartbeat: Heartbeat, key: bytes) -> bytes:
    """The signed payload (no Ethernet header) of `heartbeat`.

    Raises ValueError for a value the wire cannot carry: a name empty or over 253 bytes, a
    counter outside u64, a time that is not 1..65535 ms, a claim filter over 512 bytes.
    """
    if len(heartbeat.claims) > MAX_CLAIM_FILTER:
        raise ValueError(f"heartbeat claims: {len(heartbeat.claims)} bytes > {MAX_CLAIM_FILTER}")
    flags = (_READY if heartbeat.ready else 0) | (_LEAVING if heartbeat.leaving else 0)
    body = b"".join(
        (
            _identity(heartbeat.node, heartbeat.incarnation, heartbeat.sequence),
            _TIMERS.pack(
                _millis(heartbeat.interval, "interval"),
                _millis(heartbeat.hold, "hold"),
                len(heartbeat.claims),
            ),
            heartbeat.claims,
        )
    )
    return _sign(_Kind.HEARTBEAT, flags, body, key)


def encode_handoffs(handoff: Handoff, key: bytes) -> list[bytes]:
    """The signed payloads of `handoff`, its IPs split so that each fits one Ethernet frame.

    Part i carries the next IPs in order and sequence `handoff.sequence + i`: the caller must
    advance its sequence counter by the length of the result. No IPs still make one payload.
    Raises ValueError as `encode_heartbeat` does, also when the last part's sequence overflows.
    """
    prefix = _name(handoff.node, "node")
    target = _name(handoff.to, "to")
    room = MAX_PAYLOAD - (
        _HEADER.size + _COUNTERS.size + len(prefix) + len(target) + _COUNT.size + MAC_SIZE
    )
    parts = _split([_entry(ip) for ip in handoff.ips], room)
    _check_u64(handoff.incarnation, "incarnation")
    _check_u64(handoff.sequence, "sequence")
    _check_u64(handoff.sequence + len(parts) - 1, "last part's sequence")
    return [
        _sign(
            _Kind.HANDOFF,
            0,
            b"".join(
                (
                    _COUNTERS.pack(handoff.incarnation, handoff.sequence + index),
                    prefix,
                    target,
                    _COUNT.pack(len(part)),
                    *part,
                )
            ),
            key,
        )
        for index, part in enumerate(parts)
    ]


def build_frame(source_mac: bytes, payload: bytes) -> bytes:
    """The Ethernet frame to GROUP_MAC from `source_mac`, zero-padded to the 60-byte minimum.

    Raises ValueError for a MAC that is not 6 bytes or a frame over MAX_FRAME.
    """
    if len(source_mac) != len(GROUP_MAC):
        raise ValueError(f"source MAC: {len(source_mac)} bytes, not 6")
    if ETHERNET_HEADER + len(payload) > MAX_FRAME:
        raise ValueError(f"payload: {len(payload)} bytes > {MAX_PAYLOAD}")
    frame = _ETHERNET.pack(GROUP_MAC, source_mac, ETHERTYPE) + payload
    return frame.ljust(MIN_FRAME, b"\x00")


def decode(frame: bytes | memoryview, keys: Sequence[bytes]) -> tuple[Message, bytes] | Rejection:
    """The message in `frame` and the frame's source MAC, or why it was rejected.

    `keys` are tried in order (the current key, then the previous one during a rotation); none
    at all rejects everything as FORGED. Never raises, whatever `frame` holds.
    """
    data = bytes(frame)
    end = _locate(data)
    if isinstance(end, Rejection):
        return end
    if not _verifies(data[ETHERNET_HEADER:end], data[end : end + MAC_SIZE], keys):
        return Rejection.FORGED
    try:
        message = _parse(_Reader(data[ETHERNET_HEADER:end]))
    except ValueError:  # _MalformedError, UnicodeDecodeError: the signed body breaks the format
        return Rejection.MALFORMED
    return message, data[len(GROUP_MAC) : 2 * len(GROUP_MAC)]


def claim_filter(ips: Iterable[IPAddress]) -> bytes:
    """A Bloom filter of `ips` for a heartbeat: b"" for none, else 8..512 bytes (a power of two).

    A fixed-size filter keeps a heartbeat one frame whatever the number of IPs. A false positive
    only makes a new owner wait for the hand-off (the safe direction); it never makes two nodes
    answer, and there are no false negatives. Sized at 2 bytes per IP, it stays under ~1.4 %
    false positives up to 256 IPs and then fills up gradually.
    """
    unique = set(ips)
    if not unique:
        return b""
    wanted = max(_MIN_CLAIM_FILTER, len(unique) * _CLAIM_BYTES_PER_IP)
    size = min(MAX_CLAIM_FILTER, 1 << (wanted - 1).bit_length())
    bits = bytearray(size)
    for ip in unique:
        for bit in _positions(ip, size * 8):
            bits[bit // 8] |= 1 << (bit % 8)
    return bytes(bits)


def may_claim(claims: bytes, ip: IPAddress) -> bool:
    """Whether a heartbeat's claim filter may hold `ip`: never False for an IP it holds."""
    if not claims:
        return False
    return all(claims[bit // 8] & (1 << (bit % 8)) for bit in _positions(ip, len(claims) * 8))


def _locate(data: bytes) -> int | Rejection:
    """Where the MAC of a frame starts, from the fields that must be read before checking it."""
    if len(data) < ETHERNET_HEADER:
        return Rejection.TRUNCATED
    _, _, ethertype = _ETHERNET.unpack_from(data)
    if ethertype != ETHERTYPE:
        return Rejection.MALFORMED
    if len(data) < ETHERNET_HEADER + _HEADER.size:
        return Rejection.TRUNCATED
    magic, version, _, _, _, length = _HEADER.unpack_from(data, ETHERNET_HEADER)
    if magic != MAGIC or version != VERSION:  # they say where the length lies
        return Rejection.MALFORMED
    end = ETHERNET_HEADER + _HEADER.size + length
    return Rejection.TRUNCATED if len(data) < end + MAC_SIZE else end


def _positions(ip: IPAddress, width: int) -> tuple[int, ...]:
    digest = hashlib.sha256(ip.packed).digest()
    return tuple(value % width for value in _BIT_POSITIONS.unpack_from(digest))


def _sign(kind: _Kind, flags: int, body: bytes, key: bytes) -> bytes:
    signed = _HEADER.pack(MAGIC, VERSION, kind, flags, 0, len(body)) + body
    return signed + _mac(key, signed)


def _mac(key: bytes, data: bytes) -> bytes:
    return hmac.digest(key, data, "sha256")[:MAC_SIZE]


def _verifies(signed: bytes, tag: bytes, keys: Sequence[bytes]) -> bool:
    return any(hmac.compare_digest(_mac(key, signed), tag) for key in keys)


def _identity(node: str, incarnation: int, sequence: int) -> bytes:
    _check_u64(incarnation, "incarnation")
    _check_u64(sequence, "sequence")
    return _COUNTERS.pack(incarnation, sequence) + _name(node, "node")


def _name(text: str, field: str) -> bytes:
    raw = text.encode("utf-8")  # a lone surrogate raises UnicodeEncodeError, a ValueError
    if not 1 <= len(raw) <= MAX_NAME:
        raise ValueError(f"{field} {text!r}: {len(raw)} bytes of UTF-8, not 1..{MAX_NAME}")
    return bytes((len(raw),)) + raw


def _check_u64(value: int, field: str) -> None:
    if not 0 <= value <= _U64_MAX:
        raise ValueError(f"{field} {value} does not fit in an unsigned 64-bit integer")


def _millis(seconds: float, field: str) -> int:
    millis = round(seconds * 1000) if math.isfinite(seconds) else 0
    if not 1 <= millis <= _U16_MAX:
        raise ValueError(f"{field} {seconds} s is not 1..{_U16_MAX} ms")
    return millis


def _entry(ip: IPAddress) -> bytes:
    return bytes((ip.version,)) + ip.packed


def _split(entries: list[bytes], room: int) -> list[list[bytes]]:
    parts: list[list[bytes]] = [[]]
    used = 0
    for entry in entries:
        if used + len(entry) > room:
            parts.append([])
            used = 0
        parts[-1].append(entry)
        used += len(entry)
    return parts


class _MalformedError(ValueError):
    """A signed body that breaks the wire format; `decode` turns it into MALFORMED."""


class _Reader:
    """Consumes a body front to back; running past its end is malformed."""

    __slots__ = ("_at", "_data")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def take(self, size: int) -> bytes:
        end = self._at + size
        if end > len(self._data):
            raise _MalformedError
        chunk = self._data[self._at : end]
        self._at = end
        return chunk

    def unpack(self, layout: struct.Struct) -> tuple[int, ...]:
        return tuple(layout.unpack(self.take(layout.size)))

    def name(self) -> str:
        size = self.take(1)[0]
        if not 1 <= size <= MAX_NAME:
            raise _MalformedError
        return self.take(size).decode("utf-8")

    def address(self) -> IPAddress:
        family = self.take(1)[0]
        if family == 4:  # noqa: PLR2004 - the IP version number is the family on the wire
            return IPv4Address(self.take(4))
        if family == 6:  # noqa: PLR2004 - as above
            return IPv6Address(self.take(16))
        raise _MalformedError

    def finish(self) -> None:
        if self._at != len(self._data):
            raise _MalformedError


def _parse(body: _Reader) -> Message:
    # magic and version were checked by _locate, the length by the reader's bounds
    _, _, kind, flags, reserved, _ = _HEADER.unpack(body.take(_HEADER.size))
    if reserved:
        raise _MalformedError
    incarnation, sequence = body.unpack(_COUNTERS)
    node = body.name()
    message: Message
    if kind == _Kind.HEARTBEAT and not flags & ~(_READY | _LEAVING):
        interval, hold, size = body.unpack(_TIMERS)
        if not interval or not hold or size > MAX_CLAIM_FILTER:
            raise _MalformedError
        message = Heartbeat(
            node=node,
            incarnation=incarnation,
            sequence=sequence,
            interval=interval / 1000,
            hold=hold / 1000,
            ready=bool(flags & _READY),
            leaving=bool(flags & _LEAVING),
            claims=body.take(size),
        )
    elif kind == _Kind.HANDOFF and not flags:
        to = body.name()
        (count,) = body.unpack(_COUNT)
        ips = tuple(body.address() for _ in range(count))
        message = Handoff(node=node, incarnation=incarnation, sequence=sequence, to=to, ips=ips)
    else:
        raise _MalformedError
    body.finish()
    return message
