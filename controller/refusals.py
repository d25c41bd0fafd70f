"""Why a Service got no address: a reason enum for code, MetalLB's words for people.

Pure. `Refusal.message` keeps MetalLB's error text (compat §2.6), so tools that read
`AllocationFailed` events keep working; `Refusal.explain()` adds what MetalLB never says:
which pools were considered and why each one refused.
"""

import enum
from dataclasses import dataclass


class Reason(enum.StrEnum):
    """Why an allocation or a claim was refused; stable strings for conditions and metrics."""

    NO_CLUSTER_IP = "NoClusterIP"
    NOT_ENOUGH_CLUSTER_IPS = "NotEnoughClusterIPs"
    POOL_NOT_FOUND = "PoolNotFound"
    POOL_INCOMPATIBLE = "PoolIncompatible"
    POOL_EXHAUSTED = "PoolExhausted"
    FAMILY_UNAVAILABLE = "FamilyUnavailable"
    FAMILY_MISMATCH = "FamilyMismatch"
    NO_POOL_MATCHES = "NoPoolMatches"
    REQUESTED_IP_NOT_IN_ANY_POOL = "RequestedIPNotInAnyPool"
    REQUESTED_IP_NOT_IN_REQUESTED_POOL = "RequestedIPNotInRequestedPool"
    REQUESTED_IP_IN_USE = "RequestedIPInUse"
    SHARING_KEY_CONFLICT = "SharingKeyConflict"
    PORT_CONFLICT = "PortConflict"
    INTERNAL_ERROR = "InternalError"


class PoolSkip(enum.StrEnum):
    """Why one pool was passed over while looking for an address."""

    NOT_SELECTED = "NotSelected"
    AUTO_ASSIGN_DISABLED = "AutoAssignDisabled"
    LACKS_FAMILY = "LacksFamily"
    EXHAUSTED = "Exhausted"


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolVerdict:
    """One pool's answer to one Service."""

    pool: str
    skip: PoolSkip
    detail: str
    family: str = ""

    def __str__(self) -> str:
        return f"pool {self.pool}: {self.detail}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Refusal:
    """No address for this Service, and why."""

    reason: Reason
    message: str
    verdicts: tuple[PoolVerdict, ...] = ()

    def explain(self) -> str:
        """The message, followed by every pool considered and why it refused."""
        if not self.verdicts:
            return self.message
        return f"{self.message} ({'; '.join(str(v) for v in self.verdicts)})"

    def __str__(self) -> str:
        return self.explain()


def quoted(ips: object) -> str:
    """IPs as MetalLB's Go `%q` prints a list: `["192.0.2.1" "2001:db8::1"]`."""
    items = ips if isinstance(ips, tuple | list) else (ips,)
    return "[" + " ".join(f'"{ip}"' for ip in items) + "]"
