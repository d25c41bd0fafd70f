"""`meta.k8s.io/v1` Tables: the server-side rendering `kubectl get` asks for.

Pure. A resource's columns come from `resources.py` (built-ins) or a CRD's
additionalPrinterColumns; a column is either a simple JSON path (`.spec.addresses`,
`.status.conditions[0].type`) or a named built-in rendering (a Service's EXTERNAL-IP, an age).
Lists and maps in a JSON-path cell print as JSON, as the real apiserver does.
"""

import json
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from lab.apiserver.objects.clock import parse_time
from lab.apiserver.objects.resources import Column, ResourceType
from lab.apiserver.objects.store import Object

_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+|\*)\]")


def json_path(obj: Any, path: str) -> Any:
    """Evaluate a simple JSON path; None when any step is missing; `[*]` collects a list."""
    values: list[Any] = [obj]
    spread = False
    for key, index in _STEP.findall(path.strip().removeprefix("{").removesuffix("}")):
        following: list[Any] = []
        for value in values:
            if key and isinstance(value, dict) and key in value:
                following.append(value[key])
            elif index == "*" and isinstance(value, list):
                following.extend(value)
                spread = True
            elif index and index != "*" and isinstance(value, list) and int(index) < len(value):
                following.append(value[int(index)])
        values = following
    if spread:
        return values or None
    return values[0] if values else None


MINUTE, HOUR, DAY = 60, 3600, 86400
# (below this many seconds, big unit, small unit or 0): kubectl's HumanDuration steps.
DURATION_STEPS = (
    (2 * MINUTE, 1, 0),
    (10 * MINUTE, MINUTE, 1),
    (3 * HOUR, MINUTE, 0),
    (8 * HOUR, HOUR, MINUTE),
    (2 * DAY, HOUR, 0),
    (8 * DAY, DAY, HOUR),
    (730 * DAY, DAY, 0),
)
UNITS = {1: "s", MINUTE: "m", HOUR: "h", DAY: "d"}


def human_duration(seconds: float) -> str:
    """Kubectl's short ages: 45s, 3m20s, 25m, 5h10m, 3d4h, 200d, 3y."""
    whole = max(0, int(seconds))
    for limit, big, small in DURATION_STEPS:
        if whole < limit:
            text = f"{whole // big}{UNITS[big]}"
            rest = (whole % big) // small if small else 0
            return f"{text}{rest}{UNITS[small]}" if rest else text
    return f"{whole // (365 * DAY)}y"


def age(timestamp: Any) -> str:
    """Time since an apiserver timestamp, or '<unknown>'."""
    moment = parse_time(timestamp) if isinstance(timestamp, str) else None
    if moment is None:
        return "<unknown>"
    return human_duration((datetime.now(UTC) - moment).total_seconds())


def _external_ip(obj: Object) -> str:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if spec.get("type") == "ExternalName":
        return str(spec.get("externalName", "<none>"))
    ingress = [
        i.get("ip") or i.get("hostname")
        for i in (status.get("loadBalancer") or {}).get("ingress") or ()
    ]
    addresses = [*(spec.get("externalIPs") or ()), *(a for a in ingress if a)]
    if addresses:
        return ",".join(addresses)
    return "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"


def _ports(obj: Object) -> str:
    rendered = [
        f"{p.get('port')}:{p['nodePort']}/{p.get('protocol', 'TCP')}"
        if p.get("nodePort")
        else f"{p.get('port')}/{p.get('protocol', 'TCP')}"
        for p in (obj.get("spec") or {}).get("ports") or ()
    ]
    return ",".join(rendered) or "<none>"


def _node_status(obj: Object) -> str:
    conditions = (obj.get("status") or {}).get("conditions") or ()
    ready = next((c.get("status") for c in conditions if c.get("type") == "Ready"), None)
    text = {"True": "Ready", "False": "NotReady"}.get(str(ready), "Unknown")
    if (obj.get("spec") or {}).get("unschedulable"):
        text += ",SchedulingDisabled"
    return text


def _node_roles(obj: Object) -> str:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    roles = sorted(
        k.removeprefix("node-role.kubernetes.io/")
        for k in labels
        if k.startswith("node-role.kubernetes.io/")
    )
    return ",".join(roles) or "<none>"


def _mapping(value: Any) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((value or {}).items())) or "<none>"


def _node_internal_ip(obj: Object) -> str:
    addresses = (obj.get("status") or {}).get("addresses") or ()
    found = [a.get("address", "") for a in addresses if a.get("type") == "InternalIP"]
    return ",".join(found) or "<none>"


def _event_object(obj: Object) -> str:
    involved = obj.get("involvedObject") or {}
    return f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}"


def _event_last_seen(obj: Object) -> str:
    metadata = obj.get("metadata") or {}
    return age(
        obj.get("lastTimestamp") or obj.get("eventTime") or metadata.get("creationTimestamp")
    )


RENDERERS: dict[str, Callable[[Object], Any]] = {
    "name": lambda o: o["metadata"]["name"],
    "age": lambda o: age(o["metadata"].get("creationTimestamp")),
    "created-at": lambda o: o["metadata"].get("creationTimestamp"),
    "service-type": lambda o: (o.get("spec") or {}).get("type", "ClusterIP"),
    "service-cluster-ip": lambda o: (o.get("spec") or {}).get("clusterIP") or "<none>",
    "service-external-ip": _external_ip,
    "service-ports": _ports,
    "service-selector": lambda o: _mapping((o.get("spec") or {}).get("selector")),
    "node-status": _node_status,
    "node-roles": _node_roles,
    "node-internal-ip": _node_internal_ip,
    "event-object": _event_object,
    "event-last-seen": _event_last_seen,
}


def cell(column: Column, obj: Object) -> Any:
    """One cell: a built-in rendering, or the JSON path's value (ages for date columns)."""
    if column.renderer:
        return RENDERERS[column.renderer](obj)
    value = json_path(obj, column.json_path)
    if value is None:
        return None
    if column.type == "date":
        return age(value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return value


def row_object(obj: Object, include: str) -> Object | None:
    """What a row carries: the object, its metadata only (the default), or nothing."""
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"],
    }


def table(
    rt: ResourceType,
    objects: Iterable[Object],
    *,
    resource_version: str,
    include_object: str = "Metadata",
    headers: bool = True,
    continue_token: str = "",
) -> dict[str, Any]:
    """A Table of these objects with the resource's columns."""
    columns = [
        {
            "name": column.name,
            "type": column.type,
            "format": column.format,
            "description": column.description,
            "priority": column.priority,
        }
        for column in rt.columns
    ]
    rows = [
        {
            "cells": [cell(column, obj) for column in rt.columns],
            "object": row_object(obj, include_object),
        }
        for obj in objects
    ]
    metadata = {"resourceVersion": resource_version}
    if continue_token:
        metadata["continue"] = continue_token
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": columns if headers else [],
        "rows": rows,
    }
