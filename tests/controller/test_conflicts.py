"""Quarantine in the pure core: the allocator never hands a quarantined address out, converge
quarantines what a speaker reports and then moves the Service, writes builds the patches."""

import json
from datetime import UTC, datetime
from ipaddress import ip_address
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.allocator import Allocation, Allocator
from controller.conflicts import QuarantineRequest, read_quarantines
from controller.reconcile import converge, needs_write, observe
from controller.writes import pool_status, quarantine_notice, quarantine_write, status_patch
from metalpool.addresses import Family, IPAddress
from metalpool.errors import SpecError
from metalpool.events import Severity
from metalpool.quarantine import Conflict, Quarantined, format_conflicts
from tests.support.objects import pool, pool_object, service, service_object, shared

CONFLICT_KEY = "metalpool.io/address-conflict"
QUARANTINE_KEY = "metalpool.io/quarantine"
LAN = pool("lan", "198.51.100.0/29")
NOW = datetime(2024, 5, 1, 12, 30, 5, tzinfo=UTC)


def ip(text: str) -> IPAddress:
    return ip_address(text)


def quarantine(*ips: str, name: str = "lan") -> dict[str, dict[IPAddress, Quarantined]]:
    return {
        name: {
            ip(a): Quarantined(
                ip=ip(a), mac="02:00:00:00:00:99", interface="eth0", node="node-a", service="x/y"
            )
            for a in ips
        }
    }


def conflicted(*ips: str) -> dict[str, str]:
    conflicts = [
        Conflict(ip=ip(a), mac="02:00:00:00:00:99", interface="eth0", node="node-a") for a in ips
    ]
    return {CONFLICT_KEY: format_conflicts(conflicts)}


def shown(plan: Any) -> list[str]:
    return [str(a) for a in plan.ingress or ()]


# ------------------------------------------------------------------ the allocator


def test_a_quarantined_address_is_never_handed_out():
    allocator = Allocator([LAN], quarantines=quarantine("198.51.100.0", "198.51.100.2"))
    first = allocator.allocate(service("a"))
    second = allocator.allocate(service("b"))
    assert isinstance(first, Allocation)
    assert isinstance(second, Allocation)
    assert [str(a) for a in (*first.ips, *second.ips)] == ["198.51.100.1", "198.51.100.3"]


def test_a_service_holding_an_automatic_address_that_gets_quarantined_is_moved():
    allocator = Allocator([LAN])
    svc = service("a")
    allocator.allocate(svc)
    allocator.set_pools([LAN], quarantines=quarantine("198.51.100.0"))
    moved = allocator.allocate(svc)
    assert isinstance(moved, Allocation)
    assert [str(a) for a in moved.ips] == ["198.51.100.1"]
    # Freed by its holder, the quarantined address still is not handed out.
    again = allocator.allocate(service("b"))
    assert isinstance(again, Allocation)
    assert [str(a) for a in again.ips] == ["198.51.100.2"]


def test_a_requested_address_is_given_and_kept_even_when_quarantined():
    allocator = Allocator([LAN], quarantines=quarantine("198.51.100.5"))
    svc = service("a", loadBalancerIP="198.51.100.5")
    assert isinstance(allocator.allocate(svc), Allocation)
    kept = allocator.allocate(svc)
    assert isinstance(kept, Allocation)
    assert [str(a) for a in kept.ips] == ["198.51.100.5"]


def test_services_sharing_an_address_never_join_it_once_it_is_quarantined():
    allocator = Allocator([LAN])
    a = service("a", annotations=shared("k"), ports=(("TCP", 80),))
    b = service("b", annotations=shared("k"), ports=(("TCP", 443),))
    allocator.allocate(a)
    allocator.allocate(b)
    allocator.set_pools([LAN], quarantines=quarantine("198.51.100.0"))
    moved_a = allocator.allocate(a)
    moved_b = allocator.allocate(b)
    assert isinstance(moved_a, Allocation)
    assert isinstance(moved_b, Allocation)
    assert moved_a.ips == moved_b.ips == (ip("198.51.100.1"),)


def test_pool_usage_leaves_quarantined_addresses_out_of_the_available_count():
    allocator = Allocator([LAN], quarantines=quarantine("198.51.100.3", "198.51.100.5"))
    allocator.claim(service("a", loadBalancerIP="198.51.100.5"), (ip("198.51.100.5"),))
    (usage,) = allocator.usage()
    assert usage.quarantined == (ip("198.51.100.3"), ip("198.51.100.5"))
    assert usage.assigned[Family.IPV4] == 1
    assert usage.available(Family.IPV4) == 8 - 1 - 1  # the requested one counts as in use
    assert pool_status(usage) == {
        "assignedIPv4": 1,
        "assignedIPv6": 0,
        "availableIPv4": 6,
        "availableIPv6": 0,
        "quarantinedIPs": ["198.51.100.3", "198.51.100.5"],
    }


def test_clearing_the_quarantine_makes_the_address_allocatable_again():
    allocator = Allocator([LAN], quarantines=quarantine("198.51.100.0"))
    allocator.set_pools([LAN], quarantines={})
    got = allocator.allocate(service("a"))
    assert isinstance(got, Allocation)
    assert got.ips == (ip("198.51.100.0"),)


@given(
    quarantined=st.sets(st.integers(0, 7), max_size=8),
    steps=st.lists(st.tuples(st.sampled_from(["allocate", "release"]), st.integers(0, 9))),
)
def test_no_sequence_of_allocations_ever_hands_out_a_quarantined_address(quarantined, steps):
    addresses = [f"198.51.100.{n}" for n in sorted(quarantined)]
    allocator = Allocator([LAN], quarantines=quarantine(*addresses))
    for kind, index in steps:
        svc = service(f"s{index}")
        if kind == "release":
            allocator.release(svc.key)
            continue
        got = allocator.allocate(svc)
        if isinstance(got, Allocation):
            assert not {str(a) for a in got.ips} & set(addresses)
    (usage,) = allocator.usage()
    assert usage.available(Family.IPV4) == 8 - len(quarantined) - usage.assigned[Family.IPV4]


# ------------------------------------------------------------------ reading pools


def test_pool_quarantines_are_read_ignoring_outside_addresses_and_flagging_bad_annotations():
    good = pool_object("lan", "198.51.100.0/29")
    good["metadata"]["annotations"] = {QUARANTINE_KEY: '{"198.51.100.5": {}, "203.0.113.9": {}}'}
    bad = pool_object("other", "192.0.2.0/29")
    bad["metadata"]["annotations"] = {QUARANTINE_KEY: "{oops"}
    read = read_quarantines([LAN, pool("other", "192.0.2.0/29")], {"lan": good, "other": bad})
    assert read.entries == {"lan": {ip("198.51.100.5"): Quarantined(ip=ip("198.51.100.5"))}}
    assert read.ignored == (
        "IPAddressPool metallb-system/lan: metalpool.io/quarantine names 203.0.113.9, which is"
        " not an address of the pool; ignored",
    )
    assert [str(p) for p in read.problems] == [
        'IPAddressPool metallb-system/other: metadata.annotations["metalpool.io/quarantine"] is'
        " not JSON (Expecting property name enclosed in double quotes at character 1)"
    ]


# ------------------------------------------------------------------ converge


def written(obj: dict[str, Any], plan: Any) -> dict[str, Any]:
    """The Service after the shell wrote `plan` (through the real status patch)."""
    patch = status_patch(plan, obj, NOW)
    out: dict[str, Any] = json.loads(json.dumps(obj))
    annotations = out["metadata"]["annotations"]
    for key, value in patch["metadata"]["annotations"].items():
        if value is None:
            annotations.pop(key, None)
        else:
            annotations[key] = value
    out["status"] = patch["status"]
    return out


def test_a_conflict_on_an_automatic_address_asks_for_quarantine_before_any_move():
    allocator = Allocator([LAN])
    obj = service_object("web", annotations=conflicted("198.51.100.0"), ingress=("198.51.100.0",))
    plan = converge(allocator, obj, None)
    assert shown(plan) == ["198.51.100.0"]
    assert plan.quarantine == (
        QuarantineRequest(
            pool="lan",
            entry=Quarantined(
                ip=ip("198.51.100.0"),
                mac="02:00:00:00:00:99",
                interface="eth0",
                node="node-a",
                service="demo/web",
            ),
        ),
    )
    assert plan.conflicts is None  # the annotation stays until the address is left


def test_once_quarantined_the_service_moves_says_why_and_drops_the_conflict_annotation():
    allocator = Allocator([LAN], quarantines=quarantine("198.51.100.0"))
    obj = service_object("web", annotations=conflicted("198.51.100.0"), ingress=("198.51.100.0",))
    plan = converge(allocator, obj, None)
    assert shown(plan) == ["198.51.100.1"]
    assert [(n.severity, n.reason) for n in plan.notices] == [
        (Severity.WARNING, "AddressQuarantined"),
        (Severity.NORMAL, "IPAllocated"),
    ]
    assert plan.notices[0].message == (
        "address 198.51.100.0 is held by another device (02:00:00:00:00:99 on eth0, seen by node"
        " node-a): it is quarantined in pool lan, and the Service moves off it"
    )
    assert plan.quarantine == ()
    assert plan.conflicts == ()
    patch = status_patch(plan, obj, NOW)
    assert patch["metadata"]["annotations"][CONFLICT_KEY] is None
    after = written(obj, plan)
    again = converge(allocator, after, None)
    assert not needs_write(again, observe(after))
    assert again.notices == ()


@pytest.mark.parametrize(
    "request_kind",
    [
        pytest.param({"loadBalancerIP": "198.51.100.0"}, id="spec.loadBalancerIP"),
        pytest.param(
            {"annotations": {"metallb.io/loadBalancerIPs": "198.51.100.0"}}, id="annotation"
        ),
        pytest.param(
            {"annotations": {"metallb.universe.tf/loadBalancerIPs": "198.51.100.0"}},
            id="deprecated annotation",
        ),
    ],
)
def test_a_requested_address_in_conflict_is_neither_quarantined_nor_moved(request_kind):
    annotations = {**conflicted("198.51.100.0"), **request_kind.pop("annotations", {})}
    obj = service_object("web", annotations=annotations, ingress=("198.51.100.0",), **request_kind)
    plan = converge(Allocator([LAN]), obj, None)
    assert shown(plan) == ["198.51.100.0"]
    assert plan.quarantine == ()
    assert plan.conflicts is None
    assert "AddressQuarantined" not in [n.reason for n in plan.notices]


def test_a_malformed_conflict_annotation_is_complained_about_and_otherwise_ignored():
    obj = service_object("web", annotations={CONFLICT_KEY: "nope"}, ingress=("198.51.100.0",))
    plan = converge(Allocator([LAN]), obj, None)
    assert shown(plan) == ["198.51.100.0"]
    assert (plan.quarantine, plan.conflicts) == ((), None)
    assert plan.complaint.startswith(
        'Service demo/web: metadata.annotations["metalpool.io/address-conflict"] is not JSON'
    )
    assert plan.complaint.endswith("; ignored")


def test_a_conflict_for_an_address_the_service_does_not_hold_is_dropped():
    obj = service_object("web", annotations=conflicted("198.51.100.6"), ingress=("198.51.100.0",))
    plan = converge(Allocator([LAN]), obj, None)
    assert (plan.quarantine, plan.conflicts) == ((), ())
    assert needs_write(plan, observe(obj))


def test_a_restart_after_the_quarantine_write_moves_the_service_with_the_same_words():
    # The pool annotation was written; the controller died before the Service moved.
    allocator = Allocator([LAN], quarantines=quarantine("198.51.100.0"))
    converge(allocator, service_object("other", ingress=("198.51.100.1",)), None)
    obj = service_object("web", annotations=conflicted("198.51.100.0"), ingress=("198.51.100.0",))
    plan = converge(allocator, obj, None)
    assert shown(plan) == ["198.51.100.2"]
    assert [n.reason for n in plan.notices] == ["AddressQuarantined", "IPAllocated"]


def test_with_no_free_address_left_the_service_leaves_the_quarantined_one_all_the_same():
    tiny = pool("lan", "198.51.100.0/32")
    allocator = Allocator([tiny], quarantines=quarantine("198.51.100.0"))
    obj = service_object("web", annotations=conflicted("198.51.100.0"), ingress=("198.51.100.0",))
    plan = converge(allocator, obj, None)
    assert plan.ingress == ()
    assert [n.reason for n in plan.notices] == ["AddressQuarantined", "AllocationFailed"]
    assert plan.conflicts == ()


# ------------------------------------------------------------------ writes


def request(address: str) -> QuarantineRequest:
    entry = Quarantined(ip=ip(address), mac="02:00:00:00:00:99", interface="eth0", node="n")
    return QuarantineRequest(pool="lan", entry=entry)


def test_the_quarantine_write_adds_to_what_the_pool_has_and_carries_its_version():
    obj = pool_object("lan", "198.51.100.0/29")
    obj["metadata"].update(
        resourceVersion="42", annotations={QUARANTINE_KEY: '{"198.51.100.5": {}}'}
    )
    write = quarantine_write(obj, [request("198.51.100.0"), request("198.51.100.5")], NOW)
    assert write is not None
    assert [e.ip for e in write.added] == [ip("198.51.100.0")]
    assert write.patch["metadata"]["resourceVersion"] == "42"
    value = json.loads(write.patch["metadata"]["annotations"][QUARANTINE_KEY])
    assert value == {
        "198.51.100.0": {
            "mac": "02:00:00:00:00:99",
            "interface": "eth0",
            "node": "n",
            "service": "",
            "since": "2024-05-01T12:30:05Z",
        },
        "198.51.100.5": {"mac": "", "interface": "", "node": "", "service": ""},
    }


def test_the_quarantine_write_has_nothing_to_do_when_every_address_is_in_already():
    obj = pool_object("lan", "198.51.100.0/29")
    obj["metadata"]["annotations"] = {QUARANTINE_KEY: '{"198.51.100.0": {}}'}
    assert quarantine_write(obj, [request("198.51.100.0")], NOW) is None


def test_the_quarantine_write_never_replaces_an_annotation_it_cannot_read():
    obj = pool_object("lan", "198.51.100.0/29")
    obj["metadata"]["annotations"] = {QUARANTINE_KEY: "[oops"}
    with pytest.raises(SpecError):
        quarantine_write(obj, [request("198.51.100.0")], NOW)


def test_the_pool_event_names_the_address_the_device_and_how_to_clear_it():
    entry = Quarantined(
        ip=ip("198.51.100.0"), mac="02:00:00:00:00:99", interface="eth0", node="n", service="d/w"
    )
    notice = quarantine_notice(entry)
    assert (notice.severity, notice.reason) == (Severity.WARNING, "AddressQuarantined")
    assert notice.message == (
        "address 198.51.100.0 quarantined: it is held by another device (02:00:00:00:00:99 on"
        " eth0, seen by node n), found while Service d/w held it; it is not handed out again"
        " until its key is removed from the metalpool.io/quarantine annotation"
    )
