"""Why an address is not announced, end to end: the condition, the Event, silence on the wire.

Tier T3 (root). Three node namespaces and a client on one bridge (lab.demo.Lab): the real
controller, one real speaker per node, the real kubectl. One Service per reason of the
`metallb.io/Announced` condition (docs/lan.md, "Why an address is not announced"), each with a
pool and an L2Advertisement of its own so that the cases never meet; node-3 carries the
exclude-from-external-load-balancers label throughout. For each, the Service shows the
condition (False, the reason, a message naming the pool, advertisements and nodes), `kubectl
describe` shows a Warning Event with that reason, and the client's ARP requests for the
address get no answer. Then the way back (an advertisement for the unadvertised pool: True, and
the client reaches the node the message names), and a rolling restart of every speaker, after
which every condition says what it said, transition times included. AddressConflict is
tests/speaker/lan/test_lan_wire.py's. Documentation prefixes only; everything is deleted by
name afterwards.
"""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest

from lab.demo import Lab
from metalpool.names import EXCLUDE_FROM_LB_LABEL
from speaker.cluster.election import rank
from speaker.cluster.reasons import AnnouncedReason
from tests.support import onwire
from tests.support.cluster import eventually
from tests.support.netns import Child, unavailable_reason
from tests.support.objects import (
    endpoint,
    endpoint_slice_object,
    l2_advertisement_object,
    pool_object,
)
from tests.support.onwire import client_probe
from tests.support.sentinels import all_answers, node_sentinels

pytestmark = [
    pytest.mark.wire,
    pytest.mark.timeout(120),
    pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason())),
]
NODES = ("node-1", "node-2", "node-3")
EXCLUDED = "node-3"
ELIGIBLE = frozenset(NODES) - {EXCLUDED}
EXAMPLES = Path(__file__).resolve().parents[3] / "deploy" / "examples"
NS = "why"
LABEL = f"label {EXCLUDE_FROM_LB_LABEL}"


def winner(address: str) -> str:
    """The node MetalLB's election picks for `address` among the eligible ones."""
    return rank(ELIGIBLE, ip_address(address))[0]


def only(node: str) -> list[dict[str, Any]]:
    """nodeSelectors that select `node` alone."""
    return [{"matchLabels": {"kubernetes.io/hostname": node}}]


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """One Service, its pool (of one address) and advertisement, and what it should say."""

    address: str
    reason: str
    message: str  # the condition's, once the speakers agree on who is live
    # A message that names live nodes may name others in its one Event than in the settled
    # condition (the Event goes out when the speakers first agree, which may be before the
    # last one is live). `told`: a pattern the Warning matches ("": the message itself).
    told: str = ""
    advertisement: dict[str, Any] | None = field(default_factory=dict)  # None: none
    ready: tuple[str, ...] = NODES  # the nodes with a ready endpoint
    spec: dict[str, Any] = field(default_factory=dict)  # more of the Service's spec


LOCAL = {"externalTrafficPolicy": "Local"}
CASES = {
    "unadvertised": Case(
        address="192.0.2.100",
        advertisement=None,
        reason="NoAdvertisement",
        message='no L2Advertisement selects pool "unadvertised"',
    ),
    "nowhere": Case(
        address="192.0.2.101",
        advertisement={"nodeSelectors": only("node-9")},
        reason="NoNodeSelected",
        message='the nodeSelectors of L2Advertisement "nowhere" match no node',
    ),
    "idle": Case(
        address="192.0.2.102",
        ready=(),
        reason="NoEndpoints",
        message="the Service has no ready endpoint",
    ),
    "local": Case(  # the endpoint on a node the advertisement does not select
        address="192.0.2.103",
        advertisement={"nodeSelectors": only("node-1")},
        ready=("node-2",),
        spec=LOCAL,
        reason="NoLocalEndpoint",
        message="externalTrafficPolicy is Local and no node that may announce it (node-1) runs"
        " a ready endpoint; its ready endpoints run on node-2 (not selected by the"
        " advertisements)",
    ),
    "local-excluded": Case(  # the endpoint on an excluded node (docs/troubleshooting.md)
        address="192.0.2.104",
        ready=(EXCLUDED,),
        spec=LOCAL,
        reason="NoLocalEndpoint",
        message="externalTrafficPolicy is Local and no node that may announce it (node-1,"
        f" node-2) runs a ready endpoint; its ready endpoints run on {EXCLUDED} ({LABEL})",
        told=r"externalTrafficPolicy is Local and no node that may announce it"
        rf" \((node-1|node-2|node-1, node-2)\) runs a ready endpoint; its ready endpoints run"
        rf" on {EXCLUDED} \({re.escape(LABEL)}\)",
    ),
    "excluded": Case(  # every selected node excluded
        address="192.0.2.105",
        advertisement={"nodeSelectors": only(EXCLUDED)},
        reason="NoEligibleNode",
        message=f'no node selected by L2Advertisement "excluded" may announce it: {EXCLUDED}'
        f" ({LABEL})",
    ),
    "eth9": Case(
        address="192.0.2.106",
        advertisement={"interfaces": ["eth9"]},
        reason="InterfaceMissing",
        message=f'node "{winner("192.0.2.106")}" has none of the interfaces named for'
        ' 192.0.2.106 by L2Advertisement "eth9" (eth9)',
        told=r'node "(node-1|node-2)" has none of the interfaces named for 192\.0\.2\.106 by'
        r' L2Advertisement "eth9" \(eth9\)',
    ),
}
FIXED = "unadvertised"  # the way back: an advertisement for its pool
# Their condition does not depend on which speakers are live: a restart must not touch them.
STEADY = ("nowhere", "idle", "excluded")


def objects() -> list[dict[str, Any]]:
    """Per case: a pool, its advertisement, the Service and an EndpointSlice."""
    found = []
    for name, case in CASES.items():
        found.append(pool_object(name, f"{case.address}/32", autoAssign=False))
        if case.advertisement is not None:
            ad = l2_advertisement_object(name, ipAddressPools=[name], **case.advertisement)
            found.append(ad)
        found.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": name,
                    "namespace": NS,
                    "annotations": {"metallb.io/address-pool": name},
                },
                "spec": {
                    "type": "LoadBalancer",
                    "selector": {"app": name},
                    "ports": [{"port": 80, "protocol": "TCP"}],
                    **case.spec,
                },
            }
        )
        endpoints = [
            endpoint(node, ready=node in case.ready, address=f"10.244.7.{i + 1}")
            for i, node in enumerate(NODES)
        ]
        found.append(endpoint_slice_object(name, NS, *endpoints, name=f"{name}-why"))
    return found


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab(nodes=len(NODES), examples=EXAMPLES, say=lambda _: None) as running:
        running.install()
        running.kubectl("create", "namespace", NS)
        running.wire()
        running.kubectl("label", "node", EXCLUDED, f"{EXCLUDE_FROM_LB_LABEL}=")
        running.apply(objects())
        running.start_controller()
        for node in NODES:
            running.start_speaker(node)
        for node in NODES:
            running.wait_speaker(node)
        yield running


@pytest.fixture(scope="module")
def client(lab: Lab) -> Iterator[Child]:
    with client_probe(lab) as child:
        yield child


# Per eligible node, an address that node alone announces: its advertisement selects no other.
# The excluded node announces nothing, so no sentinel can speak for it.
SENTINELS = {"node-1": "192.0.2.110", "node-2": "192.0.2.111"}


@pytest.fixture(scope="module")
def sentinels(lab: Lab, client: Child) -> list[str]:
    assert set(SENTINELS) == ELIGIBLE
    return node_sentinels(lab, client, SENTINELS)


def announced(lab: Lab, name: str) -> dict[str, Any]:
    return onwire.announced(lab, NS, name)


def service_json(lab: Lab, name: str) -> dict[str, Any]:
    return onwire.service_json(lab, NS, name)


def said(condition: dict[str, Any]) -> tuple[str, str, str]:
    return condition.get("status", ""), condition.get("reason", ""), condition.get("message", "")


def conditions(lab: Lab) -> dict[str, dict[str, Any]]:
    return {name: announced(lab, name) for name in CASES}


def address_of(lab: Lab, name: str) -> str:
    return onwire.address_of(lab, NS, name)


def events(lab: Lab) -> list[dict[str, Any]]:
    return onwire.events(lab, NS)


def warnings(lab: Lab, name: str, reason: str) -> list[str]:
    """The messages of the Warning Events about Service `name` with `reason`, oldest first."""
    return [
        e["message"]
        for e in events(lab)
        if e["involvedObject"]["name"] == name
        and e["reason"] == reason
        and e.get("type") == "Warning"
    ]


def heard_ready(lab: Lab, node: str) -> int:
    """How often every other speaker has logged `node`'s turning ready (a candidate again)."""
    line = f"speaker on node {node} is ready"
    logs = [lab.workdir / f"speaker-{peer}.log" for peer in NODES if peer != node]
    return min(log.read_text().count(line) for log in logs)


def restart(lab: Lab, node: str, *, away: Callable[[], bool] | None = None) -> None:
    """Restart `node`'s speaker; return once every peer counts it as a candidate again.

    With `away`, the speaker is started again only once `away()` holds: a speaker back within
    the peers' settle time (CONDITIONS_SETTLE) rightly leaves no trace of its absence.
    """
    heard = heard_ready(lab, node)
    lab.stop_speaker(node)
    if away is not None:
        eventually(away, timeout=15)
    lab.start_speaker(node)
    eventually(lambda: heard_ready(lab, node) > heard, timeout=15)


def test_the_reasons_tested_are_every_reason_but_announced_probing_and_conflict():
    tested = {case.reason for case in CASES.values()}
    left = {AnnouncedReason.ANNOUNCED, AnnouncedReason.PROBING, AnnouncedReason.ADDRESS_CONFLICT}
    assert tested == {r.value for r in AnnouncedReason} - left


def test_every_service_holds_the_address_of_its_pool(lab: Lab):
    for name, case in CASES.items():
        assert eventually(partial(address_of, lab, name), timeout=20) == case.address


@pytest.mark.parametrize("name", list(CASES))
def test_the_condition_says_why_it_is_not_announced(lab: Lab, name: str):
    case = CASES[name]
    wanted = ("False", case.reason, case.message)
    try:
        eventually(lambda: said(announced(lab, name)) == wanted, timeout=15)
    except AssertionError:
        assert said(announced(lab, name)) == wanted  # shows what it says instead
    assert announced(lab, name)["lastTransitionTime"]


@pytest.mark.parametrize("name", list(CASES))
def test_kubectl_describe_shows_a_warning_event_with_the_reason(lab: Lab, name: str):
    case = CASES[name]
    told = eventually(lambda: warnings(lab, name, case.reason), timeout=10)
    message = case.told or re.escape(case.message)
    assert all(re.fullmatch(message, m) for m in told), told
    # One Event for the change, not one per pass, nor one per speaker while the speakers'
    # views of who is live differ (they write only once it has settled for a second).
    assert len(told) == 1, told
    described = lab.kubectl("describe", "svc", name, "-n", NS)
    # Events:  Type  Reason  Age  From  Message, one line each
    assert re.search(rf"Warning\s+{case.reason}\s+\S+\s+metallb-speaker\s+{message}", described)


def test_the_client_gets_no_arp_answer_for_any_of_their_addresses(
    client: Child, sentinels: list[str]
):
    for name, case in CASES.items():
        assert all_answers(client, case.address, sentinels) == [], name


def test_an_advertisement_for_the_pool_gets_it_announced_by_the_node_the_message_names(
    lab: Lab, client: Child, sentinels: list[str]
):
    address = CASES[FIXED].address
    node = winner(address)
    lab.apply([l2_advertisement_object("late", ipAddressPools=[FIXED])])
    wanted = ("True", "Announced", f'node "{node}" announces {address}')
    try:
        eventually(lambda: said(announced(lab, FIXED)) == wanted, timeout=15)
    except AssertionError:
        assert said(announced(lab, FIXED)) == wanted
    assert lab.node_of_mac(lab.resolve(address)) == node
    assert lab.network is not None
    answers = all_answers(client, address, sentinels)
    assert {r["hwsrc"] for r in answers} == {lab.network.hosts[node].mac}  # and nobody else


def test_a_rolling_restart_of_every_speaker_leaves_every_condition_as_it_was(lab: Lab):
    """Each new speaker finds the Services showing what it would write, and writes nothing.

    While node-1 is away (kept away until it shows), `local` (only node-1 may announce it) says
    no live speaker, and `unadvertised` (node-1 won it) moves to node-2; both come back with
    node-1, transition times kept. Conditions that do not depend on who is live are not written
    at all, and get no Event. Each restart waits until the peers count the new speaker as a
    candidate.
    """
    before = conditions(lab)
    versions = {name: service_json(lab, name)["metadata"]["resourceVersion"] for name in STEADY}
    seen = len(events(lab))
    gone = 'no node selected by L2Advertisement "local" may announce it: node-1 (no live speaker)'
    local_gone = ("False", "NoEligibleNode", gone)
    for node in NODES:
        shown = (lambda: said(announced(lab, "local")) == local_gone) if node == "node-1" else None
        restart(lab, node, away=shown)
    try:
        eventually(lambda: conditions(lab) == before, timeout=10)
    except AssertionError:
        assert conditions(lab) == before  # shows the difference
    assert {n: service_json(lab, n)["metadata"]["resourceVersion"] for n in STEADY} == versions
    new = [
        (e["involvedObject"]["name"], e["type"], e["reason"], e["message"])
        for e in events(lab)[seen:]
    ]
    assert [event for event in new if event[0] in STEADY] == []
    # moved to node-2 and back (announcerMoved, nodeAssigned), never probed again nor False
    assert [e for e in new if e[0] == FIXED and (e[1] == "Warning" or e[2] == "Probing")] == []
    assert ("local", "Warning", "NoEligibleNode", gone) in new


def test_no_speaker_or_controller_died_along_the_way(lab: Lab):
    assert {name: p.poll() for name, p in lab.processes.items()} == dict.fromkeys(lab.processes)
