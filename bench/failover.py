"""Speaker failover, measured from the client: the first datagram that goes to the new node.

The whole product runs in the lab (`lab.demo.Lab`: emulated API server, three node namespaces and
a client namespace on one bridge, the real controller and one real speaker per node) with one
pool (192.0.2.10-192.0.2.20), one L2Advertisement and one Service whose EndpointSlice has an
endpoint on every node, so the address can fail over to any node.

Method. The address is configured on no interface (the speaker only answers ARP for it), so no
node's kernel would deliver a datagram to a socket; the measurement is therefore taken at layer 2
on the client side. A probe in the client namespace (`python -m bench.failover probe`) sends one
UDP datagram (sequence number, send time) to the address every 10 ms, as an application would,
through the client's own kernel (its neighbour cache decides the destination MAC), and an
AF_PACKET socket on the client's eth0 sees each of those frames as it leaves (PACKET_OUTGOING),
with the kernel's timestamp. On the bridge a frame goes to the port of its destination MAC, so
the first frame addressed to another node's MAC is the first datagram that reaches the new node.
Failover time = that frame's kernel timestamp minus the moment the signal was sent to the
announcing speaker (both CLOCK_REALTIME of the one host kernel). The wire time, not the payload's
send time, is used: a datagram queued while the address was unresolved leaves later than written.
Frames still addressed to the old MAC after the signal were lost (no node accepts them).
"announced" splits the time: when the new owner's speaker logged `announcing <ip>` (its takeover
burst has left by then), read from its log (millisecond resolution).

Each trial starts settled: every speaker holds its Lease and the client's frames have gone to the
hash winner for 1 s. The stopped speaker is restarted after the trial and the address moves back
to it, as MetalLB's election does. Settling ends in step with that speaker's renewals, so the
signal waits a random part of one renew period: kills fall at every phase of the renewal cycle
instead of always just after a renewal (the worst case). Cases: SIGTERM and SIGKILL with the
default Lease timings (3.0 s, renew 1.0 s); SIGKILL with `--lease-duration 1.5 --lease-renew 0.5`
on every speaker (they judge peers by their own duration).
Baselines from the same run: a crash cannot be detected before the Lease runs out (ratio to the
configured duration; detection lies between duration minus renew and duration after the kill,
plus watch delivery); a graceful hand-over cannot be seen before the client's next datagram
(ratio to its interval).
Run (root, iproute2, kubectl): `.venv/bin/python -m bench.failover [--trials N] [--quick]`,
or as the last part of `.venv/bin/python -m bench.speaker` (`--only failover`).
"""

import argparse
import json
import math
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from lab.demo import Lab, preflight
from lab.workloads import endpoint_slices
from speaker.membership.leases import lease_name
from tests.support.netns import Child, python_in

ROOT = Path(__file__).resolve().parent.parent
SERVICE = "bench/failover"
PORT = 9999
INTERVAL = 0.010  # seconds between the client's datagrams
FAILOVER_TIMEOUT = 20.0
SETTLE_TIMEOUT = 60.0
SETTLE_HOLD = 1.0
JITTER_SEED = 4  # the same signal moments on every run
EXIT_TIMEOUT = 15.0  # a signalled speaker must be gone by then
ARP_BEFORE = 1.5  # seconds of ARP before the signal shown for a slow switch
SLOW_SWITCH = 0.05  # announced → first datagram longer than this: show the ARP seen
FAST = ("--lease-duration", "1.5", "--lease-renew", "0.5")
ETH_P_ALL = 0x0003  # outgoing frames reach only ETH_P_ALL taps (dev_queue_xmit_nit)
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = 35
_PAYLOAD = struct.Struct("!Qd")  # sequence, send time
_TIMESPEC = struct.Struct("@qq")


# ---------------------------------------------------------------------- the probe (client side)


class Probe:
    """Sends to `target` every INTERVAL; records every such frame leaving eth0 (time, MAC, seq)."""

    def __init__(self, target: str, iface: str) -> None:
        self.target = socket.inet_aton(target)
        self.address = (target, PORT)
        self.frames: list[tuple[float, str, int]] = []  # (kernel wire time, dst MAC, sequence)
        self.arps: list[tuple[float, str, str]] = []  # (kernel time, sender MAC, ARP op)
        self.lock = threading.Lock()
        self.running = True
        self.sniffer = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sniffer.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sniffer.bind((iface, ETH_P_ALL))
        self.sniffer.settimeout(0.05)
        self.threads = [threading.Thread(target=f, daemon=True) for f in (self._send, self._sniff)]
        for thread in self.threads:
            thread.start()

    def _send(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            started, sequence = time.monotonic(), 0
            while self.running:
                sequence += 1
                sock.sendto(_PAYLOAD.pack(sequence, time.time()), self.address)
                due = started + sequence * INTERVAL
                time.sleep(max(0.0, due - time.monotonic()))

    def _sniff(self) -> None:
        space = socket.CMSG_SPACE(_TIMESPEC.size)
        while self.running:
            try:
                frame, ancillary, _, source = self.sniffer.recvmsg(256, space)
            except TimeoutError:
                continue
            wire = time.time()
            if ancillary:
                seconds, nanoseconds = _TIMESPEC.unpack(ancillary[0][2][: _TIMESPEC.size])
                wire = seconds + nanoseconds / 1e9
            if len(frame) >= 42 and frame[12:14] == b"\x08\x06" and frame[28:32] == self.target:
                with self.lock:  # ARP from the address (announcements, replies): for diagnosis
                    self.arps.append((wire, frame[22:28].hex(":"), "request" if frame[21] == 1
                                      else "reply"))  # fmt: skip
                continue
            if source[2] != PACKET_OUTGOING or len(frame) < 42 or frame[12:14] != b"\x08\x00":
                continue
            if frame[23] != socket.IPPROTO_UDP:
                continue
            header = 14 + (frame[14] & 0x0F) * 4
            if frame[30:34] != self.target or frame[header + 2 : header + 4] != PORT.to_bytes(2):
                continue
            sequence, _ = _PAYLOAD.unpack_from(frame, header + 8)
            with self.lock:
                self.frames.append((wire, frame[:6].hex(":"), sequence))

    def current(self) -> dict[str, Any]:
        """The destination MAC of the latest frame and how long ago it left."""
        with self.lock:
            wire, mac, _ = self.frames[-1] if self.frames else (0.0, None, 0)
        return {"mac": mac, "age": time.time() - wire}

    def wait(self, after: float, old: str, timeout: float) -> dict[str, Any]:
        """The first frame after `after` addressed to anything but `old`; frames lost before it."""
        deadline, index = time.monotonic() + timeout, 0
        while time.monotonic() < deadline:
            with self.lock:
                frames = self.frames[index:]
            index += len(frames)
            for wire, mac, _ in frames:
                if wire > after and mac != old:
                    with self.lock:
                        lost = sum(1 for w, m, _ in self.frames if w > after and m == old)
                        arps = [a for a in self.arps if after - ARP_BEFORE <= a[0] <= wire]
                    return {"wire": wire, "mac": mac, "lost": lost, "arps": arps}
            time.sleep(0.005)
        return {"wire": None, "mac": None, "lost": None, "arps": []}

    def last(self, after: float, old: str) -> dict[str, Any]:
        """The last frame after `after` addressed to `old`, and whether frames still go there."""
        with self.lock:
            to_old = [w for w, m, _ in self.frames if w > after and m == old]
            latest = self.frames[-1][1] if self.frames else None
        return {"wire": max(to_old, default=None), "still": latest == old}

    def close(self) -> None:
        """Stop both threads and close the socket."""
        self.running = False
        for thread in self.threads:
            thread.join(1.0)
        self.sniffer.close()


def probe_main(target: str, iface: str) -> None:
    """The probe over stdio: {"current": …} / {"wait": {after, old, timeout}}; EOF quits."""
    probe = Probe(target, iface)
    _say({"ready": True})
    try:
        for line in sys.stdin:
            command = json.loads(line)
            if "wait" in command:
                _say(probe.wait(**command["wait"]))
            elif "last" in command:
                _say(probe.last(**command["last"]))
            else:
                _say(probe.current())
    finally:
        probe.close()


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------- the driver (host side)


@dataclass
class Case:
    """One kind of failover and its goal."""

    label: str
    sig: signal.Signals
    flags: tuple[str, ...]
    goal: float  # p95 seconds
    baseline: float  # seconds the ratio divides by
    baseline_label: str
    trials: list["Trial"] = field(default_factory=list)
    hung: int = 0  # speakers still running EXIT_TIMEOUT after the signal

    @property
    def times(self) -> list[float]:
        """Failover seconds of the trials that failed over."""
        return [t.seconds for t in self.trials if t.seconds is not None]


@dataclass
class Trial:
    """One failover; seconds are counted from the signal, None when unknown."""

    seconds: float | None = None  # first datagram to the new node
    announced: float | None = None  # the new owner's speaker logged `announcing`
    lost: int | None = None  # datagrams to the old MAC after the signal
    renewed: float | None = None  # SIGKILL: the killed speaker's last renewal (negative)
    back: float | None = None  # the client went back to the old MAC: its last datagram there

    def show(self) -> str:
        """One line for the progress log."""
        if self.seconds is None:
            return f"no switch within {FAILOVER_TIMEOUT:.0f} s"
        text = f"{self.seconds:.3f} s"
        if self.announced is not None:
            text += f" (announced at {self.announced:.3f} s"
            if self.renewed is not None:
                text += f"; last renewal {self.renewed:+.3f} s"
            text += ")"
        return text


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


class Bench:
    """The lab, the probe and the trials."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.flags: tuple[str, ...] = ()
        self.ip = ""
        self.winner = ""
        self.probe: Child | None = None
        self.jitter = random.Random(JITTER_SEED)  # noqa: S311 - timing, not cryptography

    @property
    def network(self) -> Any:
        """The lab's network (built by `start`)."""
        assert self.lab.network is not None  # noqa: S101 - started first
        return self.lab.network

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
        client = self.network.hosts["client"].namespace
        self.probe = Child(python_in(client, "bench.failover", "probe", self.ip))
        self.probe.wait_ready()
        for node in lab.node_names:
            lab.wait_speaker(node)
        self.winner = self.settle(None)

    def node_of(self, mac: str | None) -> str:
        """The node owning `mac`."""
        return self.lab.node_of_mac(mac)

    def settle(self, expected: str | None) -> str:
        """Wait until the client's frames go to `expected` (else the announcer) for SETTLE_HOLD."""
        assert self.probe is not None  # noqa: S101 - started first
        deadline, since, node = time.monotonic() + SETTLE_TIMEOUT, None, ""
        while time.monotonic() < deadline:
            current = self.probe.ask({"current": True})
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

    def restart_all(self, flags: tuple[str, ...]) -> None:
        """Every speaker restarted with `flags` (they judge peers by their own lease duration)."""
        for node in self.lab.node_names:
            self._stop(node, signal.SIGTERM)
        for node in self.lab.node_names:
            self.lab.start_speaker(node, *flags)
        for node in self.lab.node_names:
            self.lab.wait_speaker(node)
        self.flags = flags
        self.settle(self.winner)

    def trial(self, case: Case) -> None:
        """Stop the winner's speaker with the case's signal; time the client's switch; restore."""
        assert self.probe is not None  # noqa: S101 - started first
        old = self.winner
        process = self.lab.processes[f"speaker {old}"]  # left there: the Lab stops it on errors
        time.sleep(self.jitter.uniform(0.0, renew_of(self.flags)))  # any phase of the renewals
        signalled = time.time()
        process.send_signal(case.sig)
        seen = self.probe.ask(
            {"wait": {"after": signalled, "old": self.network.hosts[old].mac,
                      "timeout": FAILOVER_TIMEOUT}},
            timeout=FAILOVER_TIMEOUT + 5,
        )  # fmt: skip
        if not self._exited(old, process):
            case.hung += 1
        last = self.probe.ask({"last": {"after": signalled, "old": self.network.hosts[old].mac}})
        trial = Trial()
        if case.sig == signal.SIGKILL:  # its Lease keeps the last renewal it made
            trial.renewed = self._renewed(old) - signalled
        if seen["wire"] is not None:
            trial.seconds, trial.lost = seen["wire"] - signalled, seen["lost"]
            announced = self._announced_at(self.node_of(seen["mac"]), signalled)
            trial.announced = None if announced is None else announced - signalled
            if last["still"] or (last["wire"] or 0.0) > seen["wire"]:  # went back to the old MAC
                trial.back = (time.time() if last["still"] else last["wire"]) - signalled
                print(
                    f"  ! the client went back to {old}'s MAC: its last datagram to it left "
                    f"{trial.back:.3f} s after the signal{' (and still)' if last['still'] else ''}"
                )
            if trial.announced is not None and trial.seconds - trial.announced > SLOW_SWITCH:
                arps = ", ".join(f"{w - signalled:+.3f} {op} from {self.node_of(m)}"
                                 for w, m, op in seen["arps"])  # fmt: skip
                print(f"  ! slow switch; ARP for {self.ip} seen by the client: {arps}")
        case.trials.append(trial)
        self.lab.start_speaker(old, *self.flags)
        self.lab.wait_speaker(old)
        self.settle(self.winner)

    def _announced_at(self, node: str, after: float) -> float | None:
        """When `node`'s speaker logged that it announces the address (first time after `after`)."""
        path = self.lab.workdir / f"speaker-{node}.log"
        if not path.exists():
            return None
        needle = f"announcing {self.ip} "
        for line in path.read_text(errors="replace").splitlines():
            if needle in line:
                with_ms = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                if with_ms >= after - 0.001:
                    return with_ms
        return None

    def _renewed(self, node: str) -> float:
        """The renewTime (UTC, microseconds) of `node`'s speaker Lease, as a timestamp."""
        raw = self.lab.kubectl("get", "lease", lease_name(node), "-n", "metallb-system",
                               "-o", "jsonpath={.spec.renewTime}")  # fmt: skip
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()

    def _stop(self, node: str, sig: signal.Signals) -> None:
        process = self.lab.processes[f"speaker {node}"]
        process.send_signal(sig)
        self._exited(node, process)

    def _exited(self, node: str, process: "subprocess.Popen[bytes]") -> bool:
        """Wait for a signalled speaker; one still running after EXIT_TIMEOUT is killed (by PID)."""
        try:
            process.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
            tail = (self.lab.workdir / f"speaker-{node}.log").read_text(errors="replace")
            print(f"  ! speaker {node} (pid {process.pid}) still running {EXIT_TIMEOUT:.0f} s after"
                  " the signal; killed. Its log ends:")  # fmt: skip
            for line in tail.splitlines()[-12:]:
                print(f"  !   {line}")
            return False
        return True

    def close(self) -> None:
        """Stop the probe."""
        if self.probe is not None:
            self.probe.stop()


def renew_of(flags: tuple[str, ...]) -> float:
    """The --lease-renew in `flags` (the speaker's default otherwise)."""
    return float(flags[flags.index("--lease-renew") + 1]) if "--lease-renew" in flags else 1.0


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); nan when empty."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def report(cases: list[Case]) -> bool:
    """The table; True when every goal is met."""
    print(f"\n{'case':<24}{'n':>6}{'p50 s':>8}{'p95 s':>8}{'max s':>8}  {'goal':<13}{'result':<8}"
          f"{'baseline':<27}{'p50/base':>8}")  # fmt: skip
    met = True
    for case in cases:
        times = case.times
        p50, p95 = percentile(times, 0.5), percentile(times, 0.95)
        ok = len(times) == len(case.trials) and p95 <= case.goal and not case.hung
        met &= ok
        print(
            f"{case.label:<24}{len(times):>3}/{len(case.trials):<2}{p50:>8.3f}{p95:>8.3f}"
            f"{max(times, default=math.nan):>8.3f}  {'p95 <= ' + format(case.goal, 'g') + ' s':<13}"
            f"{'PASS' if ok else 'MISS':<8}{case.baseline_label:<27}{p50 / case.baseline:>7.2f}x"
        )
    print("\nwhere the time goes (p50 over trials, seconds)")
    print(f"{'case':<24}{'renewal→kill':>13}{'renewal→announce':>17}{'signal→announce':>16}"
          f"{'announce→datagram':>18}{'lost':>6}")  # fmt: skip
    for case in cases:
        columns: list[list[float]] = [[], [], [], [], []]
        for t in case.trials:
            if t.seconds is None or t.announced is None:
                continue
            if t.renewed is not None:
                columns[0].append(-t.renewed)
                columns[1].append(t.announced - t.renewed)
            columns[2].append(t.announced)
            columns[3].append(t.seconds - t.announced)
        columns[4] = [float(t.lost) for t in case.trials if t.lost is not None]
        cells = "".join(
            _p50(values, spec)
            for values, spec in zip(
                columns, ("13.3f", "17.3f", "16.3f", "18.3f", "6.0f"), strict=True
            )
        )
        notes = [f"{case.hung} stopped speaker(s) had to be killed"] if case.hung else []
        back = [t.back for t in case.trials if t.back is not None]
        if back:
            notes.append(f"{len(back)} went back to the old MAC, until {max(back):.3f} s at most")
        print(f"{case.label:<24}{cells}" + (f"  ({'; '.join(notes)})" if notes else ""))
    return met


def _p50(values: list[float], spec: str) -> str:
    width = int(spec.split(".", maxsplit=1)[0])
    return format(percentile(values, 0.5), spec) if values else f"{'-':>{width}}"


def run(trials: int) -> bool:
    """All three cases in one lab; prints the table; True when every goal is met."""
    cases = [
        Case("SIGTERM, lease 3.0/1.0", signal.SIGTERM, (), 0.3, INTERVAL,
             f"datagram interval {INTERVAL:.3f} s"),
        Case("SIGKILL, lease 3.0/1.0", signal.SIGKILL, (), 4.0, 3.0, "lease duration 3.0 s"),
        Case("SIGKILL, lease 1.5/0.5", signal.SIGKILL, FAST, 2.0, 1.5, "lease duration 1.5 s"),
    ]  # fmt: skip
    started = time.monotonic()
    with Lab(nodes=3, examples=ROOT / "deploy" / "examples", say=lambda _: None) as lab:
        bench = Bench(lab)
        try:
            bench.start()
            print(
                f"Speaker failover: {SERVICE} at {bench.ip}, hash winner {bench.winner}; {trials}"
                f" trials per case; client datagram every {INTERVAL * 1000:.0f} ms"
            )
            for case in cases:
                if case.flags != bench.flags:
                    bench.restart_all(case.flags)
                for number in range(trials):
                    bench.trial(case)
                    print(f"  {case.label} #{number + 1}: {case.trials[-1].show()}", flush=True)
        finally:
            bench.close()
        met = report(cases)
    load = os.getloadavg()[0]
    print(f"total {time.monotonic() - started:.0f} s; 1-min load average at the end {load:.2f}")
    return met


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.failover [--trials N] [--quick]` or `… probe <ip>` (in the client)."""
    parser = argparse.ArgumentParser(prog="bench.failover", description=__doc__)
    parser.add_argument("mode", nargs="?", choices=("run", "probe"), default="run")
    parser.add_argument("target", nargs="?", help="probe only: the address to send to")
    parser.add_argument("--iface", default="eth0", help="probe only: the client interface")
    parser.add_argument("--trials", type=int, default=10, help="trials per case (default 10)")
    parser.add_argument("--quick", action="store_true", help="3 trials per case")
    args = parser.parse_args(argv)
    if args.mode == "probe":
        probe_main(args.target, args.iface)
        return 0
    problem = preflight()
    if problem:
        print(f"bench.failover: {problem}", file=sys.stderr)
        return 2
    run(3 if args.quick else max(1, args.trials))
    return 0


if __name__ == "__main__":
    sys.exit(main())
