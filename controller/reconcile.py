"""One Service's reconcile, decided: MetalLB's `convergeBalancer` (compat §3.6) as a pure plan.

Pure; the allocator is in memory and no I/O happens here. `converge` is level-triggered and
idempotent: given the Service as it is now, it returns what its status, pool annotation and
condition must be and which Events to post, whatever the history. The shell writes the plan and
retries until it lands; running `converge` again meanwhile yields the same plan. Address
conflicts reported by speakers are acted on here too (conflicts.py): a plan may ask for
addresses to be quarantined, which the shell writes before anything else.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from controller.allocator import Allocation, Allocator
from controller.conflicts import (
    QuarantineRequest,
    left_quarantined,
    remaining_conflicts,
    to_quarantine,
)
from controller.families import addresses_family_error, family_mismatch, unallocatable
from controller.refusals import Reason, Refusal, quoted
from metalpool import names
from metalpool.addresses import Family, IPAddress
from metalpool.errors import SpecError
from metalpool.events import Severity
from metalpool.quarantine import Conflict, read_conflicts
from metalpool.services import (
    FamilyPolicy,
    LBService,
    ServiceFamily,
    ServiceKey,
    parse_ingress,
    parse_service,
)

CONDITION_TYPE = "metallb.io/IPAllocated"


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice:
    """An Event to post on the Service."""

    severity: Severity
    reason: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Condition:
    """The Service condition that says whether it has its address, and if not, why."""

    allocated: bool
    reason: str
    message: str


NO_POOLS = Condition(allocated=False, reason="NoPools", message="no IPAddressPool is configured")


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """What a Service must look like; `ingress is None` means: not ours, leave it alone.

    `quarantine` lists addresses to add to their pools' quarantine before anything is written;
    `conflicts` is the Service's conflict annotation to write (None: leave it as it is, () :
    remove it); `complaint` says why that annotation could not be read.
    """

    key: ServiceKey
    ingress: tuple[IPAddress, ...] | None
    pool: str | None = None
    condition: Condition | None = None
    notices: tuple[Notice, ...] = ()
    freed: bool = False
    quarantine: tuple[QuarantineRequest, ...] = ()
    conflicts: tuple[Conflict, ...] | None = None
    complaint: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Observed:
    """What the Service shows now, as far as MetalPool writes it."""

    ingress: tuple[IPAddress, ...]
    pool: str | None
    condition: Condition | None


def observe(obj: Mapping[str, Any]) -> Observed:
    """Read back what MetalPool wrote (malformed ingress entries read as none)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    try:
        ingress = parse_ingress(obj)
    except SpecError:
        ingress = ()
    conditions = (obj.get("status") or {}).get("conditions") or []
    ours = [c for c in conditions if isinstance(c, Mapping) and c.get("type") == CONDITION_TYPE]
    condition = None
    if ours:
        c = ours[0]
        condition = Condition(
            allocated=c.get("status") == "True",
            reason=str(c.get("reason") or ""),
            message=str(c.get("message") or ""),
        )
    return Observed(
        ingress=ingress, pool=annotations.get(names.ALLOCATED_FROM_POOL), condition=condition
    )


def needs_write(plan: Plan, observed: Observed) -> bool:
    """Whether the Service differs from its plan (a plan to leave it alone never does)."""
    if plan.ingress is None:
        return False
    if plan.conflicts is not None:
        return True
    return (plan.ingress, plan.pool, plan.condition) != (
        observed.ingress,
        observed.pool,
        observed.condition,
    )


def converge(allocator: Allocator, obj: Mapping[str, Any], lb_class: str | None) -> Plan:
    """Decide what one Service must look like now, updating the allocator to match."""
    meta = obj.get("metadata") or {}
    key = ServiceKey(meta.get("namespace") or "default", meta.get("name") or "")
    spec = obj.get("spec") or {}
    if (spec.get("loadBalancerClass") or None) != (lb_class or None):
        # Another implementation's Service: its status is never touched, but an address it
        # held while it was ours goes back to the pool.
        return Plan(key=key, ingress=None, freed=allocator.release(key) is not None)
    if spec.get("type") != "LoadBalancer":
        freed = allocator.release(key) is not None
        return Plan(key=key, ingress=(), freed=freed)
    if not allocator.has_pools:
        # MetalLB converges nothing without a pool: it clears the Service and says nothing
        # (compat §3.6 step 3), so a cluster without pools is not flooded with warnings.
        freed = allocator.release(key) is not None
        return Plan(key=key, ingress=(), condition=NO_POOLS, freed=freed)
    observed = observe(obj)
    conflicts: tuple[Conflict, ...] | None = None
    complaint = ""
    try:
        conflicts = read_conflicts(obj)
    except SpecError as error:
        complaint = f"{error}; ignored"  # the speaker's business: never a reason to fail
    try:
        service = parse_service(obj)
    except SpecError as error:
        plan = _unparsable(allocator, key, observed, error, spec)
        return replace(plan, complaint=complaint)
    return replace(_converge_parsed(allocator, service, observed, conflicts), complaint=complaint)


def forget(allocator: Allocator, key: ServiceKey) -> bool:
    """A Service is gone: free what it held; True when something was freed."""
    return allocator.release(key) is not None


def _unparsable(
    allocator: Allocator,
    key: ServiceKey,
    observed: Observed,
    error: SpecError,
    spec: Mapping[str, Any],
) -> Plan:
    """Inputs that contradict each other: keep what the Service has, say why (compat §3.6 8c).

    Malformed cluster IPs on a Service that holds addresses draw MetalLB's `noclusterIPsIPFamily`
    instead of `LoadBalancerFailed`, which is about the requested addresses.
    """
    if observed.ingress:
        _hold_what_is_shown(allocator, key, observed.ingress)
        if error.field.startswith("spec.clusterIP"):
            notice = _cluster_ips_notice(spec, error)
        else:
            notice = Notice(
                severity=Severity.WARNING,
                reason=names.EVENT_LOAD_BALANCER_FAILED,
                message=f"invalid requested loadbalancer IPs: {error}",
            )
        condition = observed.condition
        return Plan(
            key=key,
            ingress=observed.ingress,
            pool=observed.pool,
            condition=condition,
            notices=(notice,),
        )
    notice = Notice(
        severity=Severity.WARNING,
        reason=names.EVENT_ALLOCATION_FAILED,
        message=f'Failed to allocate IP for "{key}": {error}',
    )
    condition = Condition(allocated=False, reason="InvalidSpec", message=str(error))
    return Plan(key=key, ingress=(), condition=condition, notices=(notice,))


def _cluster_ips_notice(spec: Mapping[str, Any], error: SpecError) -> Notice:
    """MetalLB's words for cluster IPs of no family: `%q %s` of clusterIPs and clusterIP."""
    raw = spec.get("clusterIPs") or []
    cluster_ips = [str(ip) for ip in raw] if isinstance(raw, list) else [str(raw)]
    problem = addresses_family_error(cluster_ips or [spec.get("clusterIP") or ""])
    return Notice(
        severity=Severity.WARNING,
        reason=names.EVENT_NO_CLUSTER_IPS_FAMILY,
        message=f"Failed to retrieve ClusterIPs IPFamily for {quoted(cluster_ips)}"
        f" {spec.get('clusterIP') or ''}: {problem or error.problem}",
    )


def _hold_what_is_shown(allocator: Allocator, key: ServiceKey, ips: tuple[IPAddress, ...]) -> None:
    """Keep a Service's addresses from going to others while its spec cannot be read.

    Without a readable spec only the addresses' own family is known; a claim that fails (say,
    on sharing terms we cannot read) leaves them unheld, as MetalLB would after a restart.
    """
    if allocator.holding(key) is not None:
        return
    families = {Family.of(ip) for ip in ips}
    family = ServiceFamily.DUAL if len(families) > 1 else ServiceFamily(families.pop().value)
    allocator.claim(LBService(key=key, family=family, family_policy=FamilyPolicy.PREFER_DUAL), ips)


def _converge_parsed(
    allocator: Allocator,
    service: LBService,
    observed: Observed,
    conflicts: tuple[Conflict, ...] | None,
) -> Plan:
    notices: list[Notice] = []
    before = allocator.holding(service.key)
    shown = observed.ingress
    if shown and (before is None or set(before.ips) != set(shown)):
        # The Service's status is the store of record: what it shows is claimed first, once
        # it has a family (else Warning nolbIPsIPFamily) that still fits the Service's (else
        # cleared without a word, as MetalLB's serviceFamilyChanged does; compat §3.6 step 7).
        problem = addresses_family_error(shown)
        if problem is not None:
            allocator.release(service.key)
            notices.append(
                Notice(
                    severity=Severity.WARNING,
                    reason=names.EVENT_NO_LB_IPS_FAMILY,
                    message=f"Failed to retrieve LBIPs IPFamily for {quoted(shown)}: {problem}",
                )
            )
        elif unallocatable(service) is not None or family_mismatch(service, shown) is not None:
            allocator.release(service.key)
        elif isinstance(claimed := allocator.claim(service, shown), Refusal):
            allocator.release(service.key)
            notices.append(
                Notice(
                    severity=Severity.NORMAL,
                    reason=names.EVENT_CLEAR_ASSIGNMENT,
                    message=f'current IP for "{service.key}" not allowed by config, will attempt'
                    f" for new IP assignment: {claimed.explain()}",
                )
            )
    result = allocator.allocate(service)
    # What the Service showed, topped up, is announced only as "Assigned additional IP".
    announced = set(result.ips) if isinstance(result, Allocation) else set()
    if isinstance(result, Allocation):
        result = _topped_up(allocator, service, result, notices)
    if isinstance(result, Allocation) and (fault := _internal_error(allocator, result)):
        allocator.release(service.key)
        result = Refusal(reason=Reason.INTERNAL_ERROR, message=fault)
    kept = result.ips if isinstance(result, Allocation) else ()
    notices.extend(
        Notice(severity=Severity.WARNING, reason=names.EVENT_ADDRESS_QUARANTINED, message=why)
        for why in left_quarantined(allocator, observed.ingress, kept)
    )
    freed = before is not None and (
        isinstance(result, Refusal) or set(before.ips) - set(result.ips) != set()
    )
    if isinstance(result, Refusal):
        notices.append(_refusal_notice(service, result))
        condition = Condition(allocated=False, reason=result.reason.value, message=result.explain())
        return Plan(
            key=service.key,
            ingress=(),
            condition=condition,
            notices=tuple(notices),
            freed=freed,
            conflicts=None if conflicts is None else remaining_conflicts(conflicts, ()),
        )
    if announced != set(observed.ingress):
        notices.extend(_deprecation_notices(service))
        notices.append(
            Notice(
                severity=Severity.NORMAL,
                reason=names.EVENT_IP_ALLOCATED,
                message=f"Assigned IP {quoted(result.ips)}",
            )
        )
    ingress = _ordered(result.ips, observed.ingress)
    condition = Condition(
        allocated=True,
        reason="Allocated",
        message=f"{', '.join(str(ip) for ip in ingress)} from pool {result.pool}",
    )
    return Plan(
        key=service.key,
        ingress=ingress,
        pool=result.pool,
        condition=condition,
        notices=tuple(notices),
        freed=freed,
        quarantine=to_quarantine(allocator, service, ingress, conflicts or ()),
        conflicts=None if conflicts is None else remaining_conflicts(conflicts, ingress),
    )


def _topped_up(
    allocator: Allocator, service: LBService, held: Allocation, notices: list[Notice]
) -> Allocation:
    more = allocator.top_up(service)
    if isinstance(more, Allocation):
        added = [ip for ip in more.ips if ip not in held.ips]
        notices.append(
            Notice(
                severity=Severity.NORMAL,
                reason=names.EVENT_IP_ALLOCATED,
                message=f'Assigned additional IP "{added[0]}"',
            )
        )
        return more
    if isinstance(more, Refusal):
        notices.append(
            Notice(
                severity=Severity.NORMAL,
                reason=names.EVENT_ADDITIONAL_ASSIGN_FAILED,
                message=f"cannot assign additional IP in PreferDualStack: {more.message}",
            )
        )
    return held


def _internal_error(allocator: Allocator, allocation: Allocation) -> str | None:
    """MetalLB's two "should never happen" checks on an allocation it is about to write."""
    if not allocation.ips:
        return "didn't allocate an IP but also did not fail"
    if not allocation.pool or not allocator.has_pool(allocation.pool):
        return "allocated an IP that has no pool"
    return None


def _refusal_notice(service: LBService, refusal: Refusal) -> Notice:
    if refusal.reason is Reason.INTERNAL_ERROR:
        return Notice(
            severity=Severity.WARNING, reason=names.EVENT_INTERNAL_ERROR, message=refusal.message
        )
    if refusal.reason is Reason.NOT_ENOUGH_CLUSTER_IPS:
        return Notice(
            severity=Severity.WARNING,
            reason=names.EVENT_NOT_ENOUGH_CLUSTER_IPS,
            message=f"Service requires dual stack but not enough clusterips: {refusal.message}",
        )
    return Notice(
        severity=Severity.WARNING,
        reason=names.EVENT_ALLOCATION_FAILED,
        message=f'Failed to allocate IP for "{service.key}": {refusal.explain()}',
    )


def _deprecation_notices(service: LBService) -> list[Notice]:
    return [
        Notice(
            severity=Severity.WARNING,
            reason=names.EVENT_DEPRECATED_ANNOTATION,
            message=f"Service uses deprecated annotation {key}",
        )
        for key in service.deprecated_annotations
    ]


def _ordered(ips: tuple[IPAddress, ...], shown: tuple[IPAddress, ...]) -> tuple[IPAddress, ...]:
    """Keep the order the Service already shows, so an unchanged set is never rewritten."""
    return shown if set(shown) == set(ips) else ips
