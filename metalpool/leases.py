"""coordination.k8s.io Leases: who holds one, whether it may be taken, and what to write to take it.

Pure. Both programs use Leases: the controller to have one active allocator, each speaker to say
it is alive. A released Lease has no holder. Whether a held Lease has run out is judged by the
reader's own monotonic clock, never by comparing `renewTime` with its wall clock (clocks differ
between nodes): an `Observation` records when this process first saw the Lease in its current
state, and the Lease is up for grabs once that state has stood for `leaseDurationSeconds`.
Times written are UTC datetimes inside, RFC 3339 MicroTime on the wire.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MICRO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"
TIME = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaseState:
    """What a Lease object says."""

    name: str
    namespace: str
    holder: str | None = None
    duration: float = 0.0
    acquired: datetime | None = None
    renewed: datetime | None = None
    transitions: int = 0
    resource_version: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """A Lease as this process last saw it, and since when (its own monotonic clock) unchanged.

    `holder`, `renewed` and `resource_version` identify the state; `since` is when this state
    was first seen. An absent Lease is observed as one without a holder.
    """

    holder: str | None = None
    renewed: datetime | None = None
    resource_version: str = ""
    duration: float = 0.0  # the Lease's own leaseDurationSeconds (0 when it sets none)
    since: float


def parse_time(raw: object) -> datetime | None:
    """A Kubernetes MicroTime or Time string as an aware UTC datetime (None when absent/bad)."""
    if not isinstance(raw, str) or not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_time(when: datetime) -> str:
    """A datetime as Kubernetes MicroTime (Leases, events.k8s.io)."""
    return when.astimezone(UTC).strftime(MICRO_TIME)


def format_timestamp(when: datetime) -> str:
    """A datetime as a Kubernetes Time: whole seconds (conditions, core/v1 Events)."""
    return when.astimezone(UTC).strftime(TIME)


def parse_lease(obj: Mapping[str, Any]) -> LeaseState:
    """Read a Lease object; missing or malformed fields read as 'not held'."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    duration = spec.get("leaseDurationSeconds")
    transitions = spec.get("leaseTransitions")
    return LeaseState(
        name=str(meta.get("name") or ""),
        namespace=str(meta.get("namespace") or ""),
        holder=spec.get("holderIdentity") or None,
        duration=float(duration) if isinstance(duration, int | float) else 0.0,
        acquired=parse_time(spec.get("acquireTime")),
        renewed=parse_time(spec.get("renewTime")),
        transitions=transitions if isinstance(transitions, int) else 0,
        resource_version=str(meta.get("resourceVersion") or ""),
    )


def observe(seen: Observation | None, lease: LeaseState | None, now: float) -> Observation:
    """Fold a freshly read Lease (None: there is none) into what was seen before, at `now`.

    The same (holder, renewTime, resourceVersion) as before keeps the time it was first seen;
    any change, and the first sight, starts the clock again at `now` (monotonic seconds).
    """
    state = (lease.holder, lease.renewed, lease.resource_version) if lease else (None, None, "")
    if seen is not None and (seen.holder, seen.renewed, seen.resource_version) == state:
        return seen
    holder, renewed, version = state
    duration = lease.duration if lease else 0.0
    return Observation(
        holder=holder, renewed=renewed, resource_version=version, duration=duration, since=now
    )


def is_claimable(seen: Observation, me: str, now: float, fallback: float) -> bool:
    """Whether `me` may take or renew the Lease seen in `seen`, at monotonic time `now`.

    Yes when nobody holds it (released or absent), when `me` holds it, or when it has stood
    unchanged for its `leaseDurationSeconds` (`fallback` when it sets none) by this process's
    own clock. `renewTime` is never compared with a local clock: a peer's clock may be hours
    off. As client-go's k8s.io/client-go/tools/leaderelection/leaderelection.go does
    (`observedTime` + LeaseDuration, `isLeaseValid`), a first sight waits a whole duration.
    """
    if not seen.holder or seen.holder == me:
        return True
    duration = seen.duration if seen.duration > 0 else fallback
    return now - seen.since >= duration


def claim_spec(
    current: LeaseState | None, me: str, now: datetime, duration: float
) -> dict[str, Any]:
    """The Lease `spec` that takes (or, when `me` holds it, renews) the Lease for `me`.

    Whether it may be taken is `is_claimable`'s decision; `now` is only written. A renewal keeps
    acquireTime and leaseTransitions; a takeover counts one more transition. Durations on the
    wire are whole seconds (the API's type), rounded up so a holder never looks expired earlier
    than it meant to.
    """
    keeps = current is not None and current.holder == me
    acquired = current.acquired if current is not None and keeps else None
    transitions = current.transitions if current else 0
    return {
        "holderIdentity": me,
        "leaseDurationSeconds": max(1, -(-int(duration * 1000) // 1000)),
        "acquireTime": format_time(acquired or now),
        "renewTime": format_time(now),
        "leaseTransitions": transitions if keeps or current is None else transitions + 1,
    }


def release_spec(current: LeaseState, now: datetime) -> dict[str, Any]:
    """The Lease `spec` that gives the Lease up at once, so a standby need not wait it out."""
    return {
        "holderIdentity": None,
        "leaseDurationSeconds": 1,
        "acquireTime": None,
        "renewTime": format_time(now),
        "leaseTransitions": current.transitions,
    }
