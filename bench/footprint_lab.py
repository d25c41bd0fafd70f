"""The footprint bench's lab side: the objects, Services created in bulk, and /proc read per PID.

Rule: `Footprint` owns the running lab (the API server, the controller, a speaker in each node
namespace) and one bare interpreter started the way the speakers are; it creates Services over
one keep-alive connection as the admin, waits for a steady state, and reads /proc for those
PIDs only. It judges nothing: that is bench.footprint_figures.
"""

import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.controller import Rest, ingress_ip
from bench.failover_lab import log_time
from bench.footprint_figures import (
    Memory,
    Usage,
    cpu_percent,
    rollup_memory,
    stat_ticks,
    status_rss,
    warnings_between,
)
from lab.demo import ANNOUNCED_CONDITION, Lab
from lab.network import exec_in
from tests.support.objects import (
    endpoint,
    endpoint_slice_object,
    l2_advertisement_object,
    pool_object,
)

NAMESPACE = "bench-footprint"
POOL = "footprint"
# Documentation prefixes only. 198.51.100.200 is the lab's client, so that /24 stops short of
# it; 455 IPv4 addresses in all, so Services from IPV4_SERVICES on ask for IPv6.
POOL_ADDRESSES = ("203.0.113.0/24", "198.51.100.1-198.51.100.199", "2001:db8:0:1::1:0/112")
IPV4_SERVICES = 400
STEADY_TIMEOUT = 120.0  # seconds at most for every Service to be addressed and announced
STABLE_FOR = 3.0  # seconds all must stay addressed and announced before the settle period
STILL_FOR = 15.0  # seconds counts short of that may hold still before the bench goes on
READY_TIMEOUT = 120.0  # seconds at most for restarted speakers to be counted ready by peers
BARE = "import time; time.sleep(100000)"
HERTZ = float(os.sysconf("SC_CLK_TCK"))


def setup_objects() -> list[dict[str, Any]]:
    """The namespace, the pool and its L2Advertisement."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        pool_object(POOL, *POOL_ADDRESSES),
        l2_advertisement_object(POOL, ipAddressPools=[POOL]),
    ]


def service_object(index: int) -> dict[str, Any]:
    """Service `index`: IPv4 for the first IPV4_SERVICES, IPv6 after."""
    spec: dict[str, Any] = {"type": "LoadBalancer", "selector": {"app": f"svc-{index}"},
                            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}  # fmt: skip
    if index >= IPV4_SERVICES:
        spec |= {"ipFamilies": ["IPv6"], "ipFamilyPolicy": "SingleStack"}
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": f"svc-{index}", "namespace": NAMESPACE}, "spec": spec}  # fmt: skip


def slice_object(index: int, nodes: list[str]) -> dict[str, Any]:
    """A ready endpoint of Service `index` on every node, so that it is announced."""
    ready = (endpoint(n, address=f"10.244.{i}.10") for i, n in enumerate(nodes))
    return endpoint_slice_object(f"svc-{index}", NAMESPACE, *ready, name=f"svc-{index}-bench")


def _announced(service: dict[str, Any]) -> bool:
    conditions = (service.get("status") or {}).get("conditions") or []
    return any(
        c.get("type") == ANNOUNCED_CONDITION and c.get("status") == "True" for c in conditions
    )


def read_text(path: Path) -> str:
    """A /proc file's text; empty when it cannot be read (gone, or not ours to read)."""
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def memory_of(pid: int) -> Memory:
    """RSS from status; PSS and USS from smaps_rollup when it can be read."""
    rss = status_rss(read_text(Path(f"/proc/{pid}/status")))
    rollup = rollup_memory(read_text(Path(f"/proc/{pid}/smaps_rollup")))
    return Memory(rss=rss, pss=rollup.pss, uss=rollup.uss)


def ticks_of(pid: int) -> float:
    """CPU ticks (utime + stime) so far, ticks; NaN when the process is gone."""
    return stat_ticks(read_text(Path(f"/proc/{pid}/stat")))


class Footprint:
    """The lab, a bare interpreter beside it, Services in bulk, and idle windows measured."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.rest: Rest | None = None
        self.bare: subprocess.Popen[bytes] | None = None
        self.created = 0

    def start(self) -> None:
        """Objects, network, controller, speakers (Leases held), and the bare interpreter."""
        lab = self.lab
        lab.install()
        lab.wire()
        lab.apply(setup_objects())
        lab.start_controller()
        for node in lab.node_names:
            lab.start_speaker(node)
        for node in lab.node_names:
            lab.wait_speaker(node)
        self.rest = Rest(lab.server.url)
        assert lab.network is not None  # noqa: S101 - wired above
        # Started as the speakers are: `ip netns exec` into a node namespace, the same python.
        namespace = lab.network.hosts[lab.node_names[0]].namespace
        self.bare = subprocess.Popen(exec_in(namespace, sys.executable, "-c", BARE))  # noqa: S603

    def restart_speakers(self, flags: tuple[str, ...]) -> None:
        """Every speaker restarted with `flags`; returns once every peer counts each as ready.

        A new speaker listens for a hold time before it elects (docs/membership.md), and
        while it does, the Services still show what the old one wrote: the steady-state wait
        alone would pass at once, and the idle window would measure the take-over.
        """
        nodes = self.lab.node_names
        before = {node: self.ready_count(node) for node in nodes}
        for node in nodes:
            self.lab.restart_speaker(node, *flags)
        deadline = time.monotonic() + READY_TIMEOUT
        while any(self.ready_count(node) <= before[node] for node in nodes):
            if time.monotonic() > deadline:
                raise TimeoutError(f"speakers not ready within {READY_TIMEOUT:g} s of a restart")
            time.sleep(0.5)

    def ready_count(self, node: str) -> int:
        """How often every other speaker has logged `node`'s speaker turning ready (the least)."""
        line = f"speaker on node {node} is ready"
        logs = [self.lab.workdir / f"speaker-{peer}.log" for peer in self.lab.node_names]
        return min(read_text(log).count(line) for log in logs if log.name != f"speaker-{node}.log")

    def pids(self) -> dict[str, int]:
        """Role → PID: the lab's own children and the bare interpreter, nothing else."""
        assert self.bare is not None  # noqa: S101 - started first
        found = {name: process.pid for name, process in self.lab.processes.items()}
        return {**found, "API server": self.lab.server.pid, "bare interpreter": self.bare.pid}

    def grow(self, total: int) -> None:
        """Create Services (each after its EndpointSlice) until there are `total`."""
        assert self.rest is not None  # noqa: S101 - started first
        nodes = self.lab.node_names
        for index in range(self.created, total):
            self.rest.create(f"/apis/discovery.k8s.io/v1/namespaces/{NAMESPACE}/endpointslices",
                             slice_object(index, nodes))  # fmt: skip
            self.rest.create(f"/api/v1/namespaces/{NAMESPACE}/services", service_object(index))
        self.created = max(self.created, total)

    def counts(self) -> tuple[int, int]:
        """(Services with an address, Services whose Announced condition is True)."""
        assert self.rest is not None  # noqa: S101 - started first
        items = self.rest.call("GET", f"/api/v1/namespaces/{NAMESPACE}/services")["items"]
        addressed = sum(1 for s in items if ingress_ip(s))
        announced = sum(1 for s in items if _announced(s))
        return addressed, announced

    def steady(self) -> tuple[int, int, float]:
        """Wait for the steady state: every Service addressed and announced, held STABLE_FOR.

        Announcements that stop short (the counts held still for STILL_FOR) or never hold
        still (STEADY_TIMEOUT) end the wait too: the counts are returned as they are, and the
        report says so. Returns (addressed, announced, seconds waited).
        """
        started = time.monotonic()
        last, since = (-1, -1), started
        while time.monotonic() - started < STEADY_TIMEOUT:
            now = self.counts()
            if now != last:
                last, since = now, time.monotonic()
            held = time.monotonic() - since
            if now[0] >= self.created and held >= (
                STABLE_FOR if now[1] >= self.created else STILL_FOR
            ):
                break
            time.sleep(0.5)
        return last[0], last[1], time.monotonic() - started

    def idle(self, seconds: float) -> list[Usage]:
        """Every process over an idle window of `seconds`: CPU across it, memory at its end."""
        pids = self.pids()
        before = {role: ticks_of(pid) for role, pid in pids.items()}
        started = time.monotonic()
        time.sleep(seconds)
        after = {role: ticks_of(pid) for role, pid in pids.items()}
        elapsed = time.monotonic() - started
        usages = []
        for role, pid in pids.items():
            spent = after[role] - before[role]
            cpu = cpu_percent(spent, elapsed, HERTZ) if not math.isnan(spent) else math.nan
            usages.append(Usage(role, memory_of(pid), cpu))
        return usages

    def warnings(self, since: float, until: float) -> dict[str, int]:
        """Speaker → WARNING/ERROR lines it logged between two wall times."""
        found = {}
        for node in self.lab.node_names:
            path = self.lab.workdir / f"speaker-{node}.log"
            lines = read_text(path).splitlines()
            found[node] = warnings_between([(log_time(x), x) for x in lines], since, until)
        return found

    def close(self) -> None:
        """Stop the bare interpreter (by its PID); close the API connection."""
        if self.bare is not None and self.bare.poll() is None:
            self.bare.terminate()
            self.bare.wait(timeout=5)
        if self.rest is not None:
            self.rest.close()
