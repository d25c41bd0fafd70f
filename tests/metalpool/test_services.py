from ipaddress import ip_address

import pytest

from metalpool.addresses import Family, IPAddress
from metalpool.errors import SpecError
from metalpool.services import (
    FamilyPolicy,
    Port,
    ServiceFamily,
    TrafficPolicy,
    parse_ingress,
    parse_service,
)
from tests.support.objects import service, service_object

NEW, OLD = "metallb.io/", "metallb.universe.tf/"


def ips(*texts: str) -> tuple[IPAddress, ...]:
    return tuple(ip_address(t) for t in texts)


@pytest.mark.parametrize(
    ("annotations", "spec", "requested"),
    [
        pytest.param({}, {}, (), id="nothing requested"),
        pytest.param({}, {"loadBalancerIP": "192.0.2.5"}, ips("192.0.2.5"), id="spec field"),
        pytest.param(
            {NEW + "loadBalancerIPs": "192.0.2.5, 2001:db8::5"},
            {},
            ips("192.0.2.5", "2001:db8::5"),
            id="annotation with two families, spaces trimmed",
        ),
        pytest.param(
            {OLD + "loadBalancerIPs": "192.0.2.6"}, {}, ips("192.0.2.6"), id="deprecated key"
        ),
        pytest.param(
            {NEW + "loadBalancerIPs": "192.0.2.5", OLD + "loadBalancerIPs": "192.0.2.6"},
            {},
            ips("192.0.2.5"),
            id="the stable key wins over the deprecated one",
        ),
        pytest.param(
            {NEW + "loadBalancerIPs": "", OLD + "loadBalancerIPs": "192.0.2.6"},
            {},
            (),
            id="a present but empty stable key still wins",
        ),
    ],
)
def test_requested_ips_follow_metallbs_precedence(annotations, spec, requested):
    assert service(annotations=annotations, **spec).requested_ips == requested


@pytest.mark.parametrize(
    ("annotations", "expected_pool", "expected_key"),
    [
        pytest.param({NEW + "address-pool": "a"}, "a", "", id="stable pool annotation"),
        pytest.param({OLD + "address-pool": "b"}, "b", "", id="deprecated pool annotation"),
        pytest.param(
            {NEW + "address-pool": "a", OLD + "address-pool": "b"}, "a", "", id="stable wins"
        ),
        pytest.param({NEW + "allow-shared-ip": "k"}, None, "k", id="sharing key"),
        pytest.param({OLD + "allow-shared-ip": "old"}, None, "old", id="deprecated sharing key"),
        pytest.param(
            {NEW + "allow-shared-ip": "", OLD + "allow-shared-ip": "old"},
            None,
            "",
            id="an empty stable sharing key means no sharing",
        ),
    ],
)
def test_pool_and_sharing_annotations_follow_precedence(annotations, expected_pool, expected_key):
    parsed = service(annotations=annotations)
    assert (parsed.pool, parsed.sharing_key) == (expected_pool, expected_key)


def test_deprecated_annotations_are_listed_for_a_warning():
    parsed = service(annotations={OLD + "address-pool": "a", OLD + "allow-shared-ip": "k"})
    assert parsed.deprecated_annotations == (OLD + "address-pool", OLD + "allow-shared-ip")


@pytest.mark.parametrize(
    ("annotations", "spec", "message"),
    [
        pytest.param(
            {NEW + "loadBalancerIPs": "192.0.2.5"},
            {"loadBalancerIP": "192.0.2.6"},
            "Service demo/web: spec.loadBalancerIP and the annotation"
            " metallb.io/loadBalancerIPs are both set; use only the annotation",
            id="both the spec field and the annotation",
        ),
        pytest.param(
            {},
            {"loadBalancerIP": "192.0.2.300"},
            'Service demo/web: spec.loadBalancerIP "192.0.2.300" is not an IP address',
            id="a bad spec IP",
        ),
        pytest.param(
            {OLD + "loadBalancerIPs": "192.0.2.5,nope"},
            {},
            'Service demo/web: metadata.annotations["metallb.universe.tf/loadBalancerIPs"]'
            ' "nope" is not an IP address',
            id="a bad annotation IP names the key used",
        ),
        pytest.param(
            {NEW + "loadBalancerIPs": "192.0.2.5,192.0.2.6"},
            {},
            'Service demo/web: metadata.annotations["metallb.io/loadBalancerIPs"]'
            ' "192.0.2.5,192.0.2.6" lists two addresses of the same family',
            id="two of one family",
        ),
        pytest.param(
            {NEW + "loadBalancerIPs": "192.0.2.5,2001:db8::1,192.0.2.6"},
            {},
            'Service demo/web: metadata.annotations["metallb.io/loadBalancerIPs"]'
            ' "192.0.2.5,2001:db8::1,192.0.2.6" lists more than two addresses',
            id="three addresses",
        ),
        pytest.param(
            {},
            {"ipFamilyPolicy": "Sometimes"},
            "Service demo/web: spec.ipFamilyPolicy 'Sometimes' is not one of SingleStack,"
            " PreferDualStack, RequireDualStack",
            id="an unknown family policy",
        ),
    ],
)
def test_rejects_contradictory_inputs_naming_the_field(annotations, spec, message):
    with pytest.raises(SpecError) as caught:
        service(annotations=annotations, **spec)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("cluster_ips", "family"),
    [
        pytest.param(("10.96.0.1",), ServiceFamily.IPV4, id="one IPv4"),
        pytest.param(("fd00::1",), ServiceFamily.IPV6, id="one IPv6"),
        pytest.param(("10.96.0.1", "fd00::1"), ServiceFamily.DUAL, id="both"),
        pytest.param((), None, id="none yet"),
        pytest.param(("None",), None, id="headless"),
    ],
)
def test_the_family_comes_from_cluster_ips(cluster_ips, family):
    assert service(cluster_ips=cluster_ips).family is family


def test_two_cluster_ips_of_one_family_are_an_error():
    with pytest.raises(SpecError, match=r"spec\.clusterIPs"):
        service(cluster_ips=("10.96.0.1", "10.96.0.2"))


def test_ipv6_first_in_ip_families_makes_ipv6_primary():
    parsed = service(
        cluster_ips=("fd00::1", "10.96.0.1"),
        ipFamilies=["IPv6", "IPv4"],
        ipFamilyPolicy="PreferDualStack",
    )
    assert parsed.primary_family is Family.IPV6
    assert parsed.family_policy is FamilyPolicy.PREFER_DUAL


def test_local_traffic_policy_makes_the_selector_the_backend_key():
    local = service(externalTrafficPolicy="Local", selector={"b": "2", "a": "1"})
    cluster = service(externalTrafficPolicy="Cluster", selector={"b": "2", "a": "1"})
    assert (local.traffic_policy, local.backend_key) == (TrafficPolicy.LOCAL, "a=1,b=2")
    assert cluster.backend_key == ""


def test_ports_default_to_tcp():
    obj = service_object()
    obj["spec"]["ports"] = [{"port": 80}, {"port": 53, "protocol": "UDP"}]
    assert parse_service(obj).ports == {Port("TCP", 80), Port("UDP", 53)}


@pytest.mark.parametrize(
    ("service_class", "our_class", "handled"),
    [
        pytest.param(None, None, True, id="no class, default controller"),
        pytest.param("other", None, False, id="another class is left alone"),
        pytest.param("ours", "ours", True, id="our class"),
        pytest.param(None, "ours", False, id="no class when we have one"),
    ],
)
def test_load_balancer_class_decides_who_handles_a_service(service_class, our_class, handled):
    spec = {"loadBalancerClass": service_class} if service_class else {}
    assert service(**spec).is_handled_by(our_class) is handled


def test_non_load_balancer_services_are_recognised():
    assert not service(type="ClusterIP").is_load_balancer


def test_ingress_ips_are_read_skipping_empty_entries():
    obj = service_object(ingress=("192.0.2.1",))
    obj["status"]["loadBalancer"]["ingress"].append({"hostname": "x"})
    assert parse_ingress(obj) == ips("192.0.2.1")
