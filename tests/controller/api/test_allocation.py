"""Every rule of metallb-compat.md §2 and §3, through the real controller and a real API."""

import pytest

from tests.support.cluster import Cluster, Controller, eventually

pytestmark = pytest.mark.timeout(60)

POOL = "metallb.io/address-pool"
IPS = "metallb.io/loadBalancerIPs"
SHARE = "metallb.io/allow-shared-ip"


def test_a_service_gets_the_first_free_address_with_events_annotation_and_condition(
    cluster: Cluster, controller: Controller
):
    cluster.pool("public", "192.0.2.10-192.0.2.20")
    cluster.wait_pools("public")  # else the Service may first (rightly) fail: no pools yet
    cluster.service("web")
    assert eventually(lambda: cluster.ips("web")) == ["192.0.2.10"]
    svc = cluster.raw_service("web")
    assert svc["metadata"]["annotations"]["metallb.io/ip-allocated-from-pool"] == "public"
    assert eventually(lambda: cluster.reasons("web")) == ["IPAllocated"]
    condition = cluster.condition("web")
    assert condition is not None
    assert (condition["status"], condition["reason"]) == ("True", "Allocated")
    assert "EXTERNAL-IP" in cluster.kubectl("get", "svc", "-n", "demo", "web")


def test_requested_addresses_are_honoured_from_the_annotation_and_the_spec(
    cluster: Cluster, controller: Controller
):
    cluster.pool("public", "192.0.2.0/24")
    cluster.service("by-annotation", annotations={IPS: "192.0.2.77"})
    cluster.service("by-spec", loadBalancerIP="192.0.2.78")
    cluster.service("outside", annotations={IPS: "203.0.113.5"})
    assert eventually(lambda: cluster.ips("by-annotation")) == ["192.0.2.77"]
    assert eventually(lambda: cluster.ips("by-spec")) == ["192.0.2.78"]
    assert eventually(lambda: "AllocationFailed" in cluster.reasons("outside"))
    condition = cluster.condition("outside")
    assert condition is not None
    assert condition["reason"] == "RequestedIPNotInAnyPool"


def test_the_pool_annotation_and_auto_assign_false(cluster: Cluster, controller: Controller):
    cluster.pool("manual", "198.51.100.0/24", autoAssign=False)
    cluster.wait_pools("manual")
    cluster.service("plain")
    cluster.service("named", annotations={POOL: "manual"})
    assert eventually(lambda: cluster.ips("named")) == ["198.51.100.0"]
    condition = eventually(lambda: cluster.condition("plain"))
    assert condition["status"] == "False"
    assert "pool manual: autoAssign is false" in condition["message"]


def test_priorities_and_namespace_and_service_selectors_choose_the_pool(
    cluster: Cluster, controller: Controller
):
    cluster.namespace("team-a", labels={"team": "a"})
    cluster.pool("fallback", "203.0.113.0/24")
    cluster.pool(
        "team-a-pool",
        "198.51.100.0/24",
        serviceAllocation={"priority": 10, "namespaceSelectors": [{"matchLabels": {"team": "a"}}]},
    )
    cluster.pool(
        "web-pool",
        "192.0.2.0/24",
        serviceAllocation={"priority": 5, "serviceSelectors": [{"matchLabels": {"tier": "web"}}]},
    )
    cluster.wait_pools("fallback", "team-a-pool", "web-pool")
    cluster.service("a-web", "team-a", labels={"tier": "web"})
    cluster.service("a-db", "team-a")
    cluster.service("elsewhere")
    assert eventually(lambda: cluster.ips("a-web", "team-a")) == ["192.0.2.0"]
    assert eventually(lambda: cluster.ips("a-db", "team-a")) == ["198.51.100.0"]
    assert eventually(lambda: cluster.ips("elsewhere")) == ["203.0.113.0"]


def test_sharing_packs_compatible_services_and_refuses_conflicts(
    cluster: Cluster, controller: Controller
):
    cluster.pool("public", "192.0.2.0/24")
    cluster.service("dns-tcp", ports=(("TCP", 53),), annotations={SHARE: "dns"})
    cluster.service("dns-udp", ports=(("UDP", 53),), annotations={SHARE: "dns"})
    first = eventually(lambda: cluster.ips("dns-tcp"))
    assert eventually(lambda: cluster.ips("dns-udp")) == first
    cluster.service("clash", ports=(("UDP", 53),), annotations={SHARE: "dns", IPS: first[0]})
    condition = eventually(lambda: cluster.condition("clash"))
    assert condition["reason"] == "PortConflict"


@pytest.mark.dual_stack
def test_dual_stack_policies(cluster: Cluster, controller: Controller):
    cluster.pool("v4-only", "198.51.100.0/24")
    cluster.pool("dual", "192.0.2.0/24", "2001:db8::/120", serviceAllocation={"priority": 1})
    cluster.wait_pools("v4-only", "dual")
    cluster.service("require", ipFamilyPolicy="RequireDualStack")
    cluster.service("prefer", ipFamilyPolicy="PreferDualStack", ipFamilies=["IPv6", "IPv4"])
    cluster.service("single")
    require = eventually(lambda: cluster.ips("require"))
    prefer = eventually(lambda: cluster.ips("prefer"))
    single = eventually(lambda: cluster.ips("single"))
    assert [":" in ip for ip in require] == [False, True]  # both, IPv4 first, from one pool
    assert all(ip.startswith(("192.0.2.", "2001:db8::")) for ip in require + prefer + single)
    assert sorted(":" in ip for ip in prefer) == [False, True]
    assert len(single) == 1
    assert ":" not in single[0]
    assert len(set(require + prefer + single)) == 5


def test_exhaustion_then_release_gives_the_pending_service_its_address_at_once(
    cluster: Cluster, controller: Controller
):
    cluster.pool("tiny", "192.0.2.0/31")
    cluster.wait_pools("tiny")
    for name in ("a", "b", "c"):
        cluster.service(name)
    eventually(lambda: cluster.ips("a") and cluster.ips("b"))
    condition = eventually(lambda: cluster.condition("c"))
    assert condition["reason"] == "PoolExhausted"
    freed = cluster.ips("a")
    cluster.delete_service("a")
    assert eventually(lambda: cluster.ips("c"), timeout=5) == freed


def test_a_shrunk_or_deleted_pool_moves_its_services(cluster: Cluster, controller: Controller):
    cluster.pool("first", "192.0.2.0/30")
    cluster.pool("second", "198.51.100.0/30")
    cluster.wait_pools("first", "second")
    cluster.service("a", annotations={IPS: "192.0.2.3"})
    cluster.service("b")
    assert eventually(lambda: cluster.ips("b")) == ["192.0.2.0"]
    cluster.patch_pool("first", {"addresses": ["192.0.2.0/31"]})
    condition = eventually(lambda: cluster.condition("a"))
    eventually(lambda: cluster.condition("a")["reason"] == "RequestedIPNotInAnyPool")
    assert "ClearAssignment" in eventually(lambda: cluster.reasons("a"))
    assert condition is not None
    cluster.delete_pool("first")
    assert eventually(lambda: cluster.ips("b") == ["198.51.100.0"])
    assert eventually(lambda: "ClearAssignment" in cluster.reasons("b"))


@pytest.mark.dual_stack
def test_pool_status_counts_addresses_in_use(cluster: Cluster, controller: Controller):
    cluster.pool("p", "192.0.2.0/30", "2001:db8::/126")
    cluster.service("d", ipFamilyPolicy="RequireDualStack")
    expected = {
        "assignedIPv4": 1,
        "assignedIPv6": 1,
        "availableIPv4": 3,
        "availableIPv6": 3,
        "quarantinedIPs": [],
    }
    assert eventually(lambda: cluster.read_pool("p").get("status") == expected)
    out = cluster.kubectl("get", "ipaddresspools", "-n", "metallb-system")
    assert "IPV4 IN USE" in out


def test_another_load_balancer_class_is_never_touched(cluster: Cluster, controller: Controller):
    cluster.pool("public", "192.0.2.0/24")
    cluster.service("theirs", loadBalancerClass="example.com/other")
    cluster.service("ours")
    eventually(lambda: cluster.ips("ours"))
    assert cluster.ips("theirs") == []
    assert cluster.reasons("theirs") == []


def test_type_changes_release_and_reallocate(cluster: Cluster, controller: Controller):
    cluster.pool("public", "192.0.2.0/31")
    cluster.service("flip")
    assert eventually(lambda: cluster.ips("flip")) == ["192.0.2.0"]
    cluster.patch_service("flip", {"spec": {"type": "ClusterIP"}})
    eventually(lambda: cluster.ips("flip") == [])
    assert "metallb.io/ip-allocated-from-pool" not in (
        cluster.raw_service("flip")["metadata"].get("annotations") or {}
    )
    cluster.service("other")
    assert eventually(lambda: cluster.ips("other")) == ["192.0.2.0"]
    cluster.patch_service("flip", {"spec": {"type": "LoadBalancer"}})
    assert eventually(lambda: cluster.ips("flip")) == ["192.0.2.1"]


def test_an_invalid_pool_is_reported_and_the_others_keep_working(
    cluster: Cluster, controller: Controller
):
    cluster.pool("good", "192.0.2.0/24")
    eventually(lambda: cluster.read_pool("good").get("status"))
    cluster.pool("overlapping", "192.0.2.128/25")
    cluster.service("web")
    assert eventually(lambda: cluster.ips("web")) == ["192.0.2.0"]
    events = eventually(
        lambda: (
            cluster.core.list_namespaced_event(
                "metallb-system", field_selector="involvedObject.name=overlapping"
            ).items
        )
    )
    assert events[0].type == "Warning"
    assert events[0].reason == "InvalidConfiguration"
    assert "overlaps IPAddressPool metallb-system/good" in events[0].message
