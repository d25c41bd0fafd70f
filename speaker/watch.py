"""kopf registrations for the speaker: read-only indexes of everything an election needs.

Shell. Services and EndpointSlices (thousands) are mirrored by the worker: listed before kopf
starts, then kept current by their own watches (`mirrors`, k8s/listwatch.py), not kopf's. The
small kinds are kopf indexes. Either way each object is parsed once, as it arrives, into the
frozen types the pure core takes.
(Speaker Leases are watched in speaker.membership.lease_watch.)
MetalLB's `metallb-excludel2` ConfigMap is read every 10 s by `follow_excludes`, not watched: a
kopf watch would be cluster-wide, and the speaker may read ConfigMaps only in its namespace.
Nothing is written here: no finalizers, no progress annotations. (The speaker's only writes on
a Service are the `metallb.io/Announced` condition and the address-conflict annotation, made
by speaker.reports, docs/lan.md.)
"""

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import kopf

from k8s.api import ENDPOINT_SLICES, SERVICES, Api, ApiError
from k8s.listwatch import ListWatch
from metalpool import names
from metalpool.errors import SpecError
from speaker.cluster.l2status import parse_existing
from speaker.cluster.nodes import parse_node
from speaker.wire.interfaces import (
    EXCLUDE_CONFIGMAP,
    EXCLUDE_KEY,
    ExcludeConfigError,
    parse_exclude_config,
)
from speaker.wire.responder import RESCAN_INTERVAL
from speaker.worker import Speaker, Views

logger = logging.getLogger(__name__)


def mirrors(api: Api, speaker: Speaker) -> tuple[ListWatch, ListWatch]:
    """The Services' and the EndpointSlices' list-watches, feeding the worker's mirrors."""

    def service_changed(kind: str, obj: Mapping[str, Any]) -> None:
        speaker.services.event(kind, obj)
        speaker.touch()

    def slice_changed(kind: str, obj: Mapping[str, Any]) -> None:
        speaker.slices.event(kind, obj)
        speaker.touch()

    return (
        ListWatch(api, SERVICES, service_changed, what="Services"),
        ListWatch(api, ENDPOINT_SLICES, slice_changed, what="EndpointSlices"),
    )


def register(registry: kopf.OperatorRegistry, speaker: Speaker, namespace: str) -> None:
    """Register the speaker's indexes and handlers in `registry`."""

    @kopf.index("", "v1", "nodes", registry=registry, id="nodes")
    def nodes(*, body: kopf.Body, name: str, **_: Any) -> Any:
        try:
            return {name: parse_node(body)}
        except SpecError as error:
            logger.warning("ignoring: %s", error)
            return {}

    def ours(ns: str | None) -> bool:
        return ns == namespace

    @kopf.index(names.GROUP, names.VERSION, names.POOL_PLURAL, registry=registry, id="pools")
    def pools(*, body: kopf.Body, namespace: str | None, name: str, **_: Any) -> Any:
        return {name: dict(body)} if ours(namespace) else {}

    @kopf.index(names.GROUP, names.VERSION, names.L2_PLURAL, registry=registry, id="ads")
    def ads(*, body: kopf.Body, namespace: str | None, name: str, **_: Any) -> Any:
        return {name: dict(body)} if ours(namespace) else {}

    @kopf.index(names.GROUP, names.VERSION, names.L2_STATUS_PLURAL, registry=registry, id="l2s")
    def l2s(*, body: kopf.Body, namespace: str | None, name: str, **_: Any) -> Any:
        existing = parse_existing(body) if ours(namespace) else None
        return {name: existing} if existing else {}

    def attach(kwargs: dict[str, Any]) -> None:
        speaker.attach(
            Views(
                nodes=kwargs["nodes"],
                pools=kwargs["pools"],
                ads=kwargs["ads"],
                l2s=kwargs["l2s"],
            )
        )

    for group, version, plural in (
        ("", "v1", "nodes"),
        (names.GROUP, names.VERSION, names.POOL_PLURAL),
        (names.GROUP, names.VERSION, names.L2_PLURAL),
        (names.GROUP, names.VERSION, names.L2_STATUS_PLURAL),
    ):

        @kopf.on.event(group, version, plural, registry=registry, id=f"wake-{plural}")
        async def changed(**kwargs: Any) -> None:
            attach(kwargs)
            speaker.touch()


async def follow_excludes(
    api: Api,
    namespace: str,
    deliver: Callable[[Sequence[str]], None],
    every: float = RESCAN_INTERVAL,
) -> None:
    """Keep the responder's exclude list that of the `metallb-excludel2` ConfigMap, until cancelled.

    Level-triggered: read every `every` seconds, delivered when the list changes. No ConfigMap:
    the defaults. A malformed one, or an API failure, keeps the list in use.
    """
    where = f"ConfigMap {namespace}/{EXCLUDE_CONFIGMAP}"
    current: tuple[str, ...] | None = None  # None: the responder's defaults, nothing delivered
    refused: object = None  # the malformed data last logged, so it is logged once
    while True:
        try:
            configmap = await api.read_config_map(namespace, EXCLUDE_CONFIGMAP)
        except ApiError as error:
            logger.warning("reading %s: %s; keeping the exclude list", where, error)
            await asyncio.sleep(every)
            continue
        except Exception as error:  # noqa: BLE001 - a loop boundary: any failure keeps the list
            logger.warning("reading %s failed: %s; keeping the exclude list", where, error)
            await asyncio.sleep(every)
            continue
        data: dict[str, str] | None = None if configmap is None else configmap.get("data") or {}
        try:
            patterns = parse_exclude_config(data)
        except ExcludeConfigError as error:
            if data != refused:
                logger.warning(
                    "%s, key %s: %s; keeping the exclude list in use", where, EXCLUDE_KEY, error
                )
                refused = data
        else:
            refused = None
            if patterns != current and not (current is None and data is None):
                deliver(patterns)
                logger.info(
                    "interfaces excluded from layer 2 (%s): %s",
                    where if data is not None else "defaults",
                    ", ".join(patterns) or "none",
                )
            current = patterns
        await asyncio.sleep(every)
