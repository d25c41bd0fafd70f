"""Test-only client tool for wire tests: runs in the client namespace, driven over stdio.

`ip netns exec <client> python -m tests.speaker.wire_probe --iface eth0 --ip4 … --ip6 …` prints
{"ready": …} and then answers one JSON line per JSON command:
  {"udp": ip}  → one datagram to ip:9 (discard), so that the client's kernel resolves ip
  {"arp": ip, "wait": s}  → broadcast an ARP request; the replies seen within s
  {"ns": ip, "wait": s, "to_mac": mac|null}  → an NS (to the solicited-node group, or unicast to
      ip at to_mac: a neighbour-unreachability probe); the advertisements seen within s
  either with "then": [ip, …], "answers": n  → after the request for ip, a request for each of
      these sentinel addresses, which must be answered; the capture ends as soon as n distinct
      (address, MAC) answers to them are in, else after s. A responder handles its socket's
      frames in turn, so once its answer to a sentinel is in, any answer it would have given
      to ip is in the same capture: silence for ip is judged there ("sentinels": their replies)
  {"sniff": s}  → every ARP frame / NA seen on the interface for s, with CLOCK_MONOTONIC times
  {"membership": s}  → every speaker membership frame (EtherType 0x88B5) seen for s, as hex
  {"send": hex}  → put one raw Ethernet frame on the wire (a rogue host, a replay)
Frames are built by `tests.support.frames` (scapy) and dissected with scapy: test code only.
Every wait is bounded by the command's `wait`, at most MAX_WAIT.
"""

import argparse
import json
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path

from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6
from scapy.layers.l2 import ARP, Ether

from speaker.membership.messages import ETHERTYPE
from tests.support.frames import arp_request, neighbor_solicitation

ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
ETH_P_ALL = 0x0003
MAX_WAIT = 6.0


def open_capture(iface: str, ethertype: int) -> socket.socket:
    """A packet socket receiving `ethertype` frames on `iface` from now on."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ethertype))
    sock.bind((iface, ethertype))
    return sock


def capture(
    sock: socket.socket, wait: float, enough: Callable[[list[bytes]], bool] = lambda _: False
) -> list[tuple[float, bytes]]:
    """Incoming frames on `sock` for `wait` seconds (at most MAX_WAIT), with arrival times.

    The capture ends early once `enough` holds for the frames so far (a sentinel is in).
    """
    frames: list[tuple[float, bytes]] = []
    deadline = time.monotonic() + min(wait, MAX_WAIT)
    while (remaining := deadline - time.monotonic()) > 0:
        sock.settimeout(remaining)
        try:
            frame, address = sock.recvfrom(4096)
        except TimeoutError:
            break
        if address[2] != socket.PACKET_OUTGOING:
            frames.append((time.monotonic(), frame))
            if enough([f for _, f in frames]):
                break
    return frames


def describe_arp(frame: bytes) -> dict[str, object] | None:
    packet = Ether(frame)
    if ARP not in packet:
        return None
    arp = packet[ARP]
    return {
        "eth_src": packet.src,
        "eth_dst": packet.dst,
        "op": arp.op,
        "hwsrc": arp.hwsrc,
        "psrc": arp.psrc,
        "hwdst": arp.hwdst,
        "pdst": arp.pdst,
    }


def describe_na(frame: bytes) -> dict[str, object] | None:
    packet = Ether(frame)
    if ICMPv6ND_NA not in packet:
        return None
    na = packet[ICMPv6ND_NA]
    option = packet[ICMPv6NDOptDstLLAddr].lladdr if ICMPv6NDOptDstLLAddr in packet else None
    return {
        "eth_src": packet.src,
        "eth_dst": packet.dst,
        "src": packet[IPv6].src,
        "dst": packet[IPv6].dst,
        "hlim": packet[IPv6].hlim,
        "tgt": na.tgt,
        "R": na.R,
        "S": na.S,
        "O": na.O,
        "tlla": option,
    }


@dataclass(frozen=True)
class Sentinels:
    """Addresses asked for after the one under test, and how many answers to them end it."""

    ips: tuple[str, ...] = ()
    answers: int = 1

    @classmethod
    def of(cls, command: dict[str, object]) -> "Sentinels":
        then = command.get("then") or []
        assert isinstance(then, list)
        return cls(ips=tuple(map(str, then)), answers=int(str(command.get("answers", len(then)))))


class Probe:
    def __init__(self, iface: str, ip4: IPv4Address, ip6: IPv6Address) -> None:
        self.iface = iface
        self.ip4 = ip4
        self.ip6 = ip6
        self.mac = Path(f"/sys/class/net/{iface}/address").read_text().strip()

    def udp(self, target: str) -> dict[str, object]:
        address = ip_address(target)
        family = socket.AF_INET if address.version == 4 else socket.AF_INET6
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"metalpool wire test", (target, 9))
        return {"ok": True}

    def arp(self, target: str, wait: float, sentinels: Sentinels) -> dict[str, object]:
        mine = str(self.ip4)

        def request(ip: str) -> bytes:
            return arp_request(sender_mac=self.mac, sender_ip=self.ip4, target_ip=IPv4Address(ip))

        def reply(r: dict[str, object], ip: str) -> bool:
            # Only answers to us: an announcement burst in progress also sends op-2 frames.
            return (r["op"], r["psrc"], r["pdst"]) == (2, ip, mine)

        return self._ask(
            ETH_P_ARP, request, reply, describe_arp, target=target, wait=wait, sentinels=sentinels
        )

    def ns(
        self, target: str, wait: float, to_mac: str | None, sentinels: Sentinels
    ) -> dict[str, object]:
        mine = str(self.ip6)

        def request(ip: str) -> bytes:
            address = IPv6Address(ip)
            return neighbor_solicitation(
                source_mac=self.mac,
                source_ip=self.ip6,
                target_ip=address,
                destination_ip=address if to_mac else None,
                destination_mac=to_mac,
            )

        def reply(r: dict[str, object], ip: str) -> bool:
            return (r["tgt"], r["dst"]) == (ip, mine)

        return self._ask(
            ETH_P_IPV6, request, reply, describe_na, target=target, wait=wait, sentinels=sentinels
        )

    def sniff(self, wait: float) -> dict[str, object]:
        """Say {"armed": true} once listening, then return the ARP frames and NAs seen."""
        with open_capture(self.iface, ETH_P_ALL) as sock:
            _say({"armed": True})
            frames = capture(sock, wait)
        seen = []
        for when, frame in frames:
            described = describe_arp(frame) or describe_na(frame)
            if described is not None:
                seen.append({"t": when, **described})
        return {"frames": seen}

    def membership(self, wait: float) -> dict[str, object]:
        with open_capture(self.iface, ETHERTYPE) as sock:
            frames = capture(sock, wait)
        return {"frames": [frame.hex() for _, frame in frames]}

    def send(self, frame: str) -> dict[str, object]:
        with open_capture(self.iface, ETHERTYPE) as sock:
            sock.send(bytes.fromhex(frame))
        return {"ok": True}

    def _ask(
        self,
        ethertype: int,
        request: Callable[[str], bytes],
        reply: Callable[[dict[str, object], str], bool],
        describe: Callable[[bytes], dict[str, object] | None],
        *,
        target: str,
        wait: float,
        sentinels: Sentinels,
    ) -> dict[str, object]:
        """Ask for `target`, then for each sentinel; capture until the sentinels are answered."""

        def answered(frames: list[bytes]) -> list[dict[str, object]]:
            described = (describe(frame) for frame in frames)
            return [
                r for r in described if r is not None and any(reply(r, ip) for ip in sentinels.ips)
            ]

        def enough(frames: list[bytes]) -> bool:
            if not sentinels.ips:
                return False
            seen = {
                (str(r.get("psrc") or r.get("tgt")), str(r["eth_src"])) for r in answered(frames)
            }
            return len(seen) >= sentinels.answers

        with open_capture(self.iface, ethertype) as sock:
            for ip in (target, *sentinels.ips):
                sock.send(request(ip))
            frames = capture(sock, wait, enough)
        found = []
        for when, frame in frames:
            described = describe(frame)
            if described is not None:
                found.append({"t": when, **described})
        result: dict[str, object] = {"replies": [r for r in found if reply(r, target)]}
        if sentinels.ips:
            result["sentinels"] = [r for r in found if any(reply(r, ip) for ip in sentinels.ips)]
        return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iface", default="eth0")
    parser.add_argument("--ip4", type=IPv4Address, required=True)
    parser.add_argument("--ip6", type=IPv6Address, required=True)
    args = parser.parse_args()
    probe = Probe(args.iface, args.ip4, args.ip6)
    _say({"ready": True, "mac": probe.mac})
    for line in sys.stdin:
        command = json.loads(line)
        wait = float(command.get("wait", 0.3))
        if "udp" in command:
            _say(probe.udp(command["udp"]))
        elif "arp" in command:
            _say(probe.arp(command["arp"], wait, Sentinels.of(command)))
        elif "ns" in command:
            _say(probe.ns(command["ns"], wait, command.get("to_mac"), Sentinels.of(command)))
        elif "sniff" in command:
            _say(probe.sniff(float(command["sniff"])))
        elif "membership" in command:
            _say(probe.membership(float(command["membership"])))
        elif "send" in command:
            _say(probe.send(str(command["send"])))


def _say(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
