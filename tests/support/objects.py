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
