"""The lab's chaos controls: a frozen API server, an API outage, a pulled LAN cable, speakers.

Tier T3 (root): two node namespaces and a client on one bridge, the API server as a child
process (served at 127.0.0.1:6443 inside each node). Every wait is bounded; documentation
prefixes only; everything is deleted by name afterwards.
"""

import http.client
import json
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.apiserver.auth import tls
from lab.apiserver.auth.tokens import bearer
from lab.demo import API_PORT_IN_NODES, Lab
from lab.kubectl import KUBECTL
from lab.network import exec_in
from tests.support.netns import unavailable_reason

pytestmark = [
    pytest.mark.wire,
    pytest.mark.timeout(60),
    pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason())),
]
EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"
CONFIGMAPS = "/api/v1/namespaces/chaos/configmaps"


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab(nodes=2, examples=EXAMPLES, say=lambda _: None) as running:
        running.kubectl("create", "namespace", "chaos")
        running.wire()
        yield running


def kubectl(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    """kubectl that may fail (the lab's own raises), bounded."""
    return subprocess.run(  # noqa: S603 - kubectl with our own arguments
        [KUBECTL, f"--kubeconfig={lab.kubeconfig}", "--request-timeout=1s", *args],
        capture_output=True, text=True, timeout=20, check=False,
    )  # fmt: skip


def in_node(lab: Lab, node: str, *argv: str) -> subprocess.CompletedProcess[str]:
    assert lab.network is not None
    return subprocess.run(  # noqa: S603 - our own argv
        exec_in(lab.network.hosts[node].namespace, *argv),
        capture_output=True, text=True, timeout=20, check=False,
    )  # fmt: skip


def kubectl_in_node(lab: Lab, node: str, *args: str) -> subprocess.CompletedProcess[str]:
    """kubectl inside `node`'s namespace, via 127.0.0.1:6443 there, as its speaker would."""
    kubeconfig = f"--kubeconfig={lab.node_kubeconfig}"
    return in_node(lab, node, KUBECTL, kubeconfig, "--request-timeout=2s", *args)


def client_reaches(lab: Lab, address: str) -> bool:
    """Whether the client gets any answer from `address` (a refused TCP connection counts)."""
    code = (
        "import socket,sys\n"
        "try: socket.create_connection((sys.argv[1], 9), timeout=1)\n"
        "except ConnectionRefusedError: sys.exit(0)\n"
        "except OSError: sys.exit(1)\n"
    )
    return in_node(lab, "client", sys.executable, "-c", code, address).returncode == 0


def configmap(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {}}


class Watch:
    """A raw HTTP watch on the chaos namespace's ConfigMaps."""

    def __init__(self, url: str, resource_version: str) -> None:
        parsed = urllib.parse.urlsplit(url)
        host = parsed.hostname or "127.0.0.1"
        context = tls.client_context(tls.credentials().ca)  # the lab serves this process's
        self.connection = http.client.HTTPSConnection(host, parsed.port, timeout=5, context=context)
        query = f"watch=true&resourceVersion={resource_version}"
        self.connection.request("GET", f"{CONFIGMAPS}?{query}", headers=bearer())
        self.response = self.connection.getresponse()
        assert self.response.status == 200

    def next_event(self) -> dict[str, Any] | None:
        """The next event, or None when the server ended the stream."""
        try:
            line = self.response.readline()
        except (OSError, http.client.HTTPException):
            return None
        event: dict[str, Any] | None = json.loads(line) if line.strip() else None
        return event

    def close(self) -> None:
        self.connection.close()


def test_a_frozen_api_server_times_kubectl_out_and_answers_again_once_thawed(lab: Lab):
    lab.kubectl("create", "configmap", "before-freeze", "-n", "chaos")
    lab.freeze_api()
    try:
        start = time.monotonic()
        frozen = kubectl(lab, "get", "ns")
        assert frozen.returncode != 0
        assert time.monotonic() - start < 15
    finally:
        lab.thaw_api()
    assert kubectl(lab, "get", "configmap", "before-freeze", "-n", "chaos").returncode == 0
    assert "chaos" in kubectl(lab, "get", "ns").stdout


def test_an_api_outage_refuses_connections_closes_watches_and_keeps_the_objects(lab: Lab):
    before = json.loads(lab.kubectl("create", "configmap", "before-outage", "-n", "chaos",
                                    "-o", "json"))  # fmt: skip
    watch = Watch(lab.server.url, before["metadata"]["resourceVersion"])
    start = time.monotonic()
    lab.stop_api()
    try:
        assert watch.next_event() is None  # the stream ended ...
        assert time.monotonic() - start < 3  # ... at once, not by the client's 5 s timeout
        start = time.monotonic()
        refused = kubectl(lab, "get", "ns")
        assert refused.returncode != 0
        assert "refused" in refused.stderr
        assert time.monotonic() - start < 5
        assert "refused" in kubectl_in_node(lab, "node-1", "get", "ns").stderr
    finally:
        watch.close()
        lab.start_api()
    assert kubectl(lab, "get", "configmap", "before-outage", "-n", "chaos").returncode == 0
    resumed = Watch(lab.server.url, before["metadata"]["resourceVersion"])  # resume from there
    try:
        lab.kubectl("create", "configmap", "after-outage", "-n", "chaos")
        event = resumed.next_event()
        assert event is not None
        assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "after-outage")
    finally:
        resumed.close()
    assert kubectl_in_node(lab, "node-2", "get", "configmap", "-n", "chaos").returncode == 0


def test_a_node_without_its_lan_link_still_reaches_the_api_server(lab: Lab):
    assert client_reaches(lab, "192.0.2.1")
    lab.link("node-1", up=False)
    try:
        assert not client_reaches(lab, "192.0.2.1")
        assert client_reaches(lab, "192.0.2.2")  # the other node keeps its link
        answered = kubectl_in_node(lab, "node-1", "get", "ns")
        assert answered.returncode == 0, answered.stderr
        assert "chaos" in answered.stdout
    finally:
        lab.link("node-1", up=True)
    deadline = time.monotonic() + 10
    while not client_reaches(lab, "192.0.2.1"):
        assert time.monotonic() < deadline, "node-1 unreachable after its link came back"


def test_the_api_server_serves_inside_each_node_at_loopback(lab: Lab):
    for node in lab.node_names:
        code = (
            "import socket,sys\n"
            f"socket.create_connection(('127.0.0.1', {API_PORT_IN_NODES}), timeout=2).close()\n"
        )
        assert in_node(lab, node, sys.executable, "-c", code).returncode == 0


def state_of(pid: int) -> str:
    """The process state letter from /proc (T: stopped)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def command_line(pid: int) -> list[bytes]:
    """The speaker's argv once `ip netns exec` has exec'd Python (empty while it execs)."""
    deadline = time.monotonic() + 5
    while b"speaker" not in (raw := Path(f"/proc/{pid}/cmdline").read_bytes()):
        assert time.monotonic() < deadline, raw
        time.sleep(0.05)
    return raw.rstrip(b"\0").split(b"\0")


def test_speakers_are_signalled_and_restarted_by_pid_with_their_flags(lab: Lab):
    lab.install()
    flags = ("--lease-duration", "6", "--lease-renew", "1")
    lab.start_speaker("node-2", *flags)
    first = lab.speaker_pid("node-2")
    assert lab.signal_speaker("node-2", signal.SIGSTOP) == first
    deadline = time.monotonic() + 5
    while state_of(first) != "T":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert lab.signal_speaker("node-2", signal.SIGCONT) == first
    second = lab.restart_speaker("node-2")
    assert second != first
    assert not Path(f"/proc/{first}").exists()  # reaped: stopped by its PID, waited for
    assert [f.encode() for f in flags] == command_line(second)[-len(flags) :]
    lab.wait_speaker("node-2", timeout=10)
    holder = lab.kubectl("get", "lease", "metalpool-speaker-node-2", "-n", "metallb-system",
                         "-o", "jsonpath={.spec.holderIdentity}")  # fmt: skip
    log = (lab.workdir / "speaker-node-2.log").read_text(errors="replace")
    assert holder == "node-2", log[-2000:]
