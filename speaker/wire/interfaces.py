"""Pure. No I/O. Which of the host's interfaces the responder listens on, as MetalLB chooses them.

The rule is metallb-compat.md §4.5 (`Announce.updateInterfaces`): drop names matching the exclude
list (unanchored regex search); the survivors, even down ones, are the node's "local interfaces"
that an L2Advertisement's `interfaces` may name. Of those, skip interfaces that are down, enslaved
to a bond or bridge (they have a master), NOARP or loopback. An ARP responder needs IFF_BROADCAST;
an NDP responder needs an IPv6 link-local address. `speaker.wire.links` reads the host; this
decides.

We also skip non-Ethernet links (tun, ipip, wireguard): ARP/NDP over Ethernet is all the codecs
speak. MetalLB's ARP library needs an IPv4 address on the interface as well; we do not (the reply
never uses one), so that quirk is not copied.

`parse_exclude_config` reads the exclude list from MetalLB's `metallb-excludel2` ConfigMap.
"""

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import yaml

# linux/if.h net_device_flags, as /sys/class/net/<if>/flags shows them.
IFF_UP = 0x1
IFF_BROADCAST = 0x2
IFF_LOOPBACK = 0x8
IFF_NOARP = 0x80
ARPHRD_ETHER = 1  # linux/if_arp.h; /sys/class/net/<if>/type

# MetalLB's default `announcedInterfacesToExclude` (metallb-compat.md §4.5). Releases before the
# one the compat spec describes lack "^lxc.*"; in those it only mattered for LXD/Cilium hosts.
DEFAULT_EXCLUDES = (
    "^docker.*",
    "^cbr.*",
    "^dummy.*",
    "^virbr.*",
    "^lxcbr.*",
    "^veth.*",
    "^lo$",
    "^cali.*",
    "^tunl.*",
    "^flannel.*",
    "^kube-ipvs.*",
    "^cni.*",
    "^nodelocaldns.*",
    "^lxc.*",
)

# MetalLB's own exclusions (metallb-compat.md §4.5): its speaker reads the field below from this
# ConfigMap's key, mounted at /etc/metallb/excludel2.yaml, once at start.
EXCLUDE_CONFIGMAP = "metallb-excludel2"
EXCLUDE_KEY = "excludel2.yaml"
EXCLUDE_FIELD = "announcedInterfacesToExclude"


@dataclass(frozen=True, slots=True, kw_only=True)
class Interface:
    """One network interface as the kernel describes it.

    `mac` is None when the link has no 6-byte hardware address; `link_type` is the ARPHRD_* value;
    `master` names the bond or bridge it is enslaved to, if any.
    """

    name: str
    index: int
    mac: bytes | None
    flags: int
    link_type: int = ARPHRD_ETHER
    master: str | None = None
    has_link_local: bool = False

    @property
    def is_up(self) -> bool:
        """Administratively up (IFF_UP), as MetalLB checks; carrier is not required."""
        return bool(self.flags & IFF_UP)


class SkipReason(enum.StrEnum):
    """Why an interface gets no responder; for the log line of each rescan."""

    EXCLUDED = "excluded"  # matches the exclude list
    NOT_ALLOWED = "not_allowed"  # not in the speaker's --interfaces list
    DOWN = "down"
    ENSLAVED = "enslaved"  # bond or bridge port: the master answers for the segment
    NOARP = "noarp"
    LOOPBACK = "loopback"
    NOT_ETHERNET = "not_ethernet"
    NO_FAMILY = "no_family"  # neither IFF_BROADCAST (ARP) nor an IPv6 link-local address (NDP)


@dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    """The outcome of one scan.

    `arp` and `ndp` are the interfaces that get a responder of that family, by name order.
    `local_names` are the non-excluded names, up or not: an advertisement naming none of them
    cannot be announced on this node (the `announceFailed` event of §4.5).
    """

    arp: tuple[Interface, ...]
    ndp: tuple[Interface, ...]
    local_names: frozenset[str]
    skipped: tuple[tuple[str, SkipReason], ...]

    @property
    def chosen(self) -> tuple[Interface, ...]:
        """Every interface with at least one responder, by name."""
        by_name = {interface.name: interface for interface in (*self.arp, *self.ndp)}
        return tuple(by_name[name] for name in sorted(by_name))

    @property
    def macs(self) -> frozenset[bytes]:
        """The MACs of the chosen interfaces: frames from them are our own."""
        return frozenset(i.mac for i in self.chosen if i.mac is not None)


def compile_excludes(patterns: Sequence[str]) -> re.Pattern[str] | None:
    """Join patterns as MetalLB does, `(a)|(b)|…`, for an unanchored search; None if empty.

    Raises re.error for an invalid pattern: a configuration error the caller reports.
    """
    if not patterns:
        return None
    return re.compile("|".join(f"({pattern})" for pattern in patterns))


class ExcludeConfigError(ValueError):
    """The exclusion ConfigMap cannot be used; the message says why, for the log line."""


def parse_exclude_config(data: Mapping[str, str] | None) -> tuple[str, ...]:
    """The exclude patterns the ConfigMap's `data` asks for; `None` (no ConfigMap): the defaults.

    As MetalLB: the ConfigMap's list *replaces* the defaults (MetalLB has none in its code; its
    manifests and chart ship them in this ConfigMap). A document or field that is empty or null
    excludes nothing; other fields are ignored. The patterns are checked as `compile_excludes`
    joins them. Raises ExcludeConfigError when the key is missing (MetalLB would silently
    exclude nothing), the YAML is malformed, the field is not a list of strings, or a pattern is
    not a valid regex; the caller keeps the list it had.
    """
    if data is None:
        return DEFAULT_EXCLUDES
    if EXCLUDE_KEY not in data:
        raise ExcludeConfigError(f"no key {EXCLUDE_KEY}")
    try:
        document = yaml.safe_load(data[EXCLUDE_KEY])
    except yaml.YAMLError as error:
        raise ExcludeConfigError(f"{EXCLUDE_KEY} is not YAML: {error}") from None
    if document is None:
        return ()
    if not isinstance(document, dict):
        raise ExcludeConfigError(f"{EXCLUDE_KEY} is not a YAML mapping")
    patterns = document.get(EXCLUDE_FIELD)
    if patterns is None:
        return ()
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise ExcludeConfigError(f"{EXCLUDE_FIELD} is not a list of strings")
    try:
        compile_excludes(patterns)
    except re.error as error:
        raise ExcludeConfigError(f"{EXCLUDE_FIELD}: invalid regex: {error}") from None
    return tuple(patterns)


def choose_interfaces(
    interfaces: Iterable[Interface],
    allowed_names: frozenset[str] | None,
    excluded: re.Pattern[str] | None,
) -> Selection:
    """Pick the interfaces to answer on.

    `allowed_names` is the speaker's own `--interfaces` list; when given it replaces the exclude
    list (naming an interface is a stronger statement than a default pattern), but down, enslaved,
    NOARP and non-Ethernet interfaces are still skipped since nothing could be answered there.
    """
    arp: list[Interface] = []
    ndp: list[Interface] = []
    local: set[str] = set()
    skipped: list[tuple[str, SkipReason]] = []
    for interface in sorted(interfaces, key=lambda each: each.name):
        if allowed_names is not None:
            if interface.name not in allowed_names:
                skipped.append((interface.name, SkipReason.NOT_ALLOWED))
                continue
        elif excluded is not None and excluded.search(interface.name):
            skipped.append((interface.name, SkipReason.EXCLUDED))
            continue
        local.add(interface.name)
        reason = _ineligible(interface)
        if reason is not None:
            skipped.append((interface.name, reason))
            continue
        if interface.flags & IFF_BROADCAST:
            arp.append(interface)
        if interface.has_link_local:
            ndp.append(interface)
    return Selection(
        arp=tuple(arp), ndp=tuple(ndp), local_names=frozenset(local), skipped=tuple(skipped)
    )


def _ineligible(interface: Interface) -> SkipReason | None:  # noqa: PLR0911 - one check per rule
    """The first §4.5 rule that rules `interface` out, or None."""
    if not interface.is_up:
        return SkipReason.DOWN
    if interface.master is not None:
        return SkipReason.ENSLAVED
    if interface.flags & IFF_NOARP:
        return SkipReason.NOARP
    if interface.flags & IFF_LOOPBACK:
        return SkipReason.LOOPBACK
    if interface.link_type != ARPHRD_ETHER or interface.mac is None:
        return SkipReason.NOT_ETHERNET
    if not interface.flags & IFF_BROADCAST and not interface.has_link_local:
        return SkipReason.NO_FAMILY
    return None
