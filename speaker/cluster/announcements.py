"""What this node announces now: Services → IPs → elections → `Announcement`s, with reasons.

Pure. No I/O. `plan` screens every Service as MetalLB's speaker does (compat §4.1: class, type,
IPs, pool, advertisements, endpoints), passes the rest to `speaker.cluster.election`, and says why
for each Service and IP it leaves out. `announcements_for` is one node's share of a plan; `diff`
tells the shell which IPs it gained (send a gratuitous burst) and lost (just stop answering).

Shared IPs and serviceSelectors (§7 #15): MetalLB silently drops any allow-shared-ip Service
whose applicable advertisements have serviceSelectors, because its per-Service election could
give the shared IP two owners. We elect per IP (an IP's candidates are the union of its
Services', ranked once for all of them), so one IP has one owner whatever the advertisements,
and we announce those Services: the `sharedIPWithServiceSelector` refusal was a workaround for
a problem we do not have. The empty-annotation quirk of that check goes with it.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from metalpool.addresses import IPAddress
from metalpool.advertisements import L2Advertisement
from metalpool.pools import Pool
from metalpool.services import LBService, ServiceKey, TrafficPolicy
from speaker.cluster.election import Decision, Entrant, Reason, candidates_for, elect, ip_order
from speaker.cluster.nodes import Endpoints, NodeInfo

# The order MetalLB's speaker checks a Service in (§4.1). For an IP that no Service stands for,
# the reason reported is that of the Service that got furthest: the most useful to a user.
_PROGRESS = (
    Reason.NOT_LOAD_BALANCER,
    Reason.NO_IP_ALLOCATED,
    Reason.IP_NOT_ALLOWED,
    Reason.NO_ADVERTISEMENT,
    Reason.NO_ENDPOINTS,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceIPs:
    """A parsed Service and the IPs its status holds (`parse_ingress`), in status order."""

    service: LBService
    ingress: tuple[IPAddress, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """Everything the speaker knows, as the watch shell has parsed it."""

    services: tuple[ServiceIPs, ...] = ()
    pools: tuple[Pool, ...] = ()
    advertisements: tuple[L2Advertisement, ...] = ()
    nodes: Mapping[str, NodeInfo] = field(default_factory=dict, hash=False)
    endpoints: Mapping[ServiceKey, Endpoints] = field(default_factory=dict, hash=False)
    live: frozenset[str] = frozenset()  # nodes whose speaker Lease is live (computed elsewhere)
    lb_class: str | None = None  # --lb-class
    ignore_exclude_lb: bool = False  # --ignore-exclude-lb (§7 #2)


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """The outcome for one Service, the same on every speaker."""

    service: ServiceKey
    reason: Reason
    winner: str | None = None
    ips: tuple[IPAddress, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """Every IP's decision and every Service's verdict, sorted by IP and by Service."""

    decisions: tuple[Decision, ...] = ()
    verdicts: tuple[Verdict, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Announcement:
    """An IP this node answers ARP/NDP for, on `interfaces` (None: every allowed interface)."""

    ip: IPAddress
    services: frozenset[ServiceKey]
    interfaces: frozenset[str] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Changes:
    """How one announcement set became the next, keyed by IP."""

    gained: frozenset[Announcement] = frozenset()  # answer, and send a gratuitous burst
    lost: frozenset[Announcement] = frozenset()  # stop answering; nothing is sent (§4.8)
    changed: frozenset[Announcement] = frozenset()  # same IP, new Services or interfaces


def plan(snapshot: Snapshot) -> Plan:
    """Screen every Service, elect an owner for every IP, and say why wherever nothing is."""
    entrants: list[Entrant] = []
    refused: list[Verdict] = []
    for held in snapshot.services:
        outcome = _screen(held, snapshot)
        if isinstance(outcome, Entrant):
            entrants.append(outcome)
        else:
            refused.append(Verdict(service=held.service.key, reason=outcome, ips=held.ingress))
    decisions = {d.ip: d for d in elect(entrants, snapshot.nodes)}
    for ip, reason in _unelected(refused, decisions.keys()).items():
        decisions[ip] = Decision(ip=ip, winner=None, reason=reason)
    verdicts = refused + [_verdict(e, decisions[e.ips[0]]) for e in entrants]
    return Plan(
        decisions=tuple(sorted(decisions.values(), key=lambda d: ip_order(d.ip))),
        verdicts=tuple(sorted(verdicts, key=lambda v: v.service)),
    )


def _screen(held: ServiceIPs, snapshot: Snapshot) -> Reason | Entrant:
    service = held.service
    if not service.is_handled_by(snapshot.lb_class):
        return Reason.OTHER_CLASS
    if not service.is_load_balancer:
        return Reason.NOT_LOAD_BALANCER
    if not held.ingress:
        return Reason.NO_IP_ALLOCATED
    pool = _pool_holding(held.ingress, snapshot.pools)
    if pool is None:
        return Reason.IP_NOT_ALLOWED
    return _enter(held, pool, snapshot)


def _enter(held: ServiceIPs, pool: Pool, snapshot: Snapshot) -> Reason | Entrant:
    service = held.service
    ads = tuple(
        sorted(
            (
                ad
                for ad in snapshot.advertisements
                if ad.covers_pool(pool) and ad.covers_service(service.labels)
            ),
            key=lambda ad: (ad.namespace, ad.name),
        )
    )
    if not ads:
        return Reason.NO_ADVERTISEMENT  # §7 #1: the most common "ARP not answered" report
    endpoints = snapshot.endpoints.get(service.key, Endpoints())
    if not endpoints.any_serving:
        return Reason.NO_ENDPOINTS  # also every Service without a selector (§7 #14)
    candidates = candidates_for(
        advertisements=ads,
        nodes=snapshot.nodes,
        live=snapshot.live,
        endpoints=endpoints,
        local=service.traffic_policy is TrafficPolicy.LOCAL,
        ignore_exclude_lb=snapshot.ignore_exclude_lb,
    )
    return Entrant(service=service.key, ips=held.ingress, advertisements=ads, candidates=candidates)


def _pool_holding(ips: Sequence[IPAddress], pools: Iterable[Pool]) -> Pool | None:
    """The pool holding every IP; avoidBuggyIPs is ignored here, as MetalLB does (§4.1 step 4)."""
    for pool in pools:
        if all(any(ip in r for r in pool.ranges) for ip in ips):
            return pool
    return None


def _unelected(refused: Iterable[Verdict], elected: Iterable[IPAddress]) -> dict[IPAddress, Reason]:
    """Why each IP held only by refused Services is not announced (not ours: not mentioned)."""
    taken = set(elected)
    reasons: dict[IPAddress, Reason] = {}
    for verdict in refused:
        if verdict.reason not in _PROGRESS:
            continue
        for ip in verdict.ips:
            current = reasons.get(ip)
            if ip in taken or (
                current is not None and _PROGRESS.index(current) >= _PROGRESS.index(verdict.reason)
            ):
                continue
            reasons[ip] = verdict.reason
    return reasons


def _verdict(entrant: Entrant, decision: Decision) -> Verdict:
    if decision.winner is None:
        reason = Reason.NO_CANDIDATES
    elif decision.winner in entrant.candidates:
        reason = Reason.ELECTED
    else:  # the IP went to a node chosen for another Service sharing it
        reason = Reason.ELECTED_FOR_SHARED_IP
    return Verdict(service=entrant.service, reason=reason, winner=decision.winner, ips=entrant.ips)


def announcements_for(
    node: str, snapshot: Snapshot, planned: Plan | None = None
) -> frozenset[Announcement]:
    """The IPs `node` must answer for now, each with the interfaces to answer on."""
    decided = planned if planned is not None else plan(snapshot)
    me = snapshot.nodes.get(node)
    if me is None:
        return frozenset()  # an unknown node never wins (see election.candidates_for)
    return frozenset(
        Announcement(
            ip=d.ip,
            services=d.services,
            interfaces=_interfaces(me, d.advertisements),
        )
        for d in decided.decisions
        if d.winner == node
    )


def _interfaces(node: NodeInfo, ads: Iterable[L2Advertisement]) -> frozenset[str] | None:
    """Union of the interfaces of advertisements selecting `node`; None if one allows all (§4.5)."""
    chosen = [ad for ad in ads if ad.covers_node(node.labels)]  # never empty for a winner
    if any(not ad.interfaces for ad in chosen):
        return None
    return frozenset(name for ad in chosen for name in ad.interfaces)


def diff(old: Iterable[Announcement], new: Iterable[Announcement]) -> Changes:
    """Compare two announcement sets by IP."""
    before = {a.ip: a for a in old}
    after = {a.ip: a for a in new}
    return Changes(
        gained=frozenset(a for ip, a in after.items() if ip not in before),
        lost=frozenset(a for ip, a in before.items() if ip not in after),
        changed=frozenset(a for ip, a in after.items() if ip in before and before[ip] != a),
    )
