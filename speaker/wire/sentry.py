"""Shell. The sentry: hears who else claims the addresses we hold or probe, and sends the probes.

It lives in the responder's thread and poll, beside the answering sockets, with sockets of its
own on each interface: one for ARP, one for IPv6, each with a kernel filter admitting only the
claims of the *watched* addresses (`speaker.wire.filters.build_*_claim_filter`). The answering
path never sees these frames, and frames about other addresses never wake us. What a claim
means (a conflict, a split brain, an answer to our probe) is not the wire room's business:
every claim goes to the `on_heard` callback with the interface it came in on.

Our own transmissions are not looped back (PACKET_IGNORE_OUTGOING). The sentry joins no
multicast group: answers to our probes come unicast (ARP) or to all-nodes (a DAD answer), and
an NA or gratuitous ARP for an address goes to broadcast or all-nodes.
"""

import logging
import select
import socket
from collections.abc import Callable, Iterable, Mapping

from speaker.wire.answers import Family
from speaker.wire.claims import Heard, build_probe, parse_claim
from speaker.wire.filters import Filter, build_arp_claim_filter, build_ndp_claim_filter
from speaker.wire.interfaces import Interface
from speaker.wire.replies import IPAddress
from speaker.wire.sockets import attach_filter, open_packet_socket

logger = logging.getLogger(__name__)

DRAIN_LIMIT = 64  # frames per socket per turn, as for the answering sockets
RECEIVE_BUFFER = 1 << 18  # claims are rare: a quarter MiB holds thousands
ErrorSink = Callable[[str, str], None]


class Sentry:
    """Claim sockets on every interface the responder answers on; responder thread only."""

    def __init__(
        self, poll: "select.poll", on_error: ErrorSink, receive_buffer: int = RECEIVE_BUFFER
    ) -> None:
        self._poll = poll
        self._on_error = on_error
        self._receive_buffer = receive_buffer
        self._watched: frozenset[IPAddress] = frozenset()
        self._sockets: dict[tuple[str, Family], socket.socket] = {}
        self._macs: dict[str, bytes] = {}
        self._by_fd: dict[int, tuple[str, Family]] = {}

    def owns(self, fd: int) -> bool:
        """Whether `fd` is one of the sentry's sockets."""
        return fd in self._by_fd

    def sync(self, interfaces: Iterable[tuple[Interface, frozenset[Family]]]) -> None:
        """Open claim sockets for each interface's families; close those no longer wanted."""
        wanted = {(i.name, family): i for i, families in interfaces if i.mac for family in families}
        for key in list(self._sockets):
            if key not in wanted or wanted[key].mac != self._macs.get(key[0]):
                self._close(key)
        for key, interface in wanted.items():
            if key not in self._sockets:
                self._open(interface, key[1])

    def watch(self, ips: frozenset[IPAddress]) -> None:
        """Admit the claims of exactly `ips` from now on (the filters are swapped atomically)."""
        if ips == self._watched:
            return
        self._watched = ips
        for key, sock in list(self._sockets.items()):
            try:
                attach_filter(sock, self._program(key[1]))
            except OSError as error:
                self._on_error(f"sentry-filter:{key[0]}", f"{key[0]}: claim filter: {error}")
                self._close(key)

    def receive(self, fd: int, buffer: bytearray, now: float) -> list[Heard]:
        """Every claim queued on one socket."""
        key = self._by_fd[fd]
        name = key[0]
        heard = []
        for _ in range(DRAIN_LIMIT):
            try:
                size = self._sockets[key].recv_into(buffer)
            except BlockingIOError:
                break
            except OSError as error:
                self._on_error(f"sentry-io:{name}", f"{name}: claim socket: {error}")
                self._close(key)
                break
            claim = parse_claim(memoryview(buffer)[:size])
            if claim is not None and claim.ip in self._watched:  # a filter swap races
                heard.append(Heard(claim, name, now))
        return heard

    def probe(self, ips: Mapping[IPAddress, frozenset[str] | None]) -> int:
        """Send one probe for each IP on each of its interfaces (None: all); frames sent."""
        sent = 0
        for ip, names in ips.items():
            family = Family.ARP if ip.version == 4 else Family.NDP  # noqa: PLR2004
            for (name, kind), sock in list(self._sockets.items()):
                if kind is not family or (names is not None and name not in names):
                    continue
                try:
                    sock.send(build_probe(ip, self._macs[name]))
                    sent += 1
                except OSError as error:
                    self._on_error(f"sentry-send:{name}", f"{name}: probe not sent: {error}")
        return sent

    def close_all(self) -> None:
        """Close every socket."""
        for key in list(self._sockets):
            self._close(key)

    def _program(self, family: Family) -> Filter:
        if family is Family.ARP:
            return build_arp_claim_filter(self._watched)
        return build_ndp_claim_filter(self._watched)

    def _open(self, interface: Interface, family: Family) -> None:
        assert interface.mac is not None  # noqa: S101 - sync keeps only interfaces with a MAC
        try:
            sock = open_packet_socket(
                interface, family, self._program(family), self._receive_buffer
            )
        except OSError as error:
            self._on_error(
                f"sentry-open:{interface.name}", f"{interface.name}: claim socket: {error}"
            )
            return
        self._sockets[interface.name, family] = sock
        self._macs[interface.name] = interface.mac
        self._by_fd[sock.fileno()] = (interface.name, family)
        self._poll.register(sock, select.POLLIN)

    def _close(self, key: tuple[str, Family]) -> None:
        sock = self._sockets.pop(key, None)
        if sock is None:
            return
        self._by_fd.pop(sock.fileno(), None)
        self._poll.unregister(sock)
        sock.close()
        if not any(name == key[0] for name, _ in self._sockets):
            self._macs.pop(key[0], None)
