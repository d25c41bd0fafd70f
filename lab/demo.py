"""`metalpool-lab`: a cluster in a box — MetalPool's controller and speakers on a namespaced wire.

Shell. One run: the emulated API server; the CRDs and deploy/examples applied with the real
kubectl; node namespaces and a client namespace on one bridge; Nodes and EndpointSlices
registered; the controller, and one speaker inside each node namespace; then a table of every
Service (address, pool, announcing node, the MAC the client's own kernel resolved) and a live
failover when the announcing speaker stops. Everything is removed on exit unless `--keep`.
The API server is a child process (served in every node namespace at 127.0.0.1:6443), so the
chaos controls can freeze it or take it dark; they and `link` act only on what the lab made,
processes by PID.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lab import accounts
from lab.apiserver.auth import tls
from lab.apiserver.auth.tokens import bearer
from lab.apiserver.kubeconfig import write_kubeconfig
from lab.apiserver.process import ApiServerProcess
from lab.kubectl import KUBECTL, kubectl_problem
from lab.network import Network, exec_in, ip_command
from lab.workloads import endpoint_slices, node_object

ROOT = Path(__file__).resolve().parent.parent
API_PORT_IN_NODES = 6443
CLIENT = ("192.0.2.200/24", "198.51.100.200/24", "2001:db8:0:1::200/64")
# A host that already holds the first address of public-pool, as a router or a laptop with a
# stale DHCP lease would: the Service that would have got it must move on (docs/lan.md).
ROGUE = ("192.0.2.10/24",)
ANNOUNCED_CONDITION = "metallb.io/Announced"
QUARANTINE_ANNOTATION = "metalpool.io/quarantine"
SETTLE_TIMEOUT = 60.0
FAILOVER_TIMEOUT = 20.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One Service as the lab shows it."""

    service: str
    ip: str
    pool: str
    node: str
    resolved: str
    state: str = "-"  # the reason of the Service's Announced condition
    why: str = ""  # its message, when not announced


class Lab:
    """The whole lab; use as a context manager so that everything is cleaned up."""

    def __init__(self, *, nodes: int, examples: Path, say: Callable[[str], None] = print) -> None:
        self.node_names = [f"node-{i + 1}" for i in range(nodes)]
        self.examples = examples
        self.say = say
        self.workdir = Path(tempfile.mkdtemp(prefix="metalpool-lab-"))
        self.server = ApiServerProcess(log=self.workdir / "apiserver.log")
        self.network: Network | None = None
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.speaker_flags: dict[str, tuple[str, ...]] = {}

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> "Lab":
        self.server.start()
        ca = self.server.ca
        self.kubeconfig = write_kubeconfig(self.workdir / "kubeconfig", self.server.url, ca=ca)
        self.node_kubeconfig = write_kubeconfig(
            self.workdir / "kubeconfig-in-nodes", self.node_url, ca=ca
        )
        return self

    def __exit__(self, *_: object) -> None:
        for process in self.processes.values():
            _terminate(process)
        self.server.stop()
        if self.network is not None:
            self.network.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # ------------------------------------------------------------------ building

    def build(self) -> None:
        """Cluster objects, network, controller and speakers: the whole demo."""
        self.say(f"API server at {self.server.url}; CRDs and examples applied with kubectl")
        self.install()
        self.kubectl("apply", "-k", str(self.examples))
        self.wire(rogue=ROGUE)
        self.say(
            f"namespaces {self.network_prefix()}-{{switch,client,{','.join(self.node_names)}}}"
        )
        self.apply(endpoint_slices(self._example_objects(), self.node_names))
        self.start_controller()
        for node in self.node_names:
            self.start_speaker(node)
        for node in self.node_names:
            self.wait_speaker(node)  # all live: the first one up announces everything meanwhile

    @property
    def node_url(self) -> str:
        """The API server's URL inside a node's namespace."""
        return f"https://127.0.0.1:{API_PORT_IN_NODES}"

    def install(self) -> None:
        """The CRDs, the metallb-system namespace and deploy/'s RBAC; the programs' identities.

        The controller and the speakers run as deploy/'s ServiceAccounts (lab/accounts.py), with
        tokens from `kubectl create token`, so RBAC holds them to what the manifests grant.
        """
        self.kubectl("apply", "-f", str(ROOT / "deploy" / "crds"))
        self.kubectl("create", "namespace", "metallb-system")
        admin = accounts.run_kubectl(KUBECTL, self.kubeconfig)
        accounts.grant(admin)
        ca = self.server.ca
        self.controller_kubeconfig = accounts.account_kubeconfig(
            admin, accounts.CONTROLLER, self.workdir / "kubeconfig-controller",
            url=self.server.url, ca=ca,
        )  # fmt: skip
        self.speaker_kubeconfig = accounts.account_kubeconfig(
            admin, accounts.SPEAKER, self.workdir / "kubeconfig-speaker", url=self.node_url, ca=ca
        )

    def wire(self, rogue: tuple[str, ...] = ()) -> None:
        """Node and client namespaces on one bridge; the Nodes registered; the API reachable.

        With `rogue` addresses, a "rogue" namespace on the bridge holds them: its own kernel
        answers for them, as any device on a LAN would.
        """
        self.network = Network()
        for i, node in enumerate(self.node_names):
            host = self.network.add_host(node, f"192.0.2.{i + 1}/24", f"2001:db8:0:1::{i + 1}/64")
            self.server.serve_netns(host.namespace, API_PORT_IN_NODES)
        self.network.add_host("client", *CLIENT)
        if rogue:
            self.network.add_host("rogue", *rogue)
        self.apply([node_object(n, f"192.0.2.{i + 1}") for i, n in enumerate(self.node_names)])

    def network_prefix(self) -> str:
        """The prefix of every namespace name (`mp-<pid>`)."""
        assert self.network is not None  # noqa: S101 - wired first
        return self.network.prefix

    def apply(self, objects: list[dict[str, Any]]) -> None:
        """`kubectl apply` of generated objects."""
        self.kubectl_stdin(yaml.safe_dump_all(objects), "apply", "-f", "-")

    def start_controller(self) -> None:
        """The controller, in the host namespace (it only talks to the API server)."""
        self._spawn("controller", [sys.executable, "-m", "controller", "--metrics-port", "0",
                                   "--health-port", "0"], self.controller_kubeconfig)  # fmt: skip

    def start_speaker(self, node: str, *flags: str) -> None:
        """A speaker inside `node`'s namespace (extra `flags` such as --lease-duration)."""
        assert self.network is not None  # noqa: S101 - built first
        self.speaker_flags[node] = flags
        argv = exec_in(
            self.network.hosts[node].namespace,
            sys.executable, "-m", "speaker", "--node-name", node,
            "--metrics-port", "0", "--health-port", "0", *flags,
        )  # fmt: skip
        self._spawn(f"speaker {node}", argv, self.speaker_kubeconfig)

    def wait_speaker(self, node: str, timeout: float = 20.0) -> None:
        """Wait until `node`'s speaker holds its Lease: it runs and reaches the API server.

        It becomes a candidate about half a second later, once it has listened to its peers
        on the LAN (docs/membership.md); until then its peers keep answering for it.
        """
        deadline = time.monotonic() + timeout
        query = "jsonpath={.spec.holderIdentity}"
        while time.monotonic() < deadline:
            with contextlib.suppress(RuntimeError):
                lease = f"metalpool-speaker-{node}"
                if self.kubectl("get", "lease", lease, "-n", "metallb-system", "-o", query) == node:
                    return
            time.sleep(0.2)

    # ------------------------------------------------------------------ chaos

    def freeze_api(self) -> None:
        """SIGSTOP the API server: connections accepted, never answered (lab kubectl hangs)."""
        self.server.freeze()

    def thaw_api(self) -> None:
        """SIGCONT the API server: it answers again, what it accepted meanwhile included."""
        self.server.thaw()

    def stop_api(self) -> None:
        """An API outage: connections refused, open ones and watches closed; objects kept."""
        self.server.go_dark()

    def start_api(self) -> None:
        """End the outage: the same host port (kubeconfigs hold) and 127.0.0.1:6443 in nodes."""
        self.server.serve()

    def link(self, node: str, *, up: bool) -> None:
        """Take `node`'s LAN link down or up at the switch; its API path (loopback) stays."""
        assert self.network is not None  # noqa: S101 - wired first
        self.network.set_link(node, up=up)

    def speaker_pid(self, node: str) -> int:
        """The PID of the speaker the lab started in `node` (KeyError when there is none)."""
        return self.processes[f"speaker {node}"].pid

    def signal_speaker(self, node: str, sig: int) -> int:
        """Send `sig` to `node`'s speaker (SIGSTOP, SIGCONT, SIGKILL…); the PID signalled."""
        process = self.processes[f"speaker {node}"]
        process.send_signal(sig)
        return process.pid

    def stop_speaker(self, node: str) -> None:
        """SIGTERM `node`'s speaker and wait until it has exited (its flags are kept)."""
        old = self.processes.pop(f"speaker {node}", None)
        if old is not None:
            _terminate(old)

    def restart_speaker(self, node: str, *flags: str) -> int:
        """SIGTERM `node`'s speaker, wait, start it again; same flags unless given. New PID."""
        self.stop_speaker(node)
        self.start_speaker(node, *(flags or self.speaker_flags.get(node, ())))
        return self.speaker_pid(node)

    # ------------------------------------------------------------------ observing

    def settle(self) -> list[Row]:
        """Wait until every Service has an address and an announcer, unchanged for a second.

        Takeovers right after start (the first speaker up announces everything until its peers
        are live) must have finished, and the ServiceL2Status objects caught up.
        """
        deadline = time.monotonic() + SETTLE_TIMEOUT
        previous: list[Row] = []
        while time.monotonic() < deadline:
            rows = self.rows()
            if rows == previous and all(r.ip != "-" and _settled(r) for r in rows):
                return rows
            previous = rows
            time.sleep(1.0)
        return self.rows()

    def rows(self) -> list[Row]:
        """The current table, without resolving MACs."""
        services = yaml.safe_load(self.kubectl("get", "svc", "-A", "-o", "yaml"))["items"]
        owners = self.announcers()
        rows = []
        for svc in services:
            if (svc.get("spec") or {}).get("type") != "LoadBalancer":
                continue
            meta = svc["metadata"]
            key = f"{meta['namespace']}/{meta['name']}"
            ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            pool = (meta.get("annotations") or {}).get("metallb.io/ip-allocated-from-pool", "-")
            node = owners.get(key, "-")
            conditions = (svc.get("status") or {}).get("conditions") or []
            said: dict[str, Any] = next(
                (c for c in conditions if c.get("type") == ANNOUNCED_CONDITION), {}
            )
            why = said.get("message", "") if said.get("status") == "False" else ""
            rows += [
                Row(
                    service=key,
                    ip=entry["ip"],
                    pool=pool,
                    node=node,
                    resolved="-",
                    state=said.get("reason", "-"),
                    why=why,
                )
                for entry in ingress or [{"ip": "-"}]
            ]
        return sorted(rows, key=lambda r: (r.service, ":" in r.ip, r.ip))

    def quarantined(self) -> dict[str, dict[str, Any]]:
        """Every quarantined address (docs/lan.md): address → what the pool's annotation says."""
        pools = yaml.safe_load(
            self.kubectl("get", "ipaddresspools", "-n", "metallb-system", "-o", "yaml")
        )["items"]
        found: dict[str, dict[str, Any]] = {}
        for pool in pools:
            raw = (pool["metadata"].get("annotations") or {}).get(QUARANTINE_ANNOTATION)
            with contextlib.suppress(ValueError, TypeError):
                entries = json.loads(raw) if raw else {}
                found |= {ip: {"pool": pool["metadata"]["name"], **e} for ip, e in entries.items()}
        return found

    def announcers(self) -> dict[str, str]:
        """Service → announcing node, from the speakers' ServiceL2Status objects."""
        items = yaml.safe_load(
            self.kubectl("get", "servicel2statuses", "-n", "metallb-system", "-o", "yaml")
        )["items"]
        return {
            f"{o['status']['serviceNamespace']}/{o['status']['serviceName']}": o["status"]["node"]
            for o in items
            if (o.get("status") or {}).get("node")
        }

    def resolve(self, address: str, timeout: float = 3.0) -> str | None:
        """The MAC the client's kernel resolves `address` to (it sends one UDP datagram)."""
        assert self.network is not None  # noqa: S101 - built first
        self._poke(address)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state, mac = self.network.neighbour("client", address)
            if mac and state not in ("INCOMPLETE", "FAILED"):
                return mac
            time.sleep(0.05)
        return None

    def node_of_mac(self, mac: str | None) -> str:
        """Which node a MAC belongs to."""
        assert self.network is not None  # noqa: S101 - built first
        return next((h.role for h in self.network.hosts.values() if h.mac == mac), mac or "none")

    def owner(self, address: str) -> str:
        """The node the client's kernel reaches `address` at, after a fresh resolution."""
        assert self.network is not None  # noqa: S101 - built first
        return self.node_of_mac(self.resolve(address))

    def steady(self, row: Row, timeout: float = 15.0) -> str:
        """Wait until the client and the ServiceL2Status agree on the owner for a second."""
        deadline = time.monotonic() + timeout
        agreed_since = None
        while time.monotonic() < deadline:
            owner = self.owner(row.ip)
            if owner == self.announcers().get(row.service):
                agreed_since = agreed_since or time.monotonic()
                if time.monotonic() - agreed_since >= 1.0:
                    return owner
            else:
                agreed_since = None
            time.sleep(0.2)
        return self.owner(row.ip)

    def failover(self, row: Row, sig: int) -> tuple[str, str, float | None]:
        """Stop the speaker answering for `row` with `sig`.

        Returns (old node, new node, seconds from the signal until the client's kernel entry
        for the address pointed at another node), measured by polling `ip neigh` every 20 ms
        while sending a datagram to the address, as a client in use would.
        """
        assert self.network is not None  # noqa: S101 - built first
        before = self.steady(row)
        old_mac = self.resolve(row.ip)
        process = self.processes.pop(f"speaker {before}")
        start = time.monotonic()
        process.send_signal(sig)
        seconds = None
        while time.monotonic() - start < FAILOVER_TIMEOUT:
            self._poke(row.ip)
            _, mac = self.network.neighbour("client", row.ip)
            if mac and mac != old_mac:
                seconds = time.monotonic() - start
                break
            time.sleep(0.02)
        process.wait(timeout=10)
        return before, self.owner(row.ip), seconds

    # ------------------------------------------------------------------ plumbing

    def denials(self) -> list[str]:
        """What the API server refused (401/403), from its log: RBAC's verdicts on the programs."""
        log = self.server.log
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        return [line.split("denied ", 1)[1] for line in lines if "denied " in line]

    def api_get(self, path: str, *, timeout: float) -> Any:
        """GET `path` from the API server as the lab's admin: a response to read (or stream)."""
        request = urllib.request.Request(  # noqa: S310 - the lab's own https:// URL
            self.server.url + path, headers=bearer()
        )
        context = tls.client_context(self.server.ca)
        return urllib.request.urlopen(request, timeout=timeout, context=context)  # noqa: S310

    def kubectl(self, *args: str) -> str:
        """The real kubectl against the lab's API server."""
        return self.kubectl_stdin("", *args)

    def kubectl_stdin(self, text: str, *args: str) -> str:
        """Run kubectl with `text` on stdin."""
        return accounts.run_kubectl(KUBECTL, self.kubeconfig)(list(args), text)

    def _example_objects(self) -> list[dict[str, Any]]:
        objects = []
        for path in sorted(self.examples.glob("*.yaml")):
            if path.name != "kustomization.yaml":
                objects += [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
        return objects

    def _spawn(self, name: str, argv: list[str], kubeconfig: Path) -> None:
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"}
        with (self.workdir / f"{name.replace(' ', '-')}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(  # noqa: S603 - our own programs
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
            )

    def _poke(self, address: str) -> None:
        assert self.network is not None  # noqa: S101 - built first
        family = "AF_INET6" if ":" in address else "AF_INET"
        code = (
            "import socket;"
            f"s=socket.socket(socket.{family},socket.SOCK_DGRAM);"
            f"s.sendto(b'metalpool-lab',('{address}',9))"
        )
        with contextlib.suppress(subprocess.SubprocessError):
            subprocess.run(  # noqa: S603 - our own one-liner
                exec_in(self.network.hosts["client"].namespace, sys.executable, "-c", code),
                capture_output=True, timeout=5, check=False,
            )  # fmt: skip


def _settled(row: Row) -> bool:
    """Announced, or not announced for a reason that will not change by itself."""
    return row.node != "-" or row.state not in ("-", "Probing", "Announced")


def _terminate(process: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM (and SIGCONT, should it be stopped), then SIGKILL if it outlives `timeout`."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.send_signal(signal.SIGCONT)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def preflight() -> str | None:
    """Why the lab cannot run here, or None."""
    if os.geteuid() != 0:
        return "metalpool-lab needs root: it creates network namespaces (e.g. sudo bin/lab)"
    try:
        ip_command()
    except RuntimeError as error:
        return str(error)
    return kubectl_problem()
