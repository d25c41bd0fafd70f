"""converge(): MetalLB's per-Service state machine as a plan, one behaviour per test."""

import copy
from typing import Any

from controller.allocator import Allocator
from controller.reconcile import (
    CONDITION_TYPE,
    Condition,
    Notice,
    Plan,
    converge,
    forget,
    needs_write,
    observe,
)
from metalpool.events import Severity
from tests.support.objects import pool, service_object

POOLS = [pool("p", "192.0.2.0/30", "2001:db8::/126")]


def applied(obj: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """The object after the shell wrote `plan` (what the next event would show)."""
    out = copy.deepcopy(obj)
    if plan.ingress is None:
        return out
    out["status"] = {"loadBalancer": {"ingress": [{"ip": str(ip)} for ip in plan.ingress]}}
    if plan.condition is not None:
        c = plan.condition
        out["status"]["conditions"] = [
            {
                "type": CONDITION_TYPE,
                "status": "True" if c.allocated else "False",
                "reason": c.reason,
                "message": c.message,
            }
        ]
    annotations = out["metadata"]["annotations"]
    annotations.pop("metallb.io/ip-allocated-from-pool", None)
    if plan.pool:
        annotations["metallb.io/ip-allocated-from-pool"] = plan.pool
    return out


def reasons(plan: Plan) -> list[str]:
    return [n.reason for n in plan.notices]


def test_a_new_service_gets_an_address_an_annotation_a_condition_and_an_event():
    plan = converge(Allocator(POOLS), service_object(), None)
    assert [str(ip) for ip in plan.ingress or ()] == ["192.0.2.0"]
    assert plan.pool == "p"
    assert plan.condition == Condition(
        allocated=True, reason="Allocated", message="192.0.2.0 from pool p"
    )
    assert plan.notices == (
        Notice(severity=Severity.NORMAL, reason="IPAllocated", message='Assigned IP ["192.0.2.0"]'),
    )


def test_converging_a_written_service_again_changes_nothing_and_says_nothing():
    allocator = Allocator(POOLS)
    obj = service_object()
    written = applied(obj, converge(allocator, obj, None))
    again = converge(allocator, written, None)
    assert not needs_write(again, observe(written))
    assert again.notices == ()


def test_another_load_balancer_class_is_left_alone():
    plan = converge(Allocator(POOLS), service_object(loadBalancerClass="other"), None)
    assert plan.ingress is None
    assert not needs_write(plan, observe(service_object(ingress=("203.0.113.1",))))


def test_moving_to_another_load_balancer_class_frees_the_address_without_touching_status():
    allocator = Allocator(POOLS)
    obj = service_object()
    written = applied(obj, converge(allocator, obj, None))
    written["spec"]["loadBalancerClass"] = "example.com/other"
    plan = converge(allocator, written, None)
    assert (plan.ingress, plan.freed) == (None, True)
    assert not needs_write(plan, observe(written))
    assert allocator.holding(plan.key) is None


def test_leaving_type_load_balancer_releases_and_clears():
    allocator = Allocator(POOLS)
    obj = service_object()
    written = applied(obj, converge(allocator, obj, None))
    written["spec"]["type"] = "ClusterIP"
    plan = converge(allocator, written, None)
    assert (plan.ingress, plan.pool, plan.freed) == ((), None, True)
    assert needs_write(plan, observe(written))


def test_a_restart_keeps_the_address_the_status_shows_without_an_event():
    obj = service_object(ingress=("192.0.2.2",))
    obj["metadata"]["annotations"]["metallb.io/ip-allocated-from-pool"] = "p"
    plan = converge(Allocator(POOLS), obj, None)
    assert [str(ip) for ip in plan.ingress or ()] == ["192.0.2.2"]
    assert plan.notices == ()


def test_an_address_outside_every_pool_is_cleared_and_replaced():
    plan = converge(Allocator(POOLS), service_object(ingress=("203.0.113.7",)), None)
    assert reasons(plan) == ["ClearAssignment", "IPAllocated"]
    assert plan.notices[0].message.startswith(
        'current IP for "demo/web" not allowed by config, will attempt for new IP assignment:'
        ' ["203.0.113.7"] is not allowed in config'
    )
    assert [str(ip) for ip in plan.ingress or ()] == ["192.0.2.0"]


def test_two_services_showing_one_address_keep_it_for_the_first_only():
    allocator = Allocator(POOLS)
    first = converge(allocator, service_object("a", ingress=("192.0.2.1",)), None)
    second = converge(allocator, service_object("b", ingress=("192.0.2.1",)), None)
    assert [str(ip) for ip in first.ingress or ()] == ["192.0.2.1"]
    assert reasons(second) == ["ClearAssignment", "IPAllocated"]
    assert [str(ip) for ip in second.ingress or ()] == ["192.0.2.0"]


def test_an_exhausted_pool_leaves_the_service_pending_with_an_explanation():
    allocator = Allocator([pool("tiny", "192.0.2.0/32")])
    converge(allocator, service_object("a"), None)
    plan = converge(allocator, service_object("b"), None)
    assert plan.ingress == ()
    assert plan.condition == Condition(
        allocated=False,
        reason="PoolExhausted",
        message="no available IPs (pool tiny: no IPv4 address free for this Service (1 in use))",
    )
    assert plan.notices[0].severity is Severity.WARNING
    assert plan.notices[0].message == (
        'Failed to allocate IP for "demo/b": no available IPs (pool tiny: no IPv4 address free'
        " for this Service (1 in use))"
    )


def test_a_bad_request_on_a_service_with_an_address_keeps_it_and_warns():
    allocator = Allocator(POOLS)
    obj = service_object(annotations={"metallb.io/loadBalancerIPs": "nope"}, ingress=("192.0.2.1",))
    plan = converge(allocator, obj, None)
    assert [str(ip) for ip in plan.ingress or ()] == ["192.0.2.1"]
    assert reasons(plan) == ["LoadBalancerFailed"]
    assert 'metadata.annotations["metallb.io/loadBalancerIPs"] "nope"' in plan.notices[0].message
    # The address stays held, so nobody else gets it meanwhile.
    held = allocator.holding(plan.key)
    assert held is not None
    assert [str(ip) for ip in held.ips] == ["192.0.2.1"]


def test_a_bad_request_on_a_new_service_fails_naming_the_field():
    plan = converge(
        Allocator(POOLS), service_object(annotations={"metallb.io/loadBalancerIPs": "x"}), None
    )
    assert plan.ingress == ()
    assert reasons(plan) == ["AllocationFailed"]
    assert plan.condition is not None
    assert plan.condition.reason == "InvalidSpec"


def test_deprecated_annotations_draw_a_warning_when_written():
    obj = service_object(annotations={"metallb.universe.tf/address-pool": "p"})
    plan = converge(Allocator(POOLS), obj, None)
    assert reasons(plan) == ["deprecatedAnnotation", "IPAllocated"]
    assert plan.notices[0].message == (
        "Service uses deprecated annotation metallb.universe.tf/address-pool"
    )


def test_require_dual_stack_with_one_cluster_ip_warns_as_metallb_does():
    plan = converge(Allocator(POOLS), service_object(ipFamilyPolicy="RequireDualStack"), None)
    assert reasons(plan) == ["not enough clusterips"]


def test_prefer_dual_stack_is_topped_up_when_the_pool_gains_the_family():
    allocator = Allocator([pool("p", "192.0.2.0/30")])
    obj = service_object(cluster_ips=("10.96.0.1", "fd00::1"), ipFamilyPolicy="PreferDualStack")
    written = applied(obj, converge(allocator, obj, None))
    assert reasons(converge(allocator, written, None)) == ["AdditionalAssignFailed"]
    allocator.set_pools(POOLS)
    plan = converge(allocator, written, None)
    assert 'Assigned additional IP "2001:db8::"' in [n.message for n in plan.notices]
    assert [str(ip) for ip in plan.ingress or ()] == ["192.0.2.0", "2001:db8::"]


def test_forgetting_a_deleted_service_frees_its_address():
    allocator = Allocator(POOLS)
    key = converge(allocator, service_object(), None).key
    assert forget(allocator, key)
    assert not forget(allocator, key)
    assert allocator.holding(key) is None
