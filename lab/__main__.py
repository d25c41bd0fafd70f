"""`metalpool-lab` / `python -m lab`: MetalPool on a machine with no cluster.

Today it runs the allocation preview (`plan`): the real allocator over deploy/examples. The
networked lab (API server, namespaced nodes, speakers, live failover) arrives with its issue.
"""

import argparse
import sys
from pathlib import Path

from lab.preview import load_manifests, preview, render

EXAMPLES = Path(__file__).resolve().parent.parent / "deploy" / "examples"


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen job; returns the exit status."""
    parser = argparse.ArgumentParser(prog="metalpool-lab", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    plan = commands.add_parser("plan", help="show which Service gets which IP from which pool")
    plan.add_argument("folder", nargs="?", type=Path, default=EXAMPLES, help="manifests to read")
    plan.add_argument("--namespace", default="metallb-system", help="where pools live")
    args = parser.parse_args(argv)
    folder: Path = getattr(args, "folder", EXAMPLES)
    if not folder.is_dir():
        print(f"metalpool-lab: {folder} is not a folder of manifests", file=sys.stderr)
        return 2
    result = preview(load_manifests(folder), getattr(args, "namespace", "metallb-system"))
    print(f"Allocation preview of {folder} (the real allocator; no cluster, no network)\n")
    print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
