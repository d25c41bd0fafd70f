"""Pure. A Kubernetes condition as both programs write it on a Service's status.

The rule of `metav1.Condition`: `lastTransitionTime` changes only when `status` flips, so a
condition rewritten with a new reason or message keeps the time it last became True or False;
`observedGeneration` says which spec it was computed from.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from metalpool.leases import format_timestamp


def condition_body(
    kind: str,
    *,
    holds: bool,
    reason: str,
    message: str,
    previous: Mapping[str, Any] | None,
    generation: object,
    now: datetime,
) -> dict[str, Any]:
    """The condition `kind` as JSON, its transition time kept from `previous` when unflipped."""
    status = "True" if holds else "False"
    before = previous or {}
    kept = before.get("lastTransitionTime") if before.get("status") == status else None
    body: dict[str, Any] = {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": kept or format_timestamp(now),
    }
    if isinstance(generation, int):
        body["observedGeneration"] = generation
    return body
