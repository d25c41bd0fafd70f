"""The speaker (`python -m speaker`): answer ARP and NDP for the IPs this node owns.

Runs on every node (hostNetwork, CAP_NET_RAW). Configuration comes from KUBECONFIG, else the
in-cluster service account. Liveness is learnt on the LAN: authenticated heartbeats every
--heartbeat-interval on every interface answered on (EtherType 0x88B5); a peer silent for its
hold time is dead (docs/membership.md). SIGTERM hands over first: the speaker stops answering
and says goodbye on the LAN, so peers take its IPs over at once (their gratuitous ARP/NA moves
clients); then it releases its Lease (the fallback for peers that cannot hear it on the LAN).
"""

import argparse
import asyncio
import logging
import os
import time
from typing import Any

import kopf
from aiohttp import web

from k8s import operator, probes
from k8s.api import Api, connect
from k8s.leases import LeaseHolder, LeaseSettings
from metalpool import names
from speaker import metrics, watch
from speaker.lan.guard import PROBES, RECHECK, REPROBE, WINDOW, Timing
from speaker.membership.heartbeats import HEARTBEAT_HOLD, HEARTBEAT_INTERVAL, Heartbeats
from speaker.membership.keys import KeyRing
from speaker.membership.lease_watch import PeerLeases
from speaker.membership.leases import lease_name
from speaker.wire.answers import Tally
from speaker.wire.claims import Heard
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
    parser.add_argument(
        "--ignore-exclude-lb",
        action="store_true",
        help="announce from nodes labelled node.kubernetes.io/exclude-from-external-load-"
        "balancers too (MetalLB's flag: single-node kubeadm, kind and Talos clusters label"
        " their only node)",
    )
    parser.add_argument("--metrics-port", type=int, default=7473, help="0 disables /metrics")
    parser.add_argument("--health-port", type=int, default=17473, help="0 disables the probes")
    parser.add_argument(
        "--lease-duration",
        type=float,
        default=30.0,
        help="seconds a peer never heard on the LAN stays live without renewing its Lease",
    )
    parser.add_argument(
        "--lease-renew", type=float, default=10.0, help="seconds between Lease renewals"
    )
    parser.add_argument(
        "--heartbeat-interval",
        type=float,
        default=HEARTBEAT_INTERVAL,
        help="seconds between heartbeats on the LAN",
    )
    parser.add_argument(
        "--heartbeat-hold",
        type=float,
        default=HEARTBEAT_HOLD,
        help="seconds of silence after which peers count this speaker dead",
    )
    parser.add_argument(
        "--memberlist-secret",
        default=names.MEMBERLIST_SECRET,
        help="the Secret (in --namespace) whose data.secretkey signs LAN heartbeats",
    )
    parser.add_argument(
        "--probe-window",
        type=float,
        default=WINDOW,
        help="seconds an address is probed before its first announcement (0: never probe;"
        " docs/lan.md)",
    )
    parser.add_argument(
        "--reprobe-interval",
        type=float,
        default=REPROBE,
        help="seconds between probes of an address another device holds",
    )
    parser.add_argument(
        "--recheck-interval",
        type=float,
        default=RECHECK,
        help="seconds between probes of an announced address",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    if not args.node_name:
        parser.error("--node-name (or env NODE_NAME) is required: which node is this?")
    if args.lease_renew >= args.lease_duration:
        parser.error("--lease-renew must be shorter than --lease-duration")
    if not 0 < args.heartbeat_interval * 2 <= args.heartbeat_hold <= 60:  # noqa: PLR2004
        parser.error("--heartbeat-hold must be at least twice --heartbeat-interval (at most 60 s)")
    if args.probe_window < 0 or args.reprobe_interval <= 0 or args.recheck_interval <= 0:
        parser.error("--probe-window must be >= 0, the re-probe and recheck intervals > 0")
    return args


def _timing(args: argparse.Namespace) -> Timing:
    return Timing(
        spacing=args.probe_window / PROBES,
        window=args.probe_window,
        reprobe=args.reprobe_interval,
        recheck=args.recheck_interval,
    )


async def run(args: argparse.Namespace) -> int:
    """Announce until stopped."""
    api = connect()
    tally = Tally()
    allowed = frozenset(n for n in args.interfaces.split(",") if n) or None
    membership = Heartbeats(
        args.node_name,
        lease_duration=args.lease_duration,
        interval=args.heartbeat_interval,
        hold=args.heartbeat_hold,
        now=time.monotonic(),
    )
    loop = asyncio.get_running_loop()

    def heard(claims: list[Heard]) -> None:  # from the responder thread
        # Claims come only for watched addresses, which the speaker sets: it exists by then.
        loop.call_soon_threadsafe(speaker.heard, claims)

    responder = Responder(
        tally,
        allowed_names=allowed,
        chatter=membership,
        stall_limit=args.heartbeat_hold,
        on_heard=heard,
    )
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
        membership,
        node=args.node_name,
        namespace=args.namespace,
        lb_class=args.lb_class,
        ignore_exclude_lb=args.ignore_exclude_lb,
        pod=_owner_reference(),
        timing=_timing(args),
    )

    def wake() -> None:  # from the responder thread
        loop.call_soon_threadsafe(speaker.touch)

    membership.attach(wake)
    keyring = asyncio.create_task(
        KeyRing(api, args.namespace, membership.set_keys, args.memberlist_secret).run(),
        name="keys",
    )
    excludes = asyncio.create_task(
        watch.follow_excludes(api, args.namespace, responder.set_excludes), name="excludes"
    )
    peers = asyncio.create_task(
        PeerLeases(api, args.namespace, speaker.peer_seen, speaker.peers_listed).run(),
        name="peer-leases",
    )
    health = await probes.serve(args.health_port, lambda: None if speaker.synced else "starting")
    served = await _serve_metrics(args.metrics_port, tally, membership)
    try:
        return await _announce(speaker, lease, args.namespace, api)
    finally:
        for task in (keyring, excludes, peers):
            task.cancel()
        # Their connections go back to the pool before it closes (below).
        await asyncio.wait((keyring, excludes, peers), timeout=1.0)
        await speaker.withdraw_all()
        responder.stop()
        await lease.release()
        for runner in (health, served):
            if runner is not None:
                await runner.cleanup()
        await api.close()


async def _announce(speaker: Speaker, lease: LeaseHolder, namespace: str, api: Api) -> int:
    # Listed in full before kopf starts: no election runs on a partial view of the cluster.
    services, slices = watch.mirrors(api, speaker)
    speaker.services.load(await services.list())
    speaker.slices.load(await slices.list())
    registry = kopf.OperatorRegistry()
    watch.register(registry, speaker, namespace)

    async def hand_over() -> None:
        # Stop answering and say goodbye on the LAN first: peers take over within milliseconds.
        # The Lease is released after: the API may be slow or away, and the LAN need not wait.
        await speaker.withdraw_all()
        await lease.release()

    followers = [
        asyncio.create_task(services.follow(), name="services"),
        asyncio.create_task(slices.follow(), name="endpointslices"),
    ]
    ours = [*speaker.start(), *followers]
    done = await operator.run_beside(registry, api, ours, asyncio.Event(), hand_over)
    return 1 if operator.unexpected_end(done, logger) else 0


async def _serve_metrics(port: int, tally: Tally, membership: Heartbeats) -> web.AppRunner | None:
    if not port:
        return None

    async def page(_: web.Request) -> web.Response:
        body = metrics.render(tally, membership)
        return web.Response(body=body, content_type="text/plain", charset="utf-8")

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
    return operator.run_program(lambda: run(args), logger, verbose=args.verbose)
