"""The speaker's responder on a namespaced wire, against the node's own kernel in the same run.

Topology: client namespace eth0 (192.0.2.100, 2001:db8::100) ⟷ veth ⟷ node namespace eth0
(192.0.2.11, 2001:db8::11). The node's KERNEL answers for .11 / ::11 (the baseline); the real
`Responder` (run by tests.speaker.run_responder in the node namespace) answers for .50 / ::50,
which are configured nowhere. `bench.generator` in the client namespace sends pre-built frames.
The generator is pinned to CPU 0 and the responder to CPU 1 (arp-responder.md §1): the kernel
then answers inline in the generator's send (its floor), the responder pays a cross-CPU wake-up.
"lost" counts requests whose reply the client never saw; "unanswered" those the responder never
answered (it overflowed its receive buffer), so the difference was lost on the client's side.
Measures: p50/p99 reply latency idle (40/s) and at 1,000/s for ARP and NDP, kernel vs responder;
the highest rate answered without loss in 2 s windows; the responder's CPU share at 20,000/s
(from /proc/<pid>/stat, all threads); its CPU for requests about addresses it does not own.
Then the failover part, `bench.failover` (the whole product in the lab; about 5 minutes, 2 with
--quick; its exit status is this one's). Run (root):
`.venv/bin/python -m bench.speaker [--only responder|failover] [--trials N] [--quick]`
(about 6 minutes in all). Needs iproute2, and kubectl for the failover part.
"""

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import failover
from bench.verdicts import at_least, at_most, below, least, worst
from tests.support.netns import (
    Child,
    Namespaces,
    add_address,
    connect,
    in_namespace,
    python_in,
    run,
)

NODE4, NODE6 = "192.0.2.11", "2001:db8::11"  # the node kernel's own addresses
VIP4, VIP6 = "192.0.2.50", "2001:db8::50"  # the responder's
FOREIGN4, FOREIGN6 = "192.0.2.99", "2001:db8::99"  # nobody's
IDLE_RATE, IDLE_COUNT = 40, 40
BUSY_RATE, BUSY_COUNT = 1_000, 1_500
SWEEPS = {"arp": (10_000, 20_000, 30_000, 50_000, 75_000), "ndp": (10_000, 20_000, 30_000, 50_000)}
WINDOW = 2.0
GOAL_RATE = 20_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    """One generator run, with the responder's CPU time over it."""

    sent: int
    answered: int
    send_rate: float
    p50_us: float | None
    p99_us: float | None
    cpu: float  # responder CPU seconds during the run
    answered_by_responder: int  # replies the responder counts as sent (0 for kernel targets)

    @property
    def lost(self) -> int:
        """Requests without a reply."""
        return self.sent - self.answered


class Bench:
    """The generator and the responder of one benchmark session."""

    def __init__(self, generator: Child, responder: Child) -> None:
        self.generator = generator
        self.responder = responder

    def run(self, family: str, target: str, rate: float, count: int) -> Run:
        """One generator run against `target`, measuring the responder's CPU around it."""
        sent_before = self._responses(target)
        before = cpu_seconds(self.responder.pid)
        result = self.generator.ask(
            {"family": family, "target": target, "rate": rate, "count": count}, timeout=30.0
        )
        cpu = cpu_seconds(self.responder.pid) - before
        answered = self._responses(target) - sent_before
        return Run(**result, cpu=cpu, answered_by_responder=answered)

    def _responses(self, target: str) -> int:
        return int(self.responder.ask({"stats": True})["responses_sent"].get(target, 0))


def cpu_seconds(pid: int) -> float:
    """CPU seconds (utime + stime) of the whole process (all threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def pin(pid: int, cpu: int) -> None:
    """Pin every thread of `pid` to `cpu` (affinity is per thread)."""
    if (os.cpu_count() or 1) < 2:
        return
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), {cpu})


def build(namespaces: Namespaces) -> tuple[Child, Child]:
    """Client and node namespaces on one veth; the responder and the generator started, pinned."""
    client, node = namespaces.add("bc"), namespaces.add("bn")  # the node is created last
    connect(node, "eth0", client, "eth0")
    for namespace, addresses in (
        (node, (NODE4, NODE6)),
        (client, ("192.0.2.100", "2001:db8::100")),
    ):
        for address in addresses:
            add_address(namespace, "eth0", f"{address}/{24 if '.' in address else 64}")
    responder = Child(
        python_in(node, "tests.speaker.run_responder", f"--own={VIP4}", f"--own={VIP6}")
    )
    generator = Child(python_in(client, "bench.generator", "--iface=eth0"))
    responder.wait_ready()
    generator.wait_ready()
    pin(generator.pid, 0)
    pin(responder.pid, 1)
    return generator, responder


def fmt(value: float | None) -> str:
    """Microseconds for the table."""
    return "-" if value is None else f"{value:,.0f}"


def set_rps(node: str, cpus: int) -> None:
    """Steer the node veth's receive processing to `cpus` (a bit mask; 0 = inline, the default).

    With RPS on the responder's CPU the kernel pays the same cross-CPU hand-off as our responder:
    the like-for-like baseline of arp-responder.md §1 ("kernel_rps").
    """
    path = "/sys/class/net/eth0/queues/rx-0/rps_cpus"
    run(in_namespace(node, "sh", "-c", f"echo {cpus:x} > {path}"))


def latency(bench: Bench, mode: str) -> dict[str, float]:
    """Print one latency table; returns the p50 ratio per row."""
    ratios = {}
    for family, (kernel_ip, our_ip) in (("arp", (NODE4, VIP4)), ("ndp", (NODE6, VIP6))):
        bench.run(family, our_ip, IDLE_RATE, 10)  # warm-up: caches, first-wake costs
        for label, rate, count in (
            ("idle", IDLE_RATE, IDLE_COUNT),
            ("1k/s", BUSY_RATE, BUSY_COUNT),
        ):
            kernel = bench.run(family, kernel_ip, rate, count)
            ours = bench.run(family, our_ip, rate, count)
            row = f"{family.upper()} {label}"
            ratio = ours.p50_us / kernel.p50_us if ours.p50_us and kernel.p50_us else float("nan")
            ratios[row] = ratio
            lost = f"  (lost {kernel.lost}/{ours.lost})" if kernel.lost or ours.lost else ""
            print(
                f"{mode:<7}{row:<10}{fmt(kernel.p50_us):>11}{fmt(kernel.p99_us):>8}"
                f"{fmt(ours.p50_us):>10}{fmt(ours.p99_us):>8}{ratio:>10.1f}x{lost}"
            )
    return ratios


def sweep(bench: Bench, family: str, target: str) -> tuple[int, float]:
    """Rates up to the first loss; returns (highest zero-loss rate, CPU share at GOAL_RATE)."""
    best, at_goal = 0, float("nan")
    for rate in SWEEPS[family]:
        result = bench.run(family, target, rate, int(rate * WINDOW))
        share = result.cpu / (result.sent / result.send_rate)
        if rate == GOAL_RATE:
            at_goal = share
        note = "  (generator-bound)" if result.send_rate < 0.95 * rate else ""
        unanswered = result.sent - result.answered_by_responder
        print(
            f"{family.upper():<6}{rate:>8,}{result.send_rate:>10,.0f}{result.lost:>8,}"
            f"{unanswered:>12,}{share:>8.1%}{note}"
        )
        if result.lost:
            time.sleep(1.0)  # let the responder drain its backlog before the next measurement
            break
        best = rate
        if note:
            break
    return best, at_goal


def foreign(bench: Bench) -> float:
    """Requests for addresses nobody owns; returns the worst responder CPU µs per request."""
    worst = 0.0
    for family, target in (("arp", FOREIGN4), ("ndp", FOREIGN6)):
        result = bench.run(family, target, GOAL_RATE, int(GOAL_RATE * WINDOW))
        per_request = result.cpu / result.sent * 1e6
        worst = max(worst, per_request)
        print(
            f"foreign {family.upper()} at {GOAL_RATE:,}/s for {WINDOW:.0f} s: responder CPU "
            f"{result.cpu * 1000:.0f} ms = {per_request:.2f} µs/request, {result.answered} answered"
        )
    return worst


def main(argv: list[str] | None = None) -> int:
    """The responder part, then the failover part (`--only` one of them); 1: a goal missed."""
    parser = argparse.ArgumentParser(prog="bench.speaker")
    parser.add_argument("--only", choices=("responder", "failover"), help="run one part")
    parser.add_argument("--trials", type=int, default=10, help="failover trials per case")
    parser.add_argument("--quick", action="store_true", help="the failover part's --quick")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("bench.speaker needs root (network namespaces)")
    responder_met = True
    if args.only != "failover":
        responder_met = responder_part()
    failover_status = 0
    if args.only != "responder":
        print("\n")
        trials = ["--quick"] if args.quick else ["--trials", str(args.trials)]
        failover_status = failover.main(trials)
    return 0 if responder_met and failover_status == 0 else 1


def responder_part() -> bool:
    """Build, measure, print, clean up (also on failure); whether every goal was met."""
    namespaces = Namespaces()
    children: list[Child] = []
    started = time.monotonic()
    try:
        generator, responder = build(namespaces)
        children += [generator, responder]
        bench = Bench(generator, responder)
        print("Reply latency, µs (kernel: the node's own address; ours: the responder's VIP)")
        print(f"{'mode':<7}{'request':<10}{'kernel p50':>11}{'p99':>8}{'ours p50':>10}{'p99':>8}"
              f"{'p50 ratio':>11}")  # fmt: skip
        latency(bench, "inline")
        set_rps(namespaces.created[-1], 0b10)
        like_for_like = latency(bench, "rps")
        set_rps(namespaces.created[-1], 0)
        print()
        worst_foreign = foreign(bench)  # first: an overloaded sweep step leaves a backlog
        print(f"\nRate sweep, {WINDOW:.0f} s windows (ours)\n{'family':<6}{'rate':>8}{'sent/s':>10}"
              f"{'lost':>8}{'unanswered':>12}{'CPU':>8}")  # fmt: skip
        arp_best, arp_cpu = sweep(bench, "arp", VIP4)
        ndp_best, ndp_cpu = sweep(bench, "ndp", VIP6)
        # NaN-safe: a figure that could not be measured misses its goal (bench.verdicts).
        verdicts = (
            ("p50 at 1k/s <= 10x the kernel (like-for-like, RPS)",
             at_most(worst((like_for_like["ARP 1k/s"], like_for_like["NDP 1k/s"])), 10)),
            (f"zero loss at {GOAL_RATE:,}/s", at_least(least((arp_best, ndp_best)), GOAL_RATE)),
            (f"<= 40 % of a core at {GOAL_RATE:,}/s", at_most(worst((arp_cpu, ndp_cpu)), 0.40)),
            ("~0 CPU for foreign requests (< 0.5 µs each)", below(worst_foreign, 0.5)),
        )  # fmt: skip
        print(f"\nhighest zero-loss rate: ARP {arp_best:,}/s, NDP {ndp_best:,}/s; "
              f"CPU at {GOAL_RATE:,}/s: ARP {arp_cpu:.0%}, NDP {ndp_cpu:.0%}")  # fmt: skip
        for goal, met in verdicts:
            print(f"goal {goal}: {'met' if met else 'NOT met'}")
        print(f"total {time.monotonic() - started:.0f} s")
        return all(met for _, met in verdicts)
    finally:
        for child in children:
            child.stop()
        namespaces.delete_all()


if __name__ == "__main__":
    sys.exit(main())
