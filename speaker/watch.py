"""kopf registrations for the speaker: read-only indexes of everything an election needs.

Shell. Every index parses its objects once, as they arrive, into the frozen types the pure
core takes; the handlers only wake the worker. (Speaker Leases are watched in speaker.peers.)
Nothing is written on any watched object: no finalizers, no progress annotations, on no Service.
"""

import logging
from collections.abc import Mapping
from typing import Any

import kopf

from metalpool import names
from metalpool.errors import SpecError
from metalpool.services import parse_ingress, parse_service
from speaker.announcements import ServiceIPs
from speaker.cluster import parse_endpoint_slice, parse_node
from speaker.l2status import parse_existing
from speaker.worker import Speaker, Views

logger = logging.getLogger(__name__)
LENIENT_DROP = (names.PREFIX, names.DEPRECATED_PREFIX)


def parse_service_ips(body: Mapping[str, Any]) -> ServiceIPs | None:
    """The Service and its IPs; inputs only the controller needs are dropped if they are bad.

    A Service whose `loadBalancerIPs` annotation is broken still holds its address (the
    controller keeps it), so the speaker must keep announcing it.
    """
    try:
        ingress = parse_ingress(body)
    except SpecError as error:
        logger.warning("not announcing: %s", error)
        return None
    try:
        return ServiceIPs(service=parse_service(body), ingress=ingress)
    except SpecError:
        meta = dict(body.get("metadata") or {})
        kept = {
            k: v
            for k, v in (meta.get("annotations") or {}).items()
            if not k.startswith(LENIENT_DROP)
        }
        spec = {k: v for k, v in (body.get("spec") or {}).items() if k != "loadBalancerIP"}
        try:
            service = parse_service(
                {**body, "metadata": {**meta, "annotations": kept}, "spec": spec}
            )
        except SpecError as error:
            logger.warning("not announcing: %s", error)
            return None
        return ServiceIPs(service=service, ingress=ingress)


def register(registry: kopf.OperatorRegistry, speaker: Speaker, namespace: str) -> None:
    """Register the speaker's indexes and handlers in `registry`."""

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_via_client(**kwargs)

    @kopf.index("", "v1", "services", registry=registry, id="services")
    def services(*, body: kopf.Body, namespace: str | None, name: str, **_: Any) -> Any:
        return {(namespace, name): parse_service_ips(body)}

    @kopf.index("discovery.k8s.io", "v1", "endpointslices", registry=registry, id="slices")
    def slices(*, body: kopf.Body, namespace: str | None, name: str, **_: Any) -> Any:
        try:
            return {(namespace, name): parse_endpoint_slice(body)}
        except SpecError as error:
            logger.warning("ignoring: %s", error)
            return {}

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
                services=kwargs["services"],
                slices=kwargs["slices"],
                nodes=kwargs["nodes"],
                pools=kwargs["pools"],
                ads=kwargs["ads"],
                l2s=kwargs["l2s"],
            )
        )

    for group, version, plural in (
        ("", "v1", "services"),
        ("discovery.k8s.io", "v1", "endpointslices"),
        ("", "v1", "nodes"),
        (names.GROUP, names.VERSION, names.POOL_PLURAL),
        (names.GROUP, names.VERSION, names.L2_PLURAL),
        (names.GROUP, names.VERSION, names.L2_STATUS_PLURAL),
    ):

        @kopf.on.event(group, version, plural, registry=registry, id=f"wake-{plural}")
        async def changed(**kwargs: Any) -> None:
            attach(kwargs)
            speaker.touch()
