"""The failover bench's lab side: the objects applied, and `Bench`, the lab with its probe.

Rule: `Bench` owns the running lab and the probe in the client namespace, and waits for steady
states (the address allocated, the client's frames settled on one node, a speaker ready); the
trials that disturb the speakers are in `bench.failover_trials`. Property 8 (Lease writes over a
settled lab) disturbs nothing and is measured here.
"""

import json
import random
import threading
import time
from datetime import datetime
from typing import Any

from bench.datagrams import INTERVAL, PORT
from bench.failover_settings import JITTER_SEED, READY_TIMEOUT, SERVICE, SETTLE_HOLD, SETTLE_TIMEOUT
from lab.demo import Lab
from lab.workloads import endpoint_slices
from speaker.membership.leases import lease_name
from tests.support.netns import Child, python_in


def objects(nodes: list[str]) -> list[dict[str, Any]]:
    """A namespace, a pool, an L2Advertisement, a Service and its endpoints on every node."""
    system = {"namespace": "metallb-system"}
    namespace, name = SERVICE.split("/")
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": "LoadBalancer", "selector": {"app": name},
                 "ports": [{"name": "udp", "port": PORT, "protocol": "UDP"}]},
    }  # fmt: skip
    workload = {"kind": "DaemonSet", "spec": {"template": {"metadata": {"labels": {"app": name}}}}}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
         "metadata": {"name": "failover", **system},
         "spec": {"addresses": ["192.0.2.10-192.0.2.20"]}},
        {"apiVersion": "metallb.io/v1beta1", "kind": "L2Advertisement",
         "metadata": {"name": "failover", **system}, "spec": {"ipAddressPools": ["failover"]}},
        service,
        *endpoint_slices([service, workload], nodes),
    ]  # fmt: skip


def log_time(line: str) -> float | None:
    """The wall time of a Python log line (`2026-12-02 12:38:22,338 INFO …`), None if not one."""
    try:
        return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    except ValueError:
        return None


class Bench:
    """The lab, the probe and the trials."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.ip = ""
        self.winner = ""
        self.probe: Child | None = None
        self.jitter = random.Random(JITTER_SEED)  # noqa: S311 - timing, not cryptography

    @property
    def network(self) -> Any:
        """The lab's network (built by `start`)."""
        assert self.lab.network is not None  # noqa: S101 - started first
        return self.lab.network

    @property
    def client(self) -> str:
        """The client's namespace."""
        return str(self.network.hosts["client"].namespace)

    def mac(self, node: str) -> str:
        """`node`'s MAC on the LAN."""
        return str(self.network.hosts[node].mac)

    def ask(self, command: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        """One command to the probe."""
        assert self.probe is not None  # noqa: S101 - started first
        return self.probe.ask(command, timeout=timeout)

    def start(self) -> None:
        """Everything up; the address allocated; the probe streaming; the first owner settled."""
        lab = self.lab
        lab.install()
        lab.wire()
        lab.apply(objects(lab.node_names))
        lab.start_controller()
        for node in lab.node_names:
            lab.start_speaker(node)
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while not self.ip and time.monotonic() < deadline:
            self.ip = next((r.ip for r in lab.rows() if r.service == SERVICE and r.ip != "-"), "")
            time.sleep(0.2)
        if not self.ip:
            raise RuntimeError(f"{SERVICE} got no address in {SETTLE_TIMEOUT:.0f} s")
        self.probe = Child(python_in(self.client, "bench.failover", "probe", self.ip))
        self.probe.wait_ready()
        for node in lab.node_names:
            lab.wait_speaker(node)
        self.winner = self.settle(None)
        for node in lab.node_names:  # every pair has heard each other: the cluster is whole
            self.wait_ready(node, 0.0)

    def node_of(self, mac: str | None) -> str:
        """The node owning `mac`."""
        return self.lab.node_of_mac(mac)

    def settle(self, expected: str | None) -> str:
        """Wait until the client's frames go to `expected` (else the announcer) for SETTLE_HOLD."""
        deadline, since, node = time.monotonic() + SETTLE_TIMEOUT, None, ""
        while time.monotonic() < deadline:
            current = self.ask({"current": True})
            node = self.node_of(current["mac"])
            want = expected or self.lab.announcers().get(SERVICE)
            if node == want and current["age"] < 5 * INTERVAL:
                since = since or time.monotonic()
                if time.monotonic() - since >= SETTLE_HOLD:
                    return node
            else:
                since = None
            time.sleep(0.1)
        raise RuntimeError(f"{self.ip} did not settle on {expected or 'its announcer'}: {node}")

    def wait_ready(self, node: str, since: float) -> bool:
        """Wait until `node`'s heartbeats say ready, from a speaker first heard after `since`."""
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.ask({"ready": {"node": node, "after": since}})["ready"]:
                return True
            time.sleep(0.05)
        print(f"  ! {node}'s heartbeats did not say ready within {READY_TIMEOUT:.0f} s")
        return False

    # ---------------------------------------------------------------- property 8

    def lease_writes(self, seconds: float) -> dict[str, int]:
        """Writes to each speaker's Lease over `seconds`, counted from a watch of their Leases."""
        path = "/apis/coordination.k8s.io/v1/namespaces/metallb-system/leases"
        with self.lab.api_get(path, timeout=10) as response:
            listing = json.load(response)
        version = listing["metadata"]["resourceVersion"]
        names = {lease_name(node): node for node in self.lab.node_names}
        seen: list[tuple[float, str]] = []
        query = f"watch=true&resourceVersion={version}&timeoutSeconds={seconds + 2:.0f}"

        problems: list[str] = []

        def watch() -> None:
            try:
                with self.lab.api_get(f"{path}?{query}", timeout=seconds + 30) as stream:
                    for raw in stream:
                        event = json.loads(raw)
                        name = (event.get("object") or {}).get("metadata", {}).get("name")
                        if event.get("type") == "ERROR":
                            problems.append(f"watch error: {event.get('object')}")
                        elif name in names:
                            seen.append((time.monotonic(), names[name]))
            except (OSError, ValueError) as error:
                problems.append(f"watch failed: {error}")
            if time.monotonic() < started + seconds:
                problems.append("the watch ended before the window did")

        started = time.monotonic()
        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        time.sleep(seconds)
        counts = dict.fromkeys(self.lab.node_names, 0)
        for when, node in seen.copy():
            if started <= when < started + seconds:
                counts[node] += 1
        thread.join(10.0)
        if problems:
            raise RuntimeError(f"counting Lease writes: {'; '.join(problems)}")
        return counts

    # ---------------------------------------------------------------- plumbing

    def log_lines(self, node: str) -> list[str]:
        """`node`'s speaker log, line by line (none before it first started)."""
        path = self.lab.workdir / f"speaker-{node}.log"
        return path.read_text(errors="replace").splitlines() if path.exists() else []

    def close(self) -> None:
        """Stop the probe."""
        if self.probe is not None:
            self.probe.stop()
