"""Watching the wire from the client while something breaks: who answered, and when.

Shell. `Observer` runs `lab.answerers` inside the client namespace and collects its lines in a
thread; `summarise` and `moves` (pure) turn samples into what a person or a test asks: did
any address ever have two answerers, did its answerer change, how long was it unanswered.
"""

import itertools
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


def moves(lines: Iterable[Mapping[str, Any]], period: float, join: float = 0.5) -> list[Move]:
    """Each change of answerer in a dense probe, with its overlap and gap.

    Replies of one MAC less than `join` apart form one run; runs are taken in order of their
    first reply. Between consecutive runs of different MACs: overlap = the old run's last reply
    minus the new run's first (when positive); gap = the silence between them minus one probe
    period (a healthy answerer replies once per period), when positive.
    """
    runs: list[list[Any]] = []  # [mac, first, last]
    open_runs: dict[str, list[Any]] = {}
    for when, mac in sorted((float(line["t"]), str(line["mac"])) for line in lines):
        run = open_runs.get(mac)
        if run is not None and when - run[2] <= join:
            run[2] = when
            continue
        run = [mac, when, when]
        open_runs[mac] = run
        runs.append(run)
    result = []
    for before, after in itertools.pairwise(runs):
        if before[0] == after[0]:
            continue
        overlap = max(0.0, before[2] - after[1])
        gap = max(0.0, after[1] - before[2] - period)
        result.append(Move(old=before[0], new=after[0], at=after[1], overlap=overlap, gap=gap))
    return result
