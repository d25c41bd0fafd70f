"""Stand-ins for what kubelets and the endpoint controller would do: Nodes and EndpointSlices.

Pure. The lab has no kubelet, so its Pods never run; the speakers only need to know which nodes
have ready endpoints, so each Service gets an EndpointSlice placing its workload's replicas on
nodes round-robin (a DaemonSet on every node), with addresses from 10.244.0.0/16 — data only.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

POD_NETWORK = "10.244"


def node_object(name: str, address: str) -> dict[str, Any]:
    """A Ready Node named `name` with InternalIP `address`."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {
            "addresses": [{"type": "InternalIP", "address": address}],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def replicas_by_selector(
    objects: Iterable[Mapping[str, Any]],
) -> list[tuple[dict[str, str], int | None]]:
    """(pod labels, replicas) of every workload; None replicas means one per node (DaemonSet)."""
    found = []
    for obj in objects:
        kind = obj.get("kind")
        if kind not in ("Deployment", "StatefulSet", "DaemonSet"):
            continue
        spec = obj.get("spec") or {}
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        replicas = None if kind == "DaemonSet" else int(spec.get("replicas", 1))
        found.append((dict(labels), replicas))
    return found


def endpoint_slices(
    objects: Sequence[Mapping[str, Any]], nodes: Sequence[str]
) -> list[dict[str, Any]]:
    """One ready EndpointSlice per Service with a selector, its endpoints spread over `nodes`."""
    workloads = replicas_by_selector(objects)
    slices = []
    services = [o for o in objects if o.get("kind") == "Service"]
    for index, svc in enumerate(services):
        selector = (svc.get("spec") or {}).get("selector") or {}
        if not selector:
            continue
        placed = _placement(selector, workloads, nodes, start=index)
        if not placed:
            continue
        meta = svc.get("metadata") or {}
        slices.append(_slice(meta.get("namespace", "default"), meta["name"], svc, placed, index))
    return slices


def _placement(
    selector: Mapping[str, str],
    workloads: Iterable[tuple[dict[str, str], int | None]],
    nodes: Sequence[str],
    start: int,
) -> list[str]:
    for labels, replicas in workloads:
        if all(labels.get(k) == v for k, v in selector.items()):
            count = len(nodes) if replicas is None else min(replicas, len(nodes))
            return [nodes[(start + i) % len(nodes)] for i in range(count)]
    return []


def _slice(
    namespace: str, name: str, svc: Mapping[str, Any], placed: Sequence[str], index: int
) -> dict[str, Any]:
    ports = [
        {"name": p.get("name", ""), "port": p.get("port"), "protocol": p.get("protocol", "TCP")}
        for p in (svc.get("spec") or {}).get("ports") or []
    ]
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{name}-lab",
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": name},
        },
        "addressType": "IPv4",
        "endpoints": [
            {
                "addresses": [f"{POD_NETWORK}.{index}.{i + 10}"],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "nodeName": node,
            }
            for i, node in enumerate(placed)
        ],
        "ports": ports,
    }
