"""Positive sentinels: the system proves it got past a point before a test says nothing happened.

A check that something did *not* happen, made after a fixed sleep, cannot tell "did not happen"
from "has not happened yet", and it costs its length on every run. A sentinel is a thing that
must happen and whose happening is ordered after the point in question: once it is seen, the
negative check is judged on a system that has had its chance to go wrong. Each sentinel here
says what orders it after that point.
"""

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from kubernetes.client.exceptions import ApiException

from tests.support.cluster import Cluster, eventually

ALLOCATED = "metallb.io/IPAllocated"  # the controller's own condition type on a Service
TAMPERED = "set by a test; the controller must write its own message back"


async def run_until(
    work: Coroutine[Any, Any, object], done: Callable[[], bool], *, fail_after: float = 5.0
) -> None:
    """Run `work` (a loop that runs until cancelled) until `done()` holds, then cancel it.

    `done` is the sentinel, typically "the loop has started its N-th read": a loop that reads
    in turn has then fully handled every read before it. `work` ending or failing first fails,
    and so does a sentinel not seen after `fail_after` seconds.
    """
    task = asyncio.create_task(work)
    try:
        async with asyncio.timeout(fail_after):
            while not done():
                if task.done():
                    task.result()  # its error, if it failed
                    raise AssertionError("the loop ended before the sentinel was seen")
                await asyncio.sleep(0.001)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def reconciled(cluster: Cluster, service: str, namespace: str = "demo") -> None:
    """Return once the controller has reconciled `service` as it is now, or later.

    The message of the controller's condition is overwritten through /status. The controller is
    level-triggered, so it must write its own message back, and it can only do that from a plan
    made from this Service at the overwrite's resourceVersion or later: every status patch it
    sends carries the resourceVersion it planned from (controller/writes.py `status_patch`), so
    a write planned earlier is refused with 409 and planned again. Whatever an earlier change
    on the Service asked of the controller has therefore been decided, and whatever that
    reconcile wrote before the status (a pool's quarantine, controller/worker.py `_write`) has
    landed.
    """

    def overwrite() -> bool:
        obj = cluster.raw_service(service, namespace)
        conditions = (obj.get("status") or {}).get("conditions") or []
        index = next(i for i, c in enumerate(conditions) if c["type"] == ALLOCATED)
        patch = [
            {"op": "test", "path": "/metadata/resourceVersion",
             "value": obj["metadata"]["resourceVersion"]},
            {"op": "replace", "path": f"/status/conditions/{index}/message", "value": TAMPERED},
        ]  # fmt: skip
        try:
            cluster.core.patch_namespaced_service_status(
                service, namespace, patch, _content_type="application/json-patch+json"
            )
        except ApiException as error:
            if error.status in (409, 422):  # a write of the controller's came between: again
                return False
            raise
        return True

    eventually(overwrite, timeout=5)
    eventually(lambda: cluster.condition(service, namespace).get("message") != TAMPERED)
