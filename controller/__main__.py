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

from controller import handlers, metrics
from controller.worker import Reconciler
from k8s import probes
from k8s.api import Api, load_config
from k8s.leases import LeaseHolder, LeaseLost, LeaseSettings
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
    leadership = LeaseHolder(
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
        if not leadership.holds_lease:
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


async def _lead(leadership: LeaseHolder, reconciler: Reconciler, stopping: asyncio.Event) -> int:
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
    kopf_stop, kopf_ready = asyncio.Event(), asyncio.Event()
    # Started before kopf, so kopf's own task bookkeeping leaves them alone.
    ours = [*reconciler.start(), asyncio.create_task(leadership.keep(), name="lease")]
    operator = asyncio.create_task(
        kopf.operator(
            registry=registry,
            settings=settings,
            clusterwide=True,
            standalone=True,
            stop_flag=kopf_stop,
            ready_flag=kopf_ready,
        ),
        name="kopf",
    )
    signals = asyncio.create_task(_take_back_signals(kopf_ready, stopping), name="signals")
    done, _ = await asyncio.wait({*ours, operator, stopped}, return_when=asyncio.FIRST_COMPLETED)
    code = _exit_code(done)
    for task in (*ours, stopped, signals):
        task.cancel()
    await asyncio.gather(*ours, return_exceptions=True)
    await leadership.release()
    kopf_stop.set()
    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
        await asyncio.wait_for(operator, timeout=10)
    return code


async def _take_back_signals(kopf_ready: asyncio.Event, stopping: asyncio.Event) -> None:
    """Once kopf is up, route SIGTERM/SIGINT to us again (kopf installs its own on start).

    Our stop releases the Lease before kopf stops, so a standby takes over at once.
    """
    await kopf_ready.wait()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)


def _exit_code(done: Set[asyncio.Task[Any]]) -> int:
    """0 for a requested stop; 1 when the Lease was lost or a task ended by itself."""
    for task in done:
        if task.get_name() == "lease" and isinstance(task.exception(), LeaseLost):
            logger.error("%s: stopping so that only one controller allocates", task.exception())
            return 1
        if task.get_name() in ("reconciler", "events", "kopf"):
            logger.error("%s ended unexpectedly: %r", task.get_name(), task.exception())
            return 1
    return 0


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
