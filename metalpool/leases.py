"""coordination.k8s.io Leases: who holds one, until when, and what to write to take or keep it.

Pure. Both programs use Leases: the controller to have one active allocator, each speaker to say
it is alive. A Lease is held while `renewTime + leaseDurationSeconds` is in the future; a
released Lease has no holder. Times are UTC datetimes inside, RFC 3339 MicroTime on the wire.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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

    def expires(self) -> datetime | None:
        """When the holder's claim runs out (None when nobody holds it)."""
        if not self.holder or self.renewed is None:
            return None
        return self.renewed + timedelta(seconds=self.duration)

    def is_held(self, now: datetime) -> bool:
        """Whether someone holds the Lease at `now`."""
        expires = self.expires()
        return expires is not None and expires > now

    def is_held_by(self, who: str, now: datetime) -> bool:
        """Whether `who` holds the Lease at `now`."""
        return self.holder == who and self.is_held(now)


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


def claim_spec(
    current: LeaseState | None, me: str, now: datetime, duration: float
) -> dict[str, Any] | None:
    """The Lease `spec` that takes or renews the Lease for `me`, or None while another holds it.

    Durations on the wire are whole seconds (the API's type), rounded up so a holder never
    looks expired earlier than it meant to.
    """
    if current is not None and current.is_held(now) and current.holder != me:
        return None
    keeps = current is not None and current.holder == me and current.is_held(now)
    acquired = current.acquired if keeps and current and current.acquired else now
    transitions = current.transitions if current else 0
    return {
        "holderIdentity": me,
        "leaseDurationSeconds": max(1, -(-int(duration * 1000) // 1000)),
        "acquireTime": format_time(acquired),
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
