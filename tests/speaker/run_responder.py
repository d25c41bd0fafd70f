"""Test-only runner: a real `Responder` in this process's network namespace, driven over stdio.

Started as `ip netns exec <ns> python -m tests.speaker.run_responder [--own IP[=if,…]] …`.
It prints one JSON line {"ready": …, "interfaces": {name: mac}} once its sockets are open, then
answers one JSON line per JSON command line on stdin:
  {"own": {"192.0.2.50": null, "2001:db8::50": ["eth1"]}}  → set_owned; {"ok": true}
  {"stats": true}  → the counters, and each IP's delay from set_owned to its first announcement
  {"quit": true} (or end of input)  → stop(); {"stopped": seconds stop() took}
"""

import argparse
import json
import logging
import sys
import threading
import time
from collections.abc import Mapping
from ipaddress import ip_address

from speaker.wire.answers import Tally
from speaker.wire.ownership import Interfaces
from speaker.wire.replies import IPAddress
from speaker.wire.responder import Responder


class TimedTally(Tally):
    """A Tally that also notes when each IP's first announcement left after `mark`."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.marked: dict[IPAddress, float] = {}
        self.first_sent: dict[IPAddress, float] = {}
        self._owned: set[IPAddress] = set()

    def mark(self, ips: Mapping[IPAddress, Interfaces]) -> None:
        """Start the clock for IPs not owned before: their first announcement is timed."""
        now = time.monotonic()
        with self._lock:
            for ip in ips.keys() - self._owned:
                self.marked[ip] = now
                self.first_sent.pop(ip, None)
            self._owned = set(ips)

    def gratuitous_sent(self, ip: IPAddress) -> None:
        now = time.monotonic()
        super().gratuitous_sent(ip)
        with self._lock:
            if ip in self.marked and ip not in self.first_sent:
                self.first_sent[ip] = now

    def report(self) -> dict[str, object]:
        with self._lock:
            delays = {str(ip): self.first_sent[ip] - self.marked[ip] for ip in self.first_sent}
        return {
            "requests_received": {str(ip): n for ip, n in self.requests_received.items()},
            "responses_sent": {str(ip): n for ip, n in self.responses_sent.items()},
            "gratuitous_sent": {str(ip): n for ip, n in self.gratuitous.items()},
            "dropped": {str(reason): n for reason, n in self.drops.items()},
            "announce_delay": delays,
        }


def parse_table(table: Mapping[str, list[str] | None]) -> dict[IPAddress, Interfaces]:
    return {
        ip_address(ip): None if names is None else frozenset(names) for ip, names in table.items()
    }


def parse_own(specs: list[str]) -> dict[IPAddress, Interfaces]:
    table: dict[str, list[str] | None] = {}
    for spec in specs:
        ip, _, names = spec.partition("=")
        table[ip] = names.split(",") if names else None
    return parse_table(table)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--own", action="append", default=[])
    parser.add_argument("--rescan", type=float, default=10.0)
    parser.add_argument("--interfaces", default=None)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level, stream=sys.stderr)
    tally = TimedTally()
    allowed = frozenset(args.interfaces.split(",")) if args.interfaces else None
    responder = Responder(tally, allowed_names=allowed, rescan_interval=args.rescan)
    owned = parse_own(args.own)
    tally.mark(owned)
    responder.set_owned(owned)
    responder.start()
    interfaces = {i.name: (i.mac or b"").hex(":") for i in responder.selection.chosen}
    _say({"ready": True, "interfaces": interfaces})
    for line in sys.stdin:
        command = json.loads(line)
        if "own" in command:
            table = parse_table(command["own"])
            tally.mark(table)
            responder.set_owned(table)
            _say({"ok": True})
        elif "stats" in command:
            _say(tally.report())
        elif "quit" in command:
            break
    started = time.monotonic()
    responder.stop()
    _say({"stopped": time.monotonic() - started})


def _say(message: Mapping[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
