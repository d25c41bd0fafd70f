"""Per-kind admission and side effects: what the real apiserver does beyond the generic rules.

Four hooks, called by `Cluster` for every kind: `decode` (what decoding the request body into the
kind's Go type refuses; ApiError 400), `admit` (defaults and validation before a write; raises
ApiError 422), `committed` (after a write is stored) and `removed` (after an object is gone).
Services get defaults and a cluster IP; Namespaces a phase; custom resources are pruned,
defaulted and validated against their version's schema (schema/customresources.py); CRDs are
validated (a schema we cannot enforce is refused), marked Established and registered for
discovery and CRUD at once (the real one takes a moment; tests need no waits).
"""

from typing import TYPE_CHECKING, Any

from lab.apiserver.objects import services
from lab.apiserver.objects.clock import now
from lab.apiserver.objects.errors import ApiError, invalid, invalid_fields
from lab.apiserver.objects.patches import copy_json
from lab.apiserver.objects.resources import (
    CRD_STORAGE,
    NAMESPACE_STORAGE,
    SECRET_STORAGE,
    SERVICE_STORAGE,
    ResourceType,
    from_crd,
)
from lab.apiserver.objects.store import Object
from lab.apiserver.schema.customresources import compile_crd
from lab.apiserver.schema.structural import SchemaError
from lab.apiserver.schema.times import TimeKind, TimeParseError, check_time

LEASE_STORAGE = "coordination.k8s.io/leases"
TIME, MICRO_TIME = TimeKind.TIME, TimeKind.MICRO_TIME
# metav1.Time / metav1.MicroTime fields per built-in storage; "[]" walks a list. Every kind's
# ObjectMeta has creationTimestamp and deletionTimestamp (Time), checked for all.
METADATA_TIMES = (("metadata.creationTimestamp", TIME), ("metadata.deletionTimestamp", TIME))
CONDITION_TIMES = (("status.conditions[].lastTransitionTime", TIME),)
TIME_FIELDS: dict[str, tuple[tuple[str, TimeKind], ...]] = {
    LEASE_STORAGE: (("spec.acquireTime", MICRO_TIME), ("spec.renewTime", MICRO_TIME)),
    SERVICE_STORAGE: CONDITION_TIMES,
    "/nodes": (*CONDITION_TIMES, ("status.conditions[].lastHeartbeatTime", TIME)),
    "/pods": (*CONDITION_TIMES, ("status.conditions[].lastProbeTime", TIME)),
    "/events": (  # core/v1 Event (pkg/apis/core/types.go)
        ("firstTimestamp", TIME),
        ("lastTimestamp", TIME),
        ("eventTime", MICRO_TIME),
        ("series.lastObservedTime", MICRO_TIME),
    ),
    "events.k8s.io/events": (  # events.k8s.io/v1 Event
        ("eventTime", MICRO_TIME),
        ("deprecatedFirstTimestamp", TIME),
        ("deprecatedLastTimestamp", TIME),
        ("series.lastObservedTime", MICRO_TIME),
    ),
}

if TYPE_CHECKING:
    from lab.apiserver.objects.cluster import Cluster


def decode(rt: ResourceType, body: Object) -> None:
    """400 for a body kube could not decode into the kind's Go type: a malformed time field.

    Time.UnmarshalJSON / MicroTime.UnmarshalJSON (apimachinery pkg/apis/meta/v1/time.go,
    micro_time.go) fail the whole decode, which the handler reports as
    `<Kind> in version "<v>" cannot be handled as a <Kind>: <Go's time.ParseError>`.
    Custom resources decode as unstructured JSON, so only their metadata is typed.
    """
    for path, kind in (*METADATA_TIMES, *TIME_FIELDS.get(rt.storage, ())):
        for value in _values_at(body, path.split(".")):
            try:
                check_time(value, kind)
            except TimeParseError as error:
                raise ApiError(
                    400,
                    f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                    f"{error}",
                ) from None


def _values_at(node: Any, steps: list[str]) -> list[Any]:
    """The values at a dotted path (`name[]` steps into every item of a list)."""
    if not steps:
        return [node]
    step, rest = steps[0], steps[1:]
    if not isinstance(node, dict):
        return []
    if step.endswith("[]"):
        items = node.get(step[:-2])
        if not isinstance(items, list):
            return []
        return [value for item in items for value in _values_at(item, rest)]
    return _values_at(node[step], rest) if step in node else []


def admit(cluster: "Cluster", rt: ResourceType, obj: Object, old: Object | None) -> None:
    """Default and validate `obj` in place before it is stored (old is None on create)."""
    if rt.custom:
        _admit_custom(rt, obj, old)
    elif rt.storage == SERVICE_STORAGE:
        _admit_service(cluster, obj, old)
    elif rt.storage == NAMESPACE_STORAGE and old is None:
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj["status"] = {"phase": "Active"}
    elif rt.storage == CRD_STORAGE:
        _admit_crd(obj, old)
    elif rt.storage == SECRET_STORAGE:
        obj["type"] = obj.get("type") or "Opaque"


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


def _admit_custom(rt: ResourceType, obj: Object, old: Object | None) -> None:
    """Prune, default and validate a custom resource against its version's schema (422)."""
    if rt.schema is None:
        return
    # Work on a copy: after the status split, parts of `obj` are the stored object's own dicts.
    # `metadata` is the write's own and the caller holds on to it, so it stays the same dict.
    fresh = {key: value if key == "metadata" else copy_json(value) for key, value in obj.items()}
    errors = rt.schema.admit(fresh, old)
    if errors:
        name = obj["metadata"].get("name", "")
        raise invalid_fields(rt.kind, rt.group, name, errors)
    obj.clear()
    obj.update(fresh)


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
        compile_crd(obj)
    except SchemaError as error:
        raise invalid_fields(
            "CustomResourceDefinition", "apiextensions.k8s.io", name, error.errors
        ) from None
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
