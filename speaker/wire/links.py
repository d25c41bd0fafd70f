"""Shell. Reads the host's network interfaces from sysfs and procfs into `Interface` values.

Only reading: the decision is `speaker.wire.interfaces.choose_interfaces`. sysfs shows the network
namespace it was mounted in (`ip netns exec` remounts it) and /proc/net the reader's own, so both
agree for a process living in one namespace, which is how the speaker runs (hostNetwork).
An interface that vanishes while being read is left out; the next rescan sees the new state.
"""

import logging
from pathlib import Path

from speaker.wire.interfaces import Interface
from speaker.wire.replies import parse_mac

logger = logging.getLogger(__name__)

SYS_CLASS_NET = Path("/sys/class/net")
PROC_IF_INET6 = Path("/proc/net/if_inet6")
_SCOPE_LINK = 0x20  # IPV6_ADDR_LINKLOCAL as /proc/net/if_inet6 prints the scope
_IF_INET6_FIELDS = 6  # address, ifindex, prefix length, scope, flags, name


def read_interfaces(
    sys_class_net: Path = SYS_CLASS_NET, if_inet6: Path = PROC_IF_INET6
) -> list[Interface]:
    """Every interface of this network namespace; unreadable ones are logged and left out."""
    link_local = _link_local_indexes(if_inet6)
    found = []
    try:
        names = sorted(entry.name for entry in sys_class_net.iterdir())
    except OSError as error:
        logger.warning("cannot list interfaces in %s: %s", sys_class_net, error)
        return []
    for name in names:
        interface = _read_one(sys_class_net / name, link_local)
        if interface is not None:
            found.append(interface)
    return found


def _read_one(directory: Path, link_local: frozenset[int]) -> Interface | None:
    try:
        index = int(_attribute(directory, "ifindex"))
        flags = int(_attribute(directory, "flags"), 16)
        link_type = int(_attribute(directory, "type"))
        address = _attribute(directory, "address")
        master = directory / "master"
        master_name = master.resolve().name if master.is_symlink() else None
    except (OSError, ValueError) as error:
        # Gone between listing and reading, or a file we do not understand: skip it this scan.
        logger.debug("skipping interface %s: %s", directory.name, error)
        return None
    return Interface(
        name=directory.name,
        index=index,
        mac=_mac_or_none(address),
        flags=flags,
        link_type=link_type,
        master=master_name,
        has_link_local=index in link_local,
    )


def _attribute(directory: Path, name: str) -> str:
    return (directory / name).read_text(encoding="ascii").strip()


def _mac_or_none(text: str) -> bytes | None:
    try:
        return parse_mac(text)
    except ValueError:
        return None  # no address (tun) or not 6 bytes (ipip, infiniband)


def _link_local_indexes(if_inet6: Path) -> frozenset[int]:
    """Indexes of interfaces holding an IPv6 link-local address (tentative ones included).

    A line is `address ifindex prefixlen scope flags name`, numbers in hex. No file means no IPv6
    in this kernel or namespace, hence no NDP responders.
    """
    try:
        lines = if_inet6.read_text(encoding="ascii").splitlines()
    except OSError:
        return frozenset()
    indexes = set()
    for line in lines:
        fields = line.split()
        if len(fields) == _IF_INET6_FIELDS and int(fields[3], 16) == _SCOPE_LINK:
            indexes.add(int(fields[1], 16))
    return frozenset(indexes)
