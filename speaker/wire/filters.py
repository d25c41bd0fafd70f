"""Pure. No I/O. Classic BPF programs that make the kernel drop every ARP request / NS not for us.

With these attached (SO_ATTACH_FILTER), frames about addresses this node does not own cost the
speaker no CPU at all (arp-responder.md §2.3, §5.2); `speaker.wire.replies.decide` still checks
ownership, because a filter swap races with the frames already queued.

Programs are rebuilt from scratch whenever the owned set changes. They only compare fixed offsets:
* ARP: EtherType 0x0806, htype/ptype Ethernet/IPv4, hlen/plen 6/4, opcode 1, target IP owned.
* NDP: EtherType 0x86DD, next header 58 (so no extension headers), hop limit 255, ICMPv6 type 135,
  target address owned. The codecs do the remaining RFC checks (checksum, options, ...).
An empty owned set gives a one-instruction program that drops everything. A set too large for the
kernel's BPF_MAXINSNS (4096, about 2040 IPv4 or IPv6 addresses) gives a program that admits every
request of the family (`exact=False`): correctness is kept by `decide`, which drops NOT_OWNED, but
foreign requests then cost Python time again, so the responder should log that it happened.
"""

import itertools
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import NamedTuple

from speaker.wire.replies import IPAddress

# Opcodes from linux/filter.h (classic BPF): class | size | mode.
LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS: A = 32-bit big-endian word at k
LD_H_ABS = 0x28  # BPF_LD | BPF_H | BPF_ABS: A = 16-bit word at k
LD_B_ABS = 0x30  # BPF_LD | BPF_B | BPF_ABS: A = byte at k
JMP_JA = 0x05  # BPF_JMP | BPF_JA: skip k instructions
JMP_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K: skip jt if A == k, else skip jf
RET_K = 0x06  # BPF_RET | BPF_K: keep k bytes of the frame (0 = drop)

BPF_MAXINSNS = 4096  # include/uapi/linux/bpf_common.h; longer programs are refused with EINVAL
ACCEPT = 0x40000  # bytes to keep: the whole frame (tcpdump's default snap length)
DROP = 0

# struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; } in host byte order.
_SOCK_FILTER = struct.Struct("=HBBI")
# struct sock_fprog { unsigned short len; struct sock_filter *filter; } with native padding.
_SOCK_FPROG = struct.Struct("@HP")

_ARP_SENDER = 28
_ARP_TARGET = 38
_NS_TARGET = 62
_NS_TARGET_WORDS = (_NS_TARGET, _NS_TARGET + 4, _NS_TARGET + 8, _NS_TARGET + 12)


class Instruction(NamedTuple):
    """One classic BPF instruction, as in struct sock_filter."""

    code: int
    jt: int
    jf: int
    k: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Filter:
    """A program ready to pack; `exact` is False when it admits every request of its family."""

    instructions: tuple[Instruction, ...]
    exact: bool


def build_arp_filter(owned: Iterable[IPAddress]) -> Filter:
    """A program admitting only ARP requests whose target is an owned IPv4 address.

    IPv6 addresses in `owned` are ignored, so the caller can pass its whole owned set.
    """
    targets: set[tuple[int, ...]] = {(int(ip),) for ip in owned if isinstance(ip, IPv4Address)}
    header = (
        *_require(LD_H_ABS, 12, 0x0806),  # EtherType ARP
        *_require(LD_W_ABS, 14, 0x0001_0800),  # htype Ethernet, ptype IPv4
        *_require(LD_W_ABS, 18, 0x0604_0001),  # hlen 6, plen 4, opcode 1 (request)
    )
    return _assemble(header, targets, (_ARP_TARGET,))


def build_ns_filter(owned: Iterable[IPAddress]) -> Filter:
    """A program admitting only Neighbor Solicitations whose target is an owned IPv6 address.

    IPv4 addresses in `owned` are ignored. Hop limit is checked here too (RFC 4861 §7.1.1), as
    arp-responder.md §5.2 recommends: a routed NS is invalid, so it need not wake the speaker.
    """
    targets: set[tuple[int, ...]] = {_words(ip) for ip in owned if isinstance(ip, IPv6Address)}
    header = (
        *_require(LD_H_ABS, 12, 0x86DD),  # EtherType IPv6
        *_require(LD_B_ABS, 20, 58),  # next header ICMPv6: an extension header fails here
        *_require(LD_B_ABS, 21, 255),  # hop limit
        *_require(LD_B_ABS, 54, 135),  # ICMPv6 type Neighbor Solicitation
    )
    return _assemble(header, targets, _NS_TARGET_WORDS)


def build_arp_claim_filter(watched: Iterable[IPAddress]) -> Filter:
    """A program admitting ARP packets that claim a watched IPv4 address (`speaker.wire.claims`).

    That is any opcode whose sender IP is watched (replies, gratuitous ARP, a host using the
    address), and RFC 5227 probes (requests from sender IP 0.0.0.0) whose target is watched.
    The claimed IP (the sender's, or a probe's target) is loaded once and compared once with
    every watched IP, so that about 2000 of them fit BPF_MAXINSNS, as for `build_arp_filter`.
    """
    keys = sorted({int(ip) for ip in watched if isinstance(ip, IPv4Address)})
    header = (
        *_require(LD_H_ABS, 12, 0x0806),  # EtherType ARP
        *_require(LD_W_ABS, 14, 0x0001_0800),  # htype Ethernet, ptype IPv4
        *_require(LD_H_ABS, 18, 0x0604),  # hlen 6, plen 4
    )
    probe = (
        *_require(LD_H_ABS, 20, 1),  # a probe is a request
        Instruction(LD_W_ABS, 0, 0, _ARP_TARGET),
    )
    body = (
        Instruction(LD_W_ABS, 0, 0, _ARP_SENDER),
        Instruction(JMP_JEQ_K, 0, len(probe), 0),  # sender 0.0.0.0: a probe, claiming its target
        *probe,
        *_accept_any(keys),
    )
    return _claims_program(header, body, bool(keys))


def build_ndp_claim_filter(watched: Iterable[IPAddress]) -> Filter:
    """A program admitting Neighbor Advertisements and DAD probes whose target is watched.

    Hop limit 255 and next header 58, as for solicitations; a DAD probe is an NS from `::`.
    Both kinds share one comparison of the target with every watched IP.
    """
    keys = sorted({_words(ip) for ip in watched if isinstance(ip, IPv6Address)})
    header = (
        *_require(LD_H_ABS, 12, 0x86DD),  # EtherType IPv6
        *_require(LD_B_ABS, 20, 58),  # next header ICMPv6
        *_require(LD_B_ABS, 21, 255),  # hop limit
    )
    unspecified = (_require(LD_W_ABS, 22 + 4 * i, 0) for i in range(4))
    # Not an NA: then a DAD probe, an NS from :: (RFC 4862 §5.4.2).
    dad = (*_require(LD_B_ABS, 54, 135), *itertools.chain.from_iterable(unspecified))
    body = (
        Instruction(LD_B_ABS, 0, 0, 54),  # ICMPv6 type
        Instruction(JMP_JEQ_K, len(dad), 0, 136),  # an NA: straight to its target
        *dad,
        *(_match_any(keys, _NS_TARGET_WORDS) if keys else ()),
    )
    return _claims_program(header, body, bool(keys))


def _accept_any(words: Sequence[int]) -> list[Instruction]:
    """Instructions that accept when the accumulator equals one of `words`, else fall through."""
    program: list[Instruction] = []
    for word in words:
        program += (Instruction(JMP_JEQ_K, 0, 1, word), Instruction(RET_K, 0, 0, ACCEPT))
    return program


def _claims_program(
    header: Sequence[Instruction], body: Sequence[Instruction], any_keys: bool
) -> Filter:
    """Header, body, drop; or admit the whole kind when too long (`exact=False`), or none."""
    if not any_keys:
        return Filter(instructions=(Instruction(RET_K, 0, 0, DROP),), exact=True)
    instructions = (*header, *body, Instruction(RET_K, 0, 0, DROP))
    if len(instructions) <= BPF_MAXINSNS:
        return Filter(instructions=instructions, exact=True)
    return Filter(instructions=(*header, Instruction(RET_K, 0, 0, ACCEPT)), exact=False)


def pack_instructions(program: Filter) -> bytes:
    """The program as an array of struct sock_filter, for the buffer sock_fprog points at."""
    return b"".join(_SOCK_FILTER.pack(*instruction) for instruction in program.instructions)


def pack_fprog(length: int, address: int) -> bytes:
    """The struct sock_fprog that SO_ATTACH_FILTER takes, pointing at a packed instruction array.

    The shell keeps the array alive in a buffer it owns (e.g. ctypes.create_string_buffer) and
    passes its address; the kernel copies the program during setsockopt.
    """
    return _SOCK_FPROG.pack(length, address)


def _assemble(
    header: Sequence[Instruction], targets: set[tuple[int, ...]], offsets: tuple[int, ...]
) -> Filter:
    if not targets:
        return Filter(instructions=(Instruction(RET_K, 0, 0, DROP),), exact=True)
    body = _match_any(sorted(targets), offsets)
    instructions = (*header, *body, Instruction(RET_K, 0, 0, DROP))
    if len(instructions) <= BPF_MAXINSNS:
        return Filter(instructions=instructions, exact=True)
    return Filter(instructions=(*header, Instruction(RET_K, 0, 0, ACCEPT)), exact=False)


def _require(load: int, offset: int, value: int) -> tuple[Instruction, ...]:
    """Load a field and drop the frame unless it equals `value`.

    The drop sits right after the test, so every jump is 0 or 1 long whatever the program size
    (conditional jumps only reach 255 instructions ahead).
    """
    return (
        Instruction(load, 0, 0, offset),
        Instruction(JMP_JEQ_K, 1, 0, value),
        Instruction(RET_K, 0, 0, DROP),
    )


def _match_any(keys: Sequence[tuple[int, ...]], offsets: tuple[int, ...]) -> list[Instruction]:
    """Instructions that accept when the 32-bit words at `offsets` equal one of `keys`.

    On no match they fall through to whatever follows. Keys (sorted, distinct) form a trie on
    their words: VIPs from one pool share their leading words, so an IPv6 /64 pool costs the
    prefix test once and then 2 instructions per address, like IPv4. `ja` skips a branch whose
    leading word does not match; its 32-bit offset has no 255-instruction limit.
    """
    offset, rest = offsets[0], offsets[1:]
    load = Instruction(LD_W_ABS, 0, 0, offset)
    if not rest:
        program = [load]
        for (word,) in keys:
            # Equal: fall into the accept. Different: skip it to the next comparison.
            program += (Instruction(JMP_JEQ_K, 0, 1, word), Instruction(RET_K, 0, 0, ACCEPT))
        return program
    program = []
    for word, group in itertools.groupby(keys, key=lambda key: key[0]):
        branch = _match_any([key[1:] for key in group], rest)
        skip = Instruction(JMP_JA, 0, 0, len(branch))
        program += (load, Instruction(JMP_JEQ_K, 1, 0, word), skip, *branch)
    return program


def _words(ip: IPv6Address) -> tuple[int, int, int, int]:
    """The four big-endian 32-bit words of an address, as BPF_W loads see them."""
    value = int(ip)
    return (value >> 96, value >> 64 & 0xFFFF_FFFF, value >> 32 & 0xFFFF_FFFF, value & 0xFFFF_FFFF)
