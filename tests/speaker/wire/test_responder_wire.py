"""Tier T3: the real responder on a real (namespaced) wire, judged by the client's own kernel.

Topology (one bridge in a "switch" namespace, every host a veth port of it):
  a: eth0 192.0.2.11, 2001:db8::11     b: eth0 192.0.2.12, 2001:db8::12
  m: eth0 192.0.2.13, 2001:db8::13 and eth1 (no address): a node with two links to one segment
  c: eth0 192.0.2.100, 2001:db8::100: the client, whose neighbour table is the verdict
a, b and m each run `tests.speaker.run_responder`; c runs `tests.speaker.wire_probe`.
The VIPs below are configured on no interface: only the responders can make them resolve.
Client sysctls stay at their defaults (only DAD is off, in every namespace, so that addresses are
usable at once): the request-form gratuitous ARP needs no `arp_accept`, because it updates an
existing entry even within `locktime`, which is what takeover needs (arp-responder.md §3.3).
"""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.support.netns import (
    Child,
    Namespaces,
    add_address,
    connect,
    ip,
    neighbour,
    python_in,
    unavailable_reason,
)

pytestmark = [pytest.mark.wire, pytest.mark.timeout(60)]

VIP4, VIP6 = "192.0.2.50", "2001:db8::50"  # owned by a throughout
NUD6 = "2001:db8::52"  # owned by a; used for unicast (unreachability) probes
FOREIGN4, FOREIGN6 = "192.0.2.51", "2001:db8::51"  # owned by nobody
MOVING4, MOVING6 = "192.0.2.60", "2001:db8::60"  # a, then b
PINNED4, PINNED6 = "192.0.2.70", "2001:db8::70"  # m, on eth1 only
SPREAD4, SPREAD6 = "192.0.2.71", "2001:db8::71"  # m, on every interface
SENTINEL4, SENTINEL6 = "192.0.2.90", "2001:db8::90"  # owned by b throughout
CLIENT_ADDRESSES = ("--ip4=192.0.2.100", "--ip6=2001:db8::100")
A_TABLE = {VIP4: None, VIP6: None, NUD6: None}
B_TABLE = {SENTINEL4: None, SENTINEL6: None}
M_TABLE = {PINNED4: ["eth1"], PINNED6: ["eth1"], SPREAD4: None, SPREAD6: None}
# Sentinels: an address each responder port answers, per family (a, b, m's eth0 and eth1). A
# responder handles its socket's frames in turn, so its answer to one asked after a request
# means that request was handled too: silence is judged once these answers are in.
SENTINELS4, SENTINELS6 = [VIP4, SENTINEL4, SPREAD4], [VIP6, SENTINEL6, SPREAD6]
PORTS = 4
CLIENT_ADDRESSES = ("--ip4=192.0.2.100", "--ip6=2001:db8::100")


@dataclass
class Wire:
    a: Child
    b: Child
    m: Child
    probe: Child
    client: str
    macs: dict[str, str]  # "a", "b", "m0", "m1", "c" -> MAC
    namespaces: dict[str, str]


def _start_topology(namespaces: Namespaces) -> tuple[dict[str, str], dict[str, str]]:
    switch = namespaces.add("sw")
    ip("link", "add", "br0", "type", "bridge", namespace=switch)
    ip("link", "set", "br0", "up", namespace=switch)
    names = {role: namespaces.add(role) for role in ("a", "b", "m", "c")}
    macs = {}
    for key, role, interface, addresses in (
        ("a", "a", "eth0", ("192.0.2.11/24", "2001:db8::11/64")),
        ("b", "b", "eth0", ("192.0.2.12/24", "2001:db8::12/64")),
        ("m0", "m", "eth0", ("192.0.2.13/24", "2001:db8::13/64")),
        ("m1", "m", "eth1", ()),
        ("c", "c", "eth0", ("192.0.2.100/24", "2001:db8::100/64")),
    ):
        macs[key] = connect(names[role], interface, switch, f"p{key}", bridge="br0")
        for cidr in addresses:
            add_address(names[role], interface, cidr)
    return names, macs


@pytest.fixture(scope="module")
def wire() -> Iterator[Wire]:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    namespaces = Namespaces()
    children: list[Child] = []
    try:
        names, macs = _start_topology(namespaces)
        runner = "tests.speaker.run_responder"
        own_a = [f"--own={ip}" for ip in A_TABLE]
        own_b = [f"--own={ip}" for ip in B_TABLE]
        children += [
            Child(python_in(names["a"], runner, *own_a)),
            Child(python_in(names["b"], runner, *own_b)),
            Child(python_in(names["m"], runner, "--rescan=0.5")),
            Child(python_in(names["c"], "tests.speaker.wire_probe", *CLIENT_ADDRESSES)),
        ]
        for child in children:
            child.wait_ready()
        a, b, m, probe = children
        m.ask({"own": M_TABLE})
        yield Wire(a, b, m, probe, names["c"], macs, names)
    finally:
        for child in children:
            child.stop()
        namespaces.delete_all()


def wait_for(check: Callable[[], bool], timeout: float, step: float = 0.005) -> float:
    """Seconds until `check()` held; raises AssertionError after `timeout` (bounded loop)."""
    started = time.monotonic()
    for _ in range(int(timeout / step) + 1):
        if check():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            break
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout} s")


def resolve(wire: Wire, address: str) -> tuple[str, str | None]:
    """Make the client's kernel resolve `address` and return its neighbour entry."""
    wire.probe.ask({"udp": address})
    wait_for(lambda: neighbour(wire.client, address, "eth0")[1] is not None, timeout=3.0)
    return neighbour(wire.client, address, "eth0")


def stats(child: Child) -> dict[str, dict[str, float]]:
    return child.ask({"stats": True})


def test_client_kernel_resolves_an_owned_ipv4_to_the_responders_mac(wire: Wire) -> None:
    state, mac = resolve(wire, VIP4)

    assert (state, mac) == ("REACHABLE", wire.macs["a"])
    counted = stats(wire.a)
    assert counted["requests_received"][VIP4] >= 1
    assert counted["responses_sent"][VIP4] == counted["requests_received"][VIP4]


def test_client_kernel_resolves_an_owned_ipv6_through_ndp(wire: Wire) -> None:
    state, mac = resolve(wire, VIP6)

    assert (state, mac) == ("REACHABLE", wire.macs["a"])
    assert stats(wire.a)["responses_sent"][VIP6] >= 1


def test_unicast_solicitation_is_answered_with_solicited_override_and_target_option(
    wire: Wire,
) -> None:
    # A neighbour-unreachability probe: unicast to the VIP at the MAC the client has cached
    # (RFC 4861 §7.3.3). MetalLB never sees these (metallb-compat.md §4.7, issue #2920).
    reply = wire.probe.ask({"ns": NUD6, "to_mac": wire.macs["a"], "wait": 0.3})

    (answer,) = reply["replies"]
    assert {k: answer[k] for k in ("eth_src", "eth_dst", "src", "dst", "hlim")} == {
        "eth_src": wire.macs["a"],
        "eth_dst": wire.macs["c"],
        "src": NUD6,
        "dst": "2001:db8::100",
        "hlim": 255,
    }
    assert (answer["R"], answer["S"], answer["O"], answer["tlla"]) == (0, 1, 1, wire.macs["a"])


def test_client_kernel_probe_of_a_stale_entry_is_answered(wire: Wire) -> None:
    resolve(wire, NUD6)
    # PROBE makes the kernel send unicast solicitations to the cached MAC (RFC 4861 §7.3.3);
    # without answers the entry would go FAILED after ucast_solicit (3) tries, 1 s apart.
    before = stats(wire.a)["requests_received"].get(NUD6, 0)
    ip("-6", "neigh", "change", NUD6, "lladdr", wire.macs["a"], "dev", "eth0", "nud", "probe",
       namespace=wire.client)  # fmt: skip

    wait_for(lambda: neighbour(wire.client, NUD6, "eth0")[0] == "REACHABLE", timeout=2.0)
    assert stats(wire.a)["requests_received"][NUD6] > before


def test_addresses_nobody_owns_get_no_answer_and_cost_no_drops(wire: Wire) -> None:
    dropped_before = stats(wire.a)["dropped"].get("not_owned", 0)

    wire.probe.ask({"udp": FOREIGN4})  # the client's kernel asks first, then the probe
    arp = wire.probe.ask({"arp": FOREIGN4, "then": SENTINELS4, "answers": PORTS, "wait": 3.0})
    ns = wire.probe.ask({"ns": FOREIGN6, "then": SENTINELS6, "answers": PORTS, "wait": 3.0})

    assert (len(arp["sentinels"]), len(ns["sentinels"])) == (PORTS, PORTS)
    assert (arp["replies"], ns["replies"]) == ([], [])
    state, mac = neighbour(wire.client, FOREIGN4, "eth0")
    assert (state in {"INCOMPLETE", "FAILED"}, mac) == (True, None)
    # The kernel filter dropped them: userspace never even saw a NOT_OWNED frame.
    assert stats(wire.a)["dropped"].get("not_owned", 0) == dropped_before


def test_takeover_moves_the_clients_entries_at_once(wire: Wire) -> None:
    wire.a.ask({"own": {**A_TABLE, MOVING4: None, MOVING6: None}})
    assert resolve(wire, MOVING4)[1] == wire.macs["a"]
    assert resolve(wire, MOVING6)[1] == wire.macs["a"]
    wire.probe.ask({"sniff": 1.4})  # replies {"armed": true} once listening

    started = time.monotonic()
    wire.a.ask({"own": A_TABLE})
    wire.b.ask({"own": {**B_TABLE, MOVING4: None, MOVING6: None}})
    wait_for(lambda: neighbour(wire.client, MOVING4, "eth0")[1] == wire.macs["b"], 1.0)
    moved = time.monotonic() - started
    wait_for(lambda: neighbour(wire.client, MOVING6, "eth0")[1] == wire.macs["b"], 1.0)

    assert moved < 0.2, f"client switched after {moved:.3f} s"
    delays = stats(wire.b)["announce_delay"]
    assert max(delays[MOVING4], delays[MOVING6]) < 0.010  # the issue's takeover budget
    frames = wire.probe.read(timeout=5.0)["frames"]
    garps = [f for f in frames if f.get("psrc") == MOVING4 and f["eth_src"] == wire.macs["b"]]
    assert [(f["op"], f["hwdst"], f["eth_dst"]) for f in garps[:2]] == [
        (1, "00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff"),  # request form first (§3.3)
        (2, wire.macs["b"], "ff:ff:ff:ff:ff:ff"),  # then a reply Linux sees as gratuitous
    ]
    assert 1.0 < garps[2]["t"] - garps[0]["t"] < 1.6  # MetalLB's 1.1 s (+ scheduler slack)
    nas = [f for f in frames if f.get("tgt") == MOVING6]
    assert (nas[0]["dst"], nas[0]["S"], nas[0]["O"], nas[0]["tlla"]) == (
        "ff02::1",
        0,
        1,
        wire.macs["b"],
    )


def test_an_ip_restricted_to_one_interface_is_answered_only_there(wire: Wire) -> None:
    ports = sorted([wire.macs["m0"], wire.macs["m1"]])
    # The sentinel is answered on both ports: eth0's silence is judged after its answer.
    pinned = wire.probe.ask({"arp": PINNED4, "then": [SPREAD4], "answers": 2, "wait": 3.0})
    pinned6 = wire.probe.ask({"ns": PINNED6, "then": [SPREAD6], "answers": 2, "wait": 3.0})

    assert sorted(r["hwsrc"] for r in pinned["sentinels"]) == ports
    assert sorted(r["tlla"] for r in pinned6["sentinels"]) == ports
    assert [r["hwsrc"] for r in pinned["replies"]] == [wire.macs["m1"]]
    assert [r["tlla"] for r in pinned6["replies"]] == [wire.macs["m1"]]


def test_solicited_node_group_is_joined_on_allowed_interfaces_and_left(wire: Wire) -> None:
    group = "33:33:ff:00:00:70"  # ff02::1:ff00:70, the group of 2001:db8::70 (RFC 2464 §7)

    def joined(interface: str) -> bool:
        return group in ip("maddr", "show", "dev", interface, namespace=wire.namespaces["m"])

    wait_for(lambda: joined("eth1"), timeout=1.0)
    assert not joined("eth0")
    wire.m.ask({"own": {PINNED4: ["eth1"], SPREAD4: None, SPREAD6: None}})
    wait_for(lambda: not joined("eth1"), timeout=1.0)
    wire.m.ask({"own": M_TABLE})
    wait_for(lambda: joined("eth1"), timeout=1.0)


def test_a_failing_interface_does_not_stop_the_others_and_is_reopened(wire: Wire) -> None:
    m = wire.namespaces["m"]

    def answering() -> list[str]:
        replies = wire.probe.ask({"arp": SPREAD4, "wait": 0.15})["replies"]
        return sorted(r["hwsrc"] for r in replies)

    ip("link", "set", "eth1", "down", namespace=m)
    try:
        assert answering() == [wire.macs["m0"]]
    finally:
        ip("link", "set", "eth1", "up", namespace=m)
    both = sorted([wire.macs["m0"], wire.macs["m1"]])
    wait_for(lambda: answering() == both, timeout=4.0, step=0.1)  # --rescan=0.5


def test_stop_closes_promptly(wire: Wire) -> None:
    child = Child(
        python_in(wire.namespaces["b"], "tests.speaker.run_responder", "--own=192.0.2.80")
    )
    try:
        child.wait_ready()
        stopped = child.ask({"quit": True})["stopped"]
    finally:
        child.stop()
    assert isinstance(stopped, float)
    assert stopped < 0.2
