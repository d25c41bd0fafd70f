"""Request generator for `bench.speaker`: paced ARP requests / NS from pre-built frames, timed.

Runs inside the client namespace as `python -m bench.generator --iface eth0`, driven over stdio:
each JSON line {"family": "arp"|"ndp", "target": ip, "rate": r, "count": n} is answered with one
JSON line of results. As in arp-responder.md §2.1, request i carries the sender MAC 02:5e:<i>, so
every reply (kernel's or ours) comes back to that MAC and names its request. RTT = the kernel's
receive timestamp (SO_TIMESTAMPNS) minus CLOCK_REALTIME read just before `send`: the client's
own wake-up is excluded, the responder's is not. Only 192.0.2.0/24 and 2001:db8::/64 are used.
"""

import argparse
import json
import socket
import struct
import sys
import threading
import time
from ipaddress import IPv4Address, IPv6Address, ip_address

ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
SO_TIMESTAMPNS = 35  # asm-generic/socket.h (SO_TIMESTAMPNS_OLD; 64-bit timespec on x86-64)
SO_RCVBUFFORCE = 33
SOL_PACKET = 263
PACKET_IGNORE_OUTGOING = 23
CLIENT_IP = IPv4Address("192.0.2.100")
CLIENT_IP6 = IPv6Address("2001:db8::100")
SETTLE = 0.2  # seconds to wait for the last replies
_TIMESPEC = struct.Struct("@qq")


def sequence_mac(sequence: int) -> bytes:
    """The sender MAC of request `sequence`: locally administered 02:5e + 32 bits."""
    return b"\x02\x5e" + sequence.to_bytes(4, "big")


def arp_frame(sequence: int, target: IPv4Address) -> bytes:
    """A broadcast ARP request for `target` from the client, numbered `sequence`."""
    mac = sequence_mac(sequence)
    header = b"\x00\x01\x08\x00\x06\x04\x00\x01"  # Ethernet/IPv4, request
    arp = header + mac + CLIENT_IP.packed + bytes(6) + target.packed
    return b"\xff" * 6 + mac + b"\x08\x06" + arp


def ns_frame(sequence: int, target: IPv6Address) -> bytes:
    """An NS for `target` to its solicited-node group, SLLA = the numbered MAC (RFC 4861 §4.3)."""
    mac = sequence_mac(sequence)
    group = IPv6Address(int(IPv6Address("ff02::1:ff00:0")) | int(target) & 0xFFFFFF)
    message = bytearray(b"\x87\x00\x00\x00\x00\x00\x00\x00" + target.packed + b"\x01\x01" + mac)
    pseudo = (
        CLIENT_IP6.packed + group.packed + len(message).to_bytes(4, "big") + b"\x00\x00\x00\x3a"
    )
    # RFC 1071 checksum via 2**16 ≡ 1 (mod 0xFFFF): the sum of the 16-bit words, folded.
    total = int.from_bytes(pseudo + message, "big") % 0xFFFF
    message[2:4] = (0xFFFF - total or 0xFFFF).to_bytes(2, "big")
    ipv6 = (
        b"\x60\x00\x00\x00"
        + len(message).to_bytes(2, "big")
        + b"\x3a\xff"  # next header ICMPv6, hop limit 255
        + CLIENT_IP6.packed
        + group.packed
    )
    return b"\x33\x33" + group.packed[12:] + mac + b"\x86\xdd" + ipv6 + bytes(message)


def reply_sequence(frame: bytes, family: str) -> int | None:
    """The request number a reply answers, or None for any other frame."""
    if frame[:2] != b"\x02\x5e":
        return None
    if family == "arp" and frame[12:14] == b"\x08\x06" and frame[20:22] == b"\x00\x02":
        return int.from_bytes(frame[2:6], "big")
    if family == "ndp" and frame[12:14] == b"\x86\xdd" and len(frame) > 54 and frame[54] == 136:
        return int.from_bytes(frame[2:6], "big")
    return None


class Receiver(threading.Thread):
    """Collects (sequence, kernel rx time in ns) of replies until stopped."""

    def __init__(self, iface: str, family: str) -> None:
        super().__init__(daemon=True)
        ethertype = ETH_P_ARP if family == "arp" else ETH_P_IPV6
        self.family = family
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ethertype))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        self.sock.bind((iface, ethertype))
        self.sock.settimeout(0.05)
        self.received: dict[int, int] = {}
        self.running = True

    def run(self) -> None:
        """Receive until `close`: the first kernel timestamp of each answered request."""
        space = socket.CMSG_SPACE(_TIMESPEC.size)
        while self.running:
            try:
                frame, ancillary, _, _ = self.sock.recvmsg(256, space)
            except TimeoutError:
                continue
            sequence = reply_sequence(frame, self.family)
            if sequence is None or not ancillary:
                continue
            seconds, nanoseconds = _TIMESPEC.unpack(ancillary[0][2][: _TIMESPEC.size])
            self.received.setdefault(sequence, seconds * 1_000_000_000 + nanoseconds)

    def close(self) -> None:
        """Stop receiving (within the 50 ms socket timeout) and close the socket."""
        self.running = False
        self.join(1.0)
        self.sock.close()


def run(iface: str, family: str, target: str, rate: float, count: int) -> dict[str, object]:
    """Send `count` requests at `rate`/s (spinning between sends), then report the replies."""
    address = ip_address(target)
    if isinstance(address, IPv4Address):
        frames = [arp_frame(sequence, address) for sequence in range(count)]
    else:
        frames = [ns_frame(sequence, address) for sequence in range(count)]
    sent = [0] * count
    receiver = Receiver(iface, family)
    receiver.start()
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0) as sock:
        sock.bind((iface, 0))  # protocol 0: this socket only sends
        interval = 1.0 / rate
        started = time.perf_counter()
        for sequence, frame in enumerate(frames):
            due = started + sequence * interval
            while (now := time.perf_counter()) < due:
                if due - now > 0.001:
                    time.sleep(due - now - 0.0005)
            sent[sequence] = time.time_ns()
            sock.send(frame)
        elapsed = time.perf_counter() - started
    time.sleep(SETTLE)
    receiver.close()
    rtts = sorted(
        (received - sent[sequence]) / 1000
        for sequence, received in receiver.received.items()
        if sequence < count
    )
    return {
        "sent": count,
        "answered": len(rtts),
        "send_rate": count / elapsed if elapsed > 0 else float("inf"),
        "p50_us": _percentile(rtts, 0.50),
        "p99_us": _percentile(rtts, 0.99),
    }


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(fraction * len(values)))]


def main() -> None:
    """Answer run commands from stdin until it closes."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--iface", default="eth0")
    args = parser.parse_args()
    _say({"ready": True})
    for line in sys.stdin:
        command = json.loads(line)
        _say(
            run(args.iface, command["family"], command["target"], command["rate"], command["count"])
        )


def _say(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
