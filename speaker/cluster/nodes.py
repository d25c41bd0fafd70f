"""Nodes and EndpointSlices → the frozen facts the election needs: who may announce, who serves.

Pure. Parsed once at the boundary (the watch shell), so the election never sees a raw dict.
Only the speaker reads these (the controller allocates without looking at endpoints, compat
§2.1), so they live here and not in `metalpool`. Malformed input raises `SpecError` naming the
object and the field; Kubernetes validates both kinds, so that means a broken API or a fake.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from metalpool.errors import Where, object_name
from metalpool.selectors import parse_labels
from metalpool.services import ServiceKey

# Well-known Kubernetes names (not MetalLB's, so they are not in metalpool.names).
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
NETWORK_UNAVAILABLE = "NetworkUnavailable"


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeInfo:
    """What the election needs of a Node: its name, its labels, whether its network is down."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    network_unavailable: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointState:
    """One endpoint of an EndpointSlice: where it runs and its conditions (None = unset)."""

    node: str | None = None
    ready: bool | None = None
    serving: bool | None = None
    terminating: bool | None = None

    @property
    def can_serve(self) -> bool:
        """Whether traffic sent to this endpoint is served (compat §4.3 step 1).

        Ready unset counts as ready (the API says so), and a terminating endpoint that still
        serves counts too: kube-proxy keeps sending to it while no ready endpoint is left
        (KEP-1669), and MetalLB's `EndpointCanServe` agrees, so failover during a rollout
        matches MetalLB's.
        """
        return self.ready is None or self.ready or self.serving is True


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointSlice:
    """One EndpointSlice, parsed: the Service it belongs to and its endpoints."""

    name: str
    service: ServiceKey
    endpoints: tuple[EndpointState, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoints:
    """A Service's endpoints over all of its slices, as far as the election cares."""

    any_serving: bool = False  # an endpoint can serve somewhere, even on an unnamed node
    serving_nodes: frozenset[str] = frozenset()  # nodes running an endpoint that can serve

    @classmethod
    def of(cls, states: Iterable[EndpointState]) -> "Endpoints":
        """Summarise endpoints; those without `nodeName` count as serving but on no node."""
        serving = [s for s in states if s.can_serve]
        return cls(
            any_serving=bool(serving),
            serving_nodes=frozenset(s.node for s in serving if s.node),
        )


def parse_node(obj: Mapping[str, Any]) -> NodeInfo:
    """Parse a Node; NetworkUnavailable means a condition of that type with status "True"."""
    meta = obj.get("metadata") or {}
    name = meta.get("name") or ""
    where = Where(object_name("Node", None, name))
    if not isinstance(name, str) or not name:
        raise where.child("metadata.name").error("is missing")
    return NodeInfo(
        name=name,
        labels=parse_labels(meta.get("labels"), where.child("metadata.labels")),
        network_unavailable=_has_true_condition(obj, NETWORK_UNAVAILABLE, where),
    )


def _has_true_condition(obj: Mapping[str, Any], kind: str, where: Where) -> bool:
    conditions = (obj.get("status") or {}).get("conditions")
    conditions = [] if conditions is None else conditions
    field_where = where.child("status.conditions")
    if not isinstance(conditions, list):
        raise field_where.error("is not a list")
    found = False
    for i, condition in enumerate(conditions):
        if not isinstance(condition, Mapping):
            raise field_where.item(i).error("is not an object with type and status")
        if condition.get("type") == kind:
            found = found or condition.get("status") == "True"
    return found


def parse_endpoint_slice(obj: Mapping[str, Any]) -> EndpointSlice:
    """Parse an EndpointSlice; its Service comes from the `kubernetes.io/service-name` label."""
    meta = obj.get("metadata") or {}
    name, namespace = meta.get("name") or "", meta.get("namespace") or "default"
    where = Where(object_name("EndpointSlice", namespace, name))
    labels = parse_labels(meta.get("labels"), where.child("metadata.labels"))
    service = labels.get(SERVICE_NAME_LABEL)
    if not service:
        # A slice not owned by a Service (or a half-written one) says nothing about any Service.
        raise where.child("metadata.labels").key(SERVICE_NAME_LABEL).error("is missing")
    raw = obj.get("endpoints")
    raw = [] if raw is None else raw
    if not isinstance(raw, list):
        raise where.child("endpoints").error("is not a list")
    return EndpointSlice(
        name=name,
        service=ServiceKey(namespace, service),
        endpoints=tuple(
            _parse_endpoint(entry, where.child("endpoints").item(i)) for i, entry in enumerate(raw)
        ),
    )


def _parse_endpoint(raw: object, where: Where) -> EndpointState:
    if not isinstance(raw, Mapping):
        raise where.error("is not an object")
    node = raw.get("nodeName")
    if node is not None and not isinstance(node, str):
        raise where.child("nodeName").error(f"{node!r} is not a node name")
    conditions = raw.get("conditions")
    conditions = {} if conditions is None else conditions
    if not isinstance(conditions, Mapping):
        raise where.child("conditions").error("is not an object")
    within = where.child("conditions")
    return EndpointState(
        node=node or None,
        ready=_parse_flag(conditions, "ready", within),
        serving=_parse_flag(conditions, "serving", within),
        terminating=_parse_flag(conditions, "terminating", within),
    )


def _parse_flag(conditions: Mapping[str, Any], key: str, where: Where) -> bool | None:
    raw = conditions.get(key)
    if raw is None or isinstance(raw, bool):
        return raw
    raise where.child(key).error(f"{raw!r} is not true, false or unset")


def collect_endpoints(slices: Iterable[EndpointSlice]) -> dict[ServiceKey, Endpoints]:
    """Each Service's endpoints over all of its slices (a big Service has several)."""
    states: defaultdict[ServiceKey, list[EndpointState]] = defaultdict(list)
    for endpoint_slice in slices:
        states[endpoint_slice.service].extend(endpoint_slice.endpoints)
    return {key: Endpoints.of(found) for key, found in states.items()}
