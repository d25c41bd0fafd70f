from pathlib import Path

from controller.allocator import Allocation
from lab.__main__ import main
from lab.apiserver.objects.services import DualStackIPs
from lab.preview import load_manifests, preview, render, with_cluster_ips
from tests.support.objects import pool_object, service_object

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"


def advertisement() -> dict[str, object]:
    return {
        "kind": "L2Advertisement",
        "metadata": {"name": "all", "namespace": "metallb-system"},
        "spec": {},
    }


def test_the_examples_all_get_addresses_and_shared_dns_packs_onto_one():
    result = preview(load_manifests(EXAMPLES))
    outcomes = {row.service: row.outcome for row in result.rows}
    got = {k: [str(ip) for ip in v.ips] for k, v in outcomes.items() if isinstance(v, Allocation)}
    assert got.keys() == outcomes.keys(), render(result)
    assert got["demo/dns-tcp"] == got["demo/dns-udp"]
    assert got["demo/postgres-lb"] == ["192.0.2.50"]
    # staging-pool has no L2Advertisement on purpose (deploy/examples/unannounced.yaml).
    assert [row.service for row in result.rows if not row.announced] == ["demo/staging-lb"]
    assert not result.problems


def test_a_pending_service_is_shown_with_the_pools_considered():
    objs = [
        pool_object("tiny", "192.0.2.10/32"),
        advertisement(),
        service_object("a", cluster_ips=()),
        service_object("b", cluster_ips=()),
    ]
    text = render(preview(objs))
    assert "demo/a                         tiny          192.0.2.10" in text
    assert (
        "demo/b                         -             pending: no available IPs (pool tiny:" in text
    )


def test_a_pool_without_an_advertisement_is_pointed_out():
    text = render(preview([pool_object("p", "192.0.2.0/24"), service_object("a")]))
    assert "(no L2Advertisement covers this pool)" in text


def test_invalid_pools_and_services_are_reported_not_raised():
    objs = [
        pool_object("bad", "192.0.2.300/32"),
        service_object("odd", annotations={"metallb.io/loadBalancerIPs": "nope"}),
    ]
    text = render(preview(objs))
    assert 'IPAddressPool metallb-system/bad: spec.addresses[0] "192.0.2.300/32"' in text
    assert "invalid: Service demo/odd:" in text


def test_cluster_ips_are_filled_in_like_a_dual_stack_api_server():
    ips = DualStackIPs()
    single = with_cluster_ips(service_object(cluster_ips=()), ips)
    dual = with_cluster_ips(service_object(cluster_ips=(), ipFamilyPolicy="PreferDualStack"), ips)
    assert len(single["spec"]["clusterIPs"]) == 1
    assert dual["spec"]["ipFamilies"] == ["IPv4", "IPv6"]


def test_the_command_prints_the_table(capsys):
    assert main(["plan", str(EXAMPLES)]) == 0
    assert "demo/web-app-lb" in capsys.readouterr().out


def test_the_command_refuses_a_missing_folder(capsys, tmp_path):
    assert main(["plan", str(tmp_path / "nope")]) == 2
    assert "is not a folder of manifests" in capsys.readouterr().err
