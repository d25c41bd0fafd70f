"""When two Services may hold the same address (MetalLB's sharing rules, compat §3.5).

Pure. Service S may join the users of address X only if every other user of X has the same
non-empty sharing key as S, the same backend key (the same pods when traffic stays node-local),
and no (protocol, port) in common with S. A sole user may always change its own terms.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from controller.refusals import Reason, Refusal, quoted
from metalpool.addresses import IPAddress
from metalpool.services import LBService, Port, ServiceKey


@dataclass(frozen=True, slots=True, kw_only=True)
class Terms:
    """What a Service brings to a shared address."""

    sharing_key: str = ""
    backend_key: str = ""
    ports: frozenset[Port] = frozenset()

    @classmethod
    def of(cls, service: LBService) -> "Terms":
        """The sharing terms a Service asks for."""
        return cls(
            sharing_key=service.sharing_key,
            backend_key=service.backend_key,
            ports=service.ports,
        )


def sharing_conflict(
    me: ServiceKey, terms: Terms, ip: IPAddress, users: Mapping[ServiceKey, Terms]
) -> Refusal | None:
    """Why `me` may not use `ip` alongside its current `users`, or None when it may."""
    others = sorted(k for k in users if k != me)
    if not others:
        return None
    first = users[others[0]]
    if not first.sharing_key:
        return Refusal(
            reason=Reason.REQUESTED_IP_IN_USE,
            message=f'"{ip}" is in use by {others[0]}, which does not allow sharing',
        )
    if not terms.sharing_key:
        return Refusal(
            reason=Reason.REQUESTED_IP_IN_USE,
            message=f'"{ip}" is in use by {others[0]}; to share it, give both Services the same'
            " metallb.io/allow-shared-ip annotation",
        )
    mismatched = [
        str(k)
        for k in others
        if (users[k].sharing_key, users[k].backend_key) != (terms.sharing_key, terms.backend_key)
    ]
    if mismatched:
        return Refusal(
            reason=Reason.SHARING_KEY_CONFLICT,
            message=f'can\'t change sharing key for "{me}", address also in use by'
            f" {','.join(mismatched)}",
        )
    for other in others:
        common = terms.ports & users[other].ports
        if common:
            port = min(common)
            return Refusal(
                reason=Reason.PORT_CONFLICT,
                message=f"port {port} is already in use on {quoted(ip)[1:-1]} by {other}",
            )
    return None
