"""Which parts of a written body count: the request-body checks, the status split, generation.

Pure. A body must match its endpoint's kind, apiVersion and namespace (400 otherwise). With a
status subresource, the main endpoint keeps the stored status and `/status` keeps the stored rest:
built-ins take metadata changes through `/status` (MetalLB writes a Service's annotation and
status in one PUT there), custom resources take only `status`. `generation` counts what
`spec_of` returns.
"""

from typing import Any

from lab.apiserver.objects.errors import ApiError
from lab.apiserver.objects.patches import copy_json
from lab.apiserver.objects.resources import ResourceType
from lab.apiserver.objects.store import Object


def version_of(obj: Object) -> str:
    """An object's resourceVersion ('' when absent)."""
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def checked_body(rt: ResourceType, namespace: str, body: Any) -> Object:
    """The body of a create or update as an object of this resource; 400 when it does not fit."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body is not a JSON object")
    obj: Object = copy_json(body)
    if obj.get("kind") not in (None, rt.kind) or obj.get("apiVersion") not in (
        None,
        rt.api_version,
        *(f"{rt.group}/{v}" for v in rt.served_versions),
    ):
        raise ApiError(
            400,
            f"the API version in the data ({obj.get('apiVersion')}) and kind "
            f"({obj.get('kind')}) do not match the endpoint ({rt.api_version}, {rt.kind})",
        )
    obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
    metadata = obj.setdefault("metadata", {})
    if not isinstance(metadata, dict):
        raise ApiError(400, "metadata must be an object")
    if rt.namespaced:
        if metadata.get("namespace") not in (None, "", namespace):
            raise ApiError(
                400,
                "the namespace of the provided object does not match the namespace sent "
                "on the request",
            )
        metadata["namespace"] = namespace
    else:
        metadata.pop("namespace", None)
    return obj


def split_status(rt: ResourceType, old: Object, new: Object, subresource: str) -> Object:
    """Apply the status-subresource rule: each endpoint changes only its own part."""
    if subresource == "status":
        if rt.custom:  # custom resources: only status; metadata changes are ignored
            merged: Object = copy_json(old)
            merged["metadata"]["resourceVersion"] = version_of(new)
        else:  # built-ins: everything but the spec-like fields (Services take annotations here)
            merged = {k: v for k, v in new.items() if k in ("metadata", "status")}
            merged.update({k: v for k, v in old.items() if k not in ("metadata", "status")})
        if "status" in new:
            merged["status"] = new["status"]
        else:
            merged.pop("status", None)
        return merged
    if rt.has_status:
        new = dict(new)
        if "status" in old:
            new["status"] = old["status"]
        else:
            new.pop("status", None)
    return new


def spec_of(rt: ResourceType, obj: Object) -> dict[str, Any]:
    """What `generation` counts: everything but metadata (and status, with a status subresource)."""
    skipped = ("metadata", "status") if rt.has_status else ("metadata",)
    return {k: v for k, v in obj.items() if k not in skipped}
