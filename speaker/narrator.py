"""Shell. What the speaker says about membership and moves: log lines, Events and counters.

A peer declared dead or gone, this node withdrawing everything itself, an IP moving (and why):
each is a log line and, through `speaker.reports`, an Event — on the Node for membership, on
the Service for a move. The worker calls in after every pass; nothing here decides anything.
"""

import logging
from collections.abc import Mapping

from metalpool import names
from metalpool.addresses import IPAddress
from metalpool.events import Severity
from metalpool.services import ServiceKey
from speaker import metrics
from speaker.cluster.announcements import Announcement
from speaker.lan.guard import Conflict, Finding, Report
from speaker.membership.handoffs import Cause, Step
from speaker.membership.heartbeats import View
from speaker.membership.table import Mode, State
from speaker.reports import Reports
from speaker.wire.replies import format_mac

logger = logging.getLogger("speaker.worker")  # one logger for the loop and what it tells

_WHY = {
    (State.LEFT, Mode.WIRE): "said goodbye on the LAN",
    (State.DEAD, Mode.WIRE): "fell silent on the LAN for its hold time",
    (State.LEFT, Mode.LEASE): "released its Lease",
    (State.DEAD, Mode.LEASE): "stopped renewing its Lease",
}
_ALIVE = (State.READY, State.LISTENING)


class Narrator:
    """Tells what changed since the last pass; remembers only the peers' last states."""

    def __init__(self, node: str, reports: Reports) -> None:
        self._node = node
        self._reports = reports
        self._states: dict[str, State] = {}
        self._conflicts = metrics.Present(metrics.CONFLICTS)
        self._unannounced = metrics.Present(metrics.UNANNOUNCED)

    def peers(self, view: View) -> None:
        """A peer declared dead or gone (warning + Event on its Node), or back (info)."""
        for node, state in sorted(view.states.items()):
            before = self._states.get(node)
            if state == before:
                continue
            self._states[node] = state
            mode = view.modes.get(node) or Mode.LEASE
            if state not in _ALIVE and before in _ALIVE:
                message = (
                    f'speaker on node "{node}" declared {state.value} by node "{self._node}":'
                    f" it {_WHY[state, mode]}"
                )
                logger.warning("%s", message)
                dead = state is State.DEAD
                self._reports.about_node(
                    node,
                    Severity.WARNING if dead else Severity.NORMAL,
                    "speakerDead" if dead else "speakerLeft",
                    message,
                )
            elif state in _ALIVE and before is not None:
                logger.info("speaker on node %s is %s (%s mode)", node, state.value, mode)

    def isolated(self, why: str, withdrawn: frozenset[Announcement]) -> None:
        """This node stopped answering everything (once per episode, if it held anything)."""
        if not withdrawn:
            return  # isolated again while still listening: nothing more was withdrawn
        cause = Cause.LINK.value if "carrier" in why else "stall"
        ips = ", ".join(sorted(str(a.ip) for a in withdrawn))
        message = (
            f'speaker on node "{self._node}" withdrew {ips} ({cause}: {why}); it listens'
            " to its peers again before it answers anything"
        )
        logger.warning("%s", message)
        self._reports.about_node(self._node, Severity.WARNING, "speakerIsolated", message)

    def moves(
        self,
        step: Step,
        *,
        mine: frozenset[Announcement],
        view: View,
        now: float,
        previous: Mapping[IPAddress, str | None],
        candidates: frozenset[str],
    ) -> None:
        """Every IP taken (log, counter, failover time, Event) and released (log)."""
        by_ip = {a.ip: a for a in mine}
        for ip, cause in sorted(step.taken.items(), key=lambda kv: str(kv[0])):
            before = previous.get(ip)
            source = "nobody" if not before or before == self._node else before
            gone = view.gone_at.get(source)
            if gone is not None and cause in (Cause.CRASH, Cause.LEAVE):
                metrics.FAILOVER.observe(max(0.0, now - gone))
            metrics.MOVES.labels(cause.value).inc()
            logger.info("taking %s over from %s (%s)", ip, source, cause.value)
            announcement = by_ip.get(ip)
            if cause is not Cause.START and announcement is not None:
                message = f'IP {ip} moved from node "{source}" to node "{self._node}" ({cause})'
                for key in sorted(announcement.services):
                    self._reports.about_service(key, Severity.NORMAL, "announcerMoved", message)
        for ip, winner in sorted(step.released.items(), key=lambda kv: str(kv[0])):
            cause = Cause.JOIN if winner not in candidates else Cause.HANDOFF
            logger.info("handing %s over to %s (%s)", ip, winner or "nobody", cause.value)

    def lan(self, report: Report, *, services: frozenset[ServiceKey]) -> None:
        """A conflict, a claim on an owned IP, a split brain or a cleared conflict: a log line.

        Claims and split brains also get an Event; the Announced condition's writer posts
        those of conflicts found by a probe and of conflicts cleared.
        """
        message, reason = self._lan_words(report)
        cleared = report.finding is Finding.CLEARED
        severity = Severity.NORMAL if cleared else Severity.WARNING
        logger.log(logging.INFO if cleared else logging.WARNING, "%s", message)
        if report.finding in (Finding.CONFLICT, Finding.CLEARED):
            return  # the Announced condition changes, and its writer posts the Event
        for key in sorted(services):
            self._reports.about_service(key, severity, reason, message)

    def _lan_words(self, report: Report) -> tuple[str, str]:
        ip, mac, where = report.ip, format_mac(report.mac), report.interface
        how = report.kind.value if report.kind is not None else ""
        if report.finding is Finding.CONFLICT:
            return (
                f"address conflict: {ip} is held by another device, {mac} on {where} ({how});"
                f' node "{self._node}" does not announce it',
                names.EVENT_ADDRESS_CONFLICT,
            )
        if report.finding is Finding.CLAIMED:
            return (
                f'address conflict: {ip}, announced by node "{self._node}", is claimed by'
                f" another device, {mac} on {where} ({how}); defending it",
                names.EVENT_ADDRESS_CONFLICT,
            )
        if report.finding is Finding.SPLIT_BRAIN:
            return (
                f'split brain: {ip} is answered by node "{report.peer}" ({mac} on {where})'
                f' while node "{self._node}" holds it',
                names.EVENT_SPLIT_BRAIN,
            )
        return (
            f'address {ip} probed free again: node "{self._node}" announces it',
            names.EVENT_ADDRESS_CONFLICT_CLEARED,
        )

    def conflicts(self, now: Mapping[IPAddress, Conflict]) -> None:
        """Keep the conflicts gauge equal to the guard's conflicts."""
        self._conflicts.keep({(str(c.ip), format_mac(c.mac), c.interface) for c in now.values()})

    def unannounced(self, reasons: Mapping[ServiceKey, str]) -> None:
        """Keep the unannounced gauge equal to what this node says of the Services it speaks for."""
        self._unannounced.keep({(str(key), reason) for key, reason in reasons.items()})
