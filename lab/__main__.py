"""`metalpool-lab` / `python -m lab`: MetalPool on a machine with no cluster.

`metalpool-lab` (or `metalpool-lab up`) builds the lab — an emulated API server, nodes and a
client in network namespaces, the controller and a speaker per node — prints which node answers
for each Service's address and the MAC the client resolved, stops an announcing speaker to show
a failover, and cleans up (`--keep` leaves it running until Ctrl-C). Needs root.
`metalpool-lab plan [folder]` only runs the allocator over manifests: no root, no network.
"""

import argparse
import contextlib
import dataclasses
import signal
import sys
import threading
from pathlib import Path

from lab.demo import Lab, Row, preflight
from lab.preview import load_manifests, preview, render

EXAMPLES = Path(__file__).resolve().parent.parent / "deploy" / "examples"


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
    for command in (parser, up):
        command.add_argument("--keep", action="store_true", help="leave the lab running")
        command.add_argument("--nodes", type=int, default=3, help="node namespaces (2 to 9)")
        command.add_argument("--examples", type=Path, default=EXAMPLES, help="workloads to apply")
    args = parser.parse_args(argv)
    if args.command != "plan" and not 2 <= args.nodes <= 9:  # noqa: PLR2004 - documented range
        parser.error("--nodes must be between 2 and 9")
    return args


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
        print()
        demo_failover(lab, rows)
        if args.keep:
            print(f"\nThe lab keeps running. Explore it:\n  export KUBECONFIG={lab.kubeconfig}\n"
                  "  kubectl get svc -A; kubectl get ipaddresspools,servicel2statuses -A\n"
                  f"Logs are in {lab.workdir}. Press Ctrl-C to stop and clean up.")  # fmt: skip
            wait_for_interrupt()
    print("cleaned up: processes stopped, namespaces deleted")
    return 0


def print_table(rows: list[Row]) -> None:
    """The per-Service table."""
    print(f"\n{'SERVICE':<26} {'IP':<20} {'POOL':<12} {'ANNOUNCED BY':<13} CLIENT RESOLVED TO")
    for r in rows:
        print(f"{r.service:<26} {r.ip:<20} {r.pool:<12} {r.node:<13} {r.resolved}")


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
        return run_lab(args)
    except KeyboardInterrupt:
        print("\ninterrupted: cleaned up", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
