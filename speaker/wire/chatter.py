"""Shell. A peer protocol carried beside ARP/NDP, on the same interfaces, by the same thread.

The responder thread is the one that answers for this node's IPs, so it is the one that says
this node is alive: a heartbeat leaves only while the answering loop runs, and a frozen or
crashed speaker falls silent on exactly the links it answered on. What the frames mean is not
the wire room's business: a `Chatter` (the membership) builds payloads and reads what arrives;
this module only opens the sockets (one per interface, bound to the chatter's EtherType, the
group MAC added to the NIC's filter), frames payloads, and reads the carrier.
"""

import logging
import os
import select
import socket
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from speaker.wire.interfaces import Interface
from speaker.wire.replies import IPAddress
from speaker.wire.sockets import PACKET_IGNORE_OUTGOING, SOL_PACKET, set_mac_membership

logger = logging.getLogger(__name__)

SYS_CLASS_NET = Path("/sys/class/net")
MIN_FRAME = 60  # Ethernet minimum without the FCS: shorter frames are padded
DRAIN_LIMIT = 64  # frames per socket per turn, as for ARP and NDP

ErrorSink = Callable[[str, str], None]  # (throttle key, message): the responder logs it
Payloads = Callable[[], Iterable[bytes]]  # built by the responder thread when it sends them


class Chatter(Protocol):
    """What the responder needs of a peer protocol (the membership implements it)."""

    @property
    def ethertype(self) -> int:
        """The EtherType its frames carry."""

    @property
    def group(self) -> bytes:
        """The multicast MAC its frames are sent to."""

    def next_due(self) -> float:
        """Monotonic time `outgoing` is next due (a heartbeat, or a look at the peers)."""

    def outgoing(
        self, owned: frozenset[IPAddress], now: float, *, force: bool = False
    ) -> bytes | None:
        """The heartbeat due at `now` (None when not due; `force`: now), claiming `owned`."""

    def incoming(self, frame: bytes, interface: str, now: float) -> frozenset[IPAddress]:
        """A frame of our EtherType arrived on `interface` at `now`; the IPs it hands to us."""

    def isolated(self, why: str, epoch: int, now: float) -> None:
        """This node cannot have been heard (loop stall, no carrier): it stopped answering."""


def open_chatter_socket(interface: Interface, ethertype: int, group: bytes) -> socket.socket:
    """A non-blocking packet socket on `interface` receiving `ethertype` frames sent to `group`."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        try:
            sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        except OSError:
            logger.debug("%s: PACKET_IGNORE_OUTGOING unsupported", interface.name)
        sock.bind((interface.name, ethertype))
        set_mac_membership(sock, interface, group, join=True)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def frame(group: bytes, source: bytes, ethertype: int, payload: bytes) -> bytes:
    """An Ethernet frame to `group` from `source`, padded to the 60-byte minimum."""
    raw = group + source + ethertype.to_bytes(2, "big") + payload
    return raw.ljust(MIN_FRAME, b"\0")


def has_carrier(name: str, sys_class_net: Path = SYS_CLASS_NET) -> bool:
    """Whether the interface is up with a carrier (sysfs `carrier` reads 1).

    Reading `carrier` of an administratively down interface fails (EINVAL): no carrier either.
    """
    # os.open/os.read, not Path.read_text: 3 system calls instead of 9 (`CarrierFile`: 1).
    try:
        fd = os.open(sys_class_net / name / "carrier", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return os.read(fd, 16).strip() == b"1"
    except OSError:
        return False
    finally:
        os.close(fd)


class CarrierFile:
    """An interface's sysfs `carrier`, kept open: one pread a look, as `has_carrier` answers.

    sysfs makes the value again on every read from offset 0, so an open file stays current;
    down, the read fails (EINVAL) and reads as no carrier, as `has_carrier` does. Opened on
    the first look, and again after a failed open (the interface may appear later).
    """

    def __init__(self, name: str, sys_class_net: Path = SYS_CLASS_NET) -> None:
        self._path = sys_class_net / name / "carrier"
        self._fd: int | None = None

    def up(self) -> bool:
        """Whether the interface is up with a carrier."""
        if self._fd is None:
            try:
                self._fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return False
        try:
            return os.pread(self._fd, 16, 0).strip() == b"1"
        except OSError:
            return False

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class ChatterLinks:
    """The chatter's socket on each interface the responder answers on; responder thread only."""

    def __init__(self, chatter: Chatter, poll: "select.poll", on_error: ErrorSink) -> None:
        self.chatter = chatter
        self._poll = poll
        self._on_error = on_error
        self._links: dict[str, tuple[socket.socket, bytes]] = {}  # name → (socket, MAC)
        self._by_fd: dict[int, str] = {}
        self._carriers: dict[str, CarrierFile] = {}  # name → its sysfs carrier, kept open

    def owns(self, fd: int) -> bool:
        """Whether `fd` is one of the chatter's sockets."""
        return fd in self._by_fd

    def sync(self, interfaces: Iterable[Interface]) -> None:
        """Open a socket on each of `interfaces` (with a MAC) and close the others."""
        wanted = {i.name: i for i in interfaces if i.mac is not None}
        for name in list(self._links):
            if name not in wanted or wanted[name].mac != self._links[name][1]:
                self.close(name)
        for name, interface in wanted.items():
            if name in self._links or interface.mac is None:
                continue
            try:
                sock = open_chatter_socket(interface, self.chatter.ethertype, self.chatter.group)
            except OSError as error:
                self._on_error(f"chatter-open:{name}", f"{name}: cannot open peer socket: {error}")
                continue
            self._links[name] = (sock, interface.mac)
            self._carriers[name] = CarrierFile(name)
            self._by_fd[sock.fileno()] = name
            self._poll.register(sock, select.POLLIN)

    def receive(self, fd: int, buffer: bytearray, now: float) -> frozenset[IPAddress]:
        """Hand every queued frame of one socket to the chatter; the IPs handed to us."""
        name = self._by_fd[fd]
        sock = self._links[name][0]
        handed: set[IPAddress] = set()
        for _ in range(DRAIN_LIMIT):
            try:
                size = sock.recv_into(buffer)
            except BlockingIOError:
                break
            except OSError as error:
                self._on_error(f"chatter-io:{name}", f"{name}: peer socket: {error}")
                self.close(name)
                break
            handed |= self.chatter.incoming(bytes(buffer[:size]), name, now)
        return frozenset(handed)

    def send(self, payload: bytes) -> None:
        """Send one payload on every interface, each framed with that interface's MAC."""
        for name, (sock, mac) in list(self._links.items()):
            try:
                sock.send(frame(self.chatter.group, mac, self.chatter.ethertype, payload))
            except OSError as error:
                # ENETDOWN and friends while a link is down: the carrier check says so.
                self._on_error(f"chatter-send:{name}", f"{name}: peer message not sent: {error}")

    def any_carrier(self, carrier: Callable[[str], bool] | None = None) -> bool:
        """Whether at least one interface could carry our heartbeats (kept-open sysfs files)."""
        if carrier is not None:
            return any(carrier(name) for name in self._links)
        return any(self._carriers[name].up() for name in self._links)

    def close(self, name: str) -> None:
        """Close one interface's socket (the kernel drops its group membership with it)."""
        entry = self._links.pop(name, None)
        if entry is None:
            return
        self._by_fd.pop(entry[0].fileno(), None)
        carrier = self._carriers.pop(name, None)
        if carrier is not None:
            carrier.close()
        self._poll.unregister(entry[0])
        entry[0].close()

    def close_all(self) -> None:
        """Close every socket."""
        for name in list(self._links):
            self.close(name)
