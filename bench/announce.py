"""What probing before announcing costs a new Service: create→announced, with and without probing.

The goal (docs/lan.md, the issue): create→announced p99 with probing (the speaker's default
`--probe-window`, 0.3 s) stays within +1 s of the same figure without probing
(`--probe-window 0`), both measured in this run, in one lab, one after the other.

Method. `lab.demo.Lab` with 2 nodes: the emulated API server, the real controller, one real
speaker in each node namespace and a client namespace on one bridge. One pool
(192.0.2.100-192.0.2.199) and its L2Advertisement. For each configuration the speakers are
(re)started with its flags and the lab settles (Leases held, then 2 s); then Services are
created one at a time, each with an EndpointSlice holding a ready endpoint on both nodes
(created first, untimed), each asking for its own address (`metallb.io/loadBalancerIPs`, so the
client can ask for it from the first moment; addresses are never reused across the run).
The clock starts just before the Service's create, a POST over one keep-alive HTTP connection
to the API server. That is steadier than `kubectl apply`: kubectl's own start-up (0.05-0.08 s
for the bare binary here) and its discovery requests would be larger and noisier than the whole
baseline. The clock stops at the first ARP reply the client namespace receives for the address:
`bench.announce_probe`, armed before the create, sends a who-has every 5 ms from the client
and reports the kernel's receive time of the first reply (CLOCK_MONOTONIC, which every
namespace shares), so the resolution is 5 ms. A first Service per configuration warms the path
and is not counted. Between creates the bench waits 0.2-0.5 s (seeded jitter, so creates do not
lock onto the speakers' periodic work). The Services of the first configuration are deleted
before the second starts. "create→`announcing` logged" splits the time: when the winning
speaker logged `announcing <ip>` (ms, wall clock), which includes the controller's allocation.

A Service not answered within 10 s is missing, and a missing figure misses the goal. Exit status
1 when the goal is missed, 2 when the lab cannot run here (root, iproute2, kubectl needed).

Run: `.venv/bin/python -m bench.announce [--quick] [--services N] [--keep-logs DIR]`.
"""

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from bench.announce_figures import Figures, goal_line, judge, table
from bench.announce_lab import ANSWER_TIMEOUT, BLOCK, Runner, Sample
from lab.demo import Lab, preflight
from speaker.program import parse_args as speaker_defaults

ROOT = Path(__file__).resolve().parent.parent
SERVICES, SERVICES_QUICK = 40, 10
GAP = (0.2, 0.5)  # seconds between one Service answered and the next create
JITTER_SEED = 5
WINDOW = float(speaker_defaults(["--node-name", "bench"]).probe_window)


@dataclass(frozen=True, slots=True, kw_only=True)
class Configuration:
    """Speaker flags and the samples taken with them."""

    label: str
    flags: tuple[str, ...]
    samples: list[Sample] = field(default_factory=list)


def measure(runner: Runner, block: int, config: Configuration, count: int) -> None:
    """A warm-up Service, then `count` timed ones, one at a time; progress printed."""
    jitter = random.Random(JITTER_SEED + block)  # noqa: S311 - timing, not cryptography
    started = time.monotonic()
    warm = runner.measure(block, 0)
    print(f"  warm-up {warm.ip}: {_seconds(warm.answered)}", flush=True)
    for index in range(1, count + 1):
        time.sleep(jitter.uniform(*GAP))
        sample = runner.measure(block, index)
        config.samples.append(sample)
        if sample.answered is None:
            print(f"  ! {sample.ip} not answered within {ANSWER_TIMEOUT:g} s", flush=True)
    answered = sorted(s.answered for s in config.samples if s.answered is not None)
    print(f"  {len(config.samples)} Services in {time.monotonic() - started:.0f} s; "
          f"answered after {', '.join(f'{v:.3f}' for v in answered)} s", flush=True)  # fmt: skip


def report(configs: list[Configuration], count: int) -> bool:
    """The table, where the time goes, and the goal line; True when the goal is met."""
    baseline, probing = (Figures.of(c.label, [s.answered for s in c.samples], count)
                         for c in configs)  # fmt: skip
    print(
        f"\ncreate→announced, seconds from just before the Service's create to the first ARP"
        f" reply in the client namespace; {count} Services per configuration, one at a time"
    )
    for line in table(baseline, probing):
        print(line)
    print("where the time goes (p50 / p99, seconds)")
    for config in configs:
        logged = Figures.of("", [s.logged for s in config.samples], count)
        reply = Figures.of(
            "",
            [
                s.answered - s.logged
                for s in config.samples
                if s.answered is not None and s.logged is not None
            ],
            count,
        )
        print(f"  {config.label:<32} create→`announcing` logged {_pair(logged)},"
              f" logged→reply {_pair(reply)}")  # fmt: skip
    verdict = judge(probing, baseline)
    print(goal_line(verdict))
    return verdict.met


def run(count: int, keep: Path | None) -> bool:
    """Both configurations in one lab; prints the figures; True when the goal is met."""
    configs = [
        Configuration(label="without probing (--probe-window 0)", flags=("--probe-window", "0")),
        Configuration(label=f"with probing (--probe-window {WINDOW:g})",
                      flags=("--probe-window", f"{WINDOW:g}")),
    ]  # fmt: skip
    started = time.monotonic()
    with Lab(nodes=2, examples=ROOT / "deploy" / "examples", say=lambda _: None) as lab:
        runner = Runner(lab)
        try:
            for block, config in enumerate(configs):
                print(f"{config.label}: speakers {'starting' if not block else 'restarting'}",
                      flush=True)  # fmt: skip
                if block:
                    runner.clear(block - 1, count)
                    runner.restart(config.flags)
                else:
                    runner.start(config.flags)
                measure(runner, block, config, count)
        except Exception:  # noqa: BLE001 - reported; what is missing misses the goal
            traceback.print_exc()
            print("! the run was cut short: what was measured follows", flush=True)
        finally:
            runner.close()
        met = report(configs, count)
        if keep is not None or not met:
            kept = keep or Path(tempfile.mkdtemp(prefix="metalpool-announce-logs-"))
            shutil.copytree(lab.workdir, kept, dirs_exist_ok=True)
            print(f"logs of the lab's processes copied to {kept}")
    print(f"total {time.monotonic() - started:.0f} s; 1-min load average at the end"
          f" {os.getloadavg()[0]:.2f}")  # fmt: skip
    return met


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.announce [--quick] [--services N] [--keep-logs DIR]`."""
    parser = argparse.ArgumentParser(
        prog="bench.announce",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--services", type=int, default=SERVICES,
                        help=f"Services per configuration (default {SERVICES},"
                             f" at most {BLOCK - 1})")  # fmt: skip
    parser.add_argument("--quick", action="store_true",
                        help=f"{SERVICES_QUICK} Services per configuration")  # fmt: skip
    parser.add_argument("--keep-logs", type=Path, help="copy the lab's logs here at the end")
    args = parser.parse_args(argv)
    count = SERVICES_QUICK if args.quick else args.services
    if not 1 <= count < BLOCK:
        parser.error(f"--services must be 1 to {BLOCK - 1}")
    problem = preflight()
    if problem:
        print(f"bench.announce: {problem}", file=sys.stderr)
        return 2
    return 0 if run(count, args.keep_logs) else 1


def _seconds(value: float | None) -> str:
    return "not answered" if value is None else f"{value:.3f} s"


def _pair(figures: Figures) -> str:
    if not figures.values:
        return "-"
    return f"{figures.p50:.3f} / {figures.p99:.3f}"


if __name__ == "__main__":
    sys.exit(main())
