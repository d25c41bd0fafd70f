"""What the speaker writes on a Service, as the API's JSON: the Announced condition, the conflicts.

Pure. `parse_shown` reads back, once per watch event, what a writer compares with and must keep
(it never raises: what it cannot read is rewritten); `status_patch` is the merge patch for
/status, carrying the resourceVersion it was compared with, so a Service that changed since is
refused (409) and judged again on the next pass; `notice` is the Event a change deserves. Other
conditions (the controller's `metallb.io/IPAllocated`) go back as they are: a merge patch
replaces whole lists.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from metalpool import names
from metalpool.conditions import condition_body
from metalpool.errors import SpecError, Where
from metalpool.events import Severity
from metalpool.quarantine import Conflict, format_conflicts, parse_conflicts
from speaker.cluster.reasons import AnnouncedReason
from speaker.conditions import Condition, Desired

TYPE = names.ANNOUNCED_CONDITION


@dataclass(frozen=True, slots=True, kw_only=True)
class Shown:
    """What a Service shows of ours, and what a write needs to keep the rest as it is."""

    resource_version: str
    uid: str = ""
    generation: int | None = None
    condition: Mapping[str, Any] | None = None  # ours, as written (raw)
    others: tuple[Mapping[str, Any], ...] = ()  # every other condition, sent back untouched
    conflicts: str | None = None  # the address-conflict annotation, as written

    @property
    def is_blank(self) -> bool:
        """Whether it shows nothing of ours: no condition, no annotation."""
        return self.condition is None and self.conflicts is None


@dataclass(frozen=True, slots=True, kw_only=True)
class Telling:
    """An Event to post on the Service about the change just written."""

    severity: Severity
    reason: str
    message: str


def parse_shown(body: Mapping[str, Any]) -> Shown | None:
    """What a Service shows; None when it is no LoadBalancer and shows nothing of ours.

    Most Services in a cluster are not LoadBalancers; they are not kept (the mirror is small).
    """
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    raw = (body.get("status") or {}).get("conditions")
    conditions = [c for c in raw if isinstance(c, Mapping)] if isinstance(raw, list) else []
    ours = next((c for c in conditions if c.get("type") == TYPE), None)
    annotations = meta.get("annotations") or {}
    conflicts = annotations.get(names.ADDRESS_CONFLICT_ANNOTATION)
    shown = Shown(
        resource_version=str(meta.get("resourceVersion") or ""),
        uid=str(meta.get("uid") or ""),
        generation=meta.get("generation") if isinstance(meta.get("generation"), int) else None,
        condition=ours,
        others=tuple(c for c in conditions if c.get("type") != TYPE),
        conflicts=conflicts if isinstance(conflicts, str) else None,
    )
    if spec.get("type") != "LoadBalancer" and shown.is_blank:
        return None
    return shown


def shows(desired: Desired, shown: Shown) -> bool:
    """Whether the Service shows `desired` already (the transition time is not compared)."""
    return _condition_shows(desired.condition, shown.condition) and _conflicts_show(
        desired.conflicts, shown.conflicts
    )


def status_patch(desired: Desired, shown: Shown, now: datetime) -> dict[str, Any] | None:
    """The merge patch that makes the Service show `desired`; None when it does already.

    The condition keeps its lastTransitionTime while its status stays (the Kubernetes rule),
    and the annotation is sent only when it changes (null removes it).
    """
    if shows(desired, shown):
        return None
    conditions = [dict(c) for c in shown.others]
    if desired.condition is not None:
        conditions.append(_condition(desired.condition, shown, now))
    metadata: dict[str, Any] = {"resourceVersion": shown.resource_version}
    if not _conflicts_show(desired.conflicts, shown.conflicts):
        value = format_conflicts(desired.conflicts) if desired.conflicts else None
        metadata["annotations"] = {names.ADDRESS_CONFLICT_ANNOTATION: value}
    return {"metadata": metadata, "status": {"conditions": conditions}}


def notice(desired: Desired, shown: Shown) -> Telling | None:
    """The Warning Event for a change to a False reason; None for anything else.

    Probing is no fault and no news: every new address is probed for a few tenths of a second,
    and an Event for each would double the writes a burst of new Services costs.
    """
    condition = desired.condition
    if condition is None or condition.announced or condition.reason is AnnouncedReason.PROBING:
        return None
    before = shown.condition or {}
    if before.get("status") == "False" and before.get("reason") == condition.reason:
        return None
    return Telling(
        severity=Severity.WARNING, reason=condition.reason.value, message=condition.message
    )


def _condition(condition: Condition, shown: Shown, now: datetime) -> dict[str, Any]:
    return condition_body(
        TYPE,
        holds=condition.announced,
        reason=condition.reason.value,
        message=condition.message,
        previous=shown.condition,
        generation=shown.generation,
        now=now,
    )


def _condition_shows(wanted: Condition | None, shown: Mapping[str, Any] | None) -> bool:
    if wanted is None or shown is None:
        return wanted is None and shown is None
    return (shown.get("status"), shown.get("reason"), shown.get("message")) == (
        "True" if wanted.announced else "False",
        wanted.reason.value,
        wanted.message,
    )


def _conflicts_show(wanted: Sequence[Conflict], shown: str | None) -> bool:
    """Whether the annotation (metalpool.quarantine's format) lists `wanted`; absent: none."""
    if shown is None:
        return not wanted
    try:
        written = parse_conflicts(shown, Where("Service", names.ADDRESS_CONFLICT_ANNOTATION))
    except SpecError:
        return False  # unreadable: rewritten (or removed)
    return bool(wanted) and written == tuple(wanted)
