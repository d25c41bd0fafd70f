"""`metalpool-controller` / `python -m controller`: give LoadBalancer Services their addresses.

Configuration comes from KUBECONFIG (or ~/.kube/config), else the in-cluster service account.
Only the replica that holds the Lease allocates; the others stand by, alive but not ready.
"""

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Set
from typing import Any

import kopf

from controller import handlers, metrics, probes
from controller.kube import Api, load_config
from controller.leadership import Leadership, LeadershipLost, LeaseSettings
from controller.worker import Reconciler
from metalpool import names

logger = logging.getLogger("controller")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (DESIGN.md, "Stable interfaces")."""
    parser = argparse.ArgumentParser(prog="metalpool-controller", description=__doc__)
    parser.add_argument(
        "--namespace",
        default=os.environ.get("METALPOOL_NAMESPACE", names.DEFAULT_NAMESPACE),
        help="where IPAddressPools and the Lease live (env METALPOOL_NAMESPACE)",
    )
    parser.add_argument(
        "--lb-class", default=None, help="handle only Services of this loadBalancerClass"
    )
    parser.add_argument("--metrics-port", type=int, default=7472, help="0 disables /metrics")
    parser.add_argument("--health-port", type=int, default=17472, help="0 disables the probes")
    parser.add_argument("--lease-duration", type=float, default=15.0, help="seconds")
    parser.add_argument("--lease-renew", type=float, default=5.0, help="seconds between renewals")
    parser.add_argument(
        "--identity",
        default=os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}",
        help="this replica's name in the Lease (env POD_NAME)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    """Stand by until the Lease is ours, then reconcile until stopped or the Lease is lost."""
    api = Api(load_config())
    metrics.serve(args.metrics_port)
    leadership = Leadership(
        api,
        LeaseSettings(
            namespace=args.namespace,
            identity=args.identity,
            duration=args.lease_duration,
            renew_every=args.lease_renew,
            retry_every=min(2.0, args.lease_renew),
        ),
    )
    reconciler = Reconciler(
        api, namespace=args.namespace, lb_class=args.lb_class, identity=args.identity
    )

    def why_not_ready() -> str | None:
        if not leadership.is_leader:
            return "standing by for the Lease"
        return None if reconciler.synced else "initial pass running"

    runner = await probes.serve(args.health_port, why_not_ready)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        return await _lead(leadership, reconciler, stopping)
    finally:
        await leadership.release()
        if runner is not None:
            await runner.cleanup()


async def _lead(leadership: Leadership, reconciler: Reconciler, stopping: asyncio.Event) -> int:
    acquiring = asyncio.create_task(leadership.acquire())
    stopped = asyncio.create_task(stopping.wait())
    await asyncio.wait({acquiring, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if not acquiring.done():
        acquiring.cancel()
        return 0
    registry = kopf.OperatorRegistry()
    handlers.register(registry, reconciler)
    settings = kopf.OperatorSettings()
    settings.posting.enabled = False  # Events are ours to post, with MetalLB's reasons
    settings.scanning.disabled = True  # cluster-wide: no namespace or CRD scanning needed
    kopf_stop = asyncio.Event()
    # Created before kopf starts, so kopf's own task bookkeeping leaves them alone.
    working = asyncio.create_task(reconciler.run(), name="reconciler")
    keeping = asyncio.create_task(leadership.keep(), name="lease")
    operator = asyncio.create_task(
        kopf.operator(
            registry=registry,
            settings=settings,
            clusterwide=True,
            standalone=True,
            stop_flag=kopf_stop,
        ),
        name="kopf",
    )
    tasks = {working, keeping, operator, stopped}
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    code = _exit_code(done, keeping, working)
    kopf_stop.set()
    for task in (working, keeping, stopped):
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(operator, timeout=10)
    return code


def _exit_code(
    done: Set[asyncio.Task[Any]], keeping: asyncio.Task[None], working: asyncio.Task[None]
) -> int:
    if keeping in done:
        error = keeping.exception()
        if isinstance(error, LeadershipLost):
            logger.error("%s: stopping so that only one controller allocates", error)
        return 1
    if working in done:
        logger.error("the reconcile loop ended: %r", working.exception())
        return 1
    return 0  # a signal (ours, or kopf's own handler ending the operator)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `metalpool-controller`."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("kopf").setLevel(logging.INFO if args.verbose else logging.WARNING)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
