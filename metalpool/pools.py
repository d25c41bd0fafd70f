"""IPAddressPool objects → frozen `Pool`s, and a set of pools checked against each other.

Pure. One bad pool never hides the others: `parse_pools` keeps every valid pool and returns an
error for each rejected one. Where two pools overlap, the younger one (later creationTimestamp,
then later name) is rejected, so adding a pool can never take addresses from services that hold
them already.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from metalpool import names
from metalpool.addresses import (
    HUGE_HOST_BITS,
    MAX_INT64,
    AddressRange,
    Family,
    IPAddress,
    count_buggy,
    is_buggy,
    parse_range,
)
from metalpool.errors import SpecError, Where, object_name
from metalpool.selectors import LabelSelector, parse_labels, parse_selectors


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceAllocation:
    """`spec.serviceAllocation`: which Services a pool is for, and how strongly it is preferred."""

    priority: int = 0
    namespaces: frozenset[str] = frozenset()
    namespace_selectors: tuple[LabelSelector, ...] = ()
    service_selectors: tuple[LabelSelector, ...] = ()

    @property
    def restricts_namespaces(self) -> bool:
        """Whether only some namespaces may use the pool."""
        return bool(self.namespaces or self.namespace_selectors)

    @property
    def selects_every_service(self) -> bool:
        """Present but empty (say, only a priority): MetalLB pins it for every Service."""
        return not (self.restricts_namespaces or self.service_selectors)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pool:
    """An IPAddressPool, parsed."""

    name: str
    namespace: str = names.DEFAULT_NAMESPACE
    ranges: tuple[AddressRange, ...]
    auto_assign: bool = True
    avoid_buggy_ips: bool = False
    allocation: ServiceAllocation | None = None
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    created: str = ""

    @property
    def families(self) -> frozenset[Family]:
        """The families the pool has addresses of."""
        return frozenset(r.family for r in self.ranges)

    def contains(self, ip: IPAddress) -> bool:
        """Whether `ip` belongs to the pool (an avoided .0/.255 address does not)."""
        if self.avoid_buggy_ips and is_buggy(ip):
            return False
        return any(ip in r for r in self.ranges)

    def capacity(self, family: Family) -> int:
        """Usable addresses of `family` by MetalLB's formula (compat §3.10), capped at MaxInt64."""
        total = 0
        for r in self.ranges:
            if r.family is not family:
                continue
            for net in r.networks():
                host_bits = net.max_prefixlen - net.prefixlen
                if family is Family.IPV6 and host_bits >= HUGE_HOST_BITS:
                    return MAX_INT64
                total += net.num_addresses
            if self.avoid_buggy_ips and family is Family.IPV4:
                total -= count_buggy(int(r.first), int(r.last))
        return min(total, MAX_INT64)

    def __str__(self) -> str:
        return self.name


def parse_pool(obj: Mapping[str, Any]) -> Pool:
    """Parse one IPAddressPool object; raise `SpecError` naming the field at fault."""
    meta = obj.get("metadata") or {}
    name, namespace = meta.get("name") or "", meta.get("namespace") or names.DEFAULT_NAMESPACE
    where = Where(object_name(names.POOL_KIND, namespace, name))
    if not name:
        raise where.child("metadata.name").error("is missing")
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        raise where.child("spec").error("is missing")
    raw = spec.get("addresses")
    if not isinstance(raw, list) or not raw:
        raise where.child("spec.addresses").error("must list at least one CIDR or range")
    ranges = tuple(
        parse_range(text, where.child("spec.addresses").item(i)) for i, text in enumerate(raw)
    )
    _check_no_overlap_within(ranges, raw, where)
    return Pool(
        name=name,
        namespace=namespace,
        ranges=ranges,
        auto_assign=_parse_bool(spec, "autoAssign", default=True, where=where),
        avoid_buggy_ips=_parse_bool(spec, "avoidBuggyIPs", default=False, where=where),
        allocation=_parse_service_allocation(
            spec.get("serviceAllocation"), where.child("spec.serviceAllocation")
        ),
        labels=parse_labels(meta.get("labels"), where.child("metadata.labels")),
        created=str(meta.get("creationTimestamp") or ""),
    )


def _parse_bool(spec: Mapping[str, Any], key: str, *, default: bool, where: Where) -> bool:
    value = spec.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise where.child(f"spec.{key}").error(f"{value!r} is not true or false")
    return value


def _parse_service_allocation(raw: object, where: Where) -> ServiceAllocation | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise where.error("is not an object")
    priority = raw.get("priority", 0) or 0
    if not isinstance(priority, int) or isinstance(priority, bool) or priority < 0:
        # MetalLB accepts negative priorities silently; their meaning is undefined there.
        raise where.child("priority").error(f"{priority!r} is not a whole number >= 0")
    namespaces = raw.get("namespaces") or []
    if not isinstance(namespaces, list) or not all(isinstance(n, str) and n for n in namespaces):
        raise where.child("namespaces").error("is not a list of namespace names")
    if len(set(namespaces)) != len(namespaces):
        raise where.child("namespaces").error("names the same namespace twice")
    return ServiceAllocation(
        priority=priority,
        namespaces=frozenset(namespaces),
        namespace_selectors=parse_selectors(
            raw.get("namespaceSelectors"), where.child("namespaceSelectors")
        ),
        service_selectors=parse_selectors(
            raw.get("serviceSelectors"), where.child("serviceSelectors")
        ),
    )


def _check_no_overlap_within(
    ranges: Sequence[AddressRange], raw: Sequence[str], where: Where
) -> None:
    for i, j in _overlapping_pairs([(r, i) for i, r in enumerate(ranges)]):
        common = ranges[i].intersection(ranges[j])
        raise (
            where.child("spec.addresses")
            .item(max(i, j))
            .error(
                f'"{raw[max(i, j)]}" overlaps spec.addresses[{min(i, j)}] "{raw[min(i, j)]}"'
                f" (both hold {common})"
            )
        )


def _overlapping_pairs(
    entries: Sequence[tuple[AddressRange, int]],
) -> Iterable[tuple[int, int]]:
    """Pairs of tags whose ranges overlap; sorting makes this O(n log n), not O(n²)."""
    for family in Family:
        of_family = sorted(
            (e for e in entries if e[0].family is family), key=lambda e: int(e[0].first)
        )
        reach: tuple[AddressRange, int] | None = None
        for entry in of_family:
            if reach is not None and int(entry[0].first) <= int(reach[0].last):
                yield reach[1], entry[1]
            if reach is None or int(entry[0].last) > int(reach[0].last):
                reach = entry


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolSet:
    """The pools in force, and why any others were rejected."""

    pools: tuple[Pool, ...] = ()
    problems: tuple[SpecError, ...] = ()

    def by_name(self) -> dict[str, Pool]:
        """The pools keyed by name."""
        return {p.name: p for p in self.pools}


def parse_pools(objs: Iterable[Mapping[str, Any]]) -> PoolSet:
    """Parse every pool; reject invalid ones and the younger of any two that overlap."""
    parsed: list[Pool] = []
    problems: list[SpecError] = []
    for obj in objs:
        try:
            parsed.append(parse_pool(obj))
        except SpecError as error:
            problems.append(error)
    parsed.sort(key=lambda p: (p.created, p.name))
    kept: list[Pool] = []
    for pool in parsed:
        clash = _first_clash(pool, kept)
        if clash is None:
            kept.append(pool)
        else:
            problems.append(clash)
    return PoolSet(pools=tuple(sorted(kept, key=lambda p: p.name)), problems=tuple(problems))


def _first_clash(pool: Pool, kept: Sequence[Pool]) -> SpecError | None:
    entries = [(r, -1 - i) for i, r in enumerate(pool.ranges)]
    owners: list[tuple[Pool, int]] = []
    for other in kept:
        for i, r in enumerate(other.ranges):
            entries.append((r, len(owners)))
            owners.append((other, i))
    for a, b in _overlapping_pairs(entries):
        mine, theirs = (a, b) if a < 0 else (b, a)
        if mine >= 0 or theirs < 0:
            continue  # same side: parse_pool checked within a pool, and kept pools never clash
        index, (other, j) = -1 - mine, owners[theirs]
        common = pool.ranges[index].intersection(other.ranges[j])
        field = Where(object_name(names.POOL_KIND, pool.namespace, pool.name)).child(
            "spec.addresses"
        )
        theirs_name = object_name(names.POOL_KIND, other.namespace, other.name)
        return field.item(index).error(
            f'"{pool.ranges[index]}" overlaps {theirs_name} spec.addresses[{j}]'
            f' "{other.ranges[j]}" (both hold {common}); this pool is ignored until the overlap'
            " is removed"
        )
    return None
