"""The many objects the speaker reads, parsed leniently: a bad one is logged and left out.

Shell-side (it logs). A Service whose MetalPool annotations are broken still holds its address,
so the speaker keeps announcing it; an unreadable EndpointSlice only loses its own endpoints.
"""

import logging
from collections.abc import Mapping
from typing import Any

from metalpool import names
from metalpool.errors import SpecError
from metalpool.services import parse_ingress, parse_service
from speaker.cluster.announcements import ServiceIPs
from speaker.cluster.nodes import EndpointSlice, parse_endpoint_slice

logger = logging.getLogger(__name__)
LENIENT_DROP = (names.PREFIX, names.DEPRECATED_PREFIX)


def parse_slice(body: Mapping[str, Any]) -> EndpointSlice | None:
    """An EndpointSlice, or None (logged) when it cannot be read."""
    try:
        return parse_endpoint_slice(body)
    except SpecError as error:
        logger.warning("ignoring: %s", error)
        return None


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
