"""Issue 10's Event differences from MetalLB, through the real controller and a real API."""

import pytest

from tests.support.cluster import Cluster, Controller, eventually

pytestmark = pytest.mark.timeout(60)


def test_without_any_pool_services_wait_without_events_then_get_addresses(
    cluster: Cluster, controller: Controller
):
    cluster.service("web")
    assert eventually(lambda: cluster.condition("web").get("reason")) == "NoPools"
    assert cluster.reasons("web") == []
    cluster.pool("public", "192.0.2.10-192.0.2.20")
    assert eventually(lambda: cluster.ips("web")) == ["192.0.2.10"]
    assert eventually(lambda: cluster.reasons("web")) == ["IPAllocated"]


@pytest.mark.dual_stack
def test_a_dual_stack_service_requesting_one_ipv4_address_is_refused(
    cluster: Cluster, controller: Controller
):
    cluster.pool("dual", "192.0.2.0/24", "2001:db8::/120")
    cluster.wait_pools("dual")
    cluster.service("prefer", ipFamilyPolicy="PreferDualStack", loadBalancerIP="192.0.2.7")
    condition = eventually(lambda: cluster.condition("prefer"))
    assert (condition["status"], condition["reason"]) == ("False", "FamilyMismatch")
    assert "does not match the ipFamily of the service" in condition["message"]
    assert "AllocationFailed" in eventually(lambda: cluster.reasons("prefer"))
    assert cluster.ips("prefer") == []
