"""ServiceL2Status objects: which node announces each Service, as MetalLB's speakers write them.

Pure. The node that announces a Service keeps exactly one object for it (labelled with the node
and the Service), and removes any other object for that Service — a previous owner's, or a
duplicate. A node removes its own objects for Services it no longer announces (compat §4.10).
`interfaces` is filled only when an advertisement restricts them.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from metalpool import names
from metalpool.services import ServiceKey

NODE_LABEL = "metallb.io/node"
SERVICE_NAME_LABEL = "metallb.io/service-name"
SERVICE_NAMESPACE_LABEL = "metallb.io/service-namespace"


@dataclass(frozen=True, slots=True, kw_only=True)
class Existing:
    """A ServiceL2Status object as found."""

    name: str
    node: str
    service: ServiceKey
    status: Mapping[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusPlan:
    """What to write: objects to create (then give a status), statuses to set, objects to delete."""

    create: tuple[tuple[ServiceKey, dict[str, Any], dict[str, Any]], ...] = ()  # key, body, status
    set_status: tuple[tuple[str, dict[str, Any]], ...] = ()
    delete: tuple[str, ...] = ()


def parse_existing(obj: Mapping[str, Any]) -> Existing | None:
    """Read one object; None for objects without the three labels (MetalLB ignores those too)."""
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    node = labels.get(NODE_LABEL)
    name, namespace = labels.get(SERVICE_NAME_LABEL), labels.get(SERVICE_NAMESPACE_LABEL)
    if not (meta.get("name") and node and name and namespace):
        return None
    return Existing(
        name=meta["name"],
        node=node,
        service=ServiceKey(namespace, name),
        status=obj.get("status") or {},
    )


def wanted_status(
    node: str, service: ServiceKey, interfaces: frozenset[str] | None
) -> dict[str, Any]:
    """The `.status` of the object saying `node` announces `service`."""
    status: dict[str, Any] = {
        "node": node,
        "serviceName": service.name,
        "serviceNamespace": service.namespace,
    }
    if interfaces:
        status["interfaces"] = [{"name": n} for n in sorted(interfaces)]
    return status


def plan_statuses(
    node: str,
    announced: Mapping[ServiceKey, frozenset[str] | None],
    existing: Iterable[Existing],
    namespace: str,
    owner: Mapping[str, Any] | None = None,
) -> StatusPlan:
    """Bring the objects in line with what `node` announces now."""
    by_service: dict[ServiceKey, list[Existing]] = {}
    for obj in existing:
        by_service.setdefault(obj.service, []).append(obj)
    create, set_status, delete = [], [], []
    for service, objs in sorted(by_service.items()):
        if service in announced:
            continue
        delete += [o.name for o in objs if o.node == node]
    for service, interfaces in sorted(announced.items()):
        objs = sorted(by_service.get(service, []), key=lambda o: (o.node != node, o.name))
        wanted = wanted_status(node, service, interfaces)
        keep = objs[0] if objs and objs[0].node == node else None
        delete += [o.name for o in objs if o is not keep]
        if keep is None:
            create.append((service, _body(node, service, namespace, owner), wanted))
        elif dict(keep.status) != wanted:
            set_status.append((keep.name, wanted))
    return StatusPlan(create=tuple(create), set_status=tuple(set_status), delete=tuple(delete))


def _body(
    node: str, service: ServiceKey, namespace: str, owner: Mapping[str, Any] | None
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "generateName": "l2-",
        "namespace": namespace,
        "labels": {
            NODE_LABEL: node,
            SERVICE_NAME_LABEL: service.name,
            SERVICE_NAMESPACE_LABEL: service.namespace,
        },
    }
    if owner:
        # Owned by the speaker Pod, so the garbage collector removes it with the Pod.
        metadata["ownerReferences"] = [dict(owner)]
    return {
        "apiVersion": f"{names.GROUP}/{names.VERSION}",
        "kind": names.L2_STATUS_KIND,
        "metadata": metadata,
        "spec": {},
    }
