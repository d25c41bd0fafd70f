"""Shell. The syscalls of design (c) (arp-responder.md §5.1): packet sockets, BPF, multicast groups.

Every function here is one setsockopt-level step and raises OSError on failure; `speaker.wire.ports`
decides what a failure means. Constants Python's `socket` module lacks come from the Linux
uapi headers named beside them.
"""

import ctypes
import logging
import socket
import struct
from ipaddress import IPv6Address

from speaker.wire.answers import Family
from speaker.wire.filters import Filter, pack_fprog, pack_instructions
from speaker.wire.interfaces import Interface
from speaker.wire.ndp import multicast_mac

logger = logging.getLogger(__name__)

SOL_PACKET = 263  # linux/socket.h
PACKET_ADD_MEMBERSHIP = 1  # linux/if_packet.h
PACKET_DROP_MEMBERSHIP = 2
PACKET_MR_MULTICAST = 0
PACKET_IGNORE_OUTGOING = 23  # Linux 4.20+: our own transmissions are not looped back to us
SO_ATTACH_FILTER = 26  # asm-generic/socket.h
SO_RCVBUFFORCE = 33  # like SO_RCVBUF but may exceed net.core.rmem_max; needs CAP_NET_ADMIN
# struct packet_mreq { int mr_ifindex; unsigned short mr_type, mr_alen; u8 mr_address[8]; }
_PACKET_MREQ = struct.Struct("@iHH8s")
# struct ipv6_mreq { struct in6_addr ipv6mr_multiaddr; int ipv6mr_interface; }
_IPV6_MREQ = struct.Struct("@16si")


def open_packet_socket(
    interface: Interface, family: Family, program: Filter, receive_buffer: int
) -> socket.socket:
    """A non-blocking packet socket on `interface` for `family`, admitting only what `program` does.

    It is created with protocol 0, which receives nothing, and gets its filter before `bind` names
    the EtherType: so no frame is ever queued that the filter did not see (§5.1 says attach before
    bind, then drain; with protocol 0 there is nothing to drain).
    """
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        attach_filter(sock, program)
        effective = set_receive_buffer(sock, receive_buffer)
        logger.debug("%s/%s: receive buffer %d bytes", interface.name, family.name, effective)
        try:
            sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        except OSError:
            # Older kernel: our own announcements come back and are dropped as ANNOUNCEMENT.
            logger.debug("%s: PACKET_IGNORE_OUTGOING unsupported", interface.name)
        sock.bind((interface.name, family.ethertype))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def attach_filter(sock: socket.socket, program: Filter) -> None:
    """Attach (or atomically replace) the socket's classic BPF program."""
    code = pack_instructions(program)
    # The kernel copies the program during setsockopt; the buffer only has to outlive the call.
    buffer = ctypes.create_string_buffer(code, len(code))
    fprog = pack_fprog(len(program.instructions), ctypes.addressof(buffer))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def set_receive_buffer(sock: socket.socket, size: int) -> int:
    """Ask for `size` bytes of receive buffer; returns what the kernel granted (it doubles it).

    The default (~208 KiB) overflows during a 5 ms scheduler stall at 50k requests/s
    (arp-responder.md §2.3). SO_RCVBUFFORCE ignores net.core.rmem_max but needs CAP_NET_ADMIN,
    which the speaker's DaemonSet does not grant; SO_RCVBUF is then capped by rmem_max.
    """
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


def set_packet_membership(
    sock: socket.socket, interface: Interface, group: IPv6Address, *, join: bool
) -> None:
    """Add or drop the group's MAC (33:33:…) on the interface's receive filter, for this socket.

    PACKET_MR_MULTICAST calls dev_mc_add: a real NIC then accepts the frames (veth accepts all,
    arp-responder.md §4). The kernel counts it per socket and drops it when the socket closes, so
    a crashed speaker leaves nothing behind.
    """
    mreq = _PACKET_MREQ.pack(interface.index, PACKET_MR_MULTICAST, 6, multicast_mac(group))
    option = PACKET_ADD_MEMBERSHIP if join else PACKET_DROP_MEMBERSHIP
    sock.setsockopt(SOL_PACKET, option, mreq)


def open_listener_socket() -> socket.socket:
    """An IPv6 datagram socket that only holds group memberships (it never sends or receives)."""
    return socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)


def set_listener_membership(
    sock: socket.socket, interface: Interface, group: IPv6Address, *, join: bool
) -> None:
    """Join or leave `group` at the IPv6 layer, so the kernel sends MLD reports for it.

    A packet-socket membership only opens the NIC's filter; a switch doing MLD snooping
    (RFC 4541) forwards a solicited-node group only to ports that reported listeners. MetalLB's
    JoinGroup is this call. Raises OSError when IPv6 is disabled on the interface.
    """
    mreq = _IPV6_MREQ.pack(group.packed, interface.index)
    option = socket.IPV6_JOIN_GROUP if join else socket.IPV6_LEAVE_GROUP
    sock.setsockopt(socket.IPPROTO_IPV6, option, mreq)


def set_mac_membership(
    sock: socket.socket, interface: Interface, mac: bytes, *, join: bool
) -> None:
    """Add or drop a multicast MAC on the interface's receive filter, for this socket's life."""
    mreq = _PACKET_MREQ.pack(interface.index, PACKET_MR_MULTICAST, len(mac), mac.ljust(8, b"\0"))
    option = PACKET_ADD_MEMBERSHIP if join else PACKET_DROP_MEMBERSHIP
    sock.setsockopt(SOL_PACKET, option, mreq)
