import pytest

from lab.apiserver.objects.services import DualStackIPs, ServiceError, default_spec


@pytest.mark.parametrize(
    ("spec", "families"),
    [
        pytest.param({}, ["IPv4"], id="single stack defaults to IPv4"),
        pytest.param({"ipFamilies": ["IPv6"]}, ["IPv6"], id="an IPv6 single-stack Service"),
        pytest.param(
            {"ipFamilyPolicy": "PreferDualStack"}, ["IPv4", "IPv6"], id="PreferDualStack gets both"
        ),
        pytest.param(
            {"ipFamilyPolicy": "RequireDualStack", "ipFamilies": ["IPv6"]},
            ["IPv6", "IPv4"],
            id="RequireDualStack keeps the asked order",
        ),
    ],
)
def test_a_dual_stack_cluster_gives_cluster_ips_per_family(spec, families):
    out = default_spec({"type": "LoadBalancer", **spec}, DualStackIPs())
    assert out["ipFamilies"] == families
    assert [":" in ip for ip in out["clusterIPs"]] == [f == "IPv6" for f in families]
    assert out["clusterIP"] == out["clusterIPs"][0]


def test_requested_cluster_ips_are_reserved_once():
    ips = DualStackIPs()
    default_spec({"clusterIPs": ["10.96.0.50"]}, ips)
    with pytest.raises(ServiceError, match="already allocated"):
        default_spec({"clusterIPs": ["10.96.0.50"]}, ips)


def test_released_cluster_ips_are_free_again():
    ips = DualStackIPs()
    out = default_spec({"ipFamilyPolicy": "PreferDualStack"}, ips)
    ips.release(out["clusterIPs"])
    again = default_spec(
        {"clusterIPs": out["clusterIPs"], "ipFamilyPolicy": "PreferDualStack"}, ips
    )
    assert again["clusterIPs"] == out["clusterIPs"]
