"""`metalpool-lab` / `python -m lab`: MetalPool on a machine with no cluster.

`metalpool-lab` (or `metalpool-lab up`) builds the lab — an emulated API server, nodes and a
client in network namespaces, the controller and a speaker per node — prints which node answers
for each Service's address and the MAC the client resolved, stops an announcing speaker to show
a failover, and cleans up (`--keep` leaves it running until Ctrl-C). Needs root.
`metalpool-lab chaos [--scenario NAME|all] [--seconds N]` builds the same lab, then breaks one
thing at a time (the API server, a speaker, a link) while the client asks who answers every IPv4
address, and prints a timeline, the outage per address, split samples and a verdict per scenario.
`metalpool-lab plan [folder]` only runs the allocator over manifests: no root, no network.
"""

import argparse
import contextlib
import dataclasses
import shutil
import signal
import sys
import threading
from pathlib import Path

from lab.demo import Lab, Row, preflight
from lab.preview import load_manifests, preview, render
from lab.scenarios import SCENARIOS, Timing, run_scenarios

EXAMPLES = Path(__file__).resolve().parent.parent / "deploy" / "examples"
MAX_SECONDS = 540.0  # the client's probes end by themselves after 600 s
CHAOS_HELP = """\
Build the lab (as `metalpool-lab` does), then per scenario: settle, start watching from the
client (one ARP request per IPv4 address every 0.5 s; every 10 ms for the first address when
it should move), break one thing, heal it, watch a few seconds more, and print:

  a timeline per address (one column per 0.5 s: the digit of the node answering, '.' for
  nobody, 'X' for two or more), the longest outage and the split samples per address, each
  move of the first address (gap: nobody answered; overlap: both did) and a verdict.

scenarios:
  api-freeze       SIGSTOP the API server for --seconds, then SIGCONT: nothing may move
  api-outage       the API server refuses connections for --seconds: nothing may move
  crash            SIGKILL the speaker answering the first address; start it again 3 s later
  freeze           SIGSTOP that speaker for 3 s, then SIGCONT
  link-down        take that node's link down for 5 s, then up
  rolling-restart  restart every speaker in turn, waiting for each to be live

verdict: OK when no sample had two answerers, every address ends with one, and: api-* — nothing
moved, never unanswered; crash, freeze, link-down — outages <= 1.0 s, the first move (failover)
has a gap <= 1 s and no overlap; rolling-restart — outages <= 0.5 s; any later move (a hand-off)
has a gap <= 100 ms and an overlap <= 50 ms. Exit status 0 when every verdict is OK, else 1.
Needs root.
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="metalpool-lab",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command")
    up = commands.add_parser("up", help="run the lab (the default)")
    plan = commands.add_parser("plan", help="show which Service gets which IP from which pool")
    plan.add_argument("folder", nargs="?", type=Path, default=EXAMPLES, help="manifests to read")
    plan.add_argument("--namespace", default="metallb-system", help="where pools live")
    chaos = add_chaos(commands)
    for command in (parser, up):
        command.add_argument("--keep", action="store_true", help="leave the lab running")
    for command in (parser, up, chaos):
        command.add_argument("--nodes", type=int, default=3, help="node namespaces (2 to 9)")
        command.add_argument("--examples", type=Path, default=EXAMPLES, help="workloads to apply")
    args = parser.parse_args(argv)
    if args.command != "plan" and not 2 <= args.nodes <= 9:  # noqa: PLR2004 - documented range
        parser.error("--nodes must be between 2 and 9")
    if args.command == "chaos" and not 1 <= args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be between 1 and {MAX_SECONDS:g}")
    return args


def add_chaos(
    commands: "argparse._SubParsersAction[argparse.ArgumentParser]",
) -> argparse.ArgumentParser:
    """The `chaos` subcommand and its options."""
    chaos = commands.add_parser(
        "chaos",
        help="break things in the lab and show what the client saw",
        description=CHAOS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    chaos.add_argument("--scenario", choices=(*SCENARIOS, "all"), default="all",
                       help="what to break (default: all, in turn in one lab)")  # fmt: skip
    chaos.add_argument("--seconds", type=float, default=Timing().api,
                       help="how long api-freeze and api-outage stall the API server "
                            "(default: %(default)g; issue 8's tests use 60)")  # fmt: skip
    chaos.add_argument("--logs", type=Path, help="copy the processes' logs here before cleaning up")
    return chaos


def run_plan(args: argparse.Namespace) -> int:
    """The allocation preview."""
    if not args.folder.is_dir():
        print(f"metalpool-lab: {args.folder} is not a folder of manifests", file=sys.stderr)
        return 2
    print(f"Allocation preview of {args.folder} (the real allocator; no cluster, no network)\n")
    print(render(preview(load_manifests(args.folder), args.namespace)))
    return 0


def run_lab(args: argparse.Namespace) -> int:
    """Build the lab, show it, fail over, clean up."""
    problem = preflight()
    if problem:
        print(f"metalpool-lab: {problem}", file=sys.stderr)
        return 2
    with Lab(nodes=args.nodes, examples=args.examples) as lab:
        lab.build()
        print("waiting for addresses and announcements ...")
        rows = [
            dataclasses.replace(r, resolved=lab.node_of_mac(lab.resolve(r.ip)))
            for r in lab.settle()
        ]
        print_table(rows)
        print_lan(lab, rows)
        print()
        demo_failover(lab, rows)
        refused = print_rbac(lab)
        if args.keep:
            print(f"\nThe lab keeps running. Explore it:\n  export KUBECONFIG={lab.kubeconfig}\n"
                  "  kubectl get svc -A; kubectl get ipaddresspools,servicel2statuses -A\n"
                  f"Logs are in {lab.workdir}. Press Ctrl-C to stop and clean up.")  # fmt: skip
            wait_for_interrupt()
    print("cleaned up: processes stopped, namespaces deleted")
    return 1 if refused else 0


def print_rbac(lab: Lab) -> int:
    """Say whether deploy/'s RBAC let the programs do their work; how many calls it refused."""
    refused = lab.denials()
    if not refused:
        print("\nRBAC: the controller and the speakers ran as deploy/'s ServiceAccounts;"
              " nothing they asked for was refused")  # fmt: skip
        return 0
    print(f"\nRBAC refused {len(refused)} request(s) of the programs:", file=sys.stderr)
    for line in refused[:10]:
        print(f"  {line}", file=sys.stderr)
    return len(refused)


def run_chaos(args: argparse.Namespace) -> int:
    """Build the lab, run the scenarios asked for, clean up."""
    problem = preflight()
    if problem:
        print(f"metalpool-lab: {problem}", file=sys.stderr)
        return 2
    names = SCENARIOS if args.scenario == "all" else (args.scenario,)
    with Lab(nodes=args.nodes, examples=args.examples) as lab:
        lab.build()
        try:
            ok = run_scenarios(lab, names, timing=Timing(api=args.seconds), say=print)
        finally:
            if args.logs is not None:
                shutil.copytree(lab.workdir, args.logs, dirs_exist_ok=True)
                print(f"logs copied to {args.logs}")
    print("cleaned up: processes stopped, namespaces deleted")
    return 0 if ok else 1


def print_table(rows: list[Row]) -> None:
    """The per-Service table."""
    header = ("SERVICE", "IP", "POOL", "ANNOUNCED BY", "CLIENT RESOLVED TO")
    print("\n" + _columns(*header) + " CONDITION")
    for r in rows:
        print(_columns(r.service, r.ip, r.pool, r.node, r.resolved) + f" {r.state}")


def _columns(service: str, ip: str, pool: str, node: str, resolved: str) -> str:
    return f"{service:<26} {ip:<20} {pool:<13} {node:<13} {resolved:<19}"


def print_lan(lab: Lab, rows: list[Row]) -> None:
    """Addresses another device holds, and why the unannounced Services are not announced."""
    quarantined = lab.quarantined()
    if quarantined:
        print("\nQuarantined (another device answered the speaker's probe; never handed out):")
    for ip, entry in sorted(quarantined.items()):
        print(f"  {ip} in {entry.get('pool')}: held by {entry.get('mac')} on"
              f" {entry.get('interface')} (seen by {entry.get('node')}, taken from"
              f" {entry.get('service')})")  # fmt: skip
    unannounced = [r for r in rows if r.why]
    if unannounced:
        print("\nNot announced, and why (the Service's metallb.io/Announced condition):")
    for r in unannounced:
        print(f"  {r.service} {r.ip}: {r.state}: {r.why}")


def demo_failover(lab: Lab, rows: list[Row]) -> None:
    """Stop the speaker answering for one IPv4 address: first gracefully, then by a crash."""
    ipv4 = [r for r in rows if ":" not in r.ip and r.node != "-"]
    row = next((r for r in ipv4 if r.service.endswith("/web-app-lb")), ipv4[0] if ipv4 else None)
    if row is None:
        print("\nno announced Service to fail over")
        return
    for sig, how in ((signal.SIGTERM, "stopped (SIGTERM)"), (signal.SIGKILL, "killed (SIGKILL)")):
        old, new, seconds = lab.failover(row, sig)
        outcome = f"after {seconds:.2f} s" if seconds is not None else "not within 20 s"
        print(f"failover: speaker on {old} {how}: the client reaches {row.ip} ({row.service})"
              f" at {new} {outcome}")  # fmt: skip
        lab.start_speaker(old)
        lab.wait_speaker(old)


def wait_for_interrupt() -> None:
    """Block until Ctrl-C or SIGTERM."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()


def main(argv: list[str] | None = None) -> int:
    """Entry point of `metalpool-lab`."""
    args = parse_args(argv)
    if args.command == "plan":
        return run_plan(args)
    try:
        return run_chaos(args) if args.command == "chaos" else run_lab(args)
    except KeyboardInterrupt:
        print("\ninterrupted: cleaned up", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
