"""The real speakers in node namespaces, against the emulated API server, answering the kernel.

Tier T3 (root): three node namespaces and a client on one bridge, the controller and one speaker
per node (lab.demo.Lab). The client's own kernel resolves Service addresses; tests read its
neighbour table. Documentation prefixes only; everything is deleted by name afterwards.
"""

import ipaddress
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.demo import Lab
from lab.network import ip
from speaker.cluster.election import rank
from tests.support.cluster import eventually
from tests.support.netns import Child, unavailable_reason
from tests.support.objects import (
    endpoint,
    endpoint_slice_object,
    l2_advertisement_object,
    pool_object,
)
from tests.support.onwire import announced, answerers, client_probe
from tests.support.sentinels import all_answers

pytestmark = [
    pytest.mark.wire,
    pytest.mark.timeout(120),
    pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason())),
]
NODES = ("node-1", "node-2", "node-3")
EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"


def service(name: str, pool_name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": "wire",
            "annotations": {"metallb.io/address-pool": pool_name},
        },
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": name},
            "ports": [{"port": 80, "protocol": "TCP"}],
            **spec,
        },
    }


def endpoints(name: str, nodes: tuple[str, ...], *, ready: bool = True) -> dict[str, Any]:
    return endpoint_slice_object(
        name,
        "wire",
        *(endpoint(n, ready=ready, address=f"10.244.9.{i + 1}") for i, n in enumerate(nodes)),
        name=f"{name}-wire",
    )


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab(nodes=len(NODES), examples=EXAMPLES, say=lambda _: None) as running:
        running.install()
        running.kubectl("create", "namespace", "wire")
        running.wire()
        running.apply(
            [
                pool_object("wire", "192.0.2.20-192.0.2.39", "2001:db8:0:1::400/120",
                            autoAssign=False),
                l2_advertisement_object("wire", ipAddressPools=["wire"]),
                pool_object("second", "192.0.2.40-192.0.2.49", autoAssign=False),
                l2_advertisement_object("second", ipAddressPools=["second"], nodeSelectors=[
                    {"matchLabels": {"kubernetes.io/hostname": "node-2"}}
                ]),
                pool_object("third", "192.0.2.50-192.0.2.59", autoAssign=False),
                l2_advertisement_object("third", ipAddressPools=["third"], interfaces=["eth9"]),
            ]
        )  # fmt: skip
        running.start_controller()
        for node in NODES:
            running.start_speaker(node)
        for node in NODES:
            running.wait_speaker(node)
        yield running


def deploy(lab: Lab, name: str, pool_name: str = "wire", nodes: tuple[str, ...] = NODES,
           *, ready: bool = True, **spec: Any) -> list[str]:  # fmt: skip
    """Create a Service with endpoints; wait for its addresses."""
    lab.apply([service(name, pool_name, **spec), endpoints(name, nodes, ready=ready)])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ingress = lab.kubectl("get", "svc", name, "-n", "wire", "-o",
                              "jsonpath={.status.loadBalancer.ingress[*].ip}").split()  # fmt: skip
        if ingress:
            return ingress
        time.sleep(0.1)
    raise AssertionError(f"{name} got no address")


def announcer(lab: Lab, name: str, timeout: float = 10.0, expected: str | None = None) -> str:
    """The node announcing `name`; with `expected`, once it is that one (or the last seen).

    Speakers become candidates one by one as they finish listening: right after start the
    first one ready may announce for a moment what it then hands to the election's winner.
    """
    deadline = time.monotonic() + timeout
    node = None
    while time.monotonic() < deadline:
        node = lab.announcers().get(f"wire/{name}")
        if node and (expected is None or node == expected):
            return node
        time.sleep(0.1)
    if node:
        return node
    raise AssertionError(f"nobody announces {name}")


def test_the_client_resolves_a_service_ip_to_the_mac_metallbs_election_picks(lab: Lab):
    (address,) = deploy(lab, "web")
    expected = rank(frozenset(NODES), ipaddress.ip_address(address))[0]
    assert announcer(lab, "web", expected=expected) == expected
    assert lab.owner(address) == expected


@pytest.fixture(scope="module")
def probe(lab: Lab) -> Iterator[Child]:
    with client_probe(lab) as child:
        yield child


@pytest.fixture(scope="module")
def sentinels(lab: Lab, probe: Child) -> list[str]:
    """An address per node that this node alone announces (Local policy, its endpoint there)."""
    addresses = []
    for node in NODES:
        (address,) = deploy(lab, f"sentinel-{node}", nodes=(node,), externalTrafficPolicy="Local")
        mac = node_mac(lab, node)
        eventually(lambda a=address, m=mac: answerers(probe, a) == {m}, timeout=10)  # type: ignore[misc]
        addresses.append(address)
    return addresses


def node_mac(lab: Lab, node: str) -> str:
    assert lab.network is not None
    return lab.network.hosts[node].mac


def test_addresses_nobody_announces_get_no_answer(probe: Child, sentinels: list[str]):
    assert all_answers(probe, "192.0.2.39", sentinels) == []


def test_a_service_without_ready_endpoints_is_not_answered(
    lab: Lab, probe: Child, sentinels: list[str]
):
    (address,) = deploy(lab, "idle", ready=False)
    # The speakers' verdict on this Service is out before the wire is asked.
    said = eventually(lambda: announced(lab, "wire", "idle").get("reason") == "NoEndpoints")
    assert said
    assert all_answers(probe, address, sentinels) == []


def test_local_traffic_policy_picks_the_node_with_the_endpoint(lab: Lab):
    (address,) = deploy(lab, "local", nodes=("node-3",), externalTrafficPolicy="Local")
    assert announcer(lab, "local") == "node-3"
    assert lab.owner(address) == "node-3"


def test_node_selectors_restrict_who_answers(lab: Lab, probe: Child, sentinels: list[str]):
    (address,) = deploy(lab, "picky", pool_name="second")
    assert announcer(lab, "picky") == "node-2"
    assert lab.owner(address) == "node-2"
    answers = all_answers(probe, address, sentinels)
    assert {r["hwsrc"] for r in answers} == {node_mac(lab, "node-2")}  # and nobody else


def test_advertised_interfaces_restrict_where_it_is_answered(
    lab: Lab, probe: Child, sentinels: list[str]
):
    (address,) = deploy(lab, "elsewhere", pool_name="third")
    announcer(lab, "elsewhere")
    items = lab.kubectl("get", "servicel2statuses", "-n", "metallb-system", "-o",
                        "jsonpath={.items[*].status.interfaces[*].name}")  # fmt: skip
    assert "eth9" in items.split()
    assert all_answers(probe, address, sentinels) == []  # the nodes have no eth9: never on eth0
    events = lab.kubectl("get", "events", "-n", "wire", "--field-selector",
                         "involvedObject.name=elsewhere,reason=announceFailed",
                         "-o", "jsonpath={.items[*].message}")  # fmt: skip
    assert "doesn't exist in assigned node \"node-" in events


def test_ipv6_is_resolved_through_ndp_and_a_unicast_probe_is_answered(lab: Lab):
    addresses = deploy(lab, "dual", ipFamilyPolicy="RequireDualStack")
    (v6,) = [a for a in addresses if ":" in a]
    owner = announcer(lab, "dual")
    mac = lab.resolve(v6)
    assert lab.node_of_mac(mac) == owner
    assert lab.network is not None
    client = lab.network.hosts["client"].namespace
    # PROBE makes the client's kernel send unicast solicitations to the cached MAC (RFC 4861
    # §7.3.3); MetalLB does not answer those, so entries go FAILED on some networks.
    ip("-6", "neigh", "change", v6, "lladdr", str(mac), "dev", "eth0", "nud", "probe",
       namespace=client)  # fmt: skip
    deadline = time.monotonic() + 3
    while lab.network.neighbour("client", v6)[0] != "REACHABLE":
        assert time.monotonic() < deadline, lab.network.neighbour("client", v6)
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("sig", "within"),
    [
        pytest.param(signal.SIGTERM, 1.0, id="SIGTERM hands over at once"),
        pytest.param(signal.SIGKILL, 5.0, id="SIGKILL fails over when the Lease runs out"),
    ],
)
def test_stopping_the_winner_moves_the_clients_entry_to_the_next_node(
    lab: Lab, sig: int, within: float
):
    addresses = lab.kubectl("get", "svc", "web", "-n", "wire", "-o",
                            "jsonpath={.status.loadBalancer.ingress[0].ip}")  # fmt: skip
    row = next(r for r in lab.rows() if r.ip == addresses)
    old, new, seconds = lab.failover(row, sig)
    try:
        assert seconds is not None
        assert seconds < within
        assert new not in (old, "none")
    finally:
        lab.start_speaker(old)
        lab.wait_speaker(old)


def test_no_speaker_or_controller_died_along_the_way(lab: Lab):
    assert {name: p.poll() for name, p in lab.processes.items()} == dict.fromkeys(lab.processes)
