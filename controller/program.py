"""The controller (`python -m controller`): give LoadBalancer Services their addresses.

Configuration comes from KUBECONFIG (or ~/.kube/config), else the in-cluster service account.
Only the replica that holds the Lease allocates; the others stand by, alive and ready.
Every replica, leading or not, makes sure the speakers' memberlist Secret exists.
"""

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket

import kopf

from controller import handlers, memberlist, metrics
from controller.worker import Reconciler
from k8s import operator, probes
from k8s.api import SERVICES, Api, connect
from k8s.leases import LeaseHolder, LeaseLost, LeaseSettings
from k8s.listwatch import ListWatch
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
    api = connect()
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
        api,
        api,
        namespace=args.namespace,
        lb_class=args.lb_class,
        identity=args.identity,
    )

    def why_not_ready() -> str | None:
        # A standby is ready: it is doing its job (waiting), and a Deployment whose standby is
        # never Ready can never finish a rollout. Who leads shows in the Lease.
        if leadership.holds_lease and not reconciler.synced:
            return "initial pass running"
        return None

    runner = await probes.serve(args.health_port, why_not_ready)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    # Apart from leadership and never in its way: a failure is retried in the background.
    secret = asyncio.create_task(
        memberlist.provide_memberlist(memberlist.Secrets(api), args.namespace),
        name="memberlist",
    )
    try:
        return await _lead(api, leadership, reconciler, stopping)
    finally:
        await leadership.release()
        secret.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await secret
        if runner is not None:
            await runner.cleanup()
        await api.close()


async def _lead(
    api: Api, leadership: LeaseHolder, reconciler: Reconciler, stopping: asyncio.Event
) -> int:
    acquiring = asyncio.create_task(leadership.acquire())
    stopped = asyncio.create_task(stopping.wait())
    await asyncio.wait({acquiring, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if not acquiring.done():
        acquiring.cancel()
        return 0
    acquiring.result()  # a failure to acquire is raised here: it must never lead to leading
    # Every Service is known before any decision: the store of record is read in full first.
    services = ListWatch(api, SERVICES, reconciler.service_event, what="Services")
    reconciler.services.load(await services.list())
    registry = kopf.OperatorRegistry()
    handlers.register(registry, reconciler)
    lease = asyncio.create_task(leadership.keep(), name="lease")
    follower = asyncio.create_task(services.follow(), name="services")
    done = await operator.run_beside(
        registry, api, [*reconciler.start(), lease, follower], stopping, leadership.release
    )
    if lease in done and isinstance(lease.exception(), LeaseLost):
        logger.error("%s: stopping so that only one controller allocates", lease.exception())
        return 1
    return 1 if operator.unexpected_end(done, logger) else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of `metalpool-controller`."""
    args = parse_args(argv)
    return operator.run_program(lambda: run(args), logger, verbose=args.verbose)
