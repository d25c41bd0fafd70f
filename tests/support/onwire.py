"""What wire tests read back from a lab: a Service's status and Events, and who answers ARP.

Shared by the namespaced tests that drive `lab.demo.Lab` (the real controller and speakers).
"""

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from lab.demo import CLIENT, Lab
from tests.support.netns import Child, python_in

ANNOUNCED = "metallb.io/Announced"


@contextlib.contextmanager
def client_probe(lab: Lab) -> Iterator[Child]:
    """`tests.speaker.wire_probe` running in the lab's client namespace (stopped on exit)."""
    assert lab.network is not None
    ip4, ip6 = CLIENT[0].split("/")[0], CLIENT[2].split("/")[0]
    child = Child(python_in(lab.network.hosts["client"].namespace, "tests.speaker.wire_probe",
                            "--ip4", ip4, "--ip6", ip6))  # fmt: skip
    try:
        child.wait_ready()
        yield child
    finally:
        child.stop()


def service_json(lab: Lab, namespace: str, name: str) -> dict[str, Any]:
    """The Service as `kubectl get -o json` shows it."""
    return dict(json.loads(lab.kubectl("get", "svc", name, "-n", namespace, "-o", "json")))


def announced(lab: Lab, namespace: str, name: str) -> dict[str, Any]:
    """The Service's `metallb.io/Announced` condition (empty until one is written)."""
    conditions = service_json(lab, namespace, name).get("status", {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == ANNOUNCED), {})


def address_of(lab: Lab, namespace: str, name: str) -> str:
    """The Service's first address, or "" while it has none."""
    return lab.kubectl("get", "svc", name, "-n", namespace, "-o",
                       "jsonpath={.status.loadBalancer.ingress[0].ip}")  # fmt: skip


def events(lab: Lab, namespace: str) -> list[dict[str, Any]]:
    """Every Event in the namespace, oldest first."""
    items = json.loads(lab.kubectl("get", "events", "-n", namespace, "-o", "json"))["items"]
    return sorted(items, key=lambda e: int(e["metadata"]["resourceVersion"]))


def answerers(client: Child, address: str, samples: int = 2, wait: float = 0.25) -> set[str]:
    """Every MAC that answered any of `samples` ARP requests from the client for `address`."""
    macs = set()
    for _ in range(samples):
        replies = client.ask({"arp": address, "wait": wait})["replies"]
        macs |= {str(r["hwsrc"]) for r in replies}
    return macs
