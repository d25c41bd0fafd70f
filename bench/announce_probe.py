"""The probing bench's client: ARP requests for one address every 5 ms until one is answered.

Shell, run inside the client namespace (`python -m bench.announce_probe --source <client IP>`)
and driven over stdio by `bench.announce_lab`. It says {"ready": true}; then, for each line
{"watch": ip, "timeout": s}, it says {"armed": true}, sends a tagged broadcast who-has for ip
every EVERY seconds (`lab.answerers` builds and reads them: 42-byte frames, kernel receive
times) and says {"t": …, "mac": …} for the first reply to one of those requests (t: the
kernel's receive time on the CLOCK_MONOTONIC scale, shared by every namespace), or {"t": null}
when none came within the timeout (at most MAX_TIMEOUT). Only the address given is asked for.
"""

import argparse
import json
import sys
import time
from ipaddress import IPv4Address

from lab.answerers import Prober

EVERY = 0.005  # seconds between requests: the resolution of the figure
MAX_TIMEOUT = 30.0
TAG = 0x40000000  # high bits of the tag: this probe; the rest count requests


def watch(
    prober: Prober, target: IPv4Address, timeout: float, sent: int
) -> tuple[dict[str, object], int]:
    """Ask for `target` until answered or `timeout`; the line to say, and the requests sent.

    `sent` counts requests over the probe's life (never near 2**28: 200 a second): a reply
    to a request of an earlier watch, late in the socket's queue, does not count.
    """
    first = sent + 1
    start = time.monotonic()
    deadline = start + min(timeout, MAX_TIMEOUT)
    while time.monotonic() < deadline:
        sent += 1
        prober.ask(target, TAG | sent)
        until = min(start + (sent - first + 1) * EVERY, deadline)
        for received, tag, ip, mac in prober.replies(until):
            if ip == target and tag & ~TAG >= first:
                return {"t": received, "mac": mac}, sent
    return {"t": None}, sent


def main(argv: list[str] | None = None) -> int:
    """Entry point (inside the client namespace): serve watches until stdin closes."""
    parser = argparse.ArgumentParser(prog="python -m bench.announce_probe", description=__doc__)
    parser.add_argument("--iface", default="eth0")
    parser.add_argument("--source", type=IPv4Address, required=True, help="the client's own IP")
    args = parser.parse_args(argv)
    prober = Prober(args.iface, args.source)
    _say({"ready": True})
    sent = 0
    for line in sys.stdin:
        command = json.loads(line)
        _say({"armed": True})
        answer, sent = watch(prober, IPv4Address(command["watch"]), float(command["timeout"]), sent)
        _say(answer)
    return 0


def _say(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
