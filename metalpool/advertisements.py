"""L2Advertisement objects → frozen `L2Advertisement`s: which pools, nodes, interfaces and Services.

Pure. Matching is done here too, so the controller (warnings) and the speaker (election) agree on
what an advertisement covers.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from metalpool import names
from metalpool.errors import Where, object_name
from metalpool.pools import Pool
from metalpool.selectors import (
    Labels,
    LabelSelector,
    matches_any,
    parse_labels,
    parse_selector,
    parse_selectors,
)

MIN_WEIGHT, MAX_WEIGHT = 1, 100


@dataclass(frozen=True, slots=True, kw_only=True)
class Preference:
    """One `spec.preferredNodeSelectors` entry: nodes matching `selector` score `weight`."""

    weight: int
    selector: LabelSelector


@dataclass(frozen=True, slots=True, kw_only=True)
class L2Advertisement:
    """An L2Advertisement, parsed."""

    name: str
    namespace: str = names.DEFAULT_NAMESPACE
    pool_names: frozenset[str] = frozenset()
    pool_selectors: tuple[LabelSelector, ...] = ()
    node_selectors: tuple[LabelSelector, ...] = ()
    interfaces: tuple[str, ...] = ()
    service_selectors: tuple[LabelSelector, ...] = ()
    preferences: tuple[Preference, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)

    def covers_pool(self, pool: Pool) -> bool:
        """Whether this advertisement announces `pool`'s addresses (no pool fields: every pool)."""
        if not self.pool_names and not self.pool_selectors:
            return True
        return pool.name in self.pool_names or matches_any(self.pool_selectors, pool.labels)

    def covers_node(self, node_labels: Labels) -> bool:
        """Whether a node with these labels may announce under this advertisement."""
        return not self.node_selectors or matches_any(self.node_selectors, node_labels)

    def covers_service(self, service_labels: Labels) -> bool:
        """Whether a Service with these labels is announced under this advertisement."""
        return not self.service_selectors or matches_any(self.service_selectors, service_labels)


def parse_l2_advertisement(obj: Mapping[str, Any]) -> L2Advertisement:
    """Parse one L2Advertisement object; raise `SpecError` naming the field at fault."""
    meta = obj.get("metadata") or {}
    name, namespace = meta.get("name") or "", meta.get("namespace") or names.DEFAULT_NAMESPACE
    where = Where(object_name(names.L2_KIND, namespace, name))
    if not name:
        raise where.child("metadata.name").error("is missing")
    spec = obj.get("spec") or {}
    if not isinstance(spec, Mapping):
        raise where.child("spec").error("is not an object")
    spec_where = where.child("spec")
    return L2Advertisement(
        name=name,
        namespace=namespace,
        pool_names=_parse_names(spec.get("ipAddressPools"), spec_where.child("ipAddressPools")),
        pool_selectors=parse_selectors(
            spec.get("ipAddressPoolSelectors"), spec_where.child("ipAddressPoolSelectors")
        ),
        node_selectors=parse_selectors(
            spec.get("nodeSelectors"), spec_where.child("nodeSelectors")
        ),
        interfaces=tuple(
            sorted(_parse_names(spec.get("interfaces"), spec_where.child("interfaces")))
        ),
        service_selectors=parse_selectors(
            spec.get("serviceSelectors"), spec_where.child("serviceSelectors")
        ),
        preferences=_parse_preferences(
            spec.get("preferredNodeSelectors"), spec_where.child("preferredNodeSelectors")
        ),
        labels=parse_labels(meta.get("labels"), where.child("metadata.labels")),
    )


def _parse_names(raw: object, where: Where) -> frozenset[str]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list) or not all(isinstance(n, str) and n for n in raw):
        raise where.error("is not a list of names")
    if len(set(raw)) != len(raw):
        raise where.error("names the same thing twice")
    return frozenset(raw)


def _parse_preferences(raw: object, where: Where) -> tuple[Preference, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise where.error("is not a list")
    preferences = []
    for i, entry in enumerate(raw):
        item = where.item(i)
        if not isinstance(entry, Mapping):
            raise item.error("is not an object with weight and preference")
        weight = entry.get("weight")
        if (
            not isinstance(weight, int)
            or isinstance(weight, bool)
            or not MIN_WEIGHT <= weight <= MAX_WEIGHT
        ):
            raise item.child("weight").error(
                f"{weight!r} is not a whole number from {MIN_WEIGHT} to {MAX_WEIGHT}"
            )
        if "preference" not in entry:
            raise item.child("preference").error("is missing")
        selector = parse_selector(entry["preference"] or {}, item.child("preference"))
        preferences.append(Preference(weight=weight, selector=selector))
    return tuple(preferences)
