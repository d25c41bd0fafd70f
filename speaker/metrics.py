"""The speaker's Prometheus metrics, under MetalLB's names and labels (compat §5, §8).

Shell. MetalLB exposes its layer-2 counters without the `_total` suffix
(`# TYPE metallb_layer2_requests_received counter`); prometheus_client would rename them, so
those three (and our drop counter) are rendered by hand from the responder's tallies, and the
rest comes from prometheus_client. The responder thread only increments plain counters; this
module reads them when scraped.
"""

import time
from collections.abc import Mapping

from prometheus_client import (
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from speaker.membership.heartbeats import Heartbeats as Membership
from speaker.membership.table import Mode, State
from speaker.wire.answers import Tally

disable_created_metrics()  # type: ignore[no-untyped-call]  # MetalLB exports no *_created series

ANNOUNCED = Gauge(
    "metallb_speaker_announced",
    "1 for each IP this node announces for a Service",
    ["service", "protocol", "node", "ip"],
)
FAILOVER = Histogram(
    "metalpool_speaker_failover_seconds",
    "From a peer falling silent (its hold time) or leaving to this node taking its IPs over",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 10, 20),
)
MOVES = Counter(
    "metalpool_speaker_ip_moves",
    "IPs this node took over, by cause (start, crash, leave, handoff, timeout)",
    ["cause"],
)

CONFLICTS = Gauge(
    "metalpool_speaker_address_conflicts",
    "1 for each address this node won but does not announce: another device holds it",
    ["ip", "mac", "interface"],
)
CLAIMS = Counter(
    "metalpool_speaker_claims",
    "Claims on addresses this node holds or probes, by finding (conflict, claimed, split_brain)",
    ["finding"],
)
UNANNOUNCED = Gauge(
    "metalpool_service_unannounced",
    "1 for each Service with an address that is not announced, by the reason its Announced"
    " condition gives (exported by the speaker that writes the condition)",
    ["service", "reason"],
)
DEFENCES = Counter(
    "metalpool_speaker_defences",
    "Defending announcements sent (at most one per address every 10 s, RFC 5227 §2.4)",
)


class Present:
    """A gauge whose series are exactly the label values last given, each at 1.

    The others are removed, as MetalLB removes a withdrawn announcement's series.
    """

    def __init__(self, gauge: Gauge) -> None:
        self._gauge = gauge
        self._series: set[tuple[str, ...]] = set()

    def keep(self, series: set[tuple[str, ...]]) -> None:
        """Make the gauge's series exactly `series`."""
        for gone in self._series - series:
            self._gauge.remove(*gone)
        for new in series - self._series:
            self._gauge.labels(*new).set(1)
        self._series = series


_LAYER2 = (
    (
        "metallb_layer2_requests_received",
        "requests_received",
        "ARP/NDP requests received for owned IPs",
    ),
    ("metallb_layer2_responses_sent", "responses_sent", "ARP/NDP responses sent for owned IPs"),
    ("metallb_layer2_gratuitous_sent", "gratuitous", "Gratuitous ARP/unsolicited NA frames sent"),
)


def render(tally: Tally, membership: "Membership | None" = None) -> bytes:
    """The whole /metrics page."""
    lines: list[str] = _membership_lines(membership) if membership is not None else []
    for name, attribute, help_text in _LAYER2:
        counts: Mapping[object, int] = dict(getattr(tally, attribute))
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
        lines += [f'{name}{{ip="{ip}"}} {value}' for ip, value in sorted(counts.items(), key=str)]
    drops = dict(tally.drops)
    name = "metalpool_speaker_dropped_total"
    lines += [
        f"# HELP {name} Frames the responder did not answer, by reason",
        f"# TYPE {name} counter",
    ]
    lines += [f'{name}{{reason="{reason}"}} {value}' for reason, value in sorted(drops.items())]
    return generate_latest(REGISTRY) + ("\n".join(lines) + "\n").encode()


def announce(service: str, node: str, ip: str) -> None:
    """Mark (service, ip) as announced by `node`."""
    ANNOUNCED.labels(service, "layer2", node, ip).set(1)


def withdraw(service: str, node: str, ip: str) -> None:
    """Delete the series, as MetalLB does on withdrawal."""
    ANNOUNCED.remove(service, "layer2", node, ip)


def _membership_lines(membership: Membership) -> list[str]:
    """Peers by state and mode; heartbeats sent, received and rejected by reason."""
    view = membership.view(time.monotonic())
    counts = {(state, mode): 0 for state in State for mode in Mode}
    for node, state in view.states.items():
        counts[state, view.modes.get(node, Mode.LEASE)] += 1
    lines = [
        "# HELP metalpool_speaker_peers Peers of this speaker, by state and liveness mode",
        "# TYPE metalpool_speaker_peers gauge",
    ]
    lines += [
        f'metalpool_speaker_peers{{state="{s.value}",mode="{m.value}"}} {n}'
        for (s, m), n in sorted(counts.items())
    ]
    for name, help_text, label, counter in (
        ("sent", "Membership messages sent", "kind", membership.sent),
        ("received", "Membership messages accepted", "kind", membership.received),
        ("rejected", "Membership messages ignored, by reason", "reason", membership.rejected),
    ):
        metric = f"metalpool_speaker_membership_{name}_total"
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter"]
        lines += [f'{metric}{{{label}="{key}"}} {value}' for key, value in sorted(counter.items())]
    ready = 1 if view.ready else 0
    lines += [
        "# HELP metalpool_speaker_ready 1 when this speaker is a candidate for its peers",
        "# TYPE metalpool_speaker_ready gauge",
        f"metalpool_speaker_ready {ready}",
    ]
    return lines
