"""The lab's network: node namespaces and a client namespace on one bridge, and nothing else.

Shell (runs `ip`). Everything is named `<prefix>-<role>` and deleted by that name; links are
created inside the namespaces (`ip -n`), so the host's own interfaces are never touched. Only
documentation prefixes are used (RFC 5737, RFC 3849).
"""

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

COMMAND_TIMEOUT = 10.0
BRIDGE = "br0"


def ip_command() -> str:
    """The path of `ip`, or a clear error when iproute2 is missing."""
    found = shutil.which("ip") or next(
        (p for p in ("/usr/sbin/ip", "/sbin/ip") if os.access(p, os.X_OK)), None
    )
    if found is None:
        raise RuntimeError("`ip` (iproute2) is missing: apt-get install iproute2")
    return found


def run(argv: Sequence[str], *, check: bool = True) -> str:
    """Run a command of ours to completion; its stdout (CalledProcessError when asked)."""
    done = subprocess.run(  # noqa: S603 - argv built from fixed programs by this module
        argv, capture_output=True, text=True, check=False, timeout=COMMAND_TIMEOUT
    )
    if check and done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, done.args, done.stdout, done.stderr)
    return done.stdout


def ip(*args: str, namespace: str | None = None) -> str:
    """`ip [-n namespace] args…`."""
    prefix = [ip_command()] if namespace is None else [ip_command(), "-n", namespace]
    return run([*prefix, *args])


def exec_in(namespace: str, *argv: str) -> list[str]:
    """An argv that runs `argv` inside `namespace`."""
    return [ip_command(), "netns", "exec", namespace, *argv]


def port_name(role: str) -> str:
    """The name of `role`'s bridge port in the switch namespace (a veth's peer, ≤ 15 chars)."""
    return f"p-{role}"[:15]


@dataclass(frozen=True, slots=True, kw_only=True)
class Host:
    """A namespace on the bridge: its name, interface, MAC and addresses."""

    role: str
    namespace: str
    interface: str
    mac: str
    addresses: tuple[str, ...]


@dataclass
class Network:
    """A bridge in a switch namespace, and hosts plugged into it; `close` deletes it all."""

    prefix: str = field(default_factory=lambda: f"mp-{os.getpid()}")
    created: list[str] = field(default_factory=list)
    hosts: dict[str, Host] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.switch = self._namespace("switch")
        ip("link", "add", BRIDGE, "type", "bridge", namespace=self.switch)
        ip("link", "set", BRIDGE, "up", namespace=self.switch)

    def add_host(self, role: str, *addresses: str) -> Host:
        """A namespace `role` with `eth0` on the bridge, holding `addresses` (CIDRs)."""
        namespace = self._namespace(role)
        port = port_name(role)
        ip("link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", self.switch,
           namespace=namespace)  # fmt: skip
        ip("link", "set", port, "master", BRIDGE, namespace=self.switch)
        ip("link", "set", port, "up", namespace=self.switch)
        ip("link", "set", "eth0", "up", namespace=namespace)
        for cidr in addresses:
            extra = ["nodad"] if ":" in cidr else []
            ip("addr", "add", cidr, "dev", "eth0", *extra, namespace=namespace)
        (link,) = json.loads(ip("-j", "link", "show", "eth0", namespace=namespace))
        host = Host(
            role=role,
            namespace=namespace,
            interface="eth0",
            mac=str(link["address"]),
            addresses=addresses,
        )
        self.hosts[role] = host
        return host

    def set_link(self, role: str, *, up: bool) -> None:
        """Set `role`'s port on the bridge up or down, as plugging or pulling its LAN cable would.

        Only the switch side changes: `role`'s own loopback (its API path) is untouched.
        """
        ip("link", "set", port_name(role), "up" if up else "down", namespace=self.switch)

    def set_multicast(self, role: str, *, flood: bool) -> None:
        """Let the bridge flood multicast frames to `role`'s port, or not (`mcast_flood`).

        With flooding off, `role` hears no multicast (no peer heartbeat, no all-nodes NA) while
        broadcast ARP and everything it sends still pass: a one-way deafness, as a misbehaving
        switch with IGMP/MLD snooping can cause.
        """
        flag = "on" if flood else "off"
        bridge = ip_command().removesuffix("ip") + "bridge"
        run([bridge, "-n", self.switch, "link", "set", "dev", port_name(role), "mcast_flood", flag])

    def neighbour(self, role: str, address: str) -> tuple[str, str | None]:
        """(state, MAC) of `role`'s kernel neighbour entry for `address`."""
        host = self.hosts[role]
        raw = ip("-j", "neigh", "show", address, "dev", host.interface, namespace=host.namespace)
        entries = json.loads(raw or "[]")
        if not entries:
            return "NONE", None
        return ",".join(entries[0].get("state", ["NONE"])), entries[0].get("lladdr")

    def close(self) -> None:
        """Delete every namespace made here, by name (their veths go with them)."""
        for name in reversed(self.created):
            run([ip_command(), "netns", "del", name], check=False)
        self.created.clear()

    def _namespace(self, role: str) -> str:
        name = f"{self.prefix}-{role}"
        ip("netns", "add", name)
        self.created.append(name)
        ip("link", "set", "lo", "up", namespace=name)
        for scope in ("all", "default"):
            # Addresses are usable at once: nothing else on this bridge could claim them.
            path = f"/proc/sys/net/ipv6/conf/{scope}/accept_dad"
            run(exec_in(name, "sh", "-c", f"echo 0 > {path}"))
        return name
