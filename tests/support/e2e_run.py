"""`bin/e2e`: install deploy/ into the cluster in KUBECONFIG, run the API tier there (T4), clean up.

Shell (kubectl, pytest). Installs what `kubectl kustomize deploy/` renders, less the speaker
DaemonSet (tests/support/e2e.py `check_installed` says why), with `--image` on both workloads;
waits for the controller's Lease to be renewed (the readiness rule a real cluster and the
emulated server share); runs `pytest tests/controller/api -m "not wire"` with METALPOOL_E2E=1;
then deletes what it applied, unless `--keep` or unless deploy/ was there before it started
(then it is someone else's and stays). The exit status is pytest's, or 2 when the tier cannot
start (one line on stderr says why).
"""

import argparse
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from lab.kubectl import kubectl_problem
from tests.support import e2e

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "ghcr.io/metalpool/metalpool"  # deploy/'s image, without its tag
CANNOT_START = 2


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line: bin/e2e [--image REF] [--keep] [--timeout S] [-- pytest args]."""
    parser = argparse.ArgumentParser(prog="bin/e2e", description=__doc__)
    parser.add_argument("--image", help="the image both workloads run (default: deploy/'s)")
    parser.add_argument("--keep", action="store_true", help="leave deploy/ installed at the end")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for the controller"
    )
    parser.add_argument("pytest_args", nargs="*", help="after --: more arguments for pytest")
    return parser.parse_args(argv)


def manifests(config: Path, image: str | None) -> str:
    """deploy/ as kubectl renders it, without the speaker DaemonSet, with `image` if given."""
    rendered = e2e.kubectl(config, "kustomize", str(ROOT / "deploy"))
    documents = [
        document
        for document in yaml.safe_load_all(rendered)
        if document and document["kind"] != "DaemonSet"
    ]
    if image:
        for container in containers(documents):
            if str(container.get("image", "")).startswith(f"{IMAGE}:"):
                container["image"] = image
    return yaml.safe_dump_all(documents, sort_keys=False)


def containers(documents: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    """Every container of every workload in `documents`."""
    for document in documents:
        pod = ((document.get("spec") or {}).get("template") or {}).get("spec") or {}
        yield from pod.get("containers") or ()
        yield from pod.get("initContainers") or ()


def is_installed(config: Path) -> bool:
    """Whether deploy/'s controller Deployment exists already."""
    found = e2e.kubectl(
        config, "get", "deployment", "metalpool-controller", "-n", e2e.NAMESPACE,
        "--ignore-not-found", "-o", "name",
    )  # fmt: skip
    return bool(found.strip())


def diagnose(config: Path) -> None:
    """What the controller's pods are doing, on stderr, for a controller that never led."""
    for args in (
        ("get", "deployment,pods", "-n", e2e.NAMESPACE, "-o", "wide"),
        ("logs", "deployment/metalpool-controller", "-n", e2e.NAMESPACE, "--tail=30"),
    ):
        try:
            sys.stderr.write(e2e.kubectl(config, *args))
        except e2e.E2EError as error:
            sys.stderr.write(f"{error}\n")


def run_tier(config: Path, pytest_args: list[str]) -> int:
    """pytest on the API tier against the cluster; its exit status."""
    env = {**os.environ, e2e.ENABLED: "1", "KUBECONFIG": str(config)}
    command = [
        sys.executable, "-m", "pytest", "tests/controller/api", "-m", "not wire", *pytest_args,
    ]  # fmt: skip
    return subprocess.run(command, env=env, cwd=ROOT, check=False).returncode  # noqa: S603


def main(argv: list[str] | None = None) -> int:
    """Install, wait, test, remove; pytest's exit status."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    problem = kubectl_problem()
    if problem:
        sys.stderr.write(f"bin/e2e: {problem}\n")
        return CANNOT_START
    try:
        config = e2e.kubeconfig()
        e2e.check_reachable(config)
        ours = not is_installed(config)
        rendered = manifests(config, args.image) if ours or args.image else ""
        if rendered:
            e2e.kubectl(config, "apply", "-f", "-", stdin=rendered)
    except e2e.E2EError as error:
        sys.stderr.write(f"bin/e2e: {error}\n")
        return CANNOT_START
    try:
        return wait_and_test(config, args)
    finally:
        if ours and not args.keep:
            remove(config, rendered)


def wait_and_test(config: Path, args: argparse.Namespace) -> int:
    """Wait for the controller to lead, then run the tier."""
    try:
        holder = e2e.LeaderWatch(config).wait(args.timeout)
    except e2e.E2EError as error:
        sys.stderr.write(f"bin/e2e: {error}\n")
        diagnose(config)
        return CANNOT_START
    sys.stderr.write(f"bin/e2e: the controller {holder} holds the Lease; testing\n")
    return run_tier(config, args.pytest_args)


def remove(config: Path, rendered: str) -> None:
    """Delete what was applied, and wait until it is gone."""
    try:
        e2e.kubectl(config, "delete", "-f", "-", "--ignore-not-found", "--wait",
                    f"--timeout={e2e.GONE_WITHIN:.0f}s", stdin=rendered,
                    timeout=e2e.GONE_WITHIN + 10)  # fmt: skip
    except e2e.E2EError as error:
        sys.stderr.write(f"bin/e2e: could not remove deploy/: {error}\n")


if __name__ == "__main__":
    sys.exit(main())
