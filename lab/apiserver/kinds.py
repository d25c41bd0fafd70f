"""Per-kind admission and side effects: what the real apiserver does beyond the generic rules.

Three hooks, called by `Cluster` for every kind: `admit` (defaults and validation before a write;
raises ApiError 422), `committed` (after a write is stored) and `removed` (after an object is gone).
Services get defaults and a cluster IP; Namespaces a phase; CRDs are validated, marked Established
and registered for discovery and CRUD at once (the real one takes a moment; tests need no waits).
"""

import re
from typing import TYPE_CHECKING, Any

from lab.apiserver import services
from lab.apiserver.clock import now
from lab.apiserver.errors import ApiError, invalid
from lab.apiserver.resources import (
    CRD_STORAGE,
    NAMESPACE_STORAGE,
    SECRET_STORAGE,
    SERVICE_STORAGE,
    ResourceType,
    from_crd,
)
from lab.apiserver.store import Object

LEASE_STORAGE = "coordination.k8s.io/leases"
RFC3339_MICRO = "2006-01-02T15:04:05.000000Z07:00"
MICRO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})")

if TYPE_CHECKING:
    from lab.apiserver.cluster import Cluster


def admit(cluster: "Cluster", rt: ResourceType, obj: Object, old: Object | None) -> None:
    """Default and validate `obj` in place before it is stored (old is None on create)."""
    if rt.storage == SERVICE_STORAGE:
        _admit_service(cluster, obj, old)
    elif rt.storage == NAMESPACE_STORAGE and old is None:
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj["status"] = {"phase": "Active"}
    elif rt.storage == CRD_STORAGE:
        _admit_crd(obj, old)
    elif rt.storage == SECRET_STORAGE:
        obj["type"] = obj.get("type") or "Opaque"
    elif rt.storage == LEASE_STORAGE:
        _admit_lease(obj)


def committed(cluster: "Cluster", rt: ResourceType, obj: Object) -> None:
    """React to a stored write: a CRD (re)registers its resources."""
    if rt.storage == CRD_STORAGE and not obj["metadata"].get("deletionTimestamp"):
        cluster.registry.register_crd(obj["metadata"]["name"], obj)


def removed(cluster: "Cluster", rt: ResourceType, obj: Object) -> None:
    """React to a removal: free a Service's IP; drop a CRD's resources and objects."""
    if rt.storage == SERVICE_STORAGE:
        spec = obj.get("spec") or {}
        cluster.cluster_ips.release(spec.get("clusterIPs") or spec.get("clusterIP"))
    elif rt.storage == CRD_STORAGE:
        served = cluster.registry.unregister_crd(obj["metadata"]["name"])
        if served:
            cluster.purge(served[0])


def _admit_lease(obj: Object) -> None:
    """A Lease's times are metav1.MicroTime: RFC 3339 with exactly six fractional digits.

    MicroTime.UnmarshalJSON parses with RFC3339Micro ("2006-01-02T15:04:05.000000Z07:00",
    apimachinery pkg/apis/meta/v1/micro_time.go); a body that does not decode is a 400.
    """
    spec = obj.get("spec") or {}
    for field_name in ("acquireTime", "renewTime"):
        value = spec.get(field_name)
        if value is not None and not (isinstance(value, str) and MICRO_TIME.fullmatch(value)):
            raise ApiError(
                400,
                f'Lease in version "v1" cannot be handled as a Lease: parsing time "{value}" as'
                f' "{RFC3339_MICRO}": cannot parse spec.{field_name}',
            )


def _admit_service(cluster: "Cluster", obj: Object, old: Object | None) -> None:
    name = obj["metadata"].get("name", "")
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = {}
    try:
        if old is None:
            obj["spec"] = services.default_spec(spec, cluster.cluster_ips)
        else:
            obj["spec"] = services.updated_spec(spec, old.get("spec") or {})
    except services.ServiceError as error:
        raise invalid("Service", "", name, str(error)) from None
    obj["status"] = services.pruned_status(obj.get("status"))


def _admit_crd(obj: Object, old: Object | None) -> None:
    name = obj["metadata"].get("name", "")
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        raise invalid("CustomResourceDefinition", "apiextensions.k8s.io", name, "spec: Required")
    names = spec.get("names") or {}
    group, plural, kind = spec.get("group"), names.get("plural"), names.get("kind")
    missing = [
        field
        for field, value in (
            ("spec.group", group),
            ("spec.names.plural", plural),
            ("spec.names.kind", kind),
            ("spec.versions", spec.get("versions")),
        )
        if not value
    ]
    if missing:
        raise invalid(
            "CustomResourceDefinition",
            "apiextensions.k8s.io",
            name,
            f"{missing[0]}: Required value",
        )
    if name != f"{plural}.{group}":
        raise invalid(
            "CustomResourceDefinition",
            "apiextensions.k8s.io",
            name,
            f'metadata.name: Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
        )
    spec.setdefault("scope", "Namespaced")
    accepted = {
        "plural": plural,
        "singular": names.get("singular") or str(kind).lower(),
        "kind": kind,
        "listKind": names.get("listKind") or f"{kind}List",
        **{key: names[key] for key in ("shortNames", "categories") if names.get(key)},
    }
    stored = [v["name"] for v in spec["versions"] if v.get("storage")] or [
        spec["versions"][0]["name"]
    ]
    previous = (old or {}).get("status") or {}
    since = {c.get("type"): c.get("lastTransitionTime") for c in previous.get("conditions") or ()}
    obj["status"] = {
        "acceptedNames": accepted,
        "conditions": [_condition(kind_, reason, text, since) for kind_, reason, text in _CRD_OK],
        "storedVersions": sorted(set(previous.get("storedVersions") or ()) | set(stored)),
    }
    try:
        list(from_crd(obj))  # fail here, not after storing, if the versions are malformed
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise invalid(
            "CustomResourceDefinition", "apiextensions.k8s.io", name, f"spec.versions: {error}"
        ) from None


_CRD_OK = (
    ("NamesAccepted", "NoConflicts", "no conflicts found"),
    ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
)


def _condition(kind: str, reason: str, message: str, since: dict[Any, Any]) -> dict[str, Any]:
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastTransitionTime": since.get(kind) or now(),
    }
