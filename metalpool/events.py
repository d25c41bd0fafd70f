"""Kubernetes Events as both programs post them: a core/v1 Event body about one object.

Pure. Reasons and messages are MetalLB's (tools and people grep for them); the source component
says which program spoke: `metallb-controller` or `metallb-speaker`, as in MetalLB.
"""

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from metalpool.leases import format_timestamp


class Severity(enum.StrEnum):
    """A Kubernetes Event's type."""

    NORMAL = "Normal"
    WARNING = "Warning"


def event_body(
    involved: Mapping[str, Any],
    *,
    kind: str,
    severity: Severity,
    reason: str,
    message: str,
    component: str,
    instance: str,
    now: datetime,
) -> dict[str, Any]:
    """A core/v1 Event about `involved` (a Service, a pool, ...)."""
    meta = involved.get("metadata") or {}
    stamp = format_timestamp(now)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta.get('name')}.", "namespace": meta.get("namespace")},
        "involvedObject": {
            "apiVersion": involved.get("apiVersion") or "v1",
            "kind": kind,
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        },
        "type": severity.value,
        "reason": reason,
        "message": message,
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": instance,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
