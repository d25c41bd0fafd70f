"""Speaker failover and membership, measured from the client (issue 8, properties 2, 3, 4, 8).

The whole product runs in the lab (`lab.demo.Lab`: emulated API server, three node namespaces and
a client namespace on one bridge, the real controller and one real speaker per node, all with
their default settings) with one pool (192.0.2.10-192.0.2.20), one L2Advertisement and one
Service whose EndpointSlice has an endpoint on every node, so the address can move to any node.

Method. The address is configured on no interface (the speaker only answers ARP for it), so no
node's kernel would deliver a datagram to a socket; the measurement is therefore taken at layer 2
on the client side. A probe in the client namespace (`python -m bench.failover probe`) sends one
UDP datagram (sequence number, send time) to the address every 10 ms, as an application would,
through the client's own kernel (its neighbour cache decides the destination MAC), and an
AF_PACKET socket on the client's eth0 sees each of those frames as it leaves (PACKET_OUTGOING),
with the kernel's timestamp. On the bridge a frame goes to the port of its destination MAC, so
the first frame addressed to another node's MAC is the first datagram that reaches the new node.
Failover time = that frame's kernel timestamp minus the moment the fault was injected (the
signal sent, the switch port taken down; both CLOCK_REALTIME of the one host kernel). The wire
time, not the payload's send time, is used: a datagram queued while the address was unresolved
leaves later than written. "announced" splits the time: when the new owner's speaker logged
`announcing <ip>` (its takeover burst has left by then), read from its log (ms resolution).
Beside the datagrams, `lab.observers.Observer` asks from the client who answers ARP for the
address: `sample` (one broadcast request every 0.1 s or 0.05 s; two MACs in one sample is a split
brain as a client sees it) or `dense` (every 10 ms; each change of answerer with its overlap and
its gap, `lab.observers.moves`).

Every step starts and ends settled: the client's frames have gone to the hash winner for 1 s,
and a (re)started speaker's heartbeats, which the probe also sees on the client's port, say it is
ready. `--trials N` (default 10; 3 with --quick) trials of each fault, link failure and cold start.

- Property 2, crash and freeze: SIGKILL (restarted after), SIGSTOP (SIGCONT after, back at the
  winner) and SIGTERM (restarted after) of the winner's speaker, at a random phase of its
  heartbeat interval. Baseline, measured per trial: the first moment a peer could know the
  speaker was gone (`bench.failover_figures.known_gone`): the hold announced in its last
  heartbeat the client heard, run out (a crash, a freeze); its goodbye heard (SIGTERM). No
  failover can beat it; ratio p50/p50 of it. "lost": datagrams to the old MAC after the signal.
- Property 3, link failure: the winner's switch port down for 2 s, then up (the clock starts
  before `ip link set` runs). Failover and its baseline as for a crash; a sample Observer
  (every 0.1 s) over the whole trial counts samples with two answerers, and the changes of
  answerer from the last sample before the link returned on (moving back once is right: the
  winner takes its address back).
- Property 4, joins and cold starts: (a) a rolling restart (SIGTERM, start, settled; one node at
  a time; 2 rounds, 1 with --quick) under a dense Observer: overlap and gap of each move; and the
  datagrams lost: sent to a node while its speaker did not answer (from the speakers' `no longer
  answering for <ip>` / `announcing <ip>` log lines: ms, on the probe's clock), or never sent
  (dropped unresolved: missing sequence numbers), each counted for the nearest change of
  destination MAC (within 3 s), so a silence without a move counts too. (b) cold starts: every
  speaker SIGKILLed, all started at once, until settled, under a sample Observer (every 0.05 s)
  counting split samples.
- Property 8, API writes for liveness: every change of the speakers' Leases (one watch event per
  stored write; the API server's request journal lives in its own process) over 60 s of a
  settled lab (30 s with --quick, doubled), per node. Baseline, fixed and labelled so: 60 per
  minute (renewed every 1 s before issue 8; that code is not run).

Run (root, iproute2, kubectl): `.venv/bin/python -m bench.failover [--trials N] [--quick]
[--keep-logs DIR]`, or as the last part of `.venv/bin/python -m bench.speaker` (`--only
failover`). Exit status 1 when a goal is missed; the lab's logs are then copied to a directory
the run names (always with --keep-logs).
"""

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench.datagrams import INTERVAL, probe_main
from bench.failover_lab import Bench
from bench.failover_results import Case, Results, report
from bench.failover_settings import (
    DEFAULTS,
    HB_HOLD,
    HB_INTERVAL,
    LEASE_WINDOW,
    LEASE_WINDOW_QUICK,
    SERVICE,
)
from bench.failover_trials import cold_start, fault_trial, link_trial, rolling
from lab.demo import Lab, preflight

ROOT = Path(__file__).resolve().parent.parent


def measure(bench: Bench, results: Results) -> None:
    """Every phase in one lab, in order; progress printed as it goes, with each phase's time."""
    clock = time.monotonic()

    def phase(title: str) -> None:
        nonlocal clock
        print(f"{title} (previous phase {time.monotonic() - clock:.0f} s)", flush=True)
        clock = time.monotonic()

    phase(f"Property 8: watching the speakers' Leases for {results.lease_window:g} s")
    results.lease = bench.lease_writes(results.lease_window)
    print(f"  writes: {results.lease}", flush=True)
    phase("Property 2: crash, freeze, graceful stop")
    results.cases = [
        Case("SIGKILL (crash)", signal.SIGKILL, 0.5),
        Case("SIGSTOP (freeze)", signal.SIGSTOP, 0.5),
        Case("SIGTERM (graceful)", signal.SIGTERM, 0.05),
    ]
    for case in results.cases:
        for number in range(results.trials):
            fault_trial(bench, case)
            print(f"  {case.label} #{number + 1}: {case.trials[-1].show()}", flush=True)
    phase("Property 3: link failure")
    for number in range(results.trials):
        trial = link_trial(bench)
        results.links.append(trial)
        print(f"  link down #{number + 1}: {trial.failover.show()}; split samples {trial.split},"
              f" changes after link up {trial.changes_after}, settled {trial.back or 0:.3f} s"
              f" after ({trial.samples} samples)", flush=True)  # fmt: skip
    phase("Property 4a: rolling restart")
    rolling(bench, results.rounds, results.rolling)
    print(f"  rolling restart: {len(results.rolling.overlaps)} moves, overlaps "
          f"{[round(v, 3) for v in results.rolling.overlaps]}, gaps "
          f"{[round(v, 3) for v in results.rolling.gaps]}, lost {results.rolling.lost}",
          flush=True)  # fmt: skip
    phase("Property 4b: cold starts")
    for number in range(results.trials):
        cold = cold_start(bench)
        results.colds.append(cold)
        print(f"  cold start #{number + 1}: split samples {cold.split} of {cold.samples}, first"
              f" answer {cold.first if cold.first is None else round(cold.first, 3)} s, settled"
              f" {cold.settled:.3f} s", flush=True)  # fmt: skip
    phase("done")


def run(trials: int, *, quick: bool, keep: Path | None = None) -> bool:
    """Every property in one lab; prints the tables; True when every goal is met."""
    results = Results(trials=trials, rounds=1 if quick else 2,
                      lease_window=LEASE_WINDOW_QUICK if quick else LEASE_WINDOW)  # fmt: skip
    started = time.monotonic()
    failed = False
    with Lab(nodes=3, examples=ROOT / "deploy" / "examples", say=lambda _: None) as lab:
        bench = Bench(lab)
        try:
            bench.start()
            print(
                f"Speaker failover: {SERVICE} at {bench.ip}, hash winner {bench.winner}; {trials}"
                f" trials per case; client datagram every {INTERVAL * 1000:.0f} ms; speakers"
                f" with default settings (heartbeat {HB_INTERVAL:g} s, hold {HB_HOLD:g} s, Lease"
                f" {DEFAULTS.lease_duration:g} s renewed every {DEFAULTS.lease_renew:g} s)",
                flush=True,
            )
            measure(bench, results)
        except Exception:  # noqa: BLE001 - reported, the run fails, the logs are kept
            traceback.print_exc()
            print("! the run was cut short: what was measured follows", flush=True)
            failed = True
        finally:
            bench.close()
        met = report(results) and not failed
        if keep is not None or not met:
            kept = keep or Path(tempfile.mkdtemp(prefix="metalpool-failover-logs-"))
            shutil.copytree(lab.workdir, kept, dirs_exist_ok=True)
            print(f"\nlogs of the lab's processes copied to {kept}")
    load = os.getloadavg()[0]
    print(f"total {time.monotonic() - started:.0f} s; 1-min load average at the end {load:.2f}")
    print("every goal met" if met else "GOAL MISSED")
    return met


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.failover [--trials N] [--quick]` or `… probe <ip>` (in the client)."""
    parser = argparse.ArgumentParser(
        prog="bench.failover",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("mode", nargs="?", choices=("run", "probe"), default="run")
    parser.add_argument("target", nargs="?", help="probe only: the address to send to")
    parser.add_argument("--iface", default="eth0", help="probe only: the client interface")
    parser.add_argument("--trials", type=int, default=10,
                        help="trials per case and cold starts (default 10)")  # fmt: skip
    parser.add_argument("--quick", action="store_true",
                        help="3 trials, 1 rolling round, 30 s of Lease writes")  # fmt: skip
    parser.add_argument("--keep-logs", type=Path, help="copy the lab's logs here at the end")
    args = parser.parse_args(argv)
    if args.mode == "probe":
        probe_main(args.target, args.iface)
        return 0
    problem = preflight()
    if problem:
        print(f"bench.failover: {problem}", file=sys.stderr)
        return 2
    met = run(3 if args.quick else max(1, args.trials), quick=args.quick, keep=args.keep_logs)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
