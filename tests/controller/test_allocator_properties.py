"""Properties of the allocator under random sequences of allocations, requests and releases."""

from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import ip_address

from hypothesis import given
from hypothesis import strategies as st

from controller.allocator import Allocation, Allocator
from controller.sharing import Terms, sharing_conflict
from metalpool.addresses import IPAddress, is_buggy
from metalpool.pools import Pool
from metalpool.services import LBService, ServiceKey
from tests.support.objects import pool, service

SMALL = ("192.0.2.0/29", "198.51.100.253-198.51.101.2")


@dataclass(frozen=True)
class Op:
    kind: str  # "allocate", "request" or "release"
    index: int
    key: str
    port: tuple[str, int]
    local: bool
    offset: int


ops = st.lists(
    st.builds(
        Op,
        kind=st.sampled_from(["allocate", "allocate", "request", "release"]),
        index=st.integers(0, 9),
        key=st.sampled_from(["", "", "a", "b"]),
        port=st.sampled_from([("TCP", 80), ("UDP", 80), ("TCP", 53)]),
        local=st.booleans(),
        offset=st.integers(0, 15),
    ),
    max_size=40,
)


def service_for(op: Op, requested: str | None = None) -> LBService:
    annotations = {"metallb.io/allow-shared-ip": op.key} if op.key else {}
    extra = {"loadBalancerIP": requested} if requested else {}
    return service(
        f"s{op.index}",
        annotations=annotations,
        ports=(op.port,),
        externalTrafficPolicy="Local" if op.local else "Cluster",
        **extra,
    )


def scan_order(p: Pool) -> Iterator[IPAddress]:
    """Every address of a small pool in allocation order (the naive reference)."""
    for r in p.ranges:
        for value in range(int(r.first), int(r.last) + 1):
            ip = ip_address(value)
            if not (p.avoid_buggy_ips and is_buggy(ip)):
                yield ip


def expected_address(allocator: Allocator, p: Pool, svc: LBService) -> IPAddress | None:
    """The first address a naive scan would give `svc` (which must hold nothing)."""
    terms = Terms.of(svc)
    for ip in scan_order(p):
        users = {k: TERMS[k] for k in allocator.users(ip)}
        if sharing_conflict(svc.key, terms, ip, users) is None:
            return ip
    return None


# The sharing terms each Service last allocated with; tests reset nothing because every
# example uses the same ten service names and overwrites their entries on allocation.
TERMS: dict[ServiceKey, Terms] = {}


def apply(allocator: Allocator, p: Pool, op: Op) -> None:
    if op.kind == "release":
        allocator.release(service(f"s{op.index}").key)
        return
    requested = None
    if op.kind == "request":
        requested = str(list(scan_order(p))[op.offset % len(list(scan_order(p)))])
    svc = service_for(op, requested)
    result = allocator.allocate(svc)
    if isinstance(result, Allocation):
        TERMS[svc.key] = Terms.of(svc)


def holdings(allocator: Allocator) -> dict[ServiceKey, Allocation]:
    held = {}
    for i in range(10):
        allocation = allocator.holding(service(f"s{i}").key)
        if allocation is not None:
            held[allocation.service] = allocation
    return held


@given(ops, st.booleans())
def test_no_address_is_held_twice_unless_sharing_allows_it(sequence, avoid):
    p = pool("p", *SMALL, avoidBuggyIPs=avoid)
    allocator = Allocator([p])
    for op in sequence:
        apply(allocator, p, op)
        for ip in scan_order(p):
            terms = [TERMS[k] for k in allocator.users(ip)]
            if len(terms) > 1:
                # Checked from first principles, not with the code under test (compat §3.5).
                assert all(t.sharing_key for t in terms)
                assert len({(t.sharing_key, t.backend_key) for t in terms}) == 1
                ports = [port for t in terms for port in t.ports]
                assert len(ports) == len(set(ports))


@given(ops, st.booleans())
def test_every_held_address_is_inside_its_pool(sequence, avoid):
    p = pool("p", *SMALL, avoidBuggyIPs=avoid)
    allocator = Allocator([p])
    for op in sequence:
        apply(allocator, p, op)
    for allocation in holdings(allocator).values():
        assert allocation.pool == "p"
        assert all(p.contains(ip) for ip in allocation.ips)


@given(ops, st.booleans(), st.integers(0, 9), st.sampled_from(["", "a"]))
def test_a_new_service_gets_what_a_naive_scan_would_give(sequence, avoid, index, key):
    p = pool("p", *SMALL, avoidBuggyIPs=avoid)
    allocator = Allocator([p])
    for op in sequence:
        apply(allocator, p, op)
    newcomer = service_for(Op("allocate", index, key, ("UDP", 5353), False, 0))
    allocator.release(newcomer.key)
    want = expected_address(allocator, p, newcomer)
    got = allocator.allocate(newcomer)
    assert (got.ips[0] if isinstance(got, Allocation) else None) == want


@given(ops, st.booleans())
def test_allocating_again_on_the_same_state_changes_nothing(sequence, avoid):
    p = pool("p", *SMALL, avoidBuggyIPs=avoid)
    allocator = Allocator([p])
    services: dict[ServiceKey, Op] = {}
    for op in sequence:
        apply(allocator, p, op)
        if op.kind != "release":
            services[service(f"s{op.index}").key] = op
    before, usage = holdings(allocator), allocator.usage()
    for key, allocation in before.items():
        op = services[key]
        requested = str(allocation.ips[0]) if op.kind == "request" else None
        assert allocator.allocate(service_for(op, requested)) == allocation
    assert holdings(allocator) == before
    assert allocator.usage() == usage


@given(ops, st.booleans(), st.integers(0, 9))
def test_release_then_allocate_matches_a_fresh_replay_of_the_holdings(sequence, avoid, index):
    p = pool("p", *SMALL, avoidBuggyIPs=avoid)
    allocator = Allocator([p])
    for op in sequence:
        apply(allocator, p, op)
    allocator.release(service(f"s{index}").key)
    replayed = Allocator([p])
    for key, allocation in sorted(holdings(allocator).items()):
        assert replayed.claim(_replay_service(key, TERMS[key]), allocation.ips) == allocation
    assert replayed.usage() == allocator.usage()
    newcomer = service_for(Op("allocate", index, "", ("TCP", 8080), False, 0))
    assert allocator.allocate(newcomer) == replayed.allocate(newcomer)


def _replay_service(key: ServiceKey, terms: Terms) -> LBService:
    name = str(key).split("/")[1]
    port = min(terms.ports)
    return service(
        name,
        annotations={"metallb.io/allow-shared-ip": terms.sharing_key} if terms.sharing_key else {},
        ports=((port.protocol, port.number),),
        externalTrafficPolicy="Local" if terms.backend_key else "Cluster",
    )


@given(ops)
def test_a_huge_pool_hands_out_what_a_small_one_does(sequence):
    # Same first address, so equal outcomes mean equal offsets; these are data, never on a wire.
    small, huge = pool("p", "10.0.0.0/24"), pool("p", "10.0.0.0/8")
    small_v6, huge_v6 = pool("p", "2001:db8::/120"), pool("p", "2001:db8::/64")
    for little, big in ((small, huge), (small_v6, huge_v6)):
        family = ("fd00::1",) if big is huge_v6 else ("10.96.0.1",)
        a, b = Allocator([little]), Allocator([big])
        for op in sequence:
            if op.kind == "release":
                key = service(f"s{op.index}").key
                assert a.release(key) == b.release(key)
                continue
            svc = service(
                f"s{op.index}",
                cluster_ips=family,
                annotations={"metallb.io/allow-shared-ip": op.key} if op.key else {},
                ports=(op.port,),
            )
            assert a.allocate(svc) == b.allocate(svc)
