"""The failover bench's trials: faults, link failures, rolling restarts and cold starts.

Rule: each trial disturbs the speakers of a settled `Bench` (a signal, a switch port, a restart),
times what the client sees, records it (`bench.failover_results`) and leaves the lab settled on
the hash winner again. Progress and anomalies are printed as they are found.
"""

import signal
import subprocess
import time
from typing import Any

from bench.failover_figures import (
    answering,
    datagram_moves,
    dense_rounds,
    known_gone,
    lost_datagrams,
    per_move,
)
from bench.failover_lab import Bench, log_time
from bench.failover_results import Case, ColdStart, LinkTrial, Rolling, Trial
from bench.failover_settings import (
    CLIENT_IP,
    COLD_EVERY,
    COLD_PAUSE,
    COLD_WINDOW,
    DENSE_EVERY,
    EXIT_TIMEOUT,
    FAILOVER_TIMEOUT,
    FLAP_WATCH,
    HB_INTERVAL,
    LINK_DOWN,
    SAMPLE_EVERY,
    SAMPLE_WINDOW,
    SETTLE_HOLD,
    SETTLE_TIMEOUT,
    SLOW_SWITCH,
)
from lab.observers import Observer, Summary, moves, summarise

_EMPTY = Summary(ip="", samples=0, split=0, silent=0, answerers=(), changes=0)

# ---------------------------------------------------------------- property 2


def fault_trial(bench: Bench, case: Case) -> None:
    """Kill, freeze or stop the winner's speaker; time the client's switch; restore."""
    old = bench.winner
    process = bench.lab.processes[f"speaker {old}"]  # left there: the Lab stops it on errors
    dense = None
    if case.sig == signal.SIGSTOP:  # the thaw: does the frozen speaker answer beside the new?
        dense = Observer(bench.client, CLIENT_IP, [bench.ip], mode="dense", every=DENSE_EVERY,
                         duration=SETTLE_TIMEOUT + 30)  # fmt: skip
    time.sleep(bench.jitter.uniform(0.0, HB_INTERVAL))  # any phase of the heartbeats
    signalled = time.time()
    bench.lab.signal_speaker(old, case.sig)
    seen = bench.ask(
        {"wait": {"after": signalled, "old": bench.mac(old), "timeout": FAILOVER_TIMEOUT}},
        timeout=FAILOVER_TIMEOUT + 5,
    )
    if case.sig == signal.SIGSTOP:
        last = bench.ask({"last": {"after": signalled, "old": bench.mac(old)}})
        bench.lab.signal_speaker(old, signal.SIGCONT)
    else:
        if not _exited(bench, old, process):
            case.hung += 1
        last = bench.ask({"last": {"after": signalled, "old": bench.mac(old)}})
    trial = _trial(bench, seen, last, signalled, old, graceful=case.graceful)
    case.trials.append(trial)
    if case.sig != signal.SIGSTOP:
        bench.lab.start_speaker(old)
    try:
        bench.settle(bench.winner)
    finally:
        if dense is not None:
            trial.both = dense_rounds(dense.stop(), DENSE_EVERY).both


def _trial(
    bench: Bench,
    seen: dict[str, Any],
    last: dict[str, Any],
    signalled: float,
    old: str,
    *,
    graceful: bool,
) -> Trial:
    trial = Trial()
    if seen["wire"] is None:
        return trial
    trial.seconds, trial.lost = seen["wire"] - signalled, seen["lost"]
    heard = bench.ask({"gone": {"node": old, "after": signalled, "before": seen["wire"]}})
    trial.known = known_gone(signalled, heard, graceful=graceful)
    announced = _announced_at(bench, bench.node_of(seen["mac"]), signalled)
    trial.announced = None if announced is None else announced - signalled
    if last["still"] or (last["wire"] or 0.0) > seen["wire"]:  # went back to the old MAC
        trial.back = (time.time() if last["still"] else last["wire"]) - signalled
        print(
            f"  ! the client went back to {old}'s MAC: its last datagram to it left "
            f"{trial.back:.3f} s after the fault{' (and still)' if last['still'] else ''}"
        )
    if trial.announced is not None and trial.seconds - trial.announced > SLOW_SWITCH:
        arps = ", ".join(f"{w - signalled:+.3f} {op} from {bench.node_of(m)}"
                         for w, m, op in seen["arps"])  # fmt: skip
        print(f"  ! slow switch; ARP for {bench.ip} seen by the client: {arps}")
    return trial


# ---------------------------------------------------------------- property 3


def link_trial(bench: Bench) -> LinkTrial:
    """The winner's switch port down for LINK_DOWN, then up; sampled all along."""
    old = bench.winner
    sampler = Observer(bench.client, CLIENT_IP, [bench.ip], mode="sample", every=SAMPLE_EVERY,
                       window=SAMPLE_WINDOW, duration=SETTLE_TIMEOUT + 30)  # fmt: skip
    origin = time.monotonic()  # ≈ the sampler's t = 0 (it starts sampling when ready)
    try:
        time.sleep(0.5 + bench.jitter.uniform(0.0, HB_INTERVAL))
        cut = time.time()
        bench.lab.link(old, up=False)
        try:
            seen = bench.ask(
                {"wait": {"after": cut, "old": bench.mac(old), "timeout": FAILOVER_TIMEOUT}},
                timeout=FAILOVER_TIMEOUT + 5,
            )
            last = bench.ask({"last": {"after": cut, "old": bench.mac(old)}})
            time.sleep(max(0.0, cut + LINK_DOWN - time.time()))
        finally:
            restored = time.monotonic()
            bench.lab.link(old, up=True)
        bench.settle(bench.winner)
        back = time.monotonic() - restored
        time.sleep(FLAP_WATCH)
    finally:
        lines = sampler.stop()
    trial = LinkTrial(failover=_trial(bench, seen, last, cut, old, graceful=False), back=back)
    trial.samples = len(lines)
    trial.split = summarise(lines).get(bench.ip, _EMPTY).split
    up_at = restored - origin
    before = [line for line in lines if line["t"] < up_at and line["answers"][bench.ip]]
    after = before[-1:] + [line for line in lines if line["t"] >= up_at]
    trial.changes_after = summarise(after).get(bench.ip, _EMPTY).changes
    return trial


# ---------------------------------------------------------------- property 4


def rolling(bench: Bench, rounds: int, result: Rolling) -> None:
    """Restart every speaker, one at a time, `rounds` times, under a dense Observer."""
    dense = Observer(bench.client, CLIENT_IP, [bench.ip], mode="dense", every=DENSE_EVERY,
                     duration=600.0)  # fmt: skip
    began = time.time()
    try:
        time.sleep(0.5)
        for _ in range(rounds):
            for node in bench.lab.node_names:
                since = time.time()
                bench.lab.restart_speaker(node)
                bench.wait_ready(node, since)
                bench.settle(bench.winner)
                result.restarts += 1
        time.sleep(0.5)
    finally:
        lines = dense.stop()
    for move in moves(lines, period=DENSE_EVERY):
        result.overlaps.append(move.overlap)
        result.gaps.append(move.gap)
        print(f"  ARP answerer {bench.node_of(move.old)} → {bench.node_of(move.new)} at"
              f" {move.at:.3f} s: overlap {move.overlap:.3f} s,"
              f" gap {move.gap:.3f} s")  # fmt: skip
    result.rounds = dense_rounds(lines, DENSE_EVERY)
    frames = bench.ask({"since": {"after": began}})["frames"]
    answers = answering(_answer_events(bench, began), [bench.mac(bench.winner)])
    lost = lost_datagrams(frames, answers)
    switches = datagram_moves(frames)
    grouped, outside = per_move(lost, [w for w, _, _ in switches])
    result.lost, result.outside = [len(g) for g in grouped], len(outside)
    for (when, old, new), group in zip(switches, grouped, strict=True):
        shown = ", ".join(f"#{q} at {w - when:+.3f} s" for w, q in group)
        print(f"  datagrams {bench.node_of(old)} → {bench.node_of(new)} at {when - began:.3f} s:"
              f" lost {len(group)}{' (' + shown + ')' if shown else ''}")  # fmt: skip
    for when, sequence in outside:
        print(f"  ! datagram #{sequence} lost at {when - began:.3f} s, far from any move")


def _answer_events(bench: Bench, after: float) -> list[tuple[float, str, bool]]:
    """(time, MAC, started?) from every speaker's `announcing` / `no longer answering` lines."""
    events = []
    for node in bench.lab.node_names:
        for line in bench.log_lines(node):
            when = log_time(line)
            if when is None or when < after:
                continue
            if f"announcing {bench.ip}" in line:
                events.append((when, bench.mac(node), True))
            elif f"no longer answering for {bench.ip}" in line:
                events.append((when, bench.mac(node), False))
    return events


def cold_start(bench: Bench) -> ColdStart:
    """SIGKILL every speaker, start them all at once, until settled; sampled all along."""
    sampler = Observer(bench.client, CLIENT_IP, [bench.ip], mode="sample", every=COLD_EVERY,
                       window=COLD_WINDOW, duration=SETTLE_TIMEOUT + 30)  # fmt: skip
    origin = time.monotonic()
    try:
        for node in bench.lab.node_names:
            bench.lab.signal_speaker(node, signal.SIGKILL)
        for node in bench.lab.node_names:
            bench.lab.processes[f"speaker {node}"].wait(EXIT_TIMEOUT)
        time.sleep(COLD_PAUSE)
        started, wall = time.monotonic(), time.time()
        for node in bench.lab.node_names:
            bench.lab.start_speaker(node)
        for node in bench.lab.node_names:
            bench.wait_ready(node, wall)
        settled = _answered_alone(bench, sampler, bench.mac(bench.winner)) - (started - origin)
    finally:
        lines = sampler.stop()
    summary = summarise(lines).get(bench.ip, _EMPTY)
    began = started - origin  # the start on the sampler's clock
    first = next((line["t"] - began for line in lines
                  if line["t"] >= began and line["answers"][bench.ip]), None)  # fmt: skip
    return ColdStart(split=summary.split, samples=summary.samples, settled=settled,
                     first=first)  # fmt: skip


def _answered_alone(bench: Bench, sampler: Observer, mac: str) -> float:
    """Wait until only `mac` answered every sample for SETTLE_HOLD; the sampler's t it began."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        lines = list(sampler.lines)
        streak = None
        for line in reversed(lines):
            if line["answers"][bench.ip] != [mac]:
                break
            streak = float(line["t"])
        if streak is not None and float(lines[-1]["t"]) - streak >= SETTLE_HOLD:
            return streak
        time.sleep(0.1)
    raise RuntimeError(f"{bench.ip} not answered by {bench.node_of(mac)} alone after a cold start")


def _announced_at(bench: Bench, node: str, after: float) -> float | None:
    """When `node`'s speaker logged that it announces the address (first time after `after`)."""
    needle = f"announcing {bench.ip}"
    for line in bench.log_lines(node):
        if line.endswith(needle):
            when = log_time(line)
            if when is not None and when >= after - 0.001:
                return when
    return None


def _exited(bench: Bench, node: str, process: Any) -> bool:
    """Wait for a signalled speaker; one still running after EXIT_TIMEOUT is killed (by PID)."""
    try:
        process.wait(timeout=EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
        print(f"  ! speaker {node} (pid {process.pid}) still running {EXIT_TIMEOUT:.0f} s after"
              " the signal; killed. Its log ends:")  # fmt: skip
        for line in bench.log_lines(node)[-12:]:
            print(f"  !   {line}")
        return False
    return True
