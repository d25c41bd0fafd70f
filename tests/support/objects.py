"""Builders for Kubernetes object dicts with sensible defaults and keyword overrides."""

from typing import Any

from metalpool.pools import Pool, parse_pool
from metalpool.services import LBService, parse_service


def pool_object(
    name: str,
    *addresses: str,
    namespace: str = "metallb-system",
    labels: dict[str, str] | None = None,
    created: str = "",
    **spec: Any,
) -> dict[str, Any]:
    """An IPAddressPool object; extra keywords go into `spec` as written (autoAssign=False...)."""
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = labels
    if created:
        meta["creationTimestamp"] = created
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": meta,
        "spec": {"addresses": list(addresses), **spec},
    }


def pool(name: str, *addresses: str, **spec: Any) -> Pool:
    """A parsed pool."""
    return parse_pool(pool_object(name, *addresses, **spec))


def service_object(
    name: str = "web",
    namespace: str = "demo",
    *,
    cluster_ips: tuple[str, ...] = ("10.96.0.10",),
    ports: tuple[tuple[str, int], ...] = (("TCP", 80),),
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    ingress: tuple[str, ...] = (),
    **spec: Any,
) -> dict[str, Any]:
    """A LoadBalancer Service object; extra keywords go into `spec` (ipFamilyPolicy=...)."""
    body: dict[str, Any] = {
        "type": "LoadBalancer",
        "clusterIP": cluster_ips[0] if cluster_ips else None,
        "clusterIPs": list(cluster_ips),
        "ports": [{"protocol": p, "port": n} for p, n in ports],
        "selector": {"app": name},
        **spec,
    }
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": annotations or {},
            "labels": labels or {},
        },
        "spec": body,
        "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ingress]}},
    }


def service(name: str = "web", namespace: str = "demo", **kwargs: Any) -> LBService:
    """A parsed Service."""
    return parse_service(service_object(name, namespace, **kwargs))


def shared(key: str) -> dict[str, str]:
    """Annotations that let a Service share its IP under `key`."""
    return {"metallb.io/allow-shared-ip": key}


def l2_advertisement_object(
    name: str = "l2", namespace: str = "metallb-system", **spec: Any
) -> dict[str, Any]:
    """An L2Advertisement object; keywords go into `spec` as written (nodeSelectors=[...])."""
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "L2Advertisement",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def node_object(
    name: str,
    *,
    labels: dict[str, str] | None = None,
    network_unavailable: bool | None = None,
) -> dict[str, Any]:
    """A Node object; `network_unavailable` adds a NetworkUnavailable condition (True/False)."""
    conditions: list[dict[str, str]] = [{"type": "Ready", "status": "True"}]
    if network_unavailable is not None:
        status = "True" if network_unavailable else "False"
        conditions.append({"type": "NetworkUnavailable", "status": status})
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels or {}},
        "status": {"conditions": conditions},
    }


def endpoint(
    node: str | None,
    *,
    ready: bool | None = True,
    serving: bool | None = None,
    terminating: bool | None = None,
    address: str = "10.1.0.1",
) -> dict[str, Any]:
    """One `endpoints[]` entry of an EndpointSlice; a None condition is left out."""
    conditions = {
        key: value
        for key, value in (("ready", ready), ("serving", serving), ("terminating", terminating))
        if value is not None
    }
    entry: dict[str, Any] = {"addresses": [address], "conditions": conditions}
    if node is not None:
        entry["nodeName"] = node
    return entry


def endpoint_slice_object(
    service: str = "web",
    namespace: str = "demo",
    *endpoints: dict[str, Any],
    name: str | None = None,
) -> dict[str, Any]:
    """An EndpointSlice of `namespace/service` holding `endpoints` (see `endpoint`)."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name or f"{service}-abcde",
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service},
        },
        "addressType": "IPv4",
        "endpoints": list(endpoints),
    }
