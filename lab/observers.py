"""Watching the wire from the client while something breaks: who answered, and when.

Shell. `Observer` runs `lab.answerers` inside the client namespace and collects its lines in a
thread; `summarise` and `moves` (pure) turn samples into what a person or a test asks: did
any address ever have two answerers, did its answerer change, how long was it unanswered.
"""

import json
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.network import exec_in

ROOT = Path(__file__).resolve().parent.parent


class Observer:
    """`python -m lab.answerers` in the client namespace; `stop()` returns its lines."""

    def __init__(
        self,
        namespace: str,
        source: str,
        targets: Sequence[str],
        *,
        mode: str = "sample",
        every: float = 0.5,
        window: float = 0.2,
        duration: float = 120.0,
    ) -> None:
        argv = exec_in(
            namespace, sys.executable, "-m", "lab.answerers", mode, *targets,
            "--source", source, "--every", str(every), "--window", str(window),
            "--duration", str(duration),
        )  # fmt: skip
        self.lines: list[dict[str, Any]] = []
        self._process = subprocess.Popen(  # noqa: S603 - our own module
            argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        if not self._ready.wait(15):
            self.stop()
            raise RuntimeError("lab.answerers did not start")

    def _read(self) -> None:
        assert self._process.stdout is not None  # noqa: S101 - asked for above
        for raw in self._process.stdout:
            line = json.loads(raw)
            if line.get("ready"):
                self._ready.set()
            else:
                self.lines.append(line)

    def stop(self) -> list[dict[str, Any]]:
        """Stop the prober (closing its stdin ends it) and return every line it printed."""
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._thread.join(5)
        if self._process.stdout is not None:
            self._process.stdout.close()
        return list(self.lines)


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """What the samples say about one address."""

    ip: str
    samples: int
    split: int  # samples with two or more answerers
    silent: int  # samples with none
    answerers: tuple[str, ...]  # distinct MACs over time, in order of first appearance
    changes: int  # how often the answering MAC changed (a flap counts each way)


def summarise(lines: Iterable[Mapping[str, Any]]) -> dict[str, Summary]:
    """Per address: split-brain samples, silent samples, the answerers and their changes."""
    per_ip: dict[str, list[tuple[str, ...]]] = {}
    for line in lines:
        for ip, macs in line["answers"].items():
            per_ip.setdefault(ip, []).append(tuple(macs))
    result = {}
    for ip, seen in per_ip.items():
        order: list[str] = []
        changes, last = 0, None
        for macs in seen:
            for mac in macs:
                if mac not in order:
                    order.append(mac)
            if len(macs) == 1:
                if last is not None and macs[0] != last:
                    changes += 1
                last = macs[0]
        result[ip] = Summary(
            ip=ip,
            samples=len(seen),
            split=sum(len(m) > 1 for m in seen),
            silent=sum(not m for m in seen),
            answerers=tuple(order),
            changes=changes,
        )
    return result


@dataclass(frozen=True, slots=True, kw_only=True)
class Move:
    """One change of answerer in a dense probe: how long both, or neither, answered."""

    old: str
    new: str
    at: float  # the new answerer's first reply (seconds since the probe started)
    overlap: float  # both answered: the old one's last reply minus the new one's first (≥ 0)
    gap: float  # nobody answered: from the old one's last reply to the new one's first (≥ 0)


def moves(lines: Iterable[Mapping[str, Any]], period: float) -> list[Move]:
    """Each change of answerer in a dense probe, with its overlap and gap, request by request.

    Every request (a `round`) is answered by a set of MACs. Walking the rounds in order, a move
    from A to B is: the rounds answered by both (overlap) and the rounds answered by nobody
    (gap) between the last round A answered alone and the first B answered alone. Rounds are
    `period` apart, so both figures are counts times the period: what a client asking every
    `period` would have seen. `at` is the first reply B sent alone.
    """
    by_round: dict[int, set[str]] = {}
    first_reply: dict[tuple[int, str], float] = {}
    for line in lines:
        number, mac = int(line["round"]), str(line["mac"])
        by_round.setdefault(number, set()).add(mac)
        first_reply.setdefault((number, mac), float(line["t"]))
    if not by_round:
        return []
    result: list[Move] = []
    owner: str | None = None
    both = silent = 0
    for number in range(min(by_round), max(by_round) + 1):
        answered = by_round.get(number, set())
        if not answered:
            silent += 1
        elif len(answered) > 1:
            both += 1
        else:
            (mac,) = answered
            if owner is not None and mac != owner:
                result.append(
                    Move(
                        old=owner,
                        new=mac,
                        at=first_reply[number, mac],
                        overlap=round(both * period, 6),
                        gap=round(silent * period, 6),
                    )
                )
            owner, both, silent = mac, 0, 0
    return result
