"""`metalpool-speaker` / `python -m speaker`: answer ARP and NDP for the IPs this node owns.

Runs on every node (hostNetwork, CAP_NET_RAW). Configuration comes from KUBECONFIG, else the
in-cluster service account. SIGTERM hands over first: the speaker releases its Lease, so peers
take its IPs over at once (their gratuitous ARP/NA moves clients), and stops answering; answering
any longer would only make clients flap between the old and the new MAC.
"""

import argparse
import asyncio
import logging
import os
import sys
from typing import Any

import kopf
from aiohttp import web

from k8s import operator, probes
from k8s.api import Api, load_config
from k8s.leases import LeaseHolder, LeaseSettings
from metalpool import names
from speaker import metrics, watch
from speaker.membership.lease_watch import PeerLeases
from speaker.membership.leases import lease_name
from speaker.wire.answers import Tally
from speaker.wire.responder import Responder
from speaker.worker import Speaker

logger = logging.getLogger("speaker")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (DESIGN.md, "Stable interfaces")."""
    parser = argparse.ArgumentParser(prog="metalpool-speaker", description=__doc__)
    parser.add_argument("--node-name", default=os.environ.get("NODE_NAME"), help="env NODE_NAME")
    parser.add_argument(
        "--namespace",
        default=os.environ.get("METALPOOL_NAMESPACE", names.DEFAULT_NAMESPACE),
        help="where pools, advertisements, Leases and ServiceL2Statuses live",
    )
    parser.add_argument(
        "--interfaces",
        default="",
        help="comma-separated interfaces to answer on (default: discover, minus MetalLB's"
        " exclude list)",
    )
    parser.add_argument("--lb-class", default=None, help="handle only this loadBalancerClass")
    parser.add_argument("--metrics-port", type=int, default=7473, help="0 disables /metrics")
    parser.add_argument("--health-port", type=int, default=17473, help="0 disables the probes")
    parser.add_argument(
        "--lease-duration", type=float, default=3.0, help="seconds a silent speaker stays live"
    )
    parser.add_argument("--lease-renew", type=float, default=1.0, help="seconds between renewals")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    if not args.node_name:
        parser.error("--node-name (or env NODE_NAME) is required: which node is this?")
    if args.lease_renew >= args.lease_duration:
        parser.error("--lease-renew must be shorter than --lease-duration")
    return args


async def run(args: argparse.Namespace) -> int:
    """Announce until stopped."""
    api_client = load_config()
    api = Api(api_client)
    tally = Tally()
    allowed = frozenset(n for n in args.interfaces.split(",") if n) or None
    responder = Responder(tally, allowed_names=allowed)
    responder.start()
    lease = LeaseHolder(
        api,
        LeaseSettings(
            namespace=args.namespace,
            name=lease_name(args.node_name),
            identity=args.node_name,
            duration=args.lease_duration,
            renew_every=args.lease_renew,
            retry_every=args.lease_renew,
        ),
    )
    speaker = Speaker(
        api,
        responder,
        lease,
        node=args.node_name,
        namespace=args.namespace,
        lb_class=args.lb_class,
        lease_duration=args.lease_duration,
        pod=_owner_reference(),
    )
    peers = PeerLeases(api_client, args.namespace, speaker.peer_seen, speaker.peers_listed)
    peers.start()
    health = await probes.serve(args.health_port, lambda: None if speaker.synced else "starting")
    served = await _serve_metrics(args.metrics_port, tally)
    try:
        return await _announce(speaker, lease, args.namespace, api)
    finally:
        peers.stop()
        await lease.release()
        await speaker.withdraw_all()
        responder.stop()
        for runner in (health, served):
            if runner is not None:
                await runner.cleanup()


async def _announce(speaker: Speaker, lease: LeaseHolder, namespace: str, api: Api) -> int:
    # Listed in full before kopf starts: no election runs on a partial view of the cluster.
    speaker.services.load(await api.list_services())
    speaker.slices.load(await api.list_endpoint_slices())
    registry = kopf.OperatorRegistry()
    watch.register(registry, speaker, namespace)

    async def hand_over() -> None:
        # Release first: peers see it within milliseconds and announce. Then stop answering at
        # once, before kopf winds down: answering on would only make clients flap back to us.
        await lease.release()
        await speaker.withdraw_all()

    done = await operator.run_beside(registry, speaker.start(), asyncio.Event(), hand_over)
    return 1 if operator.unexpected_end(done, logger) else 0


async def _serve_metrics(port: int, tally: Tally) -> web.AppRunner | None:
    if not port:
        return None

    async def page(_: web.Request) -> web.Response:
        return web.Response(body=metrics.render(tally), content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_get("/metrics", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, port=port).start()
    return runner


def _owner_reference() -> dict[str, Any] | None:
    """The speaker Pod as owner of its ServiceL2Statuses (from the downward API, if given)."""
    name, uid = os.environ.get("POD_NAME"), os.environ.get("POD_UID")
    if not (name and uid):
        return None
    return {"apiVersion": "v1", "kind": "Pod", "name": name, "uid": uid}


def main(argv: list[str] | None = None) -> int:
    """Entry point of `metalpool-speaker`."""
    args = parse_args(argv)
    operator.configure_logging(args.verbose)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
