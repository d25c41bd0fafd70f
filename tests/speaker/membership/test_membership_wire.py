"""Liveness on the wire, judged from the client: the API server stalls, speakers die and freeze,
links fail, everyone restarts — and every address keeps at most one answerer.

Tier T3 (root): the lab (lab.demo.Lab) with three node namespaces and a client namespace on one
bridge, the real controller and one real speaker per node, against the emulated API server run
as its own process (so it can be frozen with SIGSTOP). The client asks, with one broadcast ARP
request per address every 0.5 s (`lab.answerers sample`), who answers; or every 10 ms for one
address (`dense`) to measure overlaps and gaps. Documentation prefixes only.
"""

import base64
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest

from lab.demo import Lab
from lab.observers import Observer, moves, summarise
from speaker.membership.messages import (
    Handoff,
    Heartbeat,
    Rejection,
    build_frame,
    decode,
    encode_handoffs,
    encode_heartbeat,
)
from tests.support.cluster import eventually
from tests.support.netns import Child, in_namespace, python_in, run, unavailable_reason
from tests.support.objects import (
    endpoint,
    endpoint_slice_object,
    l2_advertisement_object,
    pool_object,
)
from tests.support.onwire import client_probe
from tests.support.sentinels import node_sentinels

pytestmark = [
    pytest.mark.wire,
    pytest.mark.timeout(300),
    pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason())),
]
NODES = ("node-1", "node-2", "node-3")
SERVICES = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot")
EXAMPLES = Path(__file__).resolve().parents[3] / "deploy" / "examples"
CLIENT_IP = "192.0.2.200"
OUTAGE = 60.0  # issue 8, property 1: "frozen (SIGSTOP) or stopped for 60 s"
METRICS = ("--metrics-port", "7473")  # each speaker in its own namespace: no clash


def service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "chaos",
                     "annotations": {"metallb.io/address-pool": "chaos"}},
        "spec": {"type": "LoadBalancer", "selector": {"app": name},
                 "ports": [{"port": 80, "protocol": "TCP"}]},
    }  # fmt: skip


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab(nodes=len(NODES), examples=EXAMPLES, say=lambda _: None) as running:
        running.install()
        running.kubectl("create", "namespace", "chaos")
        running.wire()
        objects = [
            pool_object("chaos", "192.0.2.60-192.0.2.69", autoAssign=False),
            l2_advertisement_object("chaos", ipAddressPools=["chaos"]),
        ]
        for i, name in enumerate(SERVICES):
            objects.append(service(name))
            objects.append(
                endpoint_slice_object(
                    name, "chaos",
                    *(endpoint(n, address=f"10.244.8.{3 * i + j + 1}") for j, n in
                      enumerate(NODES)),
                    name=f"{name}-chaos",
                )
            )  # fmt: skip
        running.apply(objects)
        running.start_controller()
        for node in NODES:
            running.start_speaker(node, *METRICS)
        for node in NODES:
            running.wait_speaker(node)
        yield running
        keep = os.environ.get("METALPOOL_KEEP_LOGS")
        if keep:  # for a person debugging: the processes' logs outlive the lab
            shutil.copytree(running.workdir, keep, dirs_exist_ok=True)


def has_event(lab: Lab, reason: str, namespace: str, name: str | None = None) -> bool:
    """Whether an Event with `reason` (about `name`, if given) shows up in `namespace`."""
    selector = f"reason={reason}" + (f",involvedObject.name={name}" if name else "")
    deadline = time.monotonic() + 10  # written in the background, behind the announcing loop
    while time.monotonic() < deadline:
        found = lab.kubectl("get", "events", "-n", namespace, "--field-selector", selector,
                            "-o", "name")  # fmt: skip
        if found.strip():
            return True
        time.sleep(0.2)
    return False


def addresses(lab: Lab) -> list[str]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        query = "jsonpath={.items[*].status.loadBalancer.ingress[*].ip}"
        found = lab.kubectl("get", "svc", "-n", "chaos", "-o", query).split()
        if len(found) == len(SERVICES):
            return sorted(found)
        time.sleep(0.2)
    raise AssertionError(f"addresses missing: {found}")


def client(lab: Lab) -> str:
    assert lab.network is not None
    return lab.network.hosts["client"].namespace


def settled(lab: Lab, ips: list[str], timeout: float = 20.0) -> dict[str, str]:
    """Wait until every address has exactly one answerer, the same for 2 s; IP → MAC."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        observer = Observer(client(lab), CLIENT_IP, ips, every=0.25, duration=2.0)
        time.sleep(2.2)
        lines = observer.stop()
        summary = summarise(lines)
        if all(s.samples >= 6 and s.split == 0 and s.silent == 0 and len(s.answerers) == 1
               for s in summary.values()):  # fmt: skip
            return {ip: s.answerers[0] for ip, s in summary.items()}
    raise AssertionError(f"not settled: {lines}")


def speakers_alive(lab: Lab) -> dict[str, int | None]:
    return {node: lab.processes[f"speaker {node}"].poll() for node in NODES}


def node_of(lab: Lab, mac: str) -> str:
    return lab.node_of_mac(mac)


def owned_by(lab: Lab, owners: dict[str, str]) -> dict[str, list[str]]:
    by_node: dict[str, list[str]] = {}
    for ip, mac in owners.items():
        by_node.setdefault(node_of(lab, mac), []).append(ip)
    return by_node


def assert_steady(lines: list[dict[str, Any]], owners: dict[str, str]) -> None:
    """Every sample: exactly one answerer per address, always the one it had before."""
    assert lines, "no samples"
    for line in lines:
        for ip, macs in line["answers"].items():
            assert macs == [owners[ip]], f"at {line['t']} s {ip} answered by {macs}"


@pytest.mark.parametrize(
    ("stop", "start", "sentinels"),
    [
        pytest.param("freeze_api", "thaw_api", ("192.0.2.110", "192.0.2.111", "192.0.2.112"),
                     id="API server frozen (SIGSTOP) for 60 s"),
        pytest.param("stop_api", "start_api", ("192.0.2.113", "192.0.2.114", "192.0.2.115"),
                     id="API server down for 60 s"),
    ],
)  # fmt: skip
def test_an_api_server_stall_changes_nothing_on_the_wire(
    lab: Lab, stop: str, start: str, sentinels: tuple[str, ...]
):
    ips = addresses(lab)
    owners = settled(lab, ips)
    assert len(set(owners.values())) > 1, "the addresses should be spread over nodes"
    pids = {node: lab.speaker_pid(node) for node in NODES}
    observer = Observer(client(lab), CLIENT_IP, ips, every=0.5, duration=OUTAGE + 30)
    getattr(lab, stop)()
    try:
        time.sleep(OUTAGE)  # the duration is the property: fail-static for 60 s
    finally:
        getattr(lab, start)()
    # The API is back: each speaker must announce an address made now, so its watches have
    # resumed (their resync comes first) and it has announced past that point. Nothing moved.
    # Assigned by the test: the controller has stopped, its Lease lost in the stall, and the
    # lab does not restart it (a Deployment would); the speakers' property is under test.
    with client_probe(lab) as probe:
        after = dict(zip(NODES, sentinels, strict=True))
        node_sentinels(lab, probe, after, tag=f"after-{stop.replace('_', '-')}", assign=True)
    lines = observer.stop()
    assert len(lines) >= OUTAGE / 0.5 * 0.9
    assert_steady(lines, owners)
    assert settled(lab, ips) == owners
    assert {node: lab.speaker_pid(node) for node in NODES} == pids
    assert speakers_alive(lab) == dict.fromkeys(NODES)


@pytest.mark.parametrize(
    "sig",
    [
        pytest.param(signal.SIGKILL, id="killed"),
        pytest.param(signal.SIGSTOP, id="frozen"),
    ],
)
def test_a_dead_or_frozen_owner_loses_its_addresses_within_half_a_second(lab: Lab, sig: int):
    ips = addresses(lab)
    owners = settled(lab, ips)
    victim = node_of(lab, owners[ips[0]])
    theirs = owned_by(lab, owners)[victim]
    probe = Observer(client(lab), CLIENT_IP, [theirs[0]], mode="dense", every=0.01,
                     duration=30)  # fmt: skip
    sampler = Observer(client(lab), CLIENT_IP, ips, every=0.5, duration=30)
    time.sleep(1.0)
    lab.signal_speaker(victim, sig)
    time.sleep(3.0)
    try:
        after = settled(lab, ips)
        for ip in theirs:
            assert node_of(lab, after[ip]) != victim
    finally:
        if sig == signal.SIGSTOP:
            lab.signal_speaker(victim, signal.SIGCONT)
            time.sleep(3.0)  # it comes back, listens, and takes its addresses back by hand-off
        else:
            lab.processes.pop(f"speaker {victim}").wait(5)
            lab.start_speaker(victim, *METRICS)
            lab.wait_speaker(victim)
            time.sleep(3.0)
    dense_lines = probe.stop()
    sampled = sampler.stop()
    (failover, *back) = moves(dense_lines, period=0.01)
    assert failover.old == owners[theirs[0]]
    if sig == signal.SIGKILL:  # the survivors say so on the Node and on the Service
        assert has_event(lab, "speakerDead", "default", victim)
        assert has_event(lab, "announcerMoved", "chaos")
    # The silence between the old owner's last reply and the new one's first: detection plus
    # takeover. The p95 goal (0.5 s) is the benchmark's; one trial here gets some slack.
    assert failover.gap <= 1.0, failover
    assert failover.overlap == 0, failover
    for move in back:
        assert move.overlap <= 0.05, move
        assert move.gap <= 0.1, move
    split = [line for line in sampled if any(len(m) > 1 for m in line["answers"].values())]
    assert not split, split


def test_a_node_whose_link_fails_loses_its_addresses_and_gets_them_back_cleanly(lab: Lab):
    ips = addresses(lab)
    owners = settled(lab, ips)
    victim = node_of(lab, owners[ips[0]])
    theirs = owned_by(lab, owners)[victim]
    sampler = Observer(client(lab), CLIENT_IP, ips, every=0.1, window=0.08, duration=40)
    time.sleep(1.0)
    lab.link(victim, up=False)
    time.sleep(5.0)
    cut = list(sampler.lines)
    lab.link(victim, up=True)
    time.sleep(6.0)
    lines = sampler.stop()
    summary = summarise(lines)
    assert all(s.split == 0 for s in summary.values()), summary
    # Moved within 1 s: at most 10 samples at 0.1 s without an answer or with the old one.
    # A sample in which no address at all was answered says the client missed its 80 ms window
    # (the host was busy), not that an address failed to move: the others never moved. One
    # such sample was seen once in CI; judging the move needs a sample the client heard.
    down_at = cut[0]["t"] + 1.0
    heard = [line for line in cut if any(line["answers"].values())]
    assert len(heard) >= len(cut) - 2, "the client missed more than two samples"
    for ip in theirs:
        late = [line for line in heard if line["t"] >= down_at + 1.0 and
                line["answers"][ip] in ([], [owners[ip]])]  # fmt: skip
        assert not late, (ip, late[:3])
    assert has_event(lab, "speakerIsolated", "default", victim)  # its API path still works
    # Back: no flapping — each address changed owner at most twice (away and back).
    assert all(s.changes <= 2 for s in summary.values()), summary
    assert settled(lab, ips) == owners


def test_a_rolling_restart_moves_each_address_with_one_answerer_at_a_time(lab: Lab):
    ips = addresses(lab)
    owners = settled(lab, ips)
    watched = ips[0]
    probe = Observer(client(lab), CLIENT_IP, [watched], mode="dense", every=0.01, duration=120)
    sampler = Observer(client(lab), CLIENT_IP, ips, every=0.1, window=0.08, duration=120)
    for node in NODES:
        lab.restart_speaker(node)
        lab.wait_speaker(node)
        time.sleep(2.5)
    time.sleep(1.0)
    dense_lines, sampled = probe.stop(), sampler.stop()
    assert all(s.split == 0 for s in summarise(sampled).values()), summarise(sampled)
    changes = moves(dense_lines, period=0.01)
    assert changes, "the watched address never moved"
    for move in changes:
        assert move.overlap <= 0.05, move
        assert move.gap <= 0.1, move
    assert settled(lab, ips) == owners


def test_speakers_starting_together_never_both_answer(lab: Lab):
    ips = addresses(lab)
    owners = settled(lab, ips)
    for attempt in range(3):  # bench.failover repeats it 10 times
        sampler = Observer(client(lab), CLIENT_IP, ips, every=0.05, window=0.04, duration=30)
        for node in NODES:
            lab.signal_speaker(node, signal.SIGKILL)
        for node in NODES:
            lab.processes.pop(f"speaker {node}").wait(5)
        time.sleep(1.0)  # every peer is dead to nobody: a fresh cluster
        for node in NODES:
            lab.start_speaker(node, *METRICS)
        after = settled(lab, ips, timeout=60.0)  # three interpreters start on two cores
        lines = sampler.stop()
        split = [line for line in lines if any(len(m) > 1 for m in line["answers"].values())]
        assert not split, (attempt, split)
        assert after == owners


def test_a_skewed_wall_clock_changes_nothing(lab: Lab):
    found = sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))
    if not found:
        pytest.skip("libfaketime is not installed (bin/system-packages installs it)")
    faketime = found[0]
    ips = addresses(lab)
    owners = settled(lab, ips)
    skewed = node_of(lab, owners[ips[0]])
    sampler = Observer(client(lab), CLIENT_IP, ips, every=0.25, duration=60)
    environ = {"LD_PRELOAD": str(faketime), "FAKETIME": "+1h",
               "FAKETIME_DONT_FAKE_MONOTONIC": "1"}  # fmt: skip
    old = dict(os.environ)
    os.environ.update(environ)
    peers = [node for node in NODES if node != skewed]
    heard = {peer: heard_ready(lab, peer, skewed) for peer in peers}
    try:
        lab.restart_speaker(skewed)
    finally:
        os.environ.clear()
        os.environ.update(old)
    try:
        lab.wait_speaker(skewed)
        # The sentinels: it wrote its Lease with its own clock, an hour ahead of ours (so the
        # skew is really there), and both peers say it is ready again: they have judged it.
        eventually(lambda: lease_ahead(lab, skewed) > timedelta(minutes=30), timeout=15)
        eventually(lambda: all(heard_ready(lab, p, skewed) > heard[p] for p in peers), timeout=15)
        assert settled(lab, ips) == owners
    finally:
        lines = sampler.stop()
        lab.restart_speaker(skewed)  # its own clock again
        lab.wait_speaker(skewed)
    assert all(s.split == 0 for s in summarise(lines).values())


def metrics(lab: Lab, node: str) -> dict[str, float]:
    """The speaker's /metrics as {series: value} (read from inside its namespace)."""
    assert lab.network is not None
    code = (
        "import urllib.request as u;"
        "print(u.urlopen('http://127.0.0.1:7473/metrics').read().decode())"
    )
    page = run(python_in_namespace(lab.network.hosts[node].namespace, code))
    values = {}
    for line in page.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            values[series] = float(value)
    return values


def python_in_namespace(namespace: str, code: str) -> list[str]:
    return in_namespace(namespace, sys.executable, "-c", code)


def peers_ready(lab: Lab, node: str, mode: str) -> float:
    """How many peers `node`'s speaker counts ready, judged in `mode` ("wire" or "lease")."""
    return metrics(lab, node).get(f'metalpool_speaker_peers{{state="ready",mode="{mode}"}}', 0.0)


def rejected(lab: Lab, node: str, reason: str) -> float:
    return metrics(lab, node)[f'metalpool_speaker_membership_rejected_total{{reason="{reason}"}}']


def test_forged_replayed_truncated_and_stale_messages_are_ignored_and_counted(lab: Lab):
    ips = addresses(lab)
    owners = settled(lab, ips)
    assert lab.network is not None
    probe = Child(python_in(client(lab), "tests.speaker.wire_probe", "--iface", "eth0",
                            "--ip4", CLIENT_IP, "--ip6", "2001:db8:0:1::200"))  # fmt: skip
    probe.wait_ready()
    sampler = Observer(client(lab), CLIENT_IP, ips, every=0.25, duration=60)
    try:
        captured = [bytes.fromhex(f) for f in probe.ask({"membership": 0.5})["frames"]]
        key = _secret_key(lab)
        by_node: dict[str, list[tuple[Heartbeat, bytes]]] = {}
        for frame in captured:
            decoded = decode(frame, [key])
            assert not isinstance(decoded, Rejection), decoded  # the speakers sign with it
            message, _ = decoded
            if isinstance(message, Heartbeat):
                by_node.setdefault(message.node, []).append((message, frame))
        assert set(by_node) == set(NODES)
        victim = node_of(lab, owners[ips[0]])
        other = next(n for n in NODES if n != victim)
        watcher = next(n for n in NODES if n not in (victim, other))
        before = {
            r: rejected(lab, watcher, r) for r in ("forged", "replayed", "truncated", "stale")
        }
        heartbeat, frame = by_node[victim][0]
        # Replayed: a real heartbeat of the owner, sent again.
        probe.ask({"send": frame.hex()})
        # Truncated: the same frame cut inside its header.
        probe.ask({"send": frame[:30].hex()})
        # Forged: the owner "leaves" and "hands its address over" — signed with the wrong key.
        wrong = b"not the cluster's key, not even close"
        leaving = replace(heartbeat, sequence=heartbeat.sequence + 10**6, leaving=True)
        handoff = Handoff(node=victim, incarnation=heartbeat.incarnation,
                          sequence=heartbeat.sequence + 10**6 + 1, to=other,
                          ips=(ip_address(ips[0]),))  # fmt: skip
        for payload in (encode_heartbeat(leaving, wrong), *encode_handoffs(handoff, wrong)):
            probe.ask({"send": build_frame(bytes.fromhex("02005e000099"), payload).hex()})
        # Stale: the other node restarts (a new incarnation); its old heartbeat comes back.
        old = by_node[other][-1][1]
        heard = heard_ready(lab, watcher, other)
        lab.restart_speaker(other)
        lab.wait_speaker(other)
        # The sentinel for "stale": the watcher says it has heard the new incarnation.
        eventually(lambda: heard_ready(lab, watcher, other) > heard, timeout=15)
        probe.ask({"send": old.hex()})

        def counted() -> dict[str, float]:
            return {r: rejected(lab, watcher, r) - before[r] for r in before}

        # Every kind counted: the watcher has handled each message, so nothing they might have
        # moved is still to come when the owners are judged.
        eventually(lambda: all(n >= 1 for n in counted().values()), every=0.5)
        assert settled(lab, ips) == owners
    finally:
        lines = sampler.stop()
        probe.stop()
    summary = summarise(lines)
    assert all(s.split == 0 for s in summary.values()), summary


def test_a_peer_never_heard_on_the_lan_is_judged_by_its_lease_and_nothing_splits(lab: Lab):
    """Property 7: node-3 signs with another key, so nobody hears it and it hears nobody."""
    ips = addresses(lab)
    owners = settled(lab, ips)
    lab.kubectl("create", "secret", "generic", "memberlist-elsewhere", "-n", "metallb-system",
                "--from-literal=secretkey=another-cluster-entirely-0123456789")  # fmt: skip
    sampler = Observer(client(lab), CLIENT_IP, ips, every=0.25, duration=120)
    try:
        lab.restart_speaker("node-3", *METRICS, "--memberlist-secret", "memberlist-elsewhere")
        lab.wait_speaker("node-3")
        # The sentinels: node-3 counts both peers ready by their Leases, and node-1 counts
        # node-3 so: each side has judged the other before the election is.
        eventually(lambda: peers_ready(lab, "node-3", "lease") == 2, every=0.5, timeout=20)
        eventually(lambda: peers_ready(lab, "node-1", "lease") == 1, every=0.5, timeout=20)
        assert settled(lab, ips) == owners  # the same election: every node is still a candidate
        seen_by_3 = metrics(lab, "node-3")
        assert seen_by_3['metalpool_speaker_peers{state="ready",mode="lease"}'] == 2
        assert rejected(lab, "node-3", "forged") > 0
        seen_by_1 = metrics(lab, "node-1")
        assert seen_by_1['metalpool_speaker_peers{state="ready",mode="lease"}'] == 1
        assert seen_by_1['metalpool_speaker_peers{state="ready",mode="wire"}'] == 1
        lab.freeze_api()  # fail-static in Lease mode too: nobody is declared dead meanwhile
        try:
            # Longer than --lease-duration (30 s): judged by its Lease alone, node-3 would die.
            time.sleep(35.0)
        finally:
            lab.thaw_api()
        time.sleep(2.0)
        assert settled(lab, ips) == owners
    finally:
        lab.restart_speaker("node-3", *METRICS)
        lab.wait_speaker("node-3")
        lines = sampler.stop()
    summary = summarise(lines)
    assert all(s.split == 0 for s in summary.values()), summary
    assert settled(lab, ips) == owners


def lease_ahead(lab: Lab, node: str) -> timedelta:
    """How far the renewTime of `node`'s speaker Lease is ahead of this host's clock."""
    renewed = lab.kubectl("get", "lease", f"metalpool-speaker-{node}", "-n", "metallb-system",
                          "-o", "jsonpath={.spec.renewTime}")  # fmt: skip
    return datetime.fromisoformat(renewed.replace("Z", "+00:00")) - datetime.now(UTC)


def heard_ready(lab: Lab, watcher: str, node: str) -> int:
    """How often `watcher`'s speaker logged `node`'s speaker turning ready (speaker/narrator.py)."""
    log = lab.workdir / f"speaker-{watcher}.log"
    return log.read_text(errors="replace").count(f"speaker on node {node} is ready")


def _secret_key(lab: Lab) -> bytes:
    encoded = lab.kubectl("get", "secret", "memberlist", "-n", "metallb-system", "-o",
                          "jsonpath={.data.secretkey}")  # fmt: skip
    return base64.b64decode(encoded)


def test_no_speaker_died_along_the_way(lab: Lab):
    assert speakers_alive(lab) == dict.fromkeys(NODES)
