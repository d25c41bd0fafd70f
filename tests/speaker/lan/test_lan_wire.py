"""Knowing the LAN, end to end: the real controller and speakers, a rogue host, the client's view.

Tier T3 (root). Two node namespaces, a client and a *rogue* on one bridge (lab.demo.Lab); the
rogue is a namespace whose own kernel holds addresses inside a pool, as a router or a laptop
with a stale DHCP lease would. Who answers is judged from the client's side of the wire: tagged
ARP requests from the client, and every reply counted by sender MAC. Documentation prefixes
only; everything is deleted by name afterwards.
"""

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.demo import Lab
from lab.network import ip
from tests.support import onwire
from tests.support.cluster import eventually
from tests.support.netns import Child, python_in, unavailable_reason
from tests.support.objects import (
    endpoint,
    endpoint_slice_object,
    l2_advertisement_object,
    pool_object,
)
from tests.support.onwire import client_probe
from tests.support.sentinels import all_answers, node_sentinels, reconciled

pytestmark = [
    pytest.mark.wire,
    pytest.mark.timeout(120),
    pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason())),
]
NODES = ("node-1", "node-2")
EXAMPLES = Path(__file__).resolve().parents[3] / "deploy" / "examples"
NS = "lan"
HELD = "192.0.2.60"  # the rogue's kernel holds it: first in the auto pool
ASKED = "192.0.2.70"  # the rogue's kernel holds it: a Service asks for it
CLAIMED = "192.0.2.80"  # announced first; then the rogue starts using it
HELD6 = "2001:db8:0:1::4a0"  # the rogue's kernel holds it too: DAD finds it
FLAGS = ("--reprobe-interval", "2", "--recheck-interval", "3600")


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab(nodes=len(NODES), examples=EXAMPLES, say=lambda _: None) as running:
        running.install()
        running.kubectl("create", "namespace", NS)
        running.wire()
        assert running.network is not None
        running.network.add_host("rogue", f"{HELD}/24", f"{ASKED}/24", f"{HELD6}/64")
        running.apply(
            [
                pool_object("auto", "192.0.2.60-192.0.2.62", autoAssign=False),
                pool_object("asked", "192.0.2.70-192.0.2.71", autoAssign=False),
                pool_object("later", "192.0.2.80-192.0.2.81", autoAssign=False),
                pool_object("six", f"{HELD6}/126", autoAssign=False),
                l2_advertisement_object("all", ipAddressPools=["auto", "asked", "later", "six"]),
            ]
        )
        running.start_controller()
        for node in NODES:
            running.start_speaker(node, *FLAGS)
        for node in NODES:
            running.wait_speaker(node)
        yield running


@pytest.fixture(scope="module")
def client(lab: Lab) -> Iterator[Child]:
    with client_probe(lab) as child:
        yield child


@pytest.fixture(scope="module")
def sentinels(lab: Lab, client: Child) -> list[str]:
    """An address per node that this node alone announces (see `speakers_answering`)."""
    return node_sentinels(lab, client, {"node-1": "192.0.2.110", "node-2": "192.0.2.111"})


def deploy(
    lab: Lab,
    name: str,
    pool: str,
    spec: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
) -> str:
    """A Service with a ready endpoint on every node, in `pool`; its first address."""
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": NS,
            "annotations": {"metallb.io/address-pool": pool, **(annotations or {})},
        },
        "spec": {"type": "LoadBalancer", "selector": {"app": name},
                 "ports": [{"port": 80, "protocol": "TCP"}], **(spec or {})},
    }  # fmt: skip
    slices = endpoint_slice_object(
        name, NS, *(endpoint(n, address=f"10.244.8.{i + 1}") for i, n in enumerate(NODES))
    )
    lab.apply([service, slices])
    return eventually(lambda: address_of(lab, name), timeout=20)


def address_of(lab: Lab, name: str) -> str:
    return onwire.address_of(lab, NS, name)


def service_json(lab: Lab, name: str) -> dict[str, Any]:
    return onwire.service_json(lab, NS, name)


def announced(lab: Lab, name: str) -> dict[str, Any]:
    return onwire.announced(lab, NS, name)


def events(lab: Lab, name: str, reason: str) -> list[str]:
    """The messages of the Events about Service `name` with `reason`, oldest first."""
    return [
        e["message"]
        for e in onwire.events(lab, NS)
        if e["involvedObject"]["name"] == name and e["reason"] == reason
    ]


def answerers(client: Child, address: str) -> set[str]:
    return onwire.answerers(client, address, samples=5, wait=0.2)


def speakers_answering(lab: Lab, client: Child, sentinels: list[str], address: str) -> set[str]:
    """The speakers that answer the client's ARP request for `address`, every one of them.

    Judged from a capture that ends once each node has answered its sentinel, asked after
    `address` (tests.support.sentinels.all_answers): a speaker missing from it is silent.
    """
    heard = {str(r["hwsrc"]) for r in all_answers(client, address, sentinels)}
    return heard & speaker_macs(lab)


def rogue_mac(lab: Lab) -> str:
    assert lab.network is not None
    return lab.network.hosts["rogue"].mac


def speaker_macs(lab: Lab) -> set[str]:
    assert lab.network is not None
    return {lab.network.hosts[node].mac for node in NODES}


def test_an_address_another_device_holds_is_quarantined_and_the_service_gets_the_next(
    lab: Lab, client: Child, sentinels: list[str]
):
    first = deploy(lab, "web", "auto")
    assert first in (HELD, "192.0.2.61")  # the controller may already have moved it
    moved = eventually(lambda: address_of(lab, "web") == "192.0.2.61", timeout=20)
    assert moved
    condition = eventually(lambda: announced(lab, "web").get("status") == "True", timeout=15)
    assert condition
    pool = json.loads(lab.kubectl("get", "ipaddresspool", "auto", "-n", "metallb-system",
                                  "-o", "json"))  # fmt: skip
    quarantine = json.loads(pool["metadata"]["annotations"]["metalpool.io/quarantine"])
    assert quarantine[HELD]["mac"] == rogue_mac(lab)
    assert quarantine[HELD]["interface"] == "eth0"
    assert pool["status"]["quarantinedIPs"] == [HELD]
    (conflict, *_) = events(lab, "web", "AddressConflict")
    assert HELD in conflict
    assert rogue_mac(lab) in conflict
    assert "eth0" in conflict
    assert events(lab, "web", "AddressQuarantined")
    # On the wire: the held address is the rogue's alone; the new one a speaker's alone.
    assert answerers(client, HELD) == {rogue_mac(lab)}
    assert speakers_answering(lab, client, sentinels, HELD) == set()
    assert len(speakers_answering(lab, client, sentinels, "192.0.2.61")) == 1
    assert "metalpool.io/address-conflict" not in service_json(lab, "web")["metadata"].get(
        "annotations", {}
    )


def test_a_requested_address_in_conflict_is_reported_and_never_moved(
    lab: Lab, client: Child, sentinels: list[str]
):
    address = deploy(lab, "asked", "asked", annotations={"metallb.io/loadBalancerIPs": ASKED})
    assert address == ASKED
    condition = eventually(
        lambda: announced(lab, "asked").get("reason") == "AddressConflict", timeout=15
    )
    assert condition
    message = announced(lab, "asked")["message"]
    assert ASKED in message
    assert rogue_mac(lab) in message
    assert events(lab, "asked", "AddressConflict")
    assert "metalpool.io/address-conflict" in service_json(lab, "asked")["metadata"]["annotations"]
    # The sentinel: a reconcile of "asked" that saw the conflict, and its writes, are done. A
    # quarantine would have been written before that status, and a move needs a quarantine.
    reconciled(lab, "asked", NS)
    assert address_of(lab, "asked") == ASKED
    assert answerers(client, ASKED) == {rogue_mac(lab)}
    assert speakers_answering(lab, client, sentinels, ASKED) == set()
    pool = json.loads(lab.kubectl("get", "ipaddresspool", "asked", "-n", "metallb-system",
                                  "-o", "json"))  # fmt: skip
    assert "metalpool.io/quarantine" not in pool["metadata"].get("annotations", {})


def test_an_ipv6_address_another_device_holds_is_found_by_duplicate_address_detection(
    lab: Lab, client: Child
):
    """The rogue's kernel answers our DAD probe (an NS from ::) with an NA to all-nodes."""
    six = {"ipFamilies": ["IPv6"], "ipFamilyPolicy": "SingleStack"}
    address = deploy(lab, "six", "six", six, {"metallb.io/loadBalancerIPs": HELD6})
    assert address == HELD6
    said = eventually(lambda: announced(lab, "six").get("reason") == "AddressConflict", timeout=15)
    assert said
    assert rogue_mac(lab) in announced(lab, "six")["message"]
    answers = client.ask({"ns": HELD6, "wait": 0.5, "to_mac": None})["replies"]
    assert {str(a["tlla"]) for a in answers} == {rogue_mac(lab)}


def test_a_conflict_while_announcing_is_defended_once_per_ten_seconds_and_reported(
    lab: Lab, client: Child, sentinels: list[str]
):
    address = deploy(lab, "later", "later")
    assert address == CLAIMED
    owner_mac = eventually(lambda: answerers(client, CLAIMED) & speaker_macs(lab), timeout=10)
    (owner,) = owner_mac
    time.sleep(5.0)  # the takeover burst (0 … 4.4 s) is over: what follows is defence
    assert lab.network is not None
    rogue = Child(python_in(lab.network.hosts["rogue"].namespace, "tests.speaker.wire_probe",
                            "--ip4", CLAIMED, "--ip6", "2001:db8:0:1::77"))  # fmt: skip
    try:
        rogue.wait_ready()
        assert client.ask({"sniff": 5.0}) == {"armed": True}  # the frames come at the end
        for _ in range(8):  # the rogue uses the address: ARP requests with it as sender
            rogue.ask({"arp": "192.0.2.200", "wait": 0.05})
            time.sleep(0.4)
        frames = client.read(10.0)["frames"]
    finally:
        rogue.stop()
    defences = [
        f for f in frames
        if f.get("hwsrc") == owner and f.get("psrc") == CLAIMED and f.get("pdst") == CLAIMED
    ]  # fmt: skip
    rounds = {round(f["t"], 1) for f in defences}
    assert len(rounds) == 1, defences  # one defending round for eight claims
    reports = eventually(lambda: events(lab, "later", "AddressConflict"), timeout=5)
    assert len(reports) == 1  # one Event a minute per address and MAC, however many claims
    assert CLAIMED in reports[0]
    assert rogue_mac(lab) in reports[0]
    assert speakers_answering(lab, client, sentinels, CLAIMED) == {owner}  # still, and alone


def test_a_conflict_that_goes_away_is_announced_after_a_re_probe(lab: Lab, client: Child):
    assert lab.network is not None
    rogue = lab.network.hosts["rogue"]
    ip("addr", "del", f"{ASKED}/24", "dev", "eth0", namespace=rogue.namespace)
    try:
        cleared = eventually(lambda: announced(lab, "asked").get("status") == "True", timeout=15)
        assert cleared
        assert answerers(client, ASKED) & speaker_macs(lab)
        assert rogue.mac not in answerers(client, ASKED)
    finally:
        ip("addr", "add", f"{ASKED}/24", "dev", "eth0", namespace=rogue.namespace)


def test_two_speakers_answering_one_address_report_a_split_brain(lab: Lab, client: Child):
    """The other node stops hearing multicast (its bridge port floods none: `mcast_flood off`):
    it hears no heartbeat, judges its peers dead and answers everything, `web` included, while
    the owner of `web` still hears it."""
    assert lab.network is not None
    (owner_mac,) = answerers(client, address_of(lab, "web")) & speaker_macs(lab)
    owner = lab.node_of_mac(owner_mac)
    (deaf,) = set(NODES) - {owner}
    lab.network.set_multicast(deaf, flood=False)
    try:
        reports = eventually(lambda: events(lab, "web", "SplitBrain"), timeout=15)
        assert any(f'node "{deaf}"' in r for r in reports)
    finally:
        lab.network.set_multicast(deaf, flood=True)


def test_no_speaker_or_controller_died_along_the_way(lab: Lab):
    assert {name: p.poll() for name, p in lab.processes.items()} == dict.fromkeys(lab.processes)
