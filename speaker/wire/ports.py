"""Shell. One interface's responder sockets: open, filter, join groups, send, close.

A `Port` belongs to the responder thread. It keeps three views of the IPs owned on its interface
in step: the Python set `decide` checks, the kernel filter of each socket (re-attached only when
its family's program changes: SO_ATTACH_FILTER swaps atomically, arp-responder.md §5.2), and the
solicited-node groups joined for NDP (§4; metallb-compat.md §4.7). Groups are joined twice on
purpose: on the packet socket (PACKET_MR_MULTICAST opens the NIC's filter, bound to the socket's
life) and at the IPv6 layer (the kernel then sends MLD reports, which snooping switches need).
Errors are OSError for the responder to handle; a half-opened port closes itself.
"""

import logging
import socket
from ipaddress import IPv4Address, IPv6Address

from speaker.wire.answers import Family
from speaker.wire.arp import ArpRequest, build_arp_reply
from speaker.wire.filters import Filter
from speaker.wire.gratuitous import build_announcements
from speaker.wire.interfaces import Interface
from speaker.wire.ownership import solicited_groups
from speaker.wire.replies import IPAddress
from speaker.wire.sockets import (
    attach_filter,
    open_listener_socket,
    open_packet_socket,
    set_listener_membership,
    set_packet_membership,
)
from speaker.wire.throttling import LogThrottle

logger = logging.getLogger(__name__)


class Port:
    """The packet sockets of one interface, one per family, and its group memberships."""

    def __init__(
        self,
        interface: Interface,
        families: frozenset[Family],
        owned: frozenset[IPAddress],
        receive_buffer: int,
        throttle: LogThrottle,
    ) -> None:
        if interface.mac is None:
            raise ValueError(f"interface {interface.name} has no Ethernet address")
        self.interface = interface
        self.mac: bytes = interface.mac
        self.families = families
        self.owned = owned
        self.sockets: dict[Family, socket.socket] = {}
        self._programs: dict[Family, Filter] = {}
        self._groups: frozenset[IPv6Address] = frozenset()
        self._listener: socket.socket | None = None
        self._throttle = throttle
        try:
            for family in sorted(families, key=lambda each: each.value):
                program = self._program(family, owned)
                self.sockets[family] = open_packet_socket(
                    interface, family, program, receive_buffer
                )
            self._update_groups(owned)
        except BaseException:
            self.close()
            raise
        _warm_templates(self.mac)

    @property
    def name(self) -> str:
        """The interface name."""
        return self.interface.name

    def apply(self, owned: frozenset[IPAddress]) -> None:
        """Make filters, groups and the Python view say `owned`."""
        if owned == self.owned:
            return
        for family, sock in self.sockets.items():
            program = family.build_filter(owned)
            if program != self._programs.get(family):
                attach_filter(sock, program)
                self._remember(family, program)
        self._update_groups(owned)
        self.owned = owned

    def send(self, family: Family, frame: bytes) -> None:
        """Send one complete Ethernet frame on this interface; raises OSError."""
        self.sockets[family].send(frame)

    def close(self) -> None:
        """Close every socket; the kernel drops their memberships with them."""
        for sock in self.sockets.values():
            sock.close()
        self.sockets.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self._groups = frozenset()

    def _program(self, family: Family, owned: frozenset[IPAddress]) -> Filter:
        program = family.build_filter(owned)
        self._remember(family, program)
        return program

    def _remember(self, family: Family, program: Filter) -> None:
        self._programs[family] = program
        if not program.exact:
            # filters.py: too many IPs for BPF_MAXINSNS, so the kernel admits all requests of the
            # family and every foreign request costs Python time again (decide still drops it).
            self._throttle.log(
                logging.WARNING,
                f"inexact:{self.name}:{family.name}",
                "%s/%s: too many owned IPs for an exact kernel filter; filtering in Python",
                self.name,
                family.name,
            )

    def _update_groups(self, owned: frozenset[IPAddress]) -> None:
        sock = self.sockets.get(Family.NDP)
        if sock is None:
            return
        wanted = solicited_groups(owned)
        for group in sorted(wanted - self._groups):
            set_packet_membership(sock, self.interface, group, join=True)
            self._listen(group, join=True)
        for group in sorted(self._groups - wanted):
            set_packet_membership(sock, self.interface, group, join=False)
            self._listen(group, join=False)
        self._groups = wanted

    def _listen(self, group: IPv6Address, *, join: bool) -> None:
        """The IPv6-layer membership: best effort, the packet membership already receives."""
        try:
            if self._listener is None:
                self._listener = open_listener_socket()
            set_listener_membership(self._listener, self.interface, group, join=join)
        except OSError as error:
            self._throttle.log(
                logging.WARNING,
                f"mld:{self.name}",
                "%s: cannot %s %s at the IPv6 layer (no MLD report for snooping switches): %s",
                self.name,
                "join" if join else "leave",
                group,
                error,
            )


def _warm_templates(mac: bytes) -> None:
    """Build this MAC's reply and announcement templates now (cheap since they are packed by hand).

    Otherwise the first reply, and the first takeover, would pay for them; the 10 ms takeover
    budget (arp-responder.md §5.6) should not depend on whether a MAC was seen before.
    """
    any_ip = IPv4Address(0)
    build_announcements(any_ip, mac)
    build_announcements(IPv6Address(1), mac)  # the NA template answers solicitations too
    probe = ArpRequest(
        destination_mac=mac, source_mac=mac, sender_mac=mac, sender_ip=any_ip, target_ip=any_ip
    )
    build_arp_reply(probe, mac)
