"""Who answers ARP for each address, seen from the client: `python -m lab.answerers` (root).

Shell, run inside the client namespace. Two modes, both printing JSON lines on stdout:

- `sample` (the default): every `--every` seconds, one broadcast ARP request per address, then
  every reply seen within `--window` is collected: {"t": seconds since start, "answers":
  {ip: [MAC, …]}}. Two MACs for one address in one sample is a split brain as a client sees it.
- `dense`: one request every `--every` seconds (10 ms) for one address, and every reply with
  the kernel's receive time and the request it answers: {"t": …, "mac": …, "round": n}. Who
  answered each request shows overlaps and gaps to the probe period.

It stops after `--duration` seconds or when stdin closes. Frames are built by hand: 42 bytes.
Only the addresses given are ever asked for; the sender address is the client's own.
"""

import argparse
import contextlib
import json
import os
import select
import socket
import struct
import sys
import time
from ipaddress import IPv4Address

ETH_P_ARP = 0x0806
SO_TIMESTAMPNS = 35
_TIMESPEC = struct.Struct("@qq")
BROADCAST = b"\xff" * 6
SAMPLE_TAG = 0x10000000  # high bits of the tag say which mode asked; the rest count rounds
DENSE_TAG = 0x20000000


def tag_mac(tag: int) -> bytes:
    """A locally administered sender hardware address carrying `tag` (02:5e:tt:tt:tt:tt)."""
    return b"\x02\x5e" + (tag & 0xFFFFFFFF).to_bytes(4, "big")


def request(source_mac: bytes, source_ip: IPv4Address, target: IPv4Address, tag: int) -> bytes:
    """A broadcast ARP who-has `target`, from the client, its sender hardware address tagged.

    A responder answers to the sender hardware address (the kernel does, and so do we), so
    each reply names the request it answers: replies to another probe, or to an earlier
    round, are never mistaken for answers to this one.
    """
    header = BROADCAST + source_mac + ETH_P_ARP.to_bytes(2, "big")
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)
    return header + arp + tag_mac(tag) + source_ip.packed + b"\0" * 6 + target.packed


def parse_reply(frame: bytes, asker: IPv4Address) -> tuple[int, IPv4Address, str] | None:
    """(tag, sender IP, sender MAC) of an ARP reply to one of our tagged requests, else None.

    Only answers to our own requests count: a gratuitous reply (target = the address itself)
    sent by a new owner right after the old one stopped is not a second answerer.
    """
    if len(frame) < 42 or frame[12:14] != b"\x08\x06" or frame[20:22] != b"\x00\x02":  # noqa: PLR2004
        return None
    if frame[38:42] != asker.packed or frame[32:34] != b"\x02\x5e":
        return None
    tag = int.from_bytes(frame[34:38], "big")
    return tag, IPv4Address(frame[28:32]), frame[22:28].hex(":")


class Prober:
    """One packet socket on the client's interface: send requests, read replies with times."""

    def __init__(self, iface: str, source_ip: IPv4Address) -> None:
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
        # Replies go to the tagged addresses, which no bridge has learnt: they are flooded to
        # every port, ours included, and a packet socket sees them (PACKET_OTHERHOST).
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind((iface, ETH_P_ARP))
        self.sock.setblocking(False)
        self.mac = self.sock.getsockname()[4]
        self.source_ip = source_ip

    def ask(self, target: IPv4Address, tag: int) -> None:
        """Send one tagged request (errors are ignored: a sample then shows no answer)."""
        with contextlib.suppress(OSError):
            self.sock.send(request(self.mac, self.source_ip, target, tag))

    def replies(self, until: float) -> list[tuple[float, int, IPv4Address, str]]:
        """Replies until monotonic `until`: (monotonic receive time, tag, IP, MAC)."""
        found = []
        space = socket.CMSG_SPACE(_TIMESPEC.size)
        while (remaining := until - time.monotonic()) > 0:
            ready, _, _ = select.select([self.sock], [], [], remaining)
            if not ready:
                break
            try:
                frame, ancillary, _, _ = self.sock.recvmsg(128, space)
            except BlockingIOError:
                continue
            received = time.monotonic()
            if ancillary:  # kernel receive time, moved onto the monotonic scale
                seconds, nanoseconds = _TIMESPEC.unpack(ancillary[0][2][: _TIMESPEC.size])
                received -= time.time() - (seconds + nanoseconds / 1e9)
            parsed = parse_reply(frame, self.source_ip)
            if parsed is not None:
                found.append((received, *parsed))
        return found


def sample(prober: Prober, targets: list[IPv4Address], args: argparse.Namespace) -> None:
    """Print one line per sample until the duration ends or stdin closes."""
    start = time.monotonic()
    rounds = 0
    while time.monotonic() - start < args.duration and not _stdin_closed():
        due = start + rounds * args.every
        time.sleep(max(0.0, due - time.monotonic()))
        rounds += 1
        sent = time.monotonic()
        tag = SAMPLE_TAG | rounds
        for target in targets:
            prober.ask(target, tag)
        answers: dict[str, set[str]] = {str(t): set() for t in targets}
        for _, got, ip, mac in prober.replies(sent + args.window):
            if got == tag and str(ip) in answers:
                answers[str(ip)].add(mac)
        line = {"t": round(sent - start, 3), "answers": {k: sorted(v) for k, v in answers.items()}}
        _emit(line)


def dense(prober: Prober, target: IPv4Address, args: argparse.Namespace) -> None:
    """Ask every `every` seconds; print every reply for `target` with its time."""
    start = time.monotonic()
    rounds = 0
    while time.monotonic() - start < args.duration and not _stdin_closed():
        rounds += 1
        prober.ask(target, DENSE_TAG | rounds)
        for received, got, ip, mac in prober.replies(start + rounds * args.every):
            if ip == target and got & DENSE_TAG:
                asked = got & ~DENSE_TAG  # which request this answers
                _emit({"t": round(received - start, 4), "mac": mac, "round": asked})


def _emit(line: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def _stdin_closed() -> bool:
    ready, _, _ = select.select([sys.stdin], [], [], 0)
    return bool(ready) and not os.read(sys.stdin.fileno(), 1)


def main(argv: list[str] | None = None) -> int:
    """Entry point (inside the client namespace)."""
    parser = argparse.ArgumentParser(prog="python -m lab.answerers", description=__doc__)
    parser.add_argument("mode", choices=("sample", "dense"))
    parser.add_argument("targets", nargs="+", type=IPv4Address)
    parser.add_argument("--iface", default="eth0")
    parser.add_argument("--source", type=IPv4Address, required=True, help="the client's own IP")
    parser.add_argument("--every", type=float, default=0.5)
    parser.add_argument("--window", type=float, default=0.2, help="sample: seconds of replies")
    parser.add_argument("--duration", type=float, default=60.0)
    args = parser.parse_args(argv)
    args.duration = min(args.duration, 600.0)  # every loop here is bounded in time
    args.every = max(args.every, 0.002)
    prober = Prober(args.iface, args.source)
    _emit({"ready": True, "mac": prober.mac.hex(":")})
    if args.mode == "sample":
        sample(prober, args.targets, args)
    else:
        dense(prober, args.targets[0], args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
