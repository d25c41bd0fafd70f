"""What the controller writes, as the API's JSON: Service status, Events, pool status, quarantine.

Pure. The shell sends these bodies as they are; building them here keeps wire strings out of the
shell and lets tests read exactly what the API server will receive.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from controller.conflicts import QuarantineRequest
from controller.occupancy import PoolUsage
from controller.reconcile import CONDITION_TYPE, Condition, Notice, Plan
from metalpool import events, names
from metalpool.addresses import Family
from metalpool.conditions import condition_body
from metalpool.events import Severity
from metalpool.quarantine import Quarantined, format_conflicts, format_quarantine, read_quarantine

COMPONENT = "metallb-controller"  # MetalLB's event source; tooling filters on it


def status_patch(plan: Plan, obj: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A JSON merge patch for the Service's /status: ingress, pool annotation and condition.

    It carries the resourceVersion it was planned from, so a Service that changed since is
    refused with 409 and planned again instead of being overwritten. When the plan says so, the
    speakers' conflict annotation is rewritten too (null removes it).
    """
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, Mapping)]
    others = [dict(c) for c in conditions if c.get("type") != CONDITION_TYPE]
    previous = next((c for c in conditions if c.get("type") == CONDITION_TYPE), None)
    if plan.condition is not None:
        others.append(_condition(plan.condition, previous, meta.get("generation"), now))
    annotations: dict[str, str | None] = {names.ALLOCATED_FROM_POOL: plan.pool}
    if plan.conflicts is not None:
        annotations[names.ADDRESS_CONFLICT_ANNOTATION] = (
            format_conflicts(plan.conflicts) if plan.conflicts else None
        )
    return {
        "metadata": {
            "resourceVersion": meta.get("resourceVersion"),
            "annotations": annotations,
        },
        "status": {
            "loadBalancer": {"ingress": [{"ip": str(ip)} for ip in plan.ingress or ()]},
            "conditions": others,
        },
    }


def _condition(
    condition: Condition, previous: Mapping[str, Any] | None, generation: object, now: datetime
) -> dict[str, Any]:
    return condition_body(
        CONDITION_TYPE,
        holds=condition.allocated,
        reason=condition.reason,
        message=condition.message,
        previous=previous,
        generation=generation,
        now=now,
    )


def event_body(
    involved: Mapping[str, Any], notice: Notice, now: datetime, *, kind: str, instance: str
) -> dict[str, Any]:
    """A core/v1 Event about `involved` (a Service or a pool), as MetalLB's controller posts."""
    return events.event_body(
        involved,
        kind=kind,
        severity=notice.severity,
        reason=notice.reason,
        message=notice.message,
        component=COMPONENT,
        instance=instance,
        now=now,
    )


def pool_status(usage: PoolUsage) -> dict[str, Any]:
    """IPAddressPool `.status` as MetalLB writes it (compat §1.1, §3.10), and the quarantine.

    Available counts leave quarantined addresses out; `quarantinedIPs` is MetalPool's own.
    """
    return {
        "assignedIPv4": usage.assigned[Family.IPV4],
        "assignedIPv6": usage.assigned[Family.IPV6],
        "availableIPv4": usage.available(Family.IPV4),
        "availableIPv6": usage.available(Family.IPV6),
        "quarantinedIPs": [str(ip) for ip in usage.quarantined],
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class QuarantineWrite:
    """A merge patch of a pool's quarantine annotation, and the entries it adds."""

    patch: dict[str, Any]
    added: tuple[Quarantined, ...]


def quarantine_write(
    pool: Mapping[str, Any], requests: Iterable[QuarantineRequest], now: datetime
) -> QuarantineWrite | None:
    """Add the requested addresses to `pool`'s quarantine annotation; None when all are in it.

    The patch carries the pool's resourceVersion, so an edit made since `pool` was read (say,
    a user clearing an address) is never overwritten: the write fails with 409 and is planned
    again. Raises `SpecError` when the annotation there cannot be read: it is never replaced.
    """
    current = read_quarantine(pool)
    added = tuple(replace(r.entry, since=now) for r in requests if r.entry.ip not in current)
    if not added:
        return None
    value = format_quarantine([*current.values(), *added])
    meta = pool.get("metadata") or {}
    patch = {
        "metadata": {
            "resourceVersion": meta.get("resourceVersion"),
            "annotations": {names.QUARANTINE_ANNOTATION: value},
        }
    }
    return QuarantineWrite(patch=patch, added=added)


def quarantine_notice(entry: Quarantined) -> Notice:
    """The Event on the pool that says an address was quarantined, and how to clear it."""
    return Notice(
        severity=Severity.WARNING,
        reason=names.EVENT_ADDRESS_QUARANTINED,
        message=f"address {entry.ip} quarantined: it is held by another device"
        f" ({entry.describe()}), found while Service {entry.service} held it; it is not handed"
        f" out again until its key is removed from the {names.QUARANTINE_ANNOTATION} annotation",
    )


def plan_notices_changed(before: tuple[Notice, ...] | None, plan: Plan) -> tuple[Notice, ...]:
    """The notices of `plan` worth posting: all of them, unless the last plan said the same."""
    return () if before == plan.notices else plan.notices
