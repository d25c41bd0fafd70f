"""The controller under load: create → IP latency, a 5,000-Service burst, a restart with 10,000.

Measures, against the emulated API server and the real controller, each in a process of its own:
1. create → IP latency (p50/p99) with ~0 and with 1,000 Services present, against the floor: the
   driver itself creating a Service and patching its status (what any controller must pay);
2. a burst of 5,000 new Services: time until the last has its IP, against the time the driver
   takes to create them;
3. restarts with 10,000 assigned Services (SIGTERM, then SIGKILL): seconds from the new
   controller's start until a Service created right then has its IP, against the same with 0
   Services present; and how many addresses changed (must be 0: the run exits 1 otherwise).
Times come from one watch on the Services, never from polling. Addresses are data only.
Goals (issue 11), judged at the full sizes and exit 1 when missed: the burst within 1.5x the
time to create it, create → IP p50 with ~0 present within 3x the floor, and the first IP after
either restart within 5 s (4-5 s before issue 11). `--quick` and smaller sizes print the
verdicts but judge only the addresses: so few Services time noise, not the controller.
Run: `.venv/bin/python -m bench.controller` (about 2 minutes once the controller scales; far
longer today, see docs/benchmarks.md), or `--quick` (under 10 s); `--restart N` to shrink case 3.
"""

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from bench.verdicts import at_most
from lab.apiserver.auth import tls
from lab.apiserver.auth.tokens import bearer

ROOT = Path(__file__).resolve().parent.parent
CRDS = ROOT / "deploy" / "crds"
NS = "bench"  # where the Services live
POOL_NS = "metallb-system"
POOL_ADDRESSES = ["10.0.0.0/16"]  # data only: the controller never sends packets
OTHER_CLASS = "bench.example/floor"  # the floor's Services belong to no controller of ours
LEASE = ("--lease-duration", "2", "--lease-renew", "0.5")  # SIGKILL costs one short Lease
SERVICES = f"/api/v1/namespaces/{NS}/services"
WAIT = 600.0  # seconds: the most any one wait may take before the run fails
BURST_GOAL = 1.5  # the burst's last IP, as a multiple of the time to create the burst
LATENCY_GOAL = 3.0  # create → IP p50 with ~0 present, as a multiple of the floor's p50
RESTART_GOAL_S = 5.0  # seconds from a new controller's start to its first new IP


@dataclass(frozen=True, slots=True)
class Sizes:
    """How many Services each case uses."""

    samples: int  # latency samples per point
    present: int  # Services present for the second latency point
    burst: int
    restart: int  # assigned Services across a restart
    cold_rounds: int  # cold starts for the baseline (the median counts)


FULL = Sizes(samples=200, present=1_000, burst=5_000, restart=10_000, cold_rounds=3)
QUICK = Sizes(samples=10, present=50, burst=200, restart=400, cold_rounds=1)


class BenchError(Exception):
    """The bench could not measure what it meant to (a process died, a wait ran out)."""


# ---------------------------------------------------------------------------- HTTP


class Rest:
    """One keep-alive HTTP connection to the API server; JSON in and out."""

    def __init__(self, url: str, timeout: float | None = 30) -> None:
        host, port = url.removeprefix("https://").split(":")
        # The server serves this process's certificate (Lab.start_server); the lab's admin.
        context = tls.client_context(tls.credentials().ca)
        self._conn = http.client.HTTPSConnection(host, int(port), timeout=timeout, context=context)
        self._admin = bearer()

    def call(
        self, method: str, path: str, body: bytes | None = None, kind: str = "json"
    ) -> dict[str, Any]:
        """Send one request; raise BenchError unless it succeeded."""
        headers = {"Content-Type": f"application/{kind}"} if body is not None else {}
        self._conn.request(method, path, body=body, headers={**headers, **self._admin})
        response = self._conn.getresponse()
        raw = response.read()
        if response.status >= 300:
            raise BenchError(f"{method} {path}: HTTP {response.status}: {raw[:300]!r}")
        answer: dict[str, Any] = json.loads(raw) if raw else {}
        return answer

    def create(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        """POST one object."""
        return self.call("POST", path, json.dumps(obj).encode())

    def stream(self, path: str) -> http.client.HTTPResponse:
        """GET a streaming response (a watch): read it line by line."""
        self._conn.request("GET", path, headers=self._admin)
        return self._conn.getresponse()

    def shutdown(self) -> None:
        """Cut the connection under a reader that is blocked on it."""
        if self._conn.sock is not None:
            self._conn.sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()


def service(name: str, *, lb_class: str | None = None) -> bytes:
    """A LoadBalancer Service body, serialised (outside any timing)."""
    spec: dict[str, Any] = {"type": "LoadBalancer", "ports": [{"port": 80}]}
    if lb_class:
        spec["loadBalancerClass"] = lb_class
    return json.dumps({"metadata": {"name": name}, "spec": spec}).encode()


def ingress_ip(obj: dict[str, Any]) -> str | None:
    """The first address in a Service's status, if any."""
    ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return str(ingress[0].get("ip")) if ingress else None


class Watcher(threading.Thread):
    """One watch on the Services: when each first showed an address, and any address change."""

    def __init__(self, url: str, since: str) -> None:
        super().__init__(name="watch", daemon=True)
        self._rest, self._since = Rest(url, timeout=None), since
        self._cond = threading.Condition()
        self.first: dict[str, float] = {}  # name → perf_counter when it first had an address
        self.ips: dict[str, str] = {}
        self.changes: list[tuple[str, str, str | None]] = []  # name, old, new (None: lost)
        self.error: BaseException | None = None

    def run(self) -> None:
        """Read events until the connection ends."""
        path = f"{SERVICES}?watch=1&resourceVersion={self._since}"
        try:
            response = self._rest.stream(path)
            while line := response.readline():
                self._take(json.loads(line))
        except (OSError, http.client.HTTPException, ValueError) as error:
            self.error = error
        with self._cond:
            self._cond.notify_all()

    def _take(self, event: dict[str, Any]) -> None:
        now = time.perf_counter()
        obj = event["object"]
        name, ip = obj["metadata"]["name"], ingress_ip(obj)
        with self._cond:
            old = self.ips.pop(name, None)
            if event["type"] == "DELETED":
                self.first.pop(name, None)  # the name may come back as a new Service
            elif ip is not None:
                self.ips[name] = ip
                self.first.setdefault(name, now)
            if old is not None and ip != old and event["type"] != "DELETED":
                self.changes.append((name, old, ip))
            self._cond.notify_all()

    def wait_for(self, names: Iterable[str], timeout: float = WAIT) -> float:
        """Wait until every one of `names` has had an address; the latest first-seen time."""
        names = wanted = list(names)
        deadline = time.monotonic() + timeout
        with self._cond:
            while missing := [n for n in wanted if n not in self.first]:
                left = deadline - time.monotonic()
                if left <= 0 or self.error or not self.is_alive():
                    state = f"watch ended: {self.error!r}" if self.error else "watch open"
                    raise BenchError(
                        f"{len(missing)} Services without an address, e.g. {missing[0]} ({state})"
                    )
                self._cond.wait(min(left, 1.0))
                wanted = missing
            return max((self.first[n] for n in names), default=time.perf_counter())

    def close(self) -> None:
        """End the watch (its thread ends with the connection)."""
        self._rest.shutdown()
        self.join(timeout=5)
        self._rest.close()


# ---------------------------------------------------------------------------- processes


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Lab:
    """The API server and the controllers, as child processes; `close` ends every one of them."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.kubeconfig = workdir / "kubeconfig"
        self._children: list[subprocess.Popen[bytes]] = []
        self.server: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.profile: Path | None = None  # a directory: each controller runs under cProfile

    def start_server(self) -> str:
        """Start `python -m lab.apiserver` and return its URL (the one line it prints)."""
        command = [sys.executable, "-m", "lab.apiserver", "--port", "0"]
        command += ["--kubeconfig", str(self.kubeconfig), "--history", "200000"]
        command += tls.server_flags(self.workdir, tls.credentials())
        log = (self.workdir / "apiserver.log").open("wb")
        self.server = self._spawn(command, stdout=subprocess.PIPE, stderr=log)
        assert self.server.stdout is not None  # noqa: S101 - asked for above
        self.url = self.server.stdout.readline().decode().strip()
        if not self.url.startswith("https://"):
            raise BenchError(f"the API server did not start; see {log.name}")
        return self.url

    def start_controller(self, identity: str) -> subprocess.Popen[bytes]:
        """Start `python -m controller` with short Lease timings; logs go to a file."""
        command = [sys.executable, "-m", "controller", "--metrics-port", "0", "--health-port", "0"]
        command += [*LEASE, "--identity", identity]
        if self.profile is not None:
            # Written when the controller exits on SIGTERM; a SIGKILLed one leaves no profile.
            out = self.profile / f"{identity}.prof"
            command[1:1] = ["-m", "cProfile", "-o", str(out)]
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        log = (self.workdir / f"{identity}.log").open("wb")
        return self._spawn(command, stdout=log, stderr=log, env=env)

    def _spawn(self, command: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        child = subprocess.Popen(command, cwd=ROOT, **kwargs)  # noqa: S603 - our own modules
        self._children.append(child)
        return child

    def stop(self, child: subprocess.Popen[bytes], signum: int = signal.SIGTERM) -> float:
        """Signal one child and wait for it; the seconds it took to exit (`returncode` is set)."""
        start = time.perf_counter()
        if child.poll() is None:
            child.send_signal(signum)
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        return time.perf_counter() - start

    def close(self) -> None:
        """End every child, newest first."""
        for child in reversed(self._children):
            self.stop(child)


# ---------------------------------------------------------------------------- the cases


@dataclass(frozen=True, slots=True)
class Restart:
    """One restart: how it went and what it changed."""

    how: str
    stop_s: float  # the old controller's exit
    code: int | None  # its exit code (negative: the signal that ended it)
    first_s: float  # new controller start → the new Service's address
    changed: int  # addresses that differ after the restart (or vanished)


class Bench:
    """The driver: creates Services, starts and stops controllers, reads times off the watch."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.rest = Rest(lab.url)
        self.watcher: Watcher | None = None
        self.controller: subprocess.Popen[bytes] | None = None
        self._starts = 0
        self.controller_exit: int | None = None
        self.phases: list[str] = []  # where the time went, one line per phase

    @property
    def watch(self) -> Watcher:
        """The running watch."""
        if self.watcher is None:
            raise BenchError("no watch yet")
        return self.watcher

    def setup(self) -> None:
        """CRDs, namespaces, one big pool; then the watch, from the current resourceVersion."""
        for path in sorted(CRDS.glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                self.rest.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", doc)
        for namespace in (POOL_NS, NS):
            self.rest.create("/api/v1/namespaces", {"metadata": {"name": namespace}})
        pool = {"metadata": {"name": "bench"}, "spec": {"addresses": POOL_ADDRESSES}}
        self.rest.create(f"/apis/metallb.io/v1beta1/namespaces/{POOL_NS}/ipaddresspools", pool)
        since = self.rest.call("GET", SERVICES)["metadata"]["resourceVersion"]
        self.watcher = Watcher(self.lab.url, since)
        self.watcher.start()

    def start_controller(self) -> float:
        """Start a new controller replica; the time it started."""
        self._starts += 1
        start = time.perf_counter()
        self.controller = self.lab.start_controller(f"controller-{self._starts}")
        return start

    def cold_start(self, rounds: int) -> float:
        """Start → first IP with no Services present, median of `rounds`.

        Each round starts a controller, creates one Service at once, waits for its address,
        then stops the controller (SIGTERM) and deletes the Service; the last controller stays.
        """
        firsts = []
        for i in range(rounds):
            if self.controller is not None:
                self.lab.stop(self.controller)
                self.rest.call("DELETE", f"{SERVICES}/cold-{i - 1}")
            start = self.start_controller()
            self.rest.call("POST", SERVICES, service(f"cold-{i}"))
            firsts.append(self.watch.wait_for([f"cold-{i}"]) - start)
        return statistics.median(firsts)

    def create(self, prefix: str, count: int) -> tuple[list[str], float, float]:
        """Create `count` Services back to back: names, start time, seconds taken."""
        names = [f"{prefix}-{i}" for i in range(count)]
        bodies = [service(name) for name in names]
        start = time.perf_counter()
        for body in bodies:
            self.rest.call("POST", SERVICES, body)
        return names, start, time.perf_counter() - start

    def latencies(self, prefix: str, count: int, *, floor: bool = False) -> list[float]:
        """Create → address-on-the-watch, one Service at a time.

        With `floor`, the Services belong to another class and the driver writes the address
        itself right after the create: the API round trips and the watch delivery any
        controller must pay, with no controller work at all.
        """
        found = []
        for i in range(count):
            name = f"{prefix}-{i}"
            body = service(name, lb_class=OTHER_CLASS if floor else None)
            patch = {"status": {"loadBalancer": {"ingress": [{"ip": f"192.0.2.{i % 250 + 1}"}]}}}
            start = time.perf_counter()
            self.rest.call("POST", SERVICES, body)
            if floor:
                raw = json.dumps(patch).encode()
                self.rest.call("PATCH", f"{SERVICES}/{name}/status", raw, "merge-patch+json")
            found.append(self.watch.wait_for([name]) - start)
        return found

    def snapshot(self) -> dict[str, str | None]:
        """Every Service's address, from a fresh list."""
        items = self.rest.call("GET", SERVICES)["items"]
        return {obj["metadata"]["name"]: ingress_ip(obj) for obj in items}

    def restart(self, signum: signal.Signals) -> Restart:
        """Stop the controller with `signum`, start a new one, create one Service at once."""
        if self.controller is None:
            raise BenchError("no controller to restart")
        before = self.snapshot()
        stop_s = self.lab.stop(self.controller, signum)
        self.controller_exit = self.controller.returncode
        start = self.start_controller()
        name = f"after-{signum.name.lower()}"
        self.rest.call("POST", SERVICES, service(name))
        first_s = self.watch.wait_for([name]) - start
        after = self.snapshot()
        changed = sum(1 for key, ip in before.items() if after.get(key) != ip)
        code = self.controller_exit
        return Restart(signum.name, stop_s, code, first_s, changed)

    def cpu(self) -> tuple[int, float, float]:
        """The controller's pid, and CPU seconds used so far by it and by the API server."""
        if self.controller is None or self.lab.server is None:
            return 0, 0.0, 0.0
        pid = self.controller.pid
        return pid, cpu_seconds(pid), cpu_seconds(self.lab.server.pid)

    def close(self) -> None:
        """End the watch and the connection (the processes are the Lab's)."""
        if self.watcher is not None:
            self.watcher.close()
        self.rest.close()


# ---------------------------------------------------------------------------- reporting


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank), in milliseconds."""
    ranked = sorted(values)
    return 1000 * ranked[min(len(ranked) - 1, max(0, round(q / 100 * len(ranked)) - 1))]


def row(case: str, value: str, baseline: str, ratio: float) -> None:
    """One line of the table."""
    print(f"{case:<38} {value:>11} {baseline:>26} {ratio:>7.2f}")


@contextmanager
def phase(bench: Bench, label: str) -> Iterator[None]:
    """Note the wall time and the CPU seconds the controller and the server spent in the block.

    When the block restarts the controller, the count is the new controller's, from its start.
    """
    pid, cpu0, server0 = bench.cpu()
    wall0 = time.perf_counter()
    yield
    pid1, cpu1, server1 = bench.cpu()
    wall = time.perf_counter() - wall0
    used = cpu1 - cpu0 if pid1 == pid else cpu1
    bench.phases.append(
        f"{label:<28} {wall:6.2f} s wall; CPU: controller {used:5.2f} s,"
        f" API server {server1 - server0:5.2f} s"
    )


def run(bench: Bench, sizes: Sizes, *, profiled: bool = False) -> int:
    """All cases, in order, on one server; the exit code."""
    bench.setup()
    cold_s = bench.cold_start(sizes.cold_rounds)

    with phase(bench, "latency, ~0 present"):
        floor = bench.latencies("floor", sizes.samples, floor=True)
        empty = bench.latencies("empty", sizes.samples)
    with phase(bench, f"fill to {sizes.present}"):
        filled, _, _ = bench.create("fill", sizes.present - 2 * sizes.samples - 1)
        bench.watch.wait_for(filled)
    with phase(bench, f"latency, {sizes.present} present"):
        full = bench.latencies("loaded", sizes.samples)
    with phase(bench, f"burst of {sizes.burst}"):
        burst, burst_start, create_s = bench.create("burst", sizes.burst)
        burst_s = bench.watch.wait_for(burst) - burst_start
    present = len(bench.snapshot())
    with phase(bench, f"fill to {sizes.restart}"):
        more, _, _ = bench.create("more", max(0, sizes.restart - present))
        bench.watch.wait_for(more)
    restart_count = len(bench.snapshot())
    with phase(bench, "restart after SIGTERM"):
        term = bench.restart(signal.SIGTERM)
    with phase(bench, "restart after SIGKILL"):
        kill = bench.restart(signal.SIGKILL)

    print(f"{'case':<38} {'value':>11} {'baseline':>26} {'ratio':>7}")
    for q in (50, 99):
        row(
            f"create→IP p{q}, ~0 present",
            f"{pct(empty, q):.1f} ms",
            f"floor p{q} {pct(floor, q):.1f} ms",
            pct(empty, q) / pct(floor, q),
        )
        row(
            f"create→IP p{q}, {sizes.present:,} present",
            f"{pct(full, q):.1f} ms",
            f"~0 present {pct(empty, q):.1f} ms",
            pct(full, q) / pct(empty, q),
        )
    row(
        f"{sizes.burst:,} new Services, last IP",
        f"{burst_s:.2f} s",
        f"creating them {create_s:.2f} s",
        burst_s / create_s,
    )
    for result in (term, kill):
        row(
            f"restart ({result.how}), {restart_count:,}: 1st IP",
            f"{result.first_s:.2f} s",
            f"cold start, 0: {cold_s:.2f} s",
            result.first_s / cold_s,
        )
    print(
        f"floor = driver's own create + status patch, seen on the watch; latency samples:"
        f" {sizes.samples} per point; burst rate {sizes.burst / burst_s:,.0f} Services/s"
    )
    print(f"cold start (0 Services, median of {sizes.cold_rounds}): first IP {cold_s:.2f} s")
    for result in (term, kill):
        print(
            f"restart ({result.how}): old controller exited in {result.stop_s:.2f} s"
            f" (code {result.code});"
            f" addresses changed: {result.changed} of {restart_count:,}"
        )
    print("where the time went:")
    for line in bench.phases:
        print(f"  {line}")
    moved = len(bench.watch.changes)
    print(f"address changes seen on the watch during the whole run: {moved} (must be 0)")
    verdicts = [
        (f"burst within {BURST_GOAL}x creating it", at_most(burst_s / create_s, BURST_GOAL)),
        (
            f"create→IP p50 within {LATENCY_GOAL}x the floor",
            at_most(pct(empty, 50) / pct(floor, 50), LATENCY_GOAL),
        ),
        *(
            (
                f"first IP after {r.how} within {RESTART_GOAL_S} s",
                at_most(r.first_s, RESTART_GOAL_S),
            )
            for r in (term, kill)
        ),
    ]
    judged = sizes.burst >= FULL.burst and sizes.samples >= FULL.samples and not profiled
    for goal, met in verdicts:
        print(f"goal: {goal}: {'met' if met else 'MISSED'}{'' if judged else ' (not judged)'}")
    if not judged:
        print("goals are judged at the full sizes, unprofiled, only: this run times noise")
    kept = term.changed == kill.changed == moved == 0
    return 0 if kept and (not judged or all(met for _, met in verdicts)) else 1


def main(argv: list[str] | None = None) -> int:
    """Run the bench; exit 1 when an address changed, a goal was missed or a measurement failed."""
    parser = argparse.ArgumentParser(prog="python -m bench.controller", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs")
    parser.add_argument("--burst", type=int, help=f"Services in the burst ({FULL.burst})")
    parser.add_argument(
        "--restart", type=int, help=f"Services across the restarts ({FULL.restart})"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="run each controller under cProfile; DIR/<identity>.prof when it stops (SIGTERM)",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    sizes = replace(sizes, burst=args.burst or sizes.burst, restart=args.restart or sizes.restart)
    workdir = Path(tempfile.mkdtemp(prefix="bench-controller-"))
    lab = Lab(workdir)
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
        lab.profile = args.profile.resolve()
    bench: Bench | None = None
    try:
        lab.start_server()
        bench = Bench(lab)
        return run(bench, sizes, profiled=args.profile is not None)
    except BenchError as error:
        print(f"FAILED: {error} (logs in {workdir})", file=sys.stderr)
        args.keep_logs = True
        return 1
    finally:
        if bench is not None:
            bench.close()
        lab.close()
        if not args.keep_logs:
            for path in workdir.iterdir():
                path.unlink()
            workdir.rmdir()


if __name__ == "__main__":
    sys.exit(main())
