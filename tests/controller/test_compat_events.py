"""Issue 10: the controller's Events where MetalLB's `convergeBalancer` posts them (compat §2.5).

Each table row is one Service as the controller sees it; the expected Events are MetalLB's, with
its reasons and (Go `%q`) messages, checked against metallb/metallb controller/service.go.
"""

from ipaddress import ip_address
from typing import Any

import pytest

from controller.allocator import Allocation, Allocator
from controller.reconcile import NO_POOLS, converge
from metalpool.addresses import IPAddress
from metalpool.events import Severity
from metalpool.services import LBService
from tests.controller.test_reconcile import applied
from tests.support.objects import pool, service_object

POOLS = [pool("p", "192.0.2.0/30", "2001:db8::/126")]
DUAL = ("10.96.0.10", "fd00::10")
NOT_MATCHING = (
    'Failed to allocate IP for "demo/web": requested loadBalancer IP(s) ["192.0.2.1"] does not'
    " match the ipFamily of the service"
)


def events(plan: Any) -> list[tuple[Severity, str, str]]:
    return [(n.severity, n.reason, n.message) for n in plan.notices]


def shown(plan: Any) -> list[str]:
    return [str(ip) for ip in plan.ingress or ()]


# ---------------------------------------------------------------- requested IPs and families


@pytest.mark.parametrize(
    ("cluster_ips", "spec", "annotations", "ips", "reason"),
    [
        pytest.param(
            DUAL,
            {"ipFamilyPolicy": "PreferDualStack", "loadBalancerIP": "192.0.2.1"},
            {},
            [],
            "AllocationFailed",
            id="PreferDualStack, one IPv4 in spec.loadBalancerIP: refused",
        ),
        pytest.param(
            DUAL,
            {"ipFamilyPolicy": "PreferDualStack"},
            {"metallb.io/loadBalancerIPs": "192.0.2.1"},
            [],
            "AllocationFailed",
            id="PreferDualStack, one IPv4 in the annotation: refused",
        ),
        pytest.param(
            DUAL,
            {"ipFamilyPolicy": "RequireDualStack"},
            {"metallb.io/loadBalancerIPs": "192.0.2.1"},
            [],
            "AllocationFailed",
            id="RequireDualStack, one IPv4 in the annotation: refused",
        ),
        pytest.param(
            DUAL,
            {"ipFamilyPolicy": "PreferDualStack"},
            {"metallb.io/loadBalancerIPs": "192.0.2.1,2001:db8::1"},
            ["192.0.2.1", "2001:db8::1"],
            "IPAllocated",
            id="PreferDualStack, both families requested: granted",
        ),
        pytest.param(
            ("10.96.0.10",),
            {"ipFamilyPolicy": "PreferDualStack", "loadBalancerIP": "192.0.2.1"},
            {},
            ["192.0.2.1"],
            "IPAllocated",
            id="PreferDualStack on a single-stack cluster (one cluster IP): granted",
        ),
    ],
)
def test_a_request_must_name_exactly_the_services_families(
    cluster_ips: tuple[str, ...],
    spec: dict[str, Any],
    annotations: dict[str, str],
    ips: list[str],
    reason: str,
):
    obj = service_object(cluster_ips=cluster_ips, annotations=annotations, **spec)
    plan = converge(Allocator(POOLS), obj, None)
    assert shown(plan) == ips
    assert [n.reason for n in plan.notices] == [reason]
    if reason == "AllocationFailed":
        assert plan.notices[0].message == NOT_MATCHING


# ---------------------------------------------------------------- no pools at all


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param(service_object(), id="a new Service"),
        pytest.param(service_object(loadBalancerIP="192.0.2.1"), id="a requested address"),
        pytest.param(
            service_object(ipFamilyPolicy="RequireDualStack"), id="RequireDualStack, one cluster IP"
        ),
        pytest.param(service_object(loadBalancerIP="bogus"), id="a request that cannot be read"),
    ],
)
def test_without_any_pool_a_service_is_cleared_without_an_event(obj: dict[str, Any]):
    plan = converge(Allocator(), obj, None)
    assert (plan.ingress, plan.pool, plan.notices) == ((), None, ())
    assert plan.condition == NO_POOLS


def test_deleting_the_last_pool_clears_held_addresses_silently():
    allocator = Allocator(POOLS)
    obj = service_object()
    written = applied(obj, converge(allocator, obj, None))
    allocator.set_pools([])
    plan = converge(allocator, written, None)
    assert (plan.ingress, plan.notices) == ((), ())
    assert allocator.holding(plan.key) is None


# ---------------------------------------------------------------- held addresses of no family


@pytest.mark.parametrize(
    ("cluster_ips", "ingress", "expected"),
    [
        pytest.param(
            ("10.96.0.10",),
            ("192.0.2.1", "192.0.2.2"),
            [
                (
                    Severity.WARNING,
                    "nolbIPsIPFamily",
                    'Failed to retrieve LBIPs IPFamily for ["192.0.2.1" "192.0.2.2"]:'
                    ' IPFamilyForAddresses: same address family ["192.0.2.1" "192.0.2.2"]',
                )
            ],
            id="two IPv4 addresses",
        ),
        pytest.param(
            DUAL,
            ("192.0.2.1", "2001:db8::1", "192.0.2.2"),
            [
                (
                    Severity.WARNING,
                    "nolbIPsIPFamily",
                    'Failed to retrieve LBIPs IPFamily for ["192.0.2.1" "2001:db8::1"'
                    ' "192.0.2.2"]: IPFamilyForAddresses: invalid ips length 3 ["192.0.2.1"'
                    ' "2001:db8::1" "192.0.2.2"]',
                )
            ],
            id="three addresses",
        ),
        pytest.param(("10.96.0.10",), ("2001:db8::1",), [], id="IPv6 held by an IPv4 Service"),
        pytest.param(
            DUAL, ("192.0.2.1",), [], id="one IPv4 held by a SingleStack dual-cluster Service"
        ),
    ],
)
def test_a_held_address_set_of_no_or_the_wrong_family_is_cleared_as_metallb_does(
    cluster_ips: tuple[str, ...], ingress: tuple[str, ...], expected: list[Any]
):
    obj = service_object(cluster_ips=cluster_ips, ingress=ingress)
    plan = converge(Allocator(POOLS), obj, None)
    assert events(plan)[:-1] == expected  # no ClearAssignment: MetalLB clears before Assign
    assert plan.notices[-1].reason == "IPAllocated"
    assert set(shown(plan)) != set(ingress)


def test_a_prefer_dual_stack_service_keeps_one_held_address_and_is_topped_up():
    obj = service_object(cluster_ips=DUAL, ingress=("192.0.2.1",), ipFamilyPolicy="PreferDualStack")
    plan = converge(Allocator(POOLS), obj, None)
    assert shown(plan) == ["192.0.2.1", "2001:db8::"]
    assert [n.reason for n in plan.notices] == ["IPAllocated"]
    assert plan.notices[0].message == 'Assigned additional IP "2001:db8::"'


# ---------------------------------------------------------------- cluster IPs of no family


@pytest.mark.parametrize(
    ("ingress", "reason", "message", "kept"),
    [
        pytest.param(
            ("192.0.2.1",),
            "noclusterIPsIPFamily",
            'Failed to retrieve ClusterIPs IPFamily for ["10.96.0.10" "10.96.0.11"] 10.96.0.10:'
            ' IPFamilyForAddresses: same address family ["10.96.0.10" "10.96.0.11"]',
            ["192.0.2.1"],
            id="a Service holding an address keeps it",
        ),
        pytest.param(
            (),
            "AllocationFailed",
            'Failed to allocate IP for "demo/web": ',
            [],
            id="a new Service fails to allocate",
        ),
    ],
)
def test_cluster_ips_of_no_family(
    ingress: tuple[str, ...], reason: str, message: str, kept: list[str]
):
    obj = service_object(cluster_ips=("10.96.0.10", "10.96.0.11"), ingress=ingress)
    plan = converge(Allocator(POOLS), obj, None)
    assert [(n.severity, n.reason) for n in plan.notices] == [(Severity.WARNING, reason)]
    assert plan.notices[0].message.startswith(message)
    assert shown(plan) == kept


# ---------------------------------------------------------------- should never happen


class Faulty(Allocator):
    """An allocator that hands out what MetalLB's InternalError checks catch."""

    def __init__(self, pool_name: str, ips: tuple[IPAddress, ...]) -> None:
        super().__init__(POOLS)
        self.fault = (pool_name, ips)

    def allocate(self, service: LBService) -> Allocation:
        pool_name, ips = self.fault
        return Allocation(service=service.key, pool=pool_name, ips=ips)


@pytest.mark.parametrize(
    ("pool_name", "ips", "message"),
    [
        pytest.param("p", (), "didn't allocate an IP but also did not fail", id="no address"),
        pytest.param(
            "ghost",
            (ip_address("192.0.2.1"),),
            "allocated an IP that has no pool",
            id="an address of no known pool",
        ),
    ],
)
def test_internal_errors_clear_and_warn(pool_name: str, ips: tuple[IPAddress, ...], message: str):
    plan = converge(Faulty(pool_name, ips), service_object(), None)
    assert events(plan) == [(Severity.WARNING, "InternalError", message)]
    assert (plan.ingress, plan.pool) == ((), None)
    assert plan.condition is not None
    assert plan.condition.reason == "InternalError"
