"""Allocator cost against pool size: 10,000 Services on a /24-ranged pool, a /16, a /8, an IPv6 /64.

Goal (issue 2): every case within 1.5x of the smallest pool in allocations per second and in
peak memory, because the allocator never enumerates a pool.
Run: `.venv/bin/python -m bench.allocator`.
The addresses are data only; nothing is sent anywhere.
"""

import argparse
import gc
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass

from bench.verdicts import at_most, worst
from controller.allocator import Allocation, Allocator
from metalpool.pools import Pool, parse_pool
from metalpool.services import LBService, parse_service

GOAL = 1.5


@dataclass(frozen=True)
class Case:
    """One pool shape to allocate from."""

    name: str
    addresses: tuple[str, ...]
    cluster_ip: str


CASES = (
    Case("/24 ranges x40", tuple(f"10.{i // 256}.{i % 256}.0/24" for i in range(40)), "10.96.0.1"),
    Case("one /16", ("10.0.0.0/16",), "10.96.0.1"),
    Case("one /8", ("10.0.0.0/8",), "10.96.0.1"),
    Case("IPv6 /64", ("2001:db8::/64",), "fd00::1"),
)


def make_pool(case: Case) -> Pool:
    """The case's pool, parsed as the controller would."""
    return parse_pool(
        {
            "metadata": {"name": "bench", "namespace": "metallb-system"},
            "spec": {"addresses": list(case.addresses)},
        }
    )


def make_services(case: Case, count: int) -> list[LBService]:
    """`count` plain LoadBalancer Services of the case's family (built outside the timing)."""
    return [
        parse_service(
            {
                "metadata": {"name": f"svc-{i}", "namespace": "bench"},
                "spec": {
                    "type": "LoadBalancer",
                    "clusterIPs": [case.cluster_ip],
                    "ports": [{"port": 80}],
                },
            }
        )
        for i in range(count)
    ]


def run_once(case: Case, services: Sequence[LBService]) -> tuple[float, int]:
    """Seconds to allocate every Service, and the peak bytes allocated meanwhile."""
    pool = make_pool(case)
    gc.collect()
    tracemalloc.start()
    start = time.perf_counter()
    allocator = Allocator([pool])
    for svc in services:
        if not isinstance(allocator.allocate(svc), Allocation):
            raise SystemExit(f"{case.name}: {svc.key} got no address")
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak


def main(argv: list[str] | None = None) -> int:
    """Run every case and print the table with ratios to the first (smallest) pool."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3, help="best of N for time")
    args = parser.parse_args(argv)
    results = []
    for case in CASES:
        services = make_services(case, args.services)
        runs = [run_once(case, services) for _ in range(args.rounds)]
        results.append((case, min(r[0] for r in runs), max(r[1] for r in runs)))
    base_time, base_mem = results[0][1], results[0][2]
    print(f"{args.services} Services, best of {args.rounds} (time); tracemalloc peak (memory)")
    print(f"{'case':<16} {'alloc/s':>10} {'time ratio':>11} {'peak MiB':>9} {'mem ratio':>10}")
    ratios: list[float] = []
    for case, seconds, peak in results:
        time_ratio, mem_ratio = seconds / base_time, peak / base_mem
        ratios += (time_ratio, mem_ratio)
        print(
            f"{case.name:<16} {args.services / seconds:>10,.0f} {time_ratio:>11.2f}"
            f" {peak / 2**20:>9.2f} {mem_ratio:>10.2f}"
        )
    highest = worst(ratios)
    met = at_most(highest, GOAL)
    verdict = "meets" if met else "MISSES"
    print(f"worst ratio to the smallest pool: {highest:.2f} ({verdict} the goal of <= {GOAL})")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
