"""What the controller writes, as the API's JSON: the Service status patch, Events, pool status.

Pure. The shell sends these bodies as they are; building them here keeps wire strings out of the
shell and lets tests read exactly what the API server will receive.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from controller.allocator import PoolUsage
from controller.reconcile import CONDITION_TYPE, Condition, Notice, Plan
from metalpool import events, names
from metalpool.addresses import Family
from metalpool.leases import format_timestamp

COMPONENT = "metallb-controller"  # MetalLB's event source; tooling filters on it


def status_patch(plan: Plan, obj: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A JSON merge patch for the Service's /status: ingress, pool annotation and condition.

    It carries the resourceVersion it was planned from, so a Service that changed since is
    refused with 409 and planned again instead of being overwritten.
    """
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, Mapping)]
    others = [dict(c) for c in conditions if c.get("type") != CONDITION_TYPE]
    previous = next((c for c in conditions if c.get("type") == CONDITION_TYPE), None)
    if plan.condition is not None:
        others.append(_condition(plan.condition, previous, meta.get("generation"), now))
    return {
        "metadata": {
            "resourceVersion": meta.get("resourceVersion"),
            "annotations": {names.ALLOCATED_FROM_POOL: plan.pool},
        },
        "status": {
            "loadBalancer": {"ingress": [{"ip": str(ip)} for ip in plan.ingress or ()]},
            "conditions": others,
        },
    }


def _condition(
    condition: Condition, previous: Mapping[str, Any] | None, generation: object, now: datetime
) -> dict[str, Any]:
    status = "True" if condition.allocated else "False"
    unchanged = previous is not None and previous.get("status") == status
    body: dict[str, Any] = {
        "type": CONDITION_TYPE,
        "status": status,
        "reason": condition.reason,
        "message": condition.message,
        # Kubernetes conditions change their transition time only when the status flips.
        "lastTransitionTime": previous.get("lastTransitionTime")
        if unchanged and previous
        else format_timestamp(now),
    }
    if isinstance(generation, int):
        body["observedGeneration"] = generation
    return body


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


def pool_status(usage: PoolUsage) -> dict[str, int]:
    """IPAddressPool `.status` as MetalLB writes it (compat §1.1, §3.10)."""
    return {
        "assignedIPv4": usage.assigned[Family.IPV4],
        "assignedIPv6": usage.assigned[Family.IPV6],
        "availableIPv4": usage.available(Family.IPV4),
        "availableIPv6": usage.available(Family.IPV6),
    }


def plan_notices_changed(before: tuple[Notice, ...] | None, plan: Plan) -> tuple[Notice, ...]:
    """The notices of `plan` worth posting: all of them, unless the last plan said the same."""
    return () if before == plan.notices else plan.notices
