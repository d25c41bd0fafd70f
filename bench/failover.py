"""Speaker failover and membership, measured from the client (issue 8, properties 2, 3, 4, 8).

The whole product runs in the lab (`lab.demo.Lab`: emulated API server, three node namespaces and
a client namespace on one bridge, the real controller and one real speaker per node, all with
their default settings) with one pool (192.0.2.10-192.0.2.20), one L2Advertisement and one
Service whose EndpointSlice has an endpoint on every node, so the address can move to any node.

Method. The address is configured on no interface (the speaker only answers ARP for it), so no
node's kernel would deliver a datagram to a socket; the measurement is therefore taken at layer 2
on the client side. A probe in the client namespace (`python -m bench.failover probe`) sends one
UDP datagram (sequence number, send time) to the address every 10 ms, as an application would,
through the client's own kernel (its neighbour cache decides the destination MAC), and an
AF_PACKET socket on the client's eth0 sees each of those frames as it leaves (PACKET_OUTGOING),
with the kernel's timestamp. On the bridge a frame goes to the port of its destination MAC, so
the first frame addressed to another node's MAC is the first datagram that reaches the new node.
Failover time = that frame's kernel timestamp minus the moment the fault was injected (the
signal sent, the switch port taken down; both CLOCK_REALTIME of the one host kernel). The wire
time, not the payload's send time, is used: a datagram queued while the address was unresolved
leaves later than written. "announced" splits the time: when the new owner's speaker logged
`announcing <ip>` (its takeover burst has left by then), read from its log (ms resolution).
Beside the datagrams, `lab.observers.Observer` asks from the client who answers ARP for the
address: `sample` (one broadcast request every 0.1 s or 0.05 s; two MACs in one sample is a split
brain as a client sees it) or `dense` (every 10 ms; each change of answerer with its overlap and
its gap, `lab.observers.moves`).

Every step starts and ends settled: the client's frames have gone to the hash winner for 1 s,
and a (re)started speaker's heartbeats, which the probe also sees on the client's port, say it is
ready. `--trials N` (default 10; 3 with --quick) trials of each fault, link failure and cold start.

- Property 2, crash and freeze: SIGKILL (restarted after), SIGSTOP (SIGCONT after, back at the
  winner) and SIGTERM (restarted after) of the winner's speaker, at a random phase of its
  heartbeat interval. A crash cannot be seen before the hold (0.35 s) has passed since the last
  heartbeat: the baseline, ratio p50/hold. "lost": datagrams to the old MAC after the signal.
- Property 3, link failure: the winner's switch port down for 2 s, then up (the clock starts
  before `ip link set` runs). Failover as above; a sample Observer (every 0.1 s) over the whole
  trial counts samples with two answerers, and the changes of answerer from the last sample
  before the link returned on (moving back once is right: the winner takes its address back).
- Property 4, joins and cold starts: (a) a rolling restart (SIGTERM, start, settled; one node at
  a time; 2 rounds, 1 with --quick) under a dense Observer: overlap and gap of each move; and the
  datagrams lost: sent to a node while its speaker did not answer (from the speakers' `no longer
  answering for <ip>` / `announcing <ip>` log lines: ms, on the probe's clock), or never sent
  (dropped unresolved: missing sequence numbers), each counted for the nearest change of
  destination MAC (within 3 s), so a silence without a move counts too. (b) cold starts: every
  speaker SIGKILLed, all started at once, until settled, under a sample Observer (every 0.05 s)
  counting split samples.
- Property 8, API writes for liveness: every change of the speakers' Leases (one watch event per
  stored write; the API server's request journal lives in its own process) over 60 s of a
  settled lab (30 s with --quick, doubled), per node. Baseline: 60 per minute (renewed every 1 s).

Run (root, iproute2, kubectl): `.venv/bin/python -m bench.failover [--trials N] [--quick]
[--keep-logs DIR]`, or as the last part of `.venv/bin/python -m bench.speaker` (`--only
failover`). Exit status 1 when a goal is missed; the lab's logs are then copied to a directory
the run names (always with --keep-logs).
"""

import argparse
import json
import math
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from lab.demo import CLIENT, Lab, preflight
from lab.observers import Observer, Summary, moves, summarise
from lab.workloads import endpoint_slices
from speaker.__main__ import parse_args as speaker_defaults
from speaker.membership.leases import lease_name
from tests.support.netns import Child, python_in

ROOT = Path(__file__).resolve().parent.parent
SERVICE = "bench/failover"
PORT = 9999
INTERVAL = 0.010  # seconds between the client's datagrams
FAILOVER_TIMEOUT = 20.0
SETTLE_TIMEOUT = 60.0
SETTLE_HOLD = 1.0
READY_TIMEOUT = 20.0
JITTER_SEED = 4  # the same fault moments on every run
EXIT_TIMEOUT = 15.0  # a signalled speaker must be gone by then
ARP_BEFORE = 1.5  # seconds of ARP before the signal shown for a slow switch
SLOW_SWITCH = 0.05  # announced → first datagram longer than this: show the ARP seen
LINK_DOWN = 2.0  # seconds the switch port stays down
FLAP_WATCH = 2.0  # seconds watched after settling back, for flapping
SAMPLE_EVERY, SAMPLE_WINDOW = 0.1, 0.08  # property 3's sample Observer
COLD_EVERY, COLD_WINDOW = 0.05, 0.04  # property 4b's sample Observer
DENSE_EVERY = 0.01  # property 4a's dense Observer
COLD_PAUSE = 0.5  # seconds between killing every speaker and starting them all
MOVE_REACH = 3.0  # a lost datagram further than this from every move is "outside any move"
LEASE_WINDOW, LEASE_WINDOW_QUICK = 60.0, 30.0
OLD_RENEW = 1.0  # the Lease renewal period before issue 8 (the property 8 baseline)
CLIENT_IP = CLIENT[0].split("/")[0]
DEFAULTS = speaker_defaults(["--node-name", "bench"])
HB_INTERVAL, HB_HOLD = float(DEFAULTS.heartbeat_interval), float(DEFAULTS.heartbeat_hold)
ETH_P_ALL = 0x0003  # outgoing frames reach only ETH_P_ALL taps (dev_queue_xmit_nit)
PACKET_OUTGOING = 4
HEARTBEAT_TYPE = (0x88B5).to_bytes(2)  # the speakers' heartbeats (speaker.membership.messages)
SO_TIMESTAMPNS = 35
_PAYLOAD = struct.Struct("!Qd")  # sequence, send time
_TIMESPEC = struct.Struct("@qq")
_EMPTY = Summary(ip="", samples=0, split=0, silent=0, answerers=(), changes=0)


# ---------------------------------------------------------------------- the probe (client side)


class Probe:
    """Sends to `target` every INTERVAL; records every such frame leaving eth0 (time, MAC, seq)."""

    def __init__(self, target: str, iface: str) -> None:
        self.target = socket.inet_aton(target)
        self.address = (target, PORT)
        self.frames: list[tuple[float, str, int]] = []  # (kernel wire time, dst MAC, sequence)
        self.arps: list[tuple[float, str, str]] = []  # (kernel time, sender MAC, ARP op)
        self.beats: dict[str, dict[int, tuple[float, bool]]] = {}  # node → incarnation → first
        # heard, and whether its latest heartbeat said ready (and not leaving)
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
            if frame[12:14] == HEARTBEAT_TYPE:
                self._heartbeat(frame, wire)
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

    def _heartbeat(self, frame: bytes, wire: float) -> None:
        """A speaker's heartbeat, read (not verified: no key here) for its ready flag."""
        if len(frame) < 39 or frame[14:16] != b"MP" or frame[17] != 1:
            return
        incarnation = int.from_bytes(frame[22:30])
        name = frame[39 : 39 + frame[38]].decode(errors="replace")
        ready = frame[18] & 0b11 == 0b01  # bit 0 ready, bit 1 leaving
        with self.lock:
            known = self.beats.setdefault(name, {})
            known[incarnation] = (known.get(incarnation, (wire, False))[0], ready)

    def ready(self, node: str, after: float) -> dict[str, Any]:
        """Whether a speaker of `node` first heard after `after` last said ready (not leaving)."""
        with self.lock:
            known = list(self.beats.get(node, {}).values())
        return {"ready": any(ready and since >= after for since, ready in known)}

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

    def since(self, after: float) -> dict[str, Any]:
        """Every frame that left after `after`: [wire time, MAC, sequence] (oldest first)."""
        with self.lock:
            frames = [list(f) for f in self.frames if f[0] > after]
        return {"frames": frames}

    def close(self) -> None:
        """Stop both threads and close the socket."""
        self.running = False
        for thread in self.threads:
            thread.join(1.0)
        self.sniffer.close()


def probe_main(target: str, iface: str) -> None:
    """The probe over stdio: {"current"} / {"wait": …} / {"last": …} / {"since": …}; EOF quits."""
    probe = Probe(target, iface)
    _say({"ready": True})
    try:
        for line in sys.stdin:
            command = json.loads(line)
            if "wait" in command:
                _say(probe.wait(**command["wait"]))
            elif "last" in command:
                _say(probe.last(**command["last"]))
            elif "ready" in command:
                _say(probe.ready(**command["ready"]))
            elif "since" in command:
                _say(probe.since(**command["since"]))
            else:
                _say(probe.current())
    finally:
        probe.close()


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------- figures (pure)


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); nan when empty."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Row:
    """One line of a table: values over trials, a goal on their p95 or their max."""

    label: str
    values: list[float]
    expected: int  # how many values there should be (trials run)
    goal: float | None  # None: shown for information only
    stat: str = "p95"  # "p95" or "max"
    unit: str = "s"  # "s": seconds (3 decimals); "": counts
    baseline_label: str = "-"
    baseline: float = math.nan  # the ratio column is p50 / baseline
    miss: str = ""  # a reason to fail regardless of the values (a speaker that had to be killed)

    @property
    def ok(self) -> bool:
        """The goal is met (always, for an information row)."""
        if self.goal is None:
            return True
        measured = (
            percentile(self.values, 0.95)
            if self.stat == "p95"
            else max(self.values, default=math.nan)
        )
        return len(self.values) == self.expected and measured <= self.goal and not self.miss

    def line(self) -> str:
        """The row as printed."""
        spec = "8.3f" if self.unit else "8.1f"
        stats = "".join(
            format(v, spec) if not math.isnan(v) else f"{'-':>8}"
            for v in (percentile(self.values, 0.5), percentile(self.values, 0.95),
                      max(self.values, default=math.nan))
        )  # fmt: skip
        goal = (
            "-"
            if self.goal is None
            else f"{self.stat} <= {self.goal:g}{' ' + self.unit if self.unit else ''}"
        )
        result = "info" if self.goal is None else ("PASS" if self.ok else "FAIL")
        ratio = percentile(self.values, 0.5) / self.baseline if self.baseline else math.nan
        shown = f"{ratio:7.2f}x" if not math.isnan(ratio) else f"{'-':>8}"
        return (f"{self.label:<32}{len(self.values):>3}/{self.expected:<3}{stats}  {goal:<14}"
                f"{result:<7}{self.baseline_label:<28}{shown}")  # fmt: skip


def table(title: str, rows: list[Row]) -> bool:
    """Print a titled table; True when every row's goal is met."""
    print(f"\n{title}")
    print(f"{'case':<32}{'n':>5}{'':<2}{'p50':>8}{'p95':>8}{'max':>8}  {'goal':<14}{'result':<7}"
          f"{'baseline':<28}{'p50/base':>8}")  # fmt: skip
    for row in rows:
        print(row.line())
        if row.miss:
            print(f"  ! {row.label}: {row.miss}")
    return all(row.ok for row in rows)


def datagram_moves(frames: list[list[Any]]) -> list[tuple[float, str, str]]:
    """Each change of destination MAC in the client's frames: (wire time, old MAC, new MAC)."""
    found: list[tuple[float, str, str]] = []
    previous: str | None = None
    for wire, mac, _ in frames:
        if previous is not None and mac != previous:
            found.append((float(wire), previous, mac))
        previous = mac
    return found


def answering(
    events: Iterable[tuple[float, str, bool]], initially: Iterable[str]
) -> Callable[[str, float], bool]:
    """Whether `mac` answered at wall time t, from (time, MAC, started answering?) events."""
    timeline: dict[str, list[tuple[float, bool]]] = {mac: [(-math.inf, True)] for mac in initially}
    for when, mac, up in sorted(events):
        timeline.setdefault(mac, [(-math.inf, False)]).append((when, up))

    def at(mac: str, when: float) -> bool:
        state = False
        for moment, up in timeline.get(mac, []):
            if moment > when:
                break
            state = up
        return state

    return at


def lost_datagrams(
    frames: list[list[Any]], answers: Callable[[str, float], bool]
) -> list[tuple[float, int]]:
    """Datagrams that reached nobody: (wire time, sequence), and (estimated time, seq) of gaps.

    A frame sent to a MAC whose node did not answer for the address then is lost; so is every
    sequence number that never left the client (its kernel dropped it, unresolved).
    """
    lost: list[tuple[float, int]] = []
    previous: tuple[float, int] | None = None
    for wire, mac, sequence in frames:
        if previous is not None:
            start, first = previous
            lost.extend(
                (start + (m - first) * INTERVAL, m) for m in range(first + 1, int(sequence))
            )
        if not answers(mac, float(wire)):
            lost.append((float(wire), int(sequence)))
        previous = (float(wire), int(sequence))
    return lost


def per_move(
    lost: list[tuple[float, int]], move_times: list[float], reach: float = MOVE_REACH
) -> tuple[list[list[tuple[float, int]]], list[tuple[float, int]]]:
    """Lost datagrams grouped by the nearest move (within `reach` s); and those beyond reach."""
    grouped: list[list[tuple[float, int]]] = [[] for _ in move_times]
    outside = []
    for when, sequence in lost:
        nearest = min(range(len(move_times)), key=lambda i: abs(move_times[i] - when), default=None)
        if nearest is not None and abs(move_times[nearest] - when) <= reach:
            grouped[nearest].append((when, sequence))
        else:
            outside.append((when, sequence))
    return grouped, outside


@dataclass(frozen=True)
class Rounds:
    """What a dense probe saw beside the moves: its silences and its doubly answered requests."""

    silence: float  # the longest run of requests nobody answered, times the period (seconds)
    at: float  # when that silence began (the probe's clock: the last reply before it)
    both: int  # requests answered by two or more MACs, moves or not


def dense_rounds(lines: list[dict[str, Any]], period: float) -> Rounds:
    """Request by request (`round`), as `lab.observers.moves` judges them, over the whole probe."""
    by_round: dict[int, set[str]] = {}
    first: dict[int, float] = {}
    for line in lines:
        number = int(line["round"])
        by_round.setdefault(number, set()).add(str(line["mac"]))
        first.setdefault(number, float(line["t"]))
    longest, at, run, last = 0, 0.0, 0, 0.0
    for number in range(min(by_round, default=0), max(by_round, default=-1) + 1):
        if number in by_round:
            run, last = 0, first[number]
            continue
        run += 1
        if run > longest:
            longest, at = run, last
    both = sum(len(macs) > 1 for macs in by_round.values())
    return Rounds(silence=round(longest * period, 6), at=at, both=both)


# ---------------------------------------------------------------------- the driver (host side)


@dataclass
class Case:
    """One kind of speaker fault and its goal (property 2)."""

    label: str
    sig: signal.Signals
    goal: float  # p95 seconds
    trials: list["Trial"] = field(default_factory=list)
    hung: int = 0  # speakers still running EXIT_TIMEOUT after the signal

    @property
    def times(self) -> list[float]:
        """Failover seconds of the trials that failed over."""
        return [t.seconds for t in self.trials if t.seconds is not None]


@dataclass
class Trial:
    """One failover; seconds are counted from the fault, None when unknown."""

    seconds: float | None = None  # first datagram to the new node
    announced: float | None = None  # the new owner's speaker logged `announcing`
    lost: int | None = None  # datagrams to the old MAC after the fault
    back: float | None = None  # the client went back to the old MAC: its last datagram there
    both: int | None = None  # SIGSTOP: dense requests answered by two, signal to settled

    def show(self) -> str:
        """One line for the progress log."""
        if self.seconds is None:
            return f"no switch within {FAILOVER_TIMEOUT:.0f} s"
        text = f"{self.seconds:.3f} s"
        if self.announced is not None:
            text += f" (announced at {self.announced:.3f} s)"
        return text


@dataclass
class LinkTrial:
    """Property 3: one switch port down and up."""

    failover: Trial
    split: int = 0  # samples with two answerers, whole trial
    changes_after: int = 0  # changes of answerer from the last sample before the link returned
    back: float | None = None  # link up → settled at the winner again, seconds
    samples: int = 0


@dataclass
class Rolling:
    """Property 4a: the moves of a rolling restart."""

    overlaps: list[float] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)  # per change of destination MAC
    outside: int = 0  # lost datagrams far from every move
    rounds: Rounds = field(default_factory=lambda: Rounds(0.0, 0.0, 0))  # silences, doubles
    restarts: int = 0


@dataclass
class ColdStart:
    """Property 4b: one start of every speaker at once."""

    split: int
    samples: int
    first: float | None  # start → first answer, seconds
    settled: float  # start → settled, seconds


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

    # ---------------------------------------------------------------- property 2

    def fault_trial(self, case: Case) -> None:
        """Kill, freeze or stop the winner's speaker; time the client's switch; restore."""
        old = self.winner
        process = self.lab.processes[f"speaker {old}"]  # left there: the Lab stops it on errors
        dense = None
        if case.sig == signal.SIGSTOP:  # the thaw: does the frozen speaker answer beside the new?
            dense = Observer(self.client, CLIENT_IP, [self.ip], mode="dense", every=DENSE_EVERY,
                             duration=SETTLE_TIMEOUT + 30)  # fmt: skip
        time.sleep(self.jitter.uniform(0.0, HB_INTERVAL))  # any phase of the heartbeats
        signalled = time.time()
        self.lab.signal_speaker(old, case.sig)
        seen = self.ask(
            {"wait": {"after": signalled, "old": self.mac(old), "timeout": FAILOVER_TIMEOUT}},
            timeout=FAILOVER_TIMEOUT + 5,
        )
        if case.sig == signal.SIGSTOP:
            last = self.ask({"last": {"after": signalled, "old": self.mac(old)}})
            self.lab.signal_speaker(old, signal.SIGCONT)
        else:
            if not self._exited(old, process):
                case.hung += 1
            last = self.ask({"last": {"after": signalled, "old": self.mac(old)}})
        trial = self._trial(seen, last, signalled, old)
        case.trials.append(trial)
        if case.sig != signal.SIGSTOP:
            self.lab.start_speaker(old)
        try:
            self.settle(self.winner)
        finally:
            if dense is not None:
                trial.both = dense_rounds(dense.stop(), DENSE_EVERY).both

    def _trial(
        self, seen: dict[str, Any], last: dict[str, Any], signalled: float, old: str
    ) -> Trial:
        trial = Trial()
        if seen["wire"] is None:
            return trial
        trial.seconds, trial.lost = seen["wire"] - signalled, seen["lost"]
        announced = self._announced_at(self.node_of(seen["mac"]), signalled)
        trial.announced = None if announced is None else announced - signalled
        if last["still"] or (last["wire"] or 0.0) > seen["wire"]:  # went back to the old MAC
            trial.back = (time.time() if last["still"] else last["wire"]) - signalled
            print(
                f"  ! the client went back to {old}'s MAC: its last datagram to it left "
                f"{trial.back:.3f} s after the fault{' (and still)' if last['still'] else ''}"
            )
        if trial.announced is not None and trial.seconds - trial.announced > SLOW_SWITCH:
            arps = ", ".join(f"{w - signalled:+.3f} {op} from {self.node_of(m)}"
                             for w, m, op in seen["arps"])  # fmt: skip
            print(f"  ! slow switch; ARP for {self.ip} seen by the client: {arps}")
        return trial

    # ---------------------------------------------------------------- property 3

    def link_trial(self) -> LinkTrial:
        """The winner's switch port down for LINK_DOWN, then up; sampled all along."""
        old = self.winner
        sampler = Observer(self.client, CLIENT_IP, [self.ip], mode="sample", every=SAMPLE_EVERY,
                           window=SAMPLE_WINDOW, duration=SETTLE_TIMEOUT + 30)  # fmt: skip
        origin = time.monotonic()  # ≈ the sampler's t = 0 (it starts sampling when ready)
        try:
            time.sleep(0.5 + self.jitter.uniform(0.0, HB_INTERVAL))
            cut = time.time()
            self.lab.link(old, up=False)
            try:
                seen = self.ask(
                    {"wait": {"after": cut, "old": self.mac(old), "timeout": FAILOVER_TIMEOUT}},
                    timeout=FAILOVER_TIMEOUT + 5,
                )
                last = self.ask({"last": {"after": cut, "old": self.mac(old)}})
                time.sleep(max(0.0, cut + LINK_DOWN - time.time()))
            finally:
                restored = time.monotonic()
                self.lab.link(old, up=True)
            self.settle(self.winner)
            back = time.monotonic() - restored
            time.sleep(FLAP_WATCH)
        finally:
            lines = sampler.stop()
        trial = LinkTrial(failover=self._trial(seen, last, cut, old), back=back)
        trial.samples = len(lines)
        trial.split = summarise(lines).get(self.ip, _EMPTY).split
        up_at = restored - origin
        before = [line for line in lines if line["t"] < up_at and line["answers"][self.ip]]
        after = before[-1:] + [line for line in lines if line["t"] >= up_at]
        trial.changes_after = summarise(after).get(self.ip, _EMPTY).changes
        return trial

    # ---------------------------------------------------------------- property 4

    def rolling(self, rounds: int, result: Rolling) -> None:
        """Restart every speaker, one at a time, `rounds` times, under a dense Observer."""
        dense = Observer(self.client, CLIENT_IP, [self.ip], mode="dense", every=DENSE_EVERY,
                         duration=600.0)  # fmt: skip
        began = time.time()
        try:
            time.sleep(0.5)
            for _ in range(rounds):
                for node in self.lab.node_names:
                    since = time.time()
                    self.lab.restart_speaker(node)
                    self.wait_ready(node, since)
                    self.settle(self.winner)
                    result.restarts += 1
            time.sleep(0.5)
        finally:
            lines = dense.stop()
        for move in moves(lines, period=DENSE_EVERY):
            result.overlaps.append(move.overlap)
            result.gaps.append(move.gap)
            print(f"  ARP answerer {self.node_of(move.old)} → {self.node_of(move.new)} at"
                  f" {move.at:.3f} s: overlap {move.overlap:.3f} s,"
                  f" gap {move.gap:.3f} s")  # fmt: skip
        result.rounds = dense_rounds(lines, DENSE_EVERY)
        frames = self.ask({"since": {"after": began}})["frames"]
        answers = answering(self._answer_events(began), [self.mac(self.winner)])
        lost = lost_datagrams(frames, answers)
        switches = datagram_moves(frames)
        grouped, outside = per_move(lost, [w for w, _, _ in switches])
        result.lost, result.outside = [len(g) for g in grouped], len(outside)
        for (when, old, new), group in zip(switches, grouped, strict=True):
            shown = ", ".join(f"#{q} at {w - when:+.3f} s" for w, q in group)
            print(f"  datagrams {self.node_of(old)} → {self.node_of(new)} at {when - began:.3f} s:"
                  f" lost {len(group)}{' (' + shown + ')' if shown else ''}")  # fmt: skip
        for when, sequence in outside:
            print(f"  ! datagram #{sequence} lost at {when - began:.3f} s, far from any move")

    def _answer_events(self, after: float) -> list[tuple[float, str, bool]]:
        """(time, MAC, started?) from every speaker's `announcing` / `no longer answering` lines."""
        events = []
        for node in self.lab.node_names:
            for line in self._log_lines(node):
                when = log_time(line)
                if when is None or when < after:
                    continue
                if f"announcing {self.ip}" in line:
                    events.append((when, self.mac(node), True))
                elif f"no longer answering for {self.ip}" in line:
                    events.append((when, self.mac(node), False))
        return events

    def cold_start(self) -> ColdStart:
        """SIGKILL every speaker, start them all at once, until settled; sampled all along."""
        sampler = Observer(self.client, CLIENT_IP, [self.ip], mode="sample", every=COLD_EVERY,
                           window=COLD_WINDOW, duration=SETTLE_TIMEOUT + 30)  # fmt: skip
        origin = time.monotonic()
        try:
            for node in self.lab.node_names:
                self.lab.signal_speaker(node, signal.SIGKILL)
            for node in self.lab.node_names:
                self.lab.processes[f"speaker {node}"].wait(EXIT_TIMEOUT)
            time.sleep(COLD_PAUSE)
            started, wall = time.monotonic(), time.time()
            for node in self.lab.node_names:
                self.lab.start_speaker(node)
            for node in self.lab.node_names:
                self.wait_ready(node, wall)
            settled = self._answered_alone(sampler, self.mac(self.winner)) - (started - origin)
        finally:
            lines = sampler.stop()
        summary = summarise(lines).get(self.ip, _EMPTY)
        began = started - origin  # the start on the sampler's clock
        first = next((line["t"] - began for line in lines
                      if line["t"] >= began and line["answers"][self.ip]), None)  # fmt: skip
        return ColdStart(split=summary.split, samples=summary.samples, settled=settled,
                         first=first)  # fmt: skip

    def _answered_alone(self, sampler: Observer, mac: str) -> float:
        """Wait until only `mac` answered every sample for SETTLE_HOLD; the sampler's t it began."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while time.monotonic() < deadline:
            lines = list(sampler.lines)
            streak = None
            for line in reversed(lines):
                if line["answers"][self.ip] != [mac]:
                    break
                streak = float(line["t"])
            if streak is not None and float(lines[-1]["t"]) - streak >= SETTLE_HOLD:
                return streak
            time.sleep(0.1)
        raise RuntimeError(
            f"{self.ip} not answered by {self.node_of(mac)} alone after a cold start"
        )

    # ---------------------------------------------------------------- property 8

    def lease_writes(self, seconds: float) -> dict[str, int]:
        """Writes to each speaker's Lease over `seconds`, counted from a watch of their Leases."""
        path = "/apis/coordination.k8s.io/v1/namespaces/metallb-system/leases"
        base = self.lab.server.url
        with urllib.request.urlopen(base + path, timeout=10) as response:  # noqa: S310 - the lab's
            listing = json.load(response)
        version = listing["metadata"]["resourceVersion"]
        names = {lease_name(node): node for node in self.lab.node_names}
        seen: list[tuple[float, str]] = []
        url = f"{base}{path}?watch=true&resourceVersion={version}&timeoutSeconds={seconds + 2:.0f}"

        problems: list[str] = []

        def watch() -> None:
            try:
                with urllib.request.urlopen(url, timeout=seconds + 30) as stream:  # noqa: S310
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

    def _log_lines(self, node: str) -> list[str]:
        path = self.lab.workdir / f"speaker-{node}.log"
        return path.read_text(errors="replace").splitlines() if path.exists() else []

    def _announced_at(self, node: str, after: float) -> float | None:
        """When `node`'s speaker logged that it announces the address (first time after `after`)."""
        needle = f"announcing {self.ip}"
        for line in self._log_lines(node):
            if line.endswith(needle):
                when = log_time(line)
                if when is not None and when >= after - 0.001:
                    return when
        return None

    def _exited(self, node: str, process: Any) -> bool:
        """Wait for a signalled speaker; one still running after EXIT_TIMEOUT is killed (by PID)."""
        try:
            process.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
            print(f"  ! speaker {node} (pid {process.pid}) still running {EXIT_TIMEOUT:.0f} s after"
                  " the signal; killed. Its log ends:")  # fmt: skip
            for line in self._log_lines(node)[-12:]:
                print(f"  !   {line}")
            return False
        return True

    def close(self) -> None:
        """Stop the probe."""
        if self.probe is not None:
            self.probe.stop()


# ---------------------------------------------------------------------- the run


@dataclass
class Results:
    """Everything measured, filled phase by phase (a phase cut short leaves its part empty)."""

    trials: int
    rounds: int
    lease_window: float
    lease: dict[str, int] = field(default_factory=dict)
    cases: list[Case] = field(default_factory=list)
    links: list[LinkTrial] = field(default_factory=list)
    rolling: Rolling = field(default_factory=Rolling)
    colds: list[ColdStart] = field(default_factory=list)


def report(results: Results) -> bool:
    """The four tables; True when every goal is met."""
    hold = f"hold {HB_HOLD:g} s, interval {HB_INTERVAL:g} s"
    met = table(
        f"Property 2: crash and freeze failover, default settings (heartbeat every {HB_INTERVAL:g}"
        f" s, hold {HB_HOLD:g} s); seconds from the signal to the first datagram to another node",
        [
            Row(case.label, case.times, results.trials, case.goal, baseline_label=hold,
                baseline=HB_HOLD,
                miss=f"{case.hung} stopped speaker(s) had to be killed" if case.hung else "")
            for case in results.cases
        ] + [
            Row("SIGSTOP: requests 2 answered",
                [float(t.both) for t in case.trials if t.both is not None], results.trials, None,
                unit="")
            for case in results.cases if case.sig == signal.SIGSTOP
        ],
    )  # fmt: skip
    print("where the time goes (p50 over trials, seconds; lost = datagrams to the old MAC)")
    print(f"{'case':<32}{'signal→announce':>16}{'announce→datagram':>18}{'lost':>6}")
    for case in results.cases:
        announced = [t.announced for t in case.trials if t.announced is not None]
        switch = [t.seconds - t.announced for t in case.trials
                  if t.seconds is not None and t.announced is not None]  # fmt: skip
        lost = [float(t.lost) for t in case.trials if t.lost is not None]
        back = [t.back for t in case.trials if t.back is not None]
        note = f"  ({len(back)} went back to the old MAC)" if back else ""
        print(f"{case.label:<32}{_p50(announced, '16.3f')}{_p50(switch, '18.3f')}"
              f"{_p50(lost, '6.0f')}{note}")  # fmt: skip
    links = results.links
    n = results.trials
    met &= table(
        f"Property 3: link failure (switch port down {LINK_DOWN:g} s, then up); sample Observer"
        f" every {SAMPLE_EVERY:g} s over each trial",
        [
            Row("link down → datagram to other", [t.failover.seconds for t in links
                                                   if t.failover.seconds is not None], n, 1.0,
                baseline_label=hold, baseline=HB_HOLD),
            Row("split samples per trial", [float(t.split) for t in links], n, 0, "max", ""),
            Row("owner changes after link up", [float(t.changes_after) for t in links], n, 1,
                "max", ""),
            Row("link up → settled at winner", [t.back for t in links if t.back is not None], n,
                None),
        ],
    )  # fmt: skip
    rolling, colds = results.rolling, results.colds
    moved = len(rolling.overlaps)
    met &= table(
        f"Property 4: (a) rolling restart, {results.rounds} round(s), {rolling.restarts} restarts,"
        f" dense Observer every {DENSE_EVERY:g} s; (b) cold starts, sample Observer every"
        f" {COLD_EVERY:g} s",
        [
            Row("rolling: overlap per move", rolling.overlaps, moved, 0.05, "max"),
            Row("rolling: gap per move", rolling.gaps, moved, 0.1, "max"),
            Row("rolling: lost datagrams per move", [float(v) for v in rolling.lost],
                len(rolling.lost), 1, "max", "",
                miss=f"{rolling.outside} lost datagram(s) far from any move" if rolling.outside
                else ("" if moved else "the address never moved")),
            Row("cold start: split samples", [float(c.split) for c in colds], n, 0, "max", ""),
            Row("cold start → first answer", [c.first for c in colds if c.first is not None], n,
                None),
            Row("cold start → settled", [c.settled for c in colds], n, None),
        ],
    )  # fmt: skip
    print(f"rolling restart: {moved} moves seen by the dense Observer, {len(rolling.lost)} by the"
          f" datagrams; longest silence {rolling.rounds.silence:.3f} s (at {rolling.rounds.at:.2f}"
          f" s); requests answered by two: {rolling.rounds.both}")  # fmt: skip
    per_minute = {node: count * 60.0 / results.lease_window
                  for node, count in results.lease.items()}  # fmt: skip
    met &= table(
        f"Property 8: Lease writes per node per minute, settled lab, defaults (renew every"
        f" {DEFAULTS.lease_renew:g} s); {results.lease_window:g} s watched",
        [
            Row("Lease writes per node per minute", list(per_minute.values()), 3, 6, "max", "",
                f"renew every {OLD_RENEW:g} s: {60 / OLD_RENEW:g}/min", 60 / OLD_RENEW),
        ],
    )  # fmt: skip
    print("  " + ", ".join(f"{node}: {count} writes" for node, count in results.lease.items()))
    for node, count in results.lease.items():
        if not count:
            print(f"  ! {node} never renewed its Lease: peers that cannot hear it count it dead")
    return met


def _p50(values: list[float], spec: str) -> str:
    width = int(spec.split(".", maxsplit=1)[0])
    return format(percentile(values, 0.5), spec) if values else f"{'-':>{width}}"


def measure(bench: Bench, results: Results) -> None:
    """Every phase in one lab, in order; progress printed as it goes, with each phase's time."""
    clock = time.monotonic()

    def phase(title: str) -> None:
        nonlocal clock
        print(f"{title} (previous phase {time.monotonic() - clock:.0f} s)", flush=True)
        clock = time.monotonic()

    phase(f"Property 8: watching the speakers' Leases for {results.lease_window:g} s")
    results.lease = bench.lease_writes(results.lease_window)
    print(f"  writes: {results.lease}", flush=True)
    phase("Property 2: crash, freeze, graceful stop")
    results.cases = [
        Case("SIGKILL (crash)", signal.SIGKILL, 0.5),
        Case("SIGSTOP (freeze)", signal.SIGSTOP, 0.5),
        Case("SIGTERM (graceful)", signal.SIGTERM, 0.05),
    ]
    for case in results.cases:
        for number in range(results.trials):
            bench.fault_trial(case)
            print(f"  {case.label} #{number + 1}: {case.trials[-1].show()}", flush=True)
    phase("Property 3: link failure")
    for number in range(results.trials):
        trial = bench.link_trial()
        results.links.append(trial)
        print(f"  link down #{number + 1}: {trial.failover.show()}; split samples {trial.split},"
              f" changes after link up {trial.changes_after}, settled {trial.back or 0:.3f} s"
              f" after ({trial.samples} samples)", flush=True)  # fmt: skip
    phase("Property 4a: rolling restart")
    bench.rolling(results.rounds, results.rolling)
    print(f"  rolling restart: {len(results.rolling.overlaps)} moves, overlaps "
          f"{[round(v, 3) for v in results.rolling.overlaps]}, gaps "
          f"{[round(v, 3) for v in results.rolling.gaps]}, lost {results.rolling.lost}",
          flush=True)  # fmt: skip
    phase("Property 4b: cold starts")
    for number in range(results.trials):
        cold = bench.cold_start()
        results.colds.append(cold)
        print(f"  cold start #{number + 1}: split samples {cold.split} of {cold.samples}, first"
              f" answer {cold.first if cold.first is None else round(cold.first, 3)} s, settled"
              f" {cold.settled:.3f} s", flush=True)  # fmt: skip
    phase("done")


def run(trials: int, *, quick: bool, keep: Path | None = None) -> bool:
    """Every property in one lab; prints the tables; True when every goal is met."""
    results = Results(trials=trials, rounds=1 if quick else 2,
                      lease_window=LEASE_WINDOW_QUICK if quick else LEASE_WINDOW)  # fmt: skip
    started = time.monotonic()
    failed = False
    with Lab(nodes=3, examples=ROOT / "deploy" / "examples", say=lambda _: None) as lab:
        bench = Bench(lab)
        try:
            bench.start()
            print(
                f"Speaker failover: {SERVICE} at {bench.ip}, hash winner {bench.winner}; {trials}"
                f" trials per case; client datagram every {INTERVAL * 1000:.0f} ms; speakers"
                f" with default settings (heartbeat {HB_INTERVAL:g} s, hold {HB_HOLD:g} s, Lease"
                f" {DEFAULTS.lease_duration:g} s renewed every {DEFAULTS.lease_renew:g} s)",
                flush=True,
            )
            measure(bench, results)
        except Exception:  # noqa: BLE001 - reported, the run fails, the logs are kept
            traceback.print_exc()
            print("! the run was cut short: what was measured follows", flush=True)
            failed = True
        finally:
            bench.close()
        met = report(results) and not failed
        if keep is not None or not met:
            kept = keep or Path(tempfile.mkdtemp(prefix="metalpool-failover-logs-"))
            shutil.copytree(lab.workdir, kept, dirs_exist_ok=True)
            print(f"\nlogs of the lab's processes copied to {kept}")
    load = os.getloadavg()[0]
    print(f"total {time.monotonic() - started:.0f} s; 1-min load average at the end {load:.2f}")
    print("every goal met" if met else "GOAL MISSED")
    return met


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.failover [--trials N] [--quick]` or `… probe <ip>` (in the client)."""
    parser = argparse.ArgumentParser(
        prog="bench.failover",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("mode", nargs="?", choices=("run", "probe"), default="run")
    parser.add_argument("target", nargs="?", help="probe only: the address to send to")
    parser.add_argument("--iface", default="eth0", help="probe only: the client interface")
    parser.add_argument("--trials", type=int, default=10,
                        help="trials per case and cold starts (default 10)")  # fmt: skip
    parser.add_argument("--quick", action="store_true",
                        help="3 trials, 1 rolling round, 30 s of Lease writes")  # fmt: skip
    parser.add_argument("--keep-logs", type=Path, help="copy the lab's logs here at the end")
    args = parser.parse_args(argv)
    if args.mode == "probe":
        probe_main(args.target, args.iface)
        return 0
    problem = preflight()
    if problem:
        print(f"bench.failover: {problem}", file=sys.stderr)
        return 2
    met = run(3 if args.quick else max(1, args.trials), quick=args.quick, keep=args.keep_logs)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
