from ipaddress import ip_address

from speaker.cluster.inputs import parse_service_ips, parse_slice
from tests.support.objects import service_object


def test_a_service_with_a_broken_request_annotation_is_still_announced():
    obj = service_object(
        annotations={"metallb.io/loadBalancerIPs": "not-an-ip"}, ingress=("192.0.2.10",)
    )
    parsed = parse_service_ips(obj)
    assert parsed is not None
    assert parsed.ingress == (ip_address("192.0.2.10"),)


def test_the_speakers_own_inputs_survive_the_lenient_parse():
    obj = service_object(
        annotations={"metallb.io/loadBalancerIPs": "x", "metallb.io/allow-shared-ip": "k"},
        labels={"tier": "web"},
        ingress=("192.0.2.10",),
        externalTrafficPolicy="Local",
    )
    parsed = parse_service_ips(obj)
    assert parsed is not None
    assert parsed.service.labels == {"tier": "web"}
    assert parsed.service.backend_key == "app=web"


def test_an_unreadable_ingress_is_left_out():
    obj = service_object()
    obj["status"]["loadBalancer"]["ingress"] = [{"ip": "nope"}]
    assert parse_service_ips(obj) is None


def test_an_unreadable_endpoint_slice_is_left_out():
    assert parse_slice({"metadata": {"name": "x", "namespace": "demo"}, "endpoints": "bad"}) is None
