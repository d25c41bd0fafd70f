"""IP family rules (compat §3.4): which families a Service needs and which address sets fit it.

Pure. The family comes from the Service's cluster IPs, never from `spec.ipFamilies`;
PreferDualStack may live with one family and is topped up later, RequireDualStack may not.
"""

from collections.abc import Sequence
from ipaddress import ip_address

from controller.refusals import Reason, Refusal, quoted
from metalpool.addresses import Family, IPAddress
from metalpool.services import FamilyPolicy, LBService, ServiceFamily


def prefers_dual(service: LBService) -> bool:
    """Whether a dual-stack Service may settle for one family (PreferDualStack)."""
    return (
        service.family is ServiceFamily.DUAL and service.family_policy is FamilyPolicy.PREFER_DUAL
    )


def families_of(service: LBService) -> tuple[Family, ...]:
    """The families `service` wants, IPv4 first; none when it has no cluster IP."""
    return service.family.families if service.family is not None else ()


def unallocatable(service: LBService) -> Refusal | None:
    """Why `service` cannot get any address whatever the pools, or None."""
    if service.family is None:
        return Refusal(
            reason=Reason.NO_CLUSTER_IP,
            message="the Service has no cluster IP, so its IP family is unknown",
        )
    if (
        service.family_policy is FamilyPolicy.REQUIRE_DUAL
        and service.family is not ServiceFamily.DUAL
    ):
        return Refusal(
            reason=Reason.NOT_ENOUGH_CLUSTER_IPS,
            message="Service requires dual stack but not enough clusterips",
        )
    return None


def family_mismatch(
    service: LBService, ips: tuple[IPAddress, ...], *, requested: bool = False
) -> Refusal | None:
    """Why `ips` do not fit `service`'s families, or None when they do.

    A PreferDualStack Service may hold one address of a dual-stack family (it is topped up
    later), but a request must name exactly the Service's families, as MetalLB's `allocateIPs`
    insists: one IPv4 address requested by a dual-stack Service is refused whatever its policy.
    """
    families = tuple(sorted({Family.of(ip) for ip in ips}))
    if len(families) != len(ips) or not ips:
        return Refusal(
            reason=Reason.FAMILY_MISMATCH,
            message=f"{quoted(ips)} must be one address, or two of different families",
        )
    wanted = families_of(service)
    single_is_enough = not requested and prefers_dual(service) and len(ips) == 1
    if families == tuple(sorted(wanted)) or single_is_enough:
        return None
    return Refusal(
        reason=Reason.FAMILY_MISMATCH,
        message=f"requested loadBalancer IP(s) {quoted(ips)} does not match the ipFamily of the"
        " service",
    )


def addresses_family_error(ips: Sequence[object]) -> str | None:
    """MetalLB's `ipfamily.ForAddresses` error for a list of addresses, or None when it has one.

    One address, or two of different families, has a family; anything else does not.
    """
    if len(ips) == 1:
        return None
    if len(ips) != 2:  # noqa: PLR2004 - one address, or an IPv4 and an IPv6 address
        return f"IPFamilyForAddresses: invalid ips length {len(ips)} {quoted(tuple(ips))}"
    families = [_family_of(ip) for ip in ips]
    if None in families:
        return f"IPFamilyForAddresses: Invalid address {quoted(tuple(ips))}"
    if families[0] == families[1]:
        return f"IPFamilyForAddresses: same address family {quoted(tuple(ips))}"
    return None


def _family_of(ip: object) -> Family | None:
    try:
        return Family.of(ip_address(str(ip)))
    except ValueError:
        return None
