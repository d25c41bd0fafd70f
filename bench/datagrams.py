"""The client-side probe of the failover bench: it runs in the client namespace, over stdio.

Rule: this module speaks only to the client's kernel (one UDP socket, one AF_PACKET tap on its
interface) and to its parent (JSON lines on stdin/stdout); it knows nothing of the lab. It sends
one datagram (sequence number, send time) to the address every INTERVAL and records each such
frame as it leaves (kernel wire time, destination MAC, sequence), the ARP from the address, and
the speakers' heartbeats (for their ready flag, and for when each was heard: the baseline of a
failover is the moment the peers can first know). Started as `python -m bench.failover probe <ip>`.
"""

import json
import socket
import struct
import sys
import threading
import time
from typing import Any

PORT = 9999
INTERVAL = 0.010  # seconds between the client's datagrams
ARP_BEFORE = 1.5  # seconds of ARP before the signal shown for a slow switch
ETH_P_ALL = 0x0003  # outgoing frames reach only ETH_P_ALL taps (dev_queue_xmit_nit)
PACKET_OUTGOING = 4
HEARTBEAT_TYPE = (0x88B5).to_bytes(2)  # the speakers' heartbeats (speaker.membership.messages)
SO_TIMESTAMPNS = 35
_PAYLOAD = struct.Struct("!Qd")  # sequence, send time
_TIMESPEC = struct.Struct("@qq")


class Probe:
    """Sends to `target` every INTERVAL; records every such frame leaving eth0 (time, MAC, seq)."""

    def __init__(self, target: str, iface: str) -> None:
        self.target = socket.inet_aton(target)
        self.address = (target, PORT)
        self.frames: list[tuple[float, str, int]] = []  # (kernel wire time, dst MAC, sequence)
        self.arps: list[tuple[float, str, str]] = []  # (kernel time, sender MAC, ARP op)
        self.beats: dict[str, dict[int, tuple[float, bool]]] = {}  # node → incarnation → first
        # heard, and whether its latest heartbeat said ready (and not leaving)
        self.heard: dict[str, list[tuple[float, float, bool]]] = {}  # node → (kernel time, the
        # hold it announced in seconds, leaving?) of each heartbeat: peers count a node dead a
        # hold after its last one, or at once on a leaving one (speaker.membership.table)
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
        end = 39 + frame[38]  # the body follows the name: interval ms, hold ms (u16 each)
        name = frame[39:end].decode(errors="replace")
        ready = frame[18] & 0b11 == 0b01  # bit 0 ready, bit 1 leaving
        hold = int.from_bytes(frame[end + 2 : end + 4]) / 1000 if len(frame) >= end + 4 else 0.0
        with self.lock:
            known = self.beats.setdefault(name, {})
            known[incarnation] = (known.get(incarnation, (wire, False))[0], ready)
            self.heard.setdefault(name, []).append((wire, hold, bool(frame[18] & 0b10)))

    def gone(self, node: str, after: float, before: float) -> dict[str, Any]:
        """What the peers could know of `node` by `before`, for `known_gone`.

        Its last heartbeat by then and the hold that one announced, and its first leaving
        heartbeat after `after` (None when there is none).
        """
        with self.lock:
            heard = [h for h in self.heard.get(node, []) if h[0] <= before]
        last = heard[-1] if heard else None
        leaving = next((w for w, _, going in heard if going and w > after), None)
        return {"last": None if last is None else last[0],
                "hold": None if last is None else last[1], "leaving": leaving}  # fmt: skip

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
    """The probe over stdio: {"current"} / {"wait": …} / {"last": …} / {"gone": …} / {"since": …}.

    EOF quits.
    """
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
            elif "gone" in command:
                _say(probe.gone(**command["gone"]))
            elif "since" in command:
                _say(probe.since(**command["since"]))
            else:
                _say(probe.current())
    finally:
        probe.close()


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()
