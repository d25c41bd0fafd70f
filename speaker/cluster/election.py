"""Who announces each IP: MetalLB's order (preference score, then sha256(node#ip)), one owner.

Pure. No I/O. Every speaker runs this on the same inputs and reaches the same answer without
talking to the others (compat §4.3). Nodes are ordered per *group* of IPs (IPs linked by Services
holding two, dual-stack, or sharing one, allow-shared-ip): one hashed IP, one order. Each IP goes
to the first node in that order that one of its own Services accepts. So an IP has one owner
even where MetalLB, electing per Service, could give a shared IP two (§4.3 end, §7 #15), and a
dual-stack Service's IPs move together as in MetalLB.
"""

import enum
import functools
import hashlib
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from metalpool import names
from metalpool.addresses import IPAddress
from metalpool.advertisements import L2Advertisement
from metalpool.services import ServiceKey
from speaker.cluster.nodes import Endpoints, NodeInfo


class Reason(enum.StrEnum):
    """Why an IP or a Service is (not) announced; values are stable log and metric labels.

    MetalLB's codes keep MetalLB's spelling (§4.4) so logs read the same after a migration.
    `speaker.cluster.announcements` produces the Service-level ones; the shell owns
    `SERVICE_DELETED`, `INVALID_IP`, `INTERNAL_ERROR` and `LOAD_BALANCER_IP_CHANGED`.
    """

    # MetalLB's announce reasons (compat §4.4).
    NOT_OWNER = "notOwner"  # another node won
    NO_MATCHING_ADVERTISEMENT = "noMatchingAdvertisement"  # no applicable ad selects this node
    SHARED_IP_WITH_SERVICE_SELECTOR = "sharedIPWithServiceSelector"  # never ours: see announcements
    SERVICE_DELETED = "serviceDeleted"
    NOT_LOAD_BALANCER = "notLoadBalancer"
    NO_IP_ALLOCATED = "noIPAllocated"
    INVALID_IP = "invalidIP"
    IP_NOT_ALLOWED = "ipNotAllowed"  # no pool holds all of the Service's IPs
    INTERNAL_ERROR = "internalError"
    LOAD_BALANCER_IP_CHANGED = "loadBalancerIPChanged"
    # Ours: MetalLB folds all of these into notOwner, which tells a user nothing (§7 #1, #14).
    ELECTED = "elected"
    ELECTED_FOR_SHARED_IP = "electedForSharedIP"  # won for another Service on the same IP
    OTHER_CLASS = "otherLoadBalancerClass"  # spec.loadBalancerClass is not ours (§2.1)
    NO_ADVERTISEMENT = "noAdvertisement"  # no L2Advertisement covers the pool and Service
    NO_ENDPOINTS = "noServingEndpoints"  # no endpoint can serve, anywhere
    NO_CANDIDATES = "noCandidates"  # no live, available, selected node (with a local endpoint)


@dataclass(frozen=True, slots=True, kw_only=True)
class Entrant:
    """A Service standing in an election: its IPs and the nodes that may announce them for it."""

    service: ServiceKey
    ips: tuple[IPAddress, ...]  # status order: the first one is hashed (§4.3 step 6)
    advertisements: tuple[L2Advertisement, ...]  # those that apply to it (§4.2)
    candidates: frozenset[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """The outcome for one IP, the same on every speaker."""

    ip: IPAddress
    winner: str | None
    reason: Reason
    ranking: tuple[str, ...] = ()  # every candidate in election order, the winner first
    selected: frozenset[str] = frozenset()  # nodes an applicable advertisement selects
    services: frozenset[ServiceKey] = frozenset()  # the Services holding the IP
    advertisements: tuple[L2Advertisement, ...] = ()  # those applying to any of them

    def reason_for(self, node: str) -> Reason:
        """This decision as `node` sees it, in MetalLB's order of checks (§4.3 steps 1-7)."""
        if self.winner == node:
            return Reason.ELECTED
        if self.services and node not in self.selected:
            return Reason.NO_MATCHING_ADVERTISEMENT
        return self.reason if self.winner is None else Reason.NOT_OWNER


def ip_order(ip: IPAddress) -> tuple[int, int]:
    """A total order on addresses of both families (IPv4 first), for sorting and ties."""
    return ip.version, int(ip)


def hashed_text(ip: IPAddress) -> str:
    """The IP as MetalLB hashes it: Go's `net.IP.String()`.

    Python's `str` already gives RFC 5952 text for IPv6; Go prints an IPv4-mapped IPv6 address
    as dotted IPv4, so that one case is converted.
    """
    mapped = ip.ipv4_mapped if ip.version == 6 else None  # noqa: PLR2004 - IP version 6
    return str(mapped or ip)


def rank(
    candidates: Iterable[str], ip: IPAddress, scores: Mapping[str, int] | None = None
) -> tuple[str, ...]:
    """MetalLB's candidate order (`sortL2Candidates`): score descending, then hash ascending.

    The hash is SHA-256 of `node + "#" + ip`, compared as raw bytes (§4.3 step 6).
    """
    weights = scores or {}

    def key(node: str) -> tuple[int, bytes]:
        return -weights.get(node, 0), _digest(node, ip)

    return tuple(sorted(set(candidates), key=key))


# Every pass ranks every IP's candidates again, and the inputs rarely change: remembered, the
# hashes stop being most of a pass (1,000 Services: 25 -> 14 ms). 8,192 entries (~1.5 MB at
# most) hold 2 candidates for 4,000 IPs; beyond that the oldest are computed again.
@functools.lru_cache(maxsize=8192)
def _digest(node: str, ip: IPAddress) -> bytes:
    return hashlib.sha256(f"{node}#{hashed_text(ip)}".encode()).digest()


def is_available(node: NodeInfo, *, ignore_exclude_lb: bool = False) -> bool:
    """Whether a node may announce anything: network up, not excluded from load balancers.

    The exclusion label counts by presence, any value (§4.3 step 4); kubeadm, kind and Talos
    put it on control-plane nodes, hence the escape hatch (§7 #2).
    """
    if node.network_unavailable:
        return False
    return ignore_exclude_lb or names.EXCLUDE_FROM_LB_LABEL not in node.labels


def candidates_for(
    *,
    advertisements: Sequence[L2Advertisement],
    nodes: Mapping[str, NodeInfo],
    live: Collection[str],
    endpoints: Endpoints,
    local: bool,
    ignore_exclude_lb: bool = False,
) -> frozenset[str]:
    """The nodes that may announce a Service's IPs (§4.3 step 4).

    Live speakers whose Node we know, available, selected by an applicable advertisement, and
    under externalTrafficPolicy Local running an endpoint that can serve. A live speaker whose
    Node object we have not seen is left out: its labels, hence its selection, are unknown.
    """
    if not endpoints.any_serving:
        return frozenset()  # nothing is announced without an endpoint (§4.3 step 1)
    found = set()
    for name in live:
        node = nodes.get(name)
        if node is None or not is_available(node, ignore_exclude_lb=ignore_exclude_lb):
            continue
        if local and name not in endpoints.serving_nodes:
            continue
        if any(ad.covers_node(node.labels) for ad in advertisements):
            found.add(name)
    return frozenset(found)


def preference_score(node: NodeInfo, advertisements: Iterable[L2Advertisement]) -> int:
    """Sum of the weights of matching preferences, over advertisements that select the node.

    An advertisement's preferences count only for nodes its nodeSelectors admit (§1.2).
    """
    return sum(
        preference.weight
        for ad in advertisements
        if ad.covers_node(node.labels)
        for preference in ad.preferences
        if preference.selector.matches(node.labels)
    )


def elect(entrants: Iterable[Entrant], nodes: Mapping[str, NodeInfo]) -> tuple[Decision, ...]:
    """One decision per IP held by any entrant, sorted by IP."""
    decisions = [d for group in _groups(entrants) for d in _elect_group(group, nodes)]
    return tuple(sorted(decisions, key=lambda d: ip_order(d.ip)))


def _groups(entrants: Iterable[Entrant]) -> list[list[Entrant]]:
    """Entrants linked by a common IP, transitively (union-find over IPs)."""
    parent: dict[IPAddress, IPAddress] = {}

    def root(ip: IPAddress) -> IPAddress:
        while parent.setdefault(ip, ip) != ip:
            ip = parent[ip]
        return ip

    usable = [e for e in entrants if e.ips]
    for entrant in usable:
        for ip in entrant.ips[1:]:
            a, b = sorted((root(entrant.ips[0]), root(ip)), key=ip_order)
            parent[b] = a
    groups: defaultdict[IPAddress, list[Entrant]] = defaultdict(list)
    for entrant in usable:
        groups[root(entrant.ips[0])].append(entrant)
    return list(groups.values())


def _elect_group(group: Sequence[Entrant], nodes: Mapping[str, NodeInfo]) -> list[Decision]:
    # The hashed IP is each Service's first IP (§4.3 step 6); where Services on one group
    # disagree (MetalLB would elect twice), the lowest of their first IPs decides for all.
    hashed = min((e.ips[0] for e in group), key=ip_order)
    order = _ranking(group, hashed, _union(e.advertisements for e in group), nodes)
    ips = {ip for e in group for ip in e.ips}
    return [_decide(ip, [e for e in group if ip in e.ips], order, nodes) for ip in ips]


def _decide(
    ip: IPAddress,
    holders: Sequence[Entrant],
    order: Sequence[str],
    nodes: Mapping[str, NodeInfo],
) -> Decision:
    """The group's order, kept to nodes that may announce `ip` for one of its own Services.

    With one Service, or Services that agree on their candidates, every IP of the group gets
    the group's winner; an IP is never announced by a node none of its Services chose.
    """
    allowed = frozenset().union(*(e.candidates for e in holders))
    ranking = tuple(name for name in order if name in allowed)
    ads = _union(e.advertisements for e in holders)
    return Decision(
        ip=ip,
        winner=ranking[0] if ranking else None,
        reason=Reason.ELECTED if ranking else Reason.NO_CANDIDATES,
        ranking=ranking,
        selected=frozenset(
            name for name, node in nodes.items() if any(ad.covers_node(node.labels) for ad in ads)
        ),
        services=frozenset(e.service for e in holders),
        advertisements=ads,
    )


def _ranking(
    group: Sequence[Entrant],
    hashed: IPAddress,
    ads: Sequence[L2Advertisement],
    nodes: Mapping[str, NodeInfo],
) -> tuple[str, ...]:
    """MetalLB's order, after first putting nodes that can serve more of the group's Services.

    When every Service of the group has the same candidates (always, for one Service, and for
    shared IPs under MetalLB's sharing rules) every node serves all of them and this is exactly
    MetalLB's order. The order of each node depends on that node alone, so dropping the
    winner hands the IP to the runner-up and nobody else.
    """
    coverage = Counter(node for e in group for node in e.candidates)
    scores = {name: preference_score(nodes[name], ads) if name in nodes else 0 for name in coverage}
    metallb = rank(coverage, hashed, scores)
    return tuple(sorted(metallb, key=lambda name: -coverage[name]))  # stable within a tier


def _union(lists: Iterable[Iterable[L2Advertisement]]) -> tuple[L2Advertisement, ...]:
    """Advertisements of all lists, each once (its weights count once), in name order."""
    unique = {(ad.namespace, ad.name): ad for ads in lists for ad in ads}
    return tuple(unique[key] for key in sorted(unique))
