"""Why no node announces a Service's addresses, in words naming the pool, advertisements and nodes.

Pure. No I/O. `plan` says *that* nobody won an IP; this module says *why*, checking in the order
the plan screens a Service (compat §4.1): a pool holding its addresses, an advertisement for the
pool and the Service, a serving endpoint, then the nodes — selected by an advertisement, not
excluded (the exclude-from-external-load-balancers label, NetworkUnavailable, no live speaker),
and under externalTrafficPolicy Local running a ready endpoint. Messages carry no times or
counters, so writing one twice changes nothing (docs/lan.md, "Why an address is not announced").
"""

import enum
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from metalpool import names
from metalpool.addresses import IPAddress
from metalpool.advertisements import L2Advertisement
from metalpool.pools import Pool
from metalpool.services import ServiceKey, TrafficPolicy
from speaker.cluster.announcements import Plan, ServiceIPs, Snapshot
from speaker.cluster.election import ip_order
from speaker.cluster.nodes import Endpoints, NodeInfo

NAMES_SHOWN = 5  # nodes named per list in a message; the rest are counted ("and 3 more")


class AnnouncedReason(enum.StrEnum):
    """The reasons of the `metallb.io/Announced` Service condition (docs/lan.md's table)."""

    ANNOUNCED = "Announced"  # True: a speaker answers for every address of the Service
    PROBING = "Probing"
    ADDRESS_CONFLICT = names.EVENT_ADDRESS_CONFLICT
    NO_ADVERTISEMENT = "NoAdvertisement"
    NO_NODE_SELECTED = "NoNodeSelected"
    NO_ENDPOINTS = "NoEndpoints"
    NO_LOCAL_ENDPOINT = "NoLocalEndpoint"
    NO_ELIGIBLE_NODE = "NoEligibleNode"
    INTERFACE_MISSING = "InterfaceMissing"


class Bar(enum.StrEnum):
    """Why a node selected by an advertisement may not announce; values are message words."""

    EXCLUDED = f"label {names.EXCLUDE_FROM_LB_LABEL}"
    NETWORK_UNAVAILABLE = "NetworkUnavailable"
    NO_SPEAKER = "no live speaker"
    NOT_SELECTED = "not selected by the advertisements"  # only said of endpoint nodes
    UNKNOWN = "no such Node"  # an endpoint's nodeName the speaker has no Node object for


@dataclass(frozen=True, slots=True, kw_only=True)
class Explanation:
    """Why a Service is not announced: a condition reason and a sentence naming the objects."""

    reason: AnnouncedReason
    message: str


def unannounced(snapshot: Snapshot, planned: Plan) -> dict[ServiceKey, Explanation]:
    """Why, for each of our Services holding an address that no node won.

    Services of another class, not of type LoadBalancer or holding no address are not
    mentioned: nothing is said on them. Nor are Services whose every address has a winner.
    """
    winners = {d.ip: d.winner for d in planned.decisions}
    found = {}
    for held in snapshot.services:
        if not carries_condition(held, snapshot.lb_class):
            continue
        if any(winners.get(ip) is None for ip in held.ingress):
            found[held.service.key] = explain(held, snapshot)
    return found


def explain(held: ServiceIPs, snapshot: Snapshot) -> Explanation:
    """Why no node may announce `held`'s addresses for it (the first check it fails)."""
    pool = _pool_holding(held.ingress, snapshot.pools)
    if pool is None:
        return Explanation(
            reason=AnnouncedReason.NO_ADVERTISEMENT,
            message=f"no IPAddressPool holds {_ips(held.ingress)}, so no L2Advertisement"
            " announces it",
        )
    for_pool = _sorted(ad for ad in snapshot.advertisements if ad.covers_pool(pool))
    ads = tuple(ad for ad in for_pool if ad.covers_service(held.service.labels))
    if not ads:
        return _no_advertisement(pool, for_pool)
    endpoints = snapshot.endpoints.get(held.service.key, Endpoints())
    if not endpoints.any_serving:
        return Explanation(
            reason=AnnouncedReason.NO_ENDPOINTS, message="the Service has no ready endpoint"
        )
    return _explain_nodes(
        ads,
        snapshot,
        endpoints,
        local=held.service.traffic_policy is TrafficPolicy.LOCAL,
    )


def _explain_nodes(
    ads: Sequence[L2Advertisement], snapshot: Snapshot, endpoints: Endpoints, *, local: bool
) -> Explanation:
    """The node checks, once a pool, an advertisement and a serving endpoint are there."""
    selected = sorted(
        name
        for name, node in snapshot.nodes.items()
        if any(ad.covers_node(node.labels) for ad in ads)
    )
    if not selected:
        return Explanation(
            reason=AnnouncedReason.NO_NODE_SELECTED,
            message=f"the nodeSelectors of {advertisement_names(ads)} match no node",
        )
    bars = {name: bar_of(snapshot.nodes[name], snapshot) for name in selected}
    eligible = [name for name in selected if bars[name] is None]
    if not eligible:
        return Explanation(
            reason=AnnouncedReason.NO_ELIGIBLE_NODE,
            message=f"no node selected by {advertisement_names(ads)} may announce it: "
            + _barred({name: bar for name, bar in bars.items() if bar is not None}),
        )
    if local and not endpoints.serving_nodes & set(eligible):
        return Explanation(
            reason=AnnouncedReason.NO_LOCAL_ENDPOINT,
            message="externalTrafficPolicy is Local and no node that may announce it"
            f" ({_names(eligible)}) runs a ready endpoint"
            + _elsewhere(endpoints.serving_nodes, bars, snapshot),
        )
    # The plan found no candidate, yet one is here: the two disagree, which they never should.
    return Explanation(
        reason=AnnouncedReason.NO_ELIGIBLE_NODE,
        message=f"no node may announce it (nodes selected: {_names(selected)})",
    )


def bar_of(node: NodeInfo, snapshot: Snapshot) -> Bar | None:
    """Why `node` may not announce anything now, or None (the election's `is_available` + live)."""
    if not snapshot.ignore_exclude_lb and names.EXCLUDE_FROM_LB_LABEL in node.labels:
        return Bar.EXCLUDED
    if node.network_unavailable:
        return Bar.NETWORK_UNAVAILABLE
    if node.name not in snapshot.live:
        return Bar.NO_SPEAKER
    return None


def _no_advertisement(pool: Pool, for_pool: Sequence[L2Advertisement]) -> Explanation:
    if not for_pool:
        message = f'no L2Advertisement selects pool "{pool.name}"'
    else:
        verb, their = ("selects", "its") if len(for_pool) == 1 else ("select", "their")
        message = (
            f'{advertisement_names(for_pool)} {verb} pool "{pool.name}", but {their}'
            " serviceSelectors do not select this Service"
        )
    return Explanation(reason=AnnouncedReason.NO_ADVERTISEMENT, message=message)


def _elsewhere(serving: Collection[str], bars: Mapping[str, Bar | None], snapshot: Snapshot) -> str:
    """Where the ready endpoints are, and why none of those nodes may announce."""
    if not serving:
        return ""
    where = {}
    for name in serving:
        if name not in snapshot.nodes:
            where[name] = Bar.UNKNOWN  # never a candidate: its labels are unknown
        else:
            where[name] = bars.get(name) or Bar.NOT_SELECTED
    return "; its ready endpoints run on " + _barred(where)


def _barred(bars: Mapping[str, Bar]) -> str:
    """`node-1, node-2 (label ...), node-3 (no live speaker)`: nodes grouped by why."""
    groups: dict[Bar, list[str]] = {}
    for name in sorted(bars):
        groups.setdefault(bars[name], []).append(name)
    return ", ".join(f"{_names(groups[bar])} ({bar})" for bar in Bar if bar in groups)


def _names(nodes: Sequence[str]) -> str:
    shown = ", ".join(nodes[:NAMES_SHOWN])
    rest = len(nodes) - NAMES_SHOWN
    return f"{shown} and {rest} more" if rest > 0 else shown


def advertisement_names(ads: Sequence[L2Advertisement]) -> str:
    """`L2Advertisement "a"` or `L2Advertisements "a", "b"`, in the order given."""
    quoted = ", ".join(f'"{ad.name}"' for ad in ads)
    return f"L2Advertisement {quoted}" if len(ads) == 1 else f"L2Advertisements {quoted}"


def _ips(ips: Iterable[IPAddress]) -> str:
    return ", ".join(str(ip) for ip in sorted(ips, key=ip_order))


def _sorted(ads: Iterable[L2Advertisement]) -> tuple[L2Advertisement, ...]:
    return tuple(sorted(ads, key=lambda ad: (ad.namespace, ad.name)))


def _pool_holding(ips: Sequence[IPAddress], pools: Iterable[Pool]) -> Pool | None:
    """The pool holding every IP: the plan's own rule (`announcements._pool_holding`)."""
    for pool in pools:
        if all(any(ip in r for r in pool.ranges) for ip in ips):
            return pool
    return None


def carries_condition(held: ServiceIPs, lb_class: str | None) -> bool:
    """Whether a Service gets the condition: ours (class), a LoadBalancer, holding an address."""
    service = held.service
    return service.is_handled_by(lb_class) and service.is_load_balancer and bool(held.ingress)
