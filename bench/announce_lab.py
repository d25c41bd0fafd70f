"""The probing bench's lab side: the objects, one timed create, and the ARP probe that ends it.

Rule: `Runner` owns the running lab (two nodes, the controller, a speaker in each node) and the
ARP probe in the client namespace (`bench.announce_probe`, over stdio); it creates Services one
at a time through the API and returns raw times. It judges nothing: the figures are in
`bench.announce_figures`.
"""

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from bench.controller import BenchError, Rest
from bench.failover_lab import log_time
from lab.demo import CLIENT, Lab
from tests.support.netns import Child, python_in
from tests.support.objects import (
    endpoint,
    endpoint_slice_object,
    l2_advertisement_object,
    pool_object,
)

NAMESPACE = "bench-announce"
POOL = "announce"
POOL_RANGE = ("192.0.2.100", "192.0.2.199")  # documentation prefix (RFC 5737)
BLOCK = 50  # addresses per configuration: a warm-up one, then the timed ones
ANSWER_TIMEOUT = 10.0  # seconds a Service may take to be answered before it counts as missing
SETTLE = 2.0  # seconds after the speakers (re)start: peers heard, first-up hand-offs done
CLIENT_IP4 = CLIENT[0].split("/")[0]


@dataclass(frozen=True, slots=True)
class Sample:
    """One Service: its address and what was seen, seconds from just before its create."""

    ip: str
    answered: float | None  # the first ARP reply the client received; None: not in time
    logged: float | None  # its speaker logged `announcing <ip>` (ms resolution); None: not seen


def address(block: int, index: int) -> str:
    """The `index`th address of configuration `block` (index 0 is the warm-up)."""
    if not 0 <= index < BLOCK:
        raise ValueError(f"at most {BLOCK - 1} Services per configuration, not {index}")
    first = int(POOL_RANGE[0].rsplit(".", 1)[1])
    return f"192.0.2.{first + block * BLOCK + index}"


def setup_objects() -> list[dict[str, Any]]:
    """The namespace, the pool and its L2Advertisement."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        pool_object(POOL, "-".join(POOL_RANGE)),
        l2_advertisement_object(POOL, ipAddressPools=[POOL]),
    ]


def service_object(name: str, ip: str) -> dict[str, Any]:
    """A LoadBalancer Service asking for `ip` (so the client can ask for it from the start)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NAMESPACE,
                     "annotations": {"metallb.io/loadBalancerIPs": ip}},
        "spec": {"type": "LoadBalancer", "selector": {"app": name},
                 "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]},
    }  # fmt: skip


def slice_object(name: str, nodes: list[str]) -> dict[str, Any]:
    """A ready endpoint of `name` on every node."""
    ready = (endpoint(n, address=f"10.244.{i}.10") for i, n in enumerate(nodes))
    return endpoint_slice_object(name, NAMESPACE, *ready, name=f"{name}-bench")


class Runner:
    """The lab, the ARP probe in the client namespace, and timed creates."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.rest: Rest | None = None
        self.probe: Child | None = None

    def start(self, flags: tuple[str, ...]) -> None:
        """Objects, network, controller, the probe, and speakers started with `flags`."""
        lab = self.lab
        lab.install()
        lab.wire()
        lab.apply(setup_objects())
        lab.start_controller()
        self.rest = Rest(lab.server.url)
        assert lab.network is not None  # noqa: S101 - wired above
        client = lab.network.hosts["client"].namespace
        self.probe = Child(python_in(client, "bench.announce_probe", "--source", CLIENT_IP4))
        self.probe.wait_ready()
        for node in lab.node_names:
            lab.start_speaker(node, *flags)
        self._settle()

    def restart(self, flags: tuple[str, ...]) -> None:
        """Every speaker stopped (SIGTERM) and started again with `flags`."""
        for node in self.lab.node_names:
            self.lab.restart_speaker(node, *flags)
        self._settle()

    def measure(self, block: int, index: int) -> Sample:
        """Create Service `index` of `block` (endpoints first, untimed); wait for its answer."""
        assert self.rest is not None  # noqa: S101 - started first
        assert self.probe is not None  # noqa: S101 - started first
        name, ip = f"svc-{block}-{index}", address(block, index)
        self.rest.create(f"/apis/discovery.k8s.io/v1/namespaces/{NAMESPACE}/endpointslices",
                         slice_object(name, self.lab.node_names))  # fmt: skip
        body = service_object(name, ip)
        self.probe.ask({"watch": ip, "timeout": ANSWER_TIMEOUT})  # {"armed": true}: asking
        wall, start = time.time(), time.monotonic()
        self.rest.create(f"/api/v1/namespaces/{NAMESPACE}/services", body)
        answered = self.probe.read(ANSWER_TIMEOUT + 5.0)["t"]
        logged = self.announced_at(ip, wall)
        return Sample(
            ip=ip,
            answered=None if answered is None else answered - start,
            logged=None if logged is None else logged - wall,
        )

    def announced_at(self, ip: str, since: float) -> float | None:
        """The wall time a speaker first logged `announcing <ip>` from `since` on, or None."""
        times = []
        for node in self.lab.node_names:
            path = self.lab.workdir / f"speaker-{node}.log"
            lines = path.read_text(errors="replace").splitlines() if path.exists() else []
            times += [log_time(line) for line in lines if line.endswith(f" announcing {ip}")]
        # Log times are truncated to the millisecond: a line just after `since` may show before.
        return min((t for t in times if t is not None and t >= since - 0.001), default=None)

    def clear(self, block: int, count: int) -> None:
        """Delete the Services (and their EndpointSlices) of `block`, indices 0 to `count`."""
        assert self.rest is not None  # noqa: S101 - started first
        for index in range(count + 1):
            name = f"svc-{block}-{index}"
            for path in (f"/api/v1/namespaces/{NAMESPACE}/services/{name}",
                         f"/apis/discovery.k8s.io/v1/namespaces/{NAMESPACE}/endpointslices/"
                         f"{name}-bench"):  # fmt: skip
                with contextlib.suppress(BenchError):  # never created: a run cut short
                    self.rest.call("DELETE", path)

    def _settle(self) -> None:
        for node in self.lab.node_names:
            self.lab.wait_speaker(node)
        time.sleep(SETTLE)

    def close(self) -> None:
        """Stop the probe; close the API connection."""
        if self.probe is not None:
            self.probe.stop()
        if self.rest is not None:
            self.rest.close()
