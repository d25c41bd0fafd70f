"""What this speaker wants each Service to say about its addresses: `metallb.io/Announced`.

Pure. No I/O. It joins the cluster's facts (the plan, the same on every speaker, and
`speaker.cluster.reasons` for addresses nobody won) with what only this node knows (the LAN:
addresses it is probing or found held by another device; the interfaces it has). One speaker
speaks for each Service, so two never contradict each other (docs/lan.md, "Who writes it"):

- the winner of the Service's first elected address (status order) — it knows the LAN facts of
  the addresses it won; an address another node won counts as announced by that node;
- when no address of the Service has a winner, the *reporter*: the first live, ready speaker by
  name.

A Service missing from the result is left as it is this pass (another speaker's, or a hand-off
under way). The reporter also clears the condition from our Services that no longer carry one
(no longer a LoadBalancer, or no address): nothing is said on them.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from metalpool.addresses import IPAddress
from metalpool.advertisements import L2Advertisement
from metalpool.quarantine import Conflict
from metalpool.services import ServiceKey
from speaker.cluster.announcements import Announcement, Plan, ServiceIPs, Snapshot
from speaker.cluster.election import Decision, ip_order
from speaker.cluster.reasons import (
    AnnouncedReason,
    advertisement_names,
    carries_condition,
    explain,
)

# When addresses of one Service fail for different reasons, the condition gives the first
# of these (the one a user must act on first); the message gives them all, in this order.
PRIORITY = (
    AnnouncedReason.ADDRESS_CONFLICT,
    AnnouncedReason.INTERFACE_MISSING,
    AnnouncedReason.NO_ADVERTISEMENT,
    AnnouncedReason.NO_NODE_SELECTED,
    AnnouncedReason.NO_ENDPOINTS,
    AnnouncedReason.NO_LOCAL_ENDPOINT,
    AnnouncedReason.NO_ELIGIBLE_NODE,
    AnnouncedReason.PROBING,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Condition:
    """The `metallb.io/Announced` condition: True only when every address is answered."""

    announced: bool
    reason: AnnouncedReason
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Desired:
    """What a Service should show: the condition (None: none) and its conflicted addresses."""

    condition: Condition | None = None
    conflicts: tuple[Conflict, ...] = ()  # the address-conflict annotation; () = absent


NOTHING = Desired()  # no condition, no annotation: what a Service that is not announced shows


@dataclass(frozen=True, slots=True, kw_only=True)
class Witness:
    """What this speaker knows first-hand in one pass."""

    node: str
    answering: frozenset[Announcement] = frozenset()  # the IPs it answers for now
    interfaces: frozenset[str] = frozenset()  # the interfaces that exist on this node
    probing: frozenset[IPAddress] = frozenset()  # won, held back until a probe says free
    # IPs it won that another device holds: not announced (docs/lan.md)
    conflicts: Mapping[IPAddress, Conflict] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Part:
    """One reason some addresses of a Service are (not) announced, with its sentence."""

    reason: AnnouncedReason
    message: str


def reporter(snapshot: Snapshot) -> str | None:
    """The speaker that speaks for Services nobody won: the first live, ready one by name."""
    return min(snapshot.live, default=None)


def desired(snapshot: Snapshot, planned: Plan, witness: Witness) -> dict[ServiceKey, Desired]:
    """What this speaker wants each Service it speaks for to show now (see the module doc)."""
    decisions = {d.ip: d for d in planned.decisions}
    answering = {a.ip: a for a in witness.answering}
    speaks_for_unwon = reporter(snapshot) == witness.node
    found: dict[ServiceKey, Desired] = {}
    for held in snapshot.services:
        if not held.service.is_handled_by(snapshot.lb_class):
            continue  # another implementation's: never touched
        if not carries_condition(held, snapshot.lb_class):
            if speaks_for_unwon:
                found[held.service.key] = NOTHING
            continue
        winners = [w for ip in held.ingress if (w := _winner(decisions, ip)) is not None]
        speaks = winners[0] == witness.node if winners else speaks_for_unwon
        if not speaks:
            continue
        wanted = _desire(held, decisions, answering, snapshot, witness)
        if wanted is not None:
            found[held.service.key] = wanted
    return found


def _desire(
    held: ServiceIPs,
    decisions: Mapping[IPAddress, Decision],
    answering: Mapping[IPAddress, Announcement],
    snapshot: Snapshot,
    witness: Witness,
) -> Desired | None:
    """The condition of one Service this speaker speaks for; None while a hand-off is pending."""
    me = witness.node
    by_node: dict[str, list[IPAddress]] = {}
    unwon: list[IPAddress] = []
    parts: list[_Part] = []
    conflicts: list[Conflict] = []
    probing: list[IPAddress] = []
    for ip in sorted(held.ingress, key=ip_order):
        winner = _winner(decisions, ip)
        if winner is None:
            unwon.append(ip)
        elif winner != me:
            by_node.setdefault(winner, []).append(ip)  # its LAN facts are its own
        elif (conflict := witness.conflicts.get(ip)) is not None:
            conflicts.append(conflict)
            parts.append(_conflict(conflict))
        elif ip in witness.probing:
            probing.append(ip)
        elif ip in answering:
            missing = _missing_interfaces(answering[ip], witness.interfaces)
            if missing is None:
                by_node.setdefault(me, []).append(ip)
            else:
                parts.append(_interface_missing(me, ip, missing, decisions[ip].advertisements))
        else:
            return None  # won but not answered yet: the previous owner is handing it over
    if probing:
        parts.append(
            _Part(
                reason=AnnouncedReason.PROBING,
                message=f'node "{me}" is checking that no other device holds {_ips(probing)}',
            )
        )
    if unwon:
        why = explain(held, snapshot)
        prefix = f"{_ips(unwon)}: " if len(unwon) < len(held.ingress) else ""
        parts.append(_Part(reason=why.reason, message=prefix + why.message))
    return Desired(condition=_condition(parts, by_node), conflicts=tuple(conflicts))


def _condition(parts: Sequence[_Part], by_node: Mapping[str, Sequence[IPAddress]]) -> Condition:
    if not parts:
        message = "; ".join(f'node "{node}" announces {_ips(by_node[node])}' for node in by_node)
        return Condition(announced=True, reason=AnnouncedReason.ANNOUNCED, message=message)
    ordered = sorted(parts, key=lambda part: PRIORITY.index(part.reason))
    return Condition(
        announced=False,
        reason=ordered[0].reason,
        message="; ".join(part.message for part in ordered),
    )


def _conflict(fact: Conflict) -> _Part:
    return _Part(
        reason=AnnouncedReason.ADDRESS_CONFLICT,
        message=f"another device holds {fact.ip}: {fact.mac} on interface {fact.interface}"
        f' of node "{fact.node}"',
    )


def _missing_interfaces(announcement: Announcement, local: frozenset[str]) -> frozenset[str] | None:
    """The interfaces named for an address when this node has none of them, else None."""
    named = announcement.interfaces
    return named if named is not None and not named & local else None


def _interface_missing(
    me: str, ip: IPAddress, named: frozenset[str], ads: Iterable[L2Advertisement]
) -> _Part:
    naming = [ad for ad in ads if named.intersection(ad.interfaces)]
    by = f" by {advertisement_names(naming)}" if naming else ""
    return _Part(
        reason=AnnouncedReason.INTERFACE_MISSING,
        message=f'node "{me}" has none of the interfaces named for {ip}{by}'
        f" ({', '.join(sorted(named))})",
    )


def _winner(decisions: Mapping[IPAddress, Decision], ip: IPAddress) -> str | None:
    decision = decisions.get(ip)
    return None if decision is None else decision.winner


def _ips(ips: Iterable[IPAddress]) -> str:
    return ", ".join(str(ip) for ip in ips)
