"""Service objects → a frozen `LBService`: what a LoadBalancer Service asks of MetalPool.

Pure. Annotation precedence is MetalLB's (compat §2.2): for each input the `metallb.io/` key wins
when present, else the deprecated `metallb.universe.tf/` key is read. A Service with inputs that
contradict each other raises `SpecError` naming the field; the caller turns it into an Event.
"""

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from metalpool import names
from metalpool.addresses import Family, IPAddress, parse_ip
from metalpool.errors import Where, object_name
from metalpool.selectors import parse_labels

MAX_REQUESTED_IPS = 2  # one per family

E = TypeVar("E", bound=enum.StrEnum)


@dataclass(frozen=True, slots=True, order=True)
class ServiceKey:
    """A Service's identity: `namespace/name`."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class ServiceFamily(enum.Enum):
    """Which LoadBalancer IP families a Service needs, from its cluster IPs (compat §2.3)."""

    IPV4 = "IPv4"
    IPV6 = "IPv6"
    DUAL = "DualStack"

    @property
    def families(self) -> tuple[Family, ...]:
        """The address families this service family takes, IPv4 first."""
        if self is ServiceFamily.DUAL:
            return (Family.IPV4, Family.IPV6)
        return (Family(self.value),)


class FamilyPolicy(enum.StrEnum):
    """`spec.ipFamilyPolicy`."""

    SINGLE = "SingleStack"
    PREFER_DUAL = "PreferDualStack"
    REQUIRE_DUAL = "RequireDualStack"


class TrafficPolicy(enum.StrEnum):
    """`spec.externalTrafficPolicy`."""

    CLUSTER = "Cluster"
    LOCAL = "Local"


@dataclass(frozen=True, slots=True, order=True)
class Port:
    """A (protocol, port) pair; two Services on one IP must not both use one."""

    protocol: str
    number: int

    def __str__(self) -> str:
        return f"{self.protocol}/{self.number}"


@dataclass(frozen=True, slots=True, kw_only=True)
class LBService:
    """A Service as MetalPool sees it."""

    key: ServiceKey
    is_load_balancer: bool = True
    load_balancer_class: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    requested_ips: tuple[IPAddress, ...] = ()
    pool: str | None = None
    sharing_key: str = ""
    ports: frozenset[Port] = frozenset()
    traffic_policy: TrafficPolicy = TrafficPolicy.CLUSTER
    backend_key: str = ""
    family: ServiceFamily | None = ServiceFamily.IPV4
    family_policy: FamilyPolicy = FamilyPolicy.SINGLE
    primary_family: Family = Family.IPV4
    cluster_ip_count: int = 1
    deprecated_annotations: tuple[str, ...] = ()

    def is_handled_by(self, lb_class: str | None) -> bool:
        """Whether a MetalPool run with `--lb-class lb_class` owns this Service (compat §2.1)."""
        return self.load_balancer_class == (lb_class or None)


def parse_service(obj: Mapping[str, Any]) -> LBService:
    """Parse a Service object; raise `SpecError` on contradictory or malformed MetalPool inputs."""
    meta = obj.get("metadata") or {}
    key = ServiceKey(meta.get("namespace") or "default", meta.get("name") or "")
    where = Where(object_name("Service", key.namespace, key.name))
    spec = obj.get("spec") or {}
    annotations = parse_labels(meta.get("annotations"), where.child("metadata.annotations"))
    labels = parse_labels(meta.get("labels"), where.child("metadata.labels"))
    policy = _parse_enum(
        FamilyPolicy, spec.get("ipFamilyPolicy"), where.child("spec.ipFamilyPolicy")
    )
    traffic = _parse_enum(
        TrafficPolicy, spec.get("externalTrafficPolicy"), where.child("spec.externalTrafficPolicy")
    )
    family, count = _parse_cluster_family(spec, where)
    families = spec.get("ipFamilies") or []
    lb_class = spec.get("loadBalancerClass")
    return LBService(
        key=key,
        is_load_balancer=spec.get("type") == "LoadBalancer",
        load_balancer_class=lb_class if isinstance(lb_class, str) and lb_class else None,
        labels=labels,
        requested_ips=_parse_requested_ips(spec, annotations, where),
        pool=_annotation(annotations, names.ADDRESS_POOL) or None,
        sharing_key=_annotation(annotations, names.ALLOW_SHARED_IP) or "",
        ports=_parse_ports(spec.get("ports"), where.child("spec.ports")),
        traffic_policy=traffic or TrafficPolicy.CLUSTER,
        backend_key=_backend_key(traffic, spec.get("selector")),
        family=family,
        family_policy=policy or FamilyPolicy.SINGLE,
        primary_family=Family.IPV6 if families[:1] == ["IPv6"] else Family.IPV4,
        cluster_ip_count=count,
        deprecated_annotations=tuple(
            sorted(k for k in annotations if k.startswith(names.DEPRECATED_PREFIX))
        ),
    )


def _annotation(annotations: Mapping[str, str], suffix: str) -> str | None:
    """The stable key's value when present (even empty), else the deprecated key's, else None."""
    stable = names.PREFIX + suffix
    if stable in annotations:
        return annotations[stable].strip()
    deprecated = annotations.get(names.DEPRECATED_PREFIX + suffix)
    return deprecated.strip() if deprecated is not None else None


def _annotation_key(annotations: Mapping[str, str], suffix: str) -> str:
    stable = names.PREFIX + suffix
    return stable if stable in annotations else names.DEPRECATED_PREFIX + suffix


def _parse_enum(kind: type[E], raw: object, where: Where) -> E | None:
    if raw is None or raw == "":
        return None
    try:
        return kind(str(raw))
    except ValueError:
        choices = ", ".join(m.value for m in kind)
        raise where.error(f"{raw!r} is not one of {choices}") from None


def _parse_requested_ips(
    spec: Mapping[str, Any], annotations: Mapping[str, str], where: Where
) -> tuple[IPAddress, ...]:
    from_annotation = _annotation(annotations, names.LOAD_BALANCER_IPS)
    from_spec = spec.get("loadBalancerIP") or ""
    if from_annotation and from_spec:
        key = _annotation_key(annotations, names.LOAD_BALANCER_IPS)
        raise where.child("spec.loadBalancerIP").error(
            f"and the annotation {key} are both set; use only the annotation"
        )
    if from_spec:
        return (parse_ip(from_spec, where.child("spec.loadBalancerIP")),)
    if not from_annotation:
        return ()
    field_where = where.child("metadata.annotations").key(
        _annotation_key(annotations, names.LOAD_BALANCER_IPS)
    )
    ips = tuple(parse_ip(part, field_where) for part in from_annotation.split(","))
    if len(ips) > MAX_REQUESTED_IPS:
        raise field_where.error(f'"{from_annotation}" lists more than two addresses')
    if len(ips) == MAX_REQUESTED_IPS and ips[0].version == ips[1].version:
        raise field_where.error(f'"{from_annotation}" lists two addresses of the same family')
    return ips


def _parse_cluster_family(
    spec: Mapping[str, Any], where: Where
) -> tuple[ServiceFamily | None, int]:
    """The service family from `spec.clusterIPs` (or `spec.clusterIP`); None when it has none."""
    raw = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    field_where = where.child("spec.clusterIPs" if spec.get("clusterIPs") else "spec.clusterIP")
    raw = [ip for ip in raw if ip and ip != "None"]
    if not raw:
        return None, 0
    ips = [parse_ip(ip, field_where) for ip in raw]
    families = {Family.of(ip) for ip in ips}
    if len(ips) > MAX_REQUESTED_IPS or len(families) != len(ips):
        raise field_where.error(f"{raw} is not one address, or two of different families")
    if len(families) == MAX_REQUESTED_IPS:
        return ServiceFamily.DUAL, 2
    return ServiceFamily(families.pop().value), 1


def _parse_ports(raw: object, where: Where) -> frozenset[Port]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list):
        raise where.error("is not a list")
    ports = set()
    for i, entry in enumerate(raw):
        number = entry.get("port") if isinstance(entry, Mapping) else None
        if not isinstance(number, int) or isinstance(number, bool):
            raise where.item(i).child("port").error(f"{number!r} is not a port number")
        protocol = entry.get("protocol") or "TCP"
        ports.add(Port(str(protocol), number))
    return frozenset(ports)


def _backend_key(traffic: TrafficPolicy | None, selector: object) -> str:
    """What two Services sharing an IP must agree on: their pods, when traffic stays node-local."""
    if traffic is not TrafficPolicy.LOCAL or not isinstance(selector, Mapping):
        return ""
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))


def parse_ingress(obj: Mapping[str, Any]) -> tuple[IPAddress, ...]:
    """The IPs a Service holds now (`status.loadBalancer.ingress[].ip`, empty entries skipped)."""
    meta = obj.get("metadata") or {}
    where = Where(
        object_name("Service", meta.get("namespace"), meta.get("name") or ""),
        "status.loadBalancer.ingress",
    )
    ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if not isinstance(ingress, list):
        raise where.error("is not a list")
    return tuple(
        parse_ip(entry["ip"], where.item(i).child("ip"))
        for i, entry in enumerate(ingress)
        if isinstance(entry, Mapping) and entry.get("ip")
    )
