"""Positive sentinels: the system proves it got past a point before a test says nothing happened.

A check that something did *not* happen, made after a fixed sleep, cannot tell "did not happen"
from "has not happened yet", and it costs its length on every run. A sentinel is a thing that
must happen and whose happening is ordered after the point in question: once it is seen, the
negative check is judged on a system that has had its chance to go wrong. Each sentinel here
says what orders it after that point.
"""

import asyncio
import contextlib
import json
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from lab.demo import Lab
from tests.support.cluster import eventually
from tests.support.netns import Child
from tests.support.objects import (
    endpoint,
    endpoint_slice_object,
    l2_advertisement_object,
    pool_object,
)
from tests.support.onwire import answerers

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


class Kubectl(Protocol):
    """What drives a cluster by the real kubectl as an admin: tests.support.cluster's Cluster, or
    lab.demo's Lab. It raises when kubectl fails."""

    def kubectl(self, *args: str) -> str: ...


def reconciled(cluster: Kubectl, service: str, namespace: str = "demo") -> None:
    """Return once the controller has reconciled `service` as it is now, or later.

    The message of the controller's condition is overwritten through /status. The controller is
    level-triggered, so it must write its own message back, and it can only do that from a plan
    made from this Service at the overwrite's resourceVersion or later: every status patch it
    sends carries the resourceVersion it planned from (controller/writes.py `status_patch`), so
    a write planned earlier is refused with 409 and planned again. Whatever an earlier change
    on the Service asked of the controller has therefore been decided, and whatever that
    reconcile wrote before the status (a pool's quarantine, controller/worker.py `_write`) has
    landed. The overwrite is a JSON patch whose `test` of the resourceVersion makes it miss a
    write of the controller's that came between (kube-apiserver: 422): it is then made again.
    """
    where = ("-n", namespace)

    def allocated() -> dict[str, Any]:
        obj = json.loads(cluster.kubectl("get", "service", service, *where, "-o", "json"))
        conditions = (obj.get("status") or {}).get("conditions") or []
        found = {"resourceVersion": obj["metadata"]["resourceVersion"]}
        for index, condition in enumerate(conditions):
            if condition.get("type") == ALLOCATED:
                return {**found, "index": index, "message": condition.get("message")}
        raise AssertionError(f"{namespace}/{service} has no {ALLOCATED} condition: {obj}")

    refused: list[str] = []

    def overwrite() -> bool:
        now = allocated()
        patch = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": now["resourceVersion"]},
            {"op": "replace", "path": f"/status/conditions/{now['index']}/message",
             "value": TAMPERED},
        ]  # fmt: skip
        try:
            cluster.kubectl("patch", "service", service, *where, "--subresource=status",
                            "--type=json", "-p", json.dumps(patch))  # fmt: skip
        except (AssertionError, RuntimeError) as error:  # Cluster's and Lab's kubectl failures
            refused.append(str(error))
            return False
        return True

    try:
        eventually(overwrite, timeout=5)
    except AssertionError:
        raise AssertionError(f"cannot overwrite the condition: {refused[-1:]}") from None
    eventually(lambda: allocated()["message"] != TAMPERED)


def all_answers(probe: Child, address: str, sentinels: list[str]) -> list[dict[str, Any]]:
    """The replies to the client's ARP request for `address`, once every sentinel is answered.

    `probe` is tests.speaker.wire_probe; `sentinels` holds an address per responder port that
    this port alone answers. A responder handles its socket's requests in turn, so once it has
    answered its sentinel, asked after `address`, any answer it would give for `address` is in
    the same capture: an empty list is silence, not slowness.
    """
    asked = probe.ask({"arp": address, "then": sentinels, "answers": len(sentinels), "wait": 5})
    assert len(asked["sentinels"]) == len(sentinels), asked
    replies: list[dict[str, Any]] = asked["replies"]
    return replies


def node_sentinels(
    lab: Lab,
    probe: Child,
    addresses: dict[str, str],
    tag: str = "sentinels",
    *,
    assign: bool = False,
) -> list[str]:
    """Make each node announce its own address (node → address); return them once answered.

    Per node: a pool of that one address, an L2Advertisement whose nodeSelectors pick that node
    alone, and a Service with a ready endpoint there, in a namespace of their own named `tag`
    (so they never show among a test's own Services). A node the speakers may not use cannot
    have one. Created at a point in a test, they are also proof that every node's speaker
    sees the API again and has announced past that point. `assign`: write each address into
    its Service's status as the controller would, for when no controller runs (the lab does not
    restart one that stopped, as a Deployment would).
    """
    lab.kubectl("create", "namespace", tag)
    objects: list[dict[str, Any]] = []
    for node, address in addresses.items():
        name = f"{tag}-{node}"
        selectors = [{"matchLabels": {"kubernetes.io/hostname": node}}]
        objects += [
            pool_object(name, f"{address}/32", autoAssign=False),
            l2_advertisement_object(name, ipAddressPools=[name], nodeSelectors=selectors),
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": name,
                    "namespace": tag,
                    "annotations": {"metallb.io/address-pool": name},
                },
                "spec": {
                    "type": "LoadBalancer",
                    "selector": {"app": name},
                    "ports": [{"port": 80, "protocol": "TCP"}],
                },
            },
            endpoint_slice_object(name, tag, endpoint(node, address="10.244.6.1")),
        ]
    lab.apply(objects)
    if assign:
        for node, address in addresses.items():
            status = {"status": {"loadBalancer": {"ingress": [{"ip": address}]}}}
            lab.kubectl("patch", "service", f"{tag}-{node}", "-n", tag, "--subresource=status",
                        "--type=merge", "-p", json.dumps(status))  # fmt: skip
    assert lab.network is not None
    for node, address in addresses.items():
        mac = lab.network.hosts[node].mac
        eventually(lambda a=address, m=mac: answerers(probe, a) == {m}, timeout=20)  # type: ignore[misc]
    return list(addresses.values())
