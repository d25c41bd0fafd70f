"""Network namespaces for wire tests (tier T3) and the speaker benchmark: create, use, delete.

The `ip`/`run` plumbing is the lab's own (`lab.network`); this adds what only tests need.

Everything is named `mp-<pid>-<role>` so that concurrent sessions never collide, and is deleted by
that name (deleting a namespace destroys its veths too). Links are created directly inside the
namespaces (`ip -n <ns> link add … peer … netns <switch>`), so the host's own interfaces are never
touched. Only documentation prefixes are used: 192.0.2.0/24 and 2001:db8::/64.
Processes started here are stopped by their PID.
"""

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.network import exec_in, ip, run

in_namespace = exec_in  # the name the wire tests and the benchmark use
__all__ = [
    "Child",
    "Namespaces",
    "add_address",
    "connect",
    "in_namespace",
    "ip",
    "mac_of",
    "neighbour",
    "python_in",
    "run",
    "sysctl",
    "unavailable_reason",
]

ROOT = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT = 10.0
IP = shutil.which("ip") or "/usr/sbin/ip"


def unavailable_reason() -> str | None:
    """Why namespaces cannot be used here, or None when they can."""
    if os.geteuid() != 0:
        return "wire tests need root"
    if shutil.which("ip") is None:
        return "wire tests need `ip` (iproute2)"
    try:
        run([IP, "netns", "list"])
    except subprocess.CalledProcessError as error:
        return f"`ip netns` unavailable: {error.stderr.strip()}"
    return None


def python_in(namespace: str, module: str, *args: str) -> list[str]:
    """An argv running `python -m module args…` from the repository root inside `namespace`."""
    return exec_in(namespace, sys.executable, "-m", module, *args)


def sysctl(namespace: str, name: str, value: str) -> None:
    """Set a sysctl inside `namespace` only (net.* sysctls are per network namespace)."""
    # Written through /proc, not sysctl(8): procps may be missing on a slim CI image.
    path = "/proc/sys/" + name.replace(".", "/")
    run(exec_in(namespace, "sh", "-c", f"echo {value} > {path}"))


@dataclass
class Namespaces:
    """Namespaces created under one prefix, deleted together by name."""

    prefix: str = field(default_factory=lambda: f"mp-{os.getpid()}")
    created: list[str] = field(default_factory=list)

    def add(self, role: str) -> str:
        """Create `<prefix>-<role>` with its loopback up; returns the name."""
        name = f"{self.prefix}-{role}"
        ip("netns", "add", name)
        self.created.append(name)
        ip("link", "set", "lo", "up", namespace=name)
        # No DAD in our namespaces: addresses are usable at once and link-locals exist at once.
        sysctl(name, "net.ipv6.conf.default.accept_dad", "0")
        sysctl(name, "net.ipv6.conf.all.accept_dad", "0")
        return name

    def delete_all(self) -> None:
        """Delete every namespace created here, ignoring ones already gone."""
        for name in reversed(self.created):
            run([IP, "netns", "del", name], check=False)
        self.created.clear()


def connect(
    namespace: str, interface: str, peer_namespace: str, peer: str, bridge: str | None = None
) -> str:
    """A veth `interface` in `namespace` whose other end `peer` is in `peer_namespace`, both up.

    With `bridge`, the peer end becomes a port of that bridge. Returns the interface's MAC.
    """
    ip("link", "add", interface, "type", "veth", "peer", "name", peer, "netns", peer_namespace,
       namespace=namespace)  # fmt: skip
    if bridge is not None:
        ip("link", "set", peer, "master", bridge, namespace=peer_namespace)
    ip("link", "set", peer, "up", namespace=peer_namespace)
    ip("link", "set", interface, "up", namespace=namespace)
    return mac_of(namespace, interface)


def mac_of(namespace: str, interface: str) -> str:
    """The interface's MAC, lower-case colon form."""
    (link,) = json.loads(ip("-j", "link", "show", interface, namespace=namespace))
    return str(link["address"])


def add_address(namespace: str, interface: str, cidr: str) -> None:
    """Add an address; IPv6 ones with `nodad`, so that they are usable at once."""
    extra = ["nodad"] if ":" in cidr else []
    ip("addr", "add", cidr, "dev", interface, *extra, namespace=namespace)


def neighbour(namespace: str, address: str, interface: str) -> tuple[str, str | None]:
    """(state, lladdr) of the kernel's neighbour entry for `address`, ("NONE", None) if absent."""
    entries = json.loads(ip("-j", "neigh", "show", address, "dev", interface, namespace=namespace))
    if not entries:
        return "NONE", None
    entry = entries[0]
    return ",".join(entry.get("state", ["NONE"])), entry.get("lladdr")


class Child:
    """A line-oriented JSON child process (a responder runner, a probe), stopped by its PID."""

    def __init__(self, argv: Sequence[str]) -> None:
        # stderr goes to a file: a pipe nobody drains would block a chatty child.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(  # noqa: S603 - argv built from our own constants
            argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr
        )
        self.argv = list(argv)
        self._buffer = b""
        self.ready: dict[str, Any] = {}

    def wait_ready(self, timeout: float = COMMAND_TIMEOUT) -> dict[str, Any]:
        """The child's first line, which says it is ready (start several, then wait for each)."""
        self.ready = self.read(timeout)
        return self.ready

    @property
    def pid(self) -> int:
        """The child's PID (`ip netns exec` execs, so this is the Python process itself)."""
        return self.process.pid

    def ask(
        self, command: Mapping[str, object], timeout: float = COMMAND_TIMEOUT
    ) -> dict[str, Any]:
        """Send one JSON command line and return the JSON reply line."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        self.process.stdin.flush()
        return self.read(timeout)

    def read(self, timeout: float) -> dict[str, Any]:
        """The next JSON line from the child; raises TimeoutError or RuntimeError if it died."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no reply from {self.argv} in {timeout} s")
            readable, _, _ = select.select([fd], [], [], remaining)
            if readable:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise RuntimeError(f"{self.argv} exited: {self.stderr()}")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        reply: dict[str, Any] = json.loads(line)
        return reply

    def stderr(self) -> str:
        """What the child has written to stderr so far."""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def stop(self, timeout: float = 2.0) -> None:
        """Close stdin (the child quits), then SIGKILL by PID if it has not exited in time."""
        if self.process.poll() is None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.close()
                self.process.wait(timeout)
            except (OSError, subprocess.TimeoutExpired):
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()
