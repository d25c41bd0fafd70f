"""What the real apiserver does to a Service on write: defaults, a cluster IP, status pruning.

Cluster IPs come from 10.96.0.0/12 and fd00:10:96::/108 (a dual-stack cluster: PreferDualStack
and RequireDualStack Services get one of each) and are data only — nothing routes them.
`clusterIP: None` (headless) and ExternalName Services get none. On update a Service keeps its
allocated values when the new body omits them, as `kubectl apply`/`replace` rely on. Unknown
`status` fields are pruned, as the real schema does (kopf's handler results vanish there too).
NodePorts are not allocated: the real range holds 2768, and benchmarks create 10,000 Services.
"""

import contextlib
import ipaddress
from typing import Any

SERVICE_CIDR = ipaddress.IPv4Network("10.96.0.0/12")
SERVICE_CIDR_V6 = ipaddress.IPv6Network("fd00:10:96::/108")
STATUS_FIELDS = ("loadBalancer", "conditions")
ALLOCATED_FIELDS = ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy")
FAMILIES = ("IPv4", "IPv6")
DUAL_POLICIES = ("PreferDualStack", "RequireDualStack")


class ServiceError(ValueError):
    """A Service spec the apiserver would refuse with 422 (the message names the field)."""


class ClusterIPs:
    """Hands out cluster IPs of one family: next free after the last one given, wrapping around."""

    def __init__(
        self, network: ipaddress.IPv4Network | ipaddress.IPv6Network = SERVICE_CIDR
    ) -> None:
        self._network = network
        self._base = int(network.network_address)
        self._first = int(network.network_address) + 10  # .1 is the kubernetes Service's
        self._last = int(network.broadcast_address) - 1
        self._next = self._first
        self._used: set[int] = set()

    def allocate(self) -> str:
        """A free address; ServiceError when the range is exhausted."""
        size = self._last - self._first + 1
        for _ in range(size):
            candidate = self._next
            self._next = self._first if candidate >= self._last else candidate + 1
            if candidate not in self._used:
                self._used.add(candidate)
                return str(self._network.network_address + (candidate - self._base))
        raise ServiceError("spec.clusterIPs: Internal error: range is full")

    def reserve(self, address: str) -> None:
        """Take an address the user asked for; ServiceError if it is taken or out of range."""
        try:
            value = int(ipaddress.ip_address(address))
        except ValueError as error:
            raise ServiceError(f"spec.clusterIPs: Invalid value: {address!r}: {error}") from None
        if ipaddress.ip_address(address).version != self._network.version or not (
            self._first - 10 <= value <= self._last + 1
        ):
            raise ServiceError(
                f"spec.clusterIPs: Invalid value: {address!r}: "
                f"the provided IP is not in the valid range {self._network}"
            )
        if value in self._used:
            raise ServiceError(
                f"spec.clusterIPs: Invalid value: {address!r}: provided IP is already allocated"
            )
        self._used.add(value)

    def release(self, address: str | None) -> None:
        """Give an address back (no-op for None, headless or foreign values)."""
        with contextlib.suppress(ValueError):
            ip = ipaddress.ip_address(address or "")
            if ip.version == self._network.version:
                self._used.discard(int(ip))


class DualStackIPs:
    """A dual-stack cluster's two service ranges, as kind or MicroK8s with dual-stack enabled."""

    def __init__(self) -> None:
        self.by_family = {"IPv4": ClusterIPs(SERVICE_CIDR), "IPv6": ClusterIPs(SERVICE_CIDR_V6)}

    def release(self, addresses: Any) -> None:
        """Give back every address of a deleted Service."""
        for address in addresses if isinstance(addresses, list) else [addresses]:
            for pool in self.by_family.values():
                pool.release(address if isinstance(address, str) else None)


def _families(spec: dict[str, Any]) -> list[str]:
    """The families a new Service gets: one unless it asks for dual stack (IPv4 first)."""
    asked = [f for f in spec.get("ipFamilies") or [] if f in FAMILIES]
    requested = [ip for ip in spec.get("clusterIPs") or [] if ip and ip != "None"]
    if requested:
        asked = ["IPv6" if ":" in ip else "IPv4" for ip in requested]
    first = asked[0] if asked else "IPv4"
    if spec.get("ipFamilyPolicy") in DUAL_POLICIES:
        return [first, "IPv6" if first == "IPv4" else "IPv4"]
    return [first]


def default_spec(spec: dict[str, Any], ips: DualStackIPs) -> dict[str, Any]:
    """A new Service's spec with the real apiserver's defaults and allocated cluster IPs."""
    spec = dict(spec)
    kind = spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if kind != "ExternalName":
        requested = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
        if requested[:1] == ["None"]:
            spec["clusterIPs"] = ["None"]
            spec.setdefault("ipFamilies", ["IPv4"])
        else:
            families = _families(spec)
            given = dict(
                zip(["IPv6" if ":" in ip else "IPv4" for ip in requested], requested, strict=True)
            )
            for family, address in given.items():
                ips.by_family[family].reserve(address)
            spec["clusterIPs"] = [given.get(f) or ips.by_family[f].allocate() for f in families]
            spec["clusterIP"] = spec["clusterIPs"][0]
            spec["ipFamilies"] = families
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if kind in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    spec["ports"] = [_default_port(port) for port in spec.get("ports") or ()]
    if not spec["ports"]:
        del spec["ports"]
    return spec


def _default_port(port: Any) -> Any:
    if not isinstance(port, dict):
        return port
    port = dict(port)
    port.setdefault("protocol", "TCP")
    if "port" in port:
        port.setdefault("targetPort", port["port"])
    return port


def updated_spec(new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """An updated spec keeps the allocated values it omits; changing the cluster IP is refused."""
    new = dict(new)
    for key in ALLOCATED_FIELDS:
        if key in old and not new.get(key):
            new[key] = old[key]
    changed = old.get("clusterIP") and new.get("clusterIP") != old["clusterIP"]
    if changed and new.get("type") != "ExternalName":
        raise ServiceError("spec.clusterIPs[0]: Invalid value: field is immutable")
    new.setdefault("type", old.get("type", "ClusterIP"))
    new["ports"] = [_default_port(port) for port in new.get("ports") or ()]
    if not new["ports"]:
        del new["ports"]
    return new


def pruned_status(status: Any) -> dict[str, Any]:
    """The Service status with only the fields the real schema has."""
    if not isinstance(status, dict):
        return {"loadBalancer": {}}
    kept = {key: status[key] for key in STATUS_FIELDS if key in status}
    kept.setdefault("loadBalancer", {})
    return kept
