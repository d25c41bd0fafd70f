"""An allocation preview: run the real allocator over manifests on disk and say who gets what.

No cluster and no network: the manifests are read from a folder (deploy/examples by default),
Services get cluster IPs the way a dual-stack API server would give them, and then every
LoadBalancer Service is allocated in the controller's order — those already holding addresses
first, then the rest by namespace/name. The result is a table a person reads.
"""

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from controller.allocator import Allocation, Allocator
from controller.refusals import Refusal
from lab.apiserver.objects.services import DualStackIPs, default_spec
from metalpool import names
from metalpool.addresses import Family
from metalpool.advertisements import L2Advertisement, parse_l2_advertisement
from metalpool.errors import SpecError
from metalpool.pools import PoolSet, parse_pools
from metalpool.services import LBService, parse_ingress, parse_service


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One Service's line in the preview."""

    service: str
    outcome: Allocation | Refusal | SpecError
    announced: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Preview:
    """Everything the preview found."""

    rows: tuple[Row, ...]
    pools: PoolSet
    allocator: Allocator
    problems: tuple[SpecError, ...]


def load_manifests(folder: Path) -> Iterator[dict[str, Any]]:
    """Every object in the YAML files under `folder` (kustomizations skipped), in file order."""
    for path in sorted(folder.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind"):
                yield doc


def preview(
    objects: Iterable[Mapping[str, Any]], namespace: str = names.DEFAULT_NAMESPACE
) -> Preview:
    """Allocate every LoadBalancer Service in `objects` from the pools in `namespace`."""
    objs = list(objects)
    of_kind = {kind: [o for o in objs if o.get("kind") == kind] for kind in _KINDS}
    pools = parse_pools(o for o in of_kind[names.POOL_KIND] if _namespace(o) == namespace)
    problems = list(pools.problems)
    advertisements = _parse_advertisements(of_kind[names.L2_KIND], namespace, problems)
    labels = {
        o["metadata"]["name"]: o["metadata"].get("labels") or {} for o in of_kind["Namespace"]
    }
    allocator = Allocator(pools.pools, labels)
    services: list[tuple[LBService, dict[str, Any]]] = []
    rows: list[Row] = []
    cluster_ips = DualStackIPs()
    for obj in of_kind["Service"]:
        body = with_cluster_ips(obj, cluster_ips)
        try:
            parsed = parse_service(body)
        except SpecError as error:
            rows.append(Row(service=_key(obj), outcome=error, announced=False))
            continue
        if parsed.is_load_balancer and parsed.is_handled_by(None):
            services.append((parsed, body))
    # Holders first, as the controller does on start (compat §3.7), then by key.
    services.sort(key=lambda pair: (-len(parse_ingress(pair[1])), pair[0].key))
    for svc, body in services:
        held = parse_ingress(body)
        result = allocator.claim(svc, held) if held else allocator.allocate(svc)
        if isinstance(result, Refusal) and held:
            result = allocator.allocate(svc)
        result = _topped_up(allocator, svc, result)
        announced = isinstance(result, Allocation) and _is_announced(
            result.pool, pools, advertisements
        )
        rows.append(Row(service=str(svc.key), outcome=result, announced=announced))
    rows.sort(key=lambda r: r.service)
    return Preview(rows=tuple(rows), pools=pools, allocator=allocator, problems=tuple(problems))


_KINDS = ("Namespace", "Service", names.POOL_KIND, names.L2_KIND)


def _topped_up(
    allocator: Allocator, svc: LBService, result: Allocation | Refusal
) -> Allocation | Refusal:
    if isinstance(result, Allocation):
        more = allocator.top_up(svc)
        if isinstance(more, Allocation):
            return more
    return result


def _parse_advertisements(
    objs: Iterable[Mapping[str, Any]], namespace: str, problems: list[SpecError]
) -> list[L2Advertisement]:
    parsed = []
    for obj in objs:
        if _namespace(obj) != namespace:
            continue
        try:
            parsed.append(parse_l2_advertisement(obj))
        except SpecError as error:
            problems.append(error)
    return parsed


def _is_announced(pool: str, pools: PoolSet, advertisements: list[L2Advertisement]) -> bool:
    found = pools.by_name().get(pool)
    return found is not None and any(a.covers_pool(found) for a in advertisements)


def _namespace(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "default")


def _key(obj: Mapping[str, Any]) -> str:
    return f"{_namespace(obj)}/{(obj.get('metadata') or {}).get('name')}"


def with_cluster_ips(obj: Mapping[str, Any], ips: DualStackIPs) -> dict[str, Any]:
    """`obj` with the cluster IPs the lab's dual-stack API server would give it, if it has none."""
    body = dict(obj)
    spec = dict(body.get("spec") or {})
    if not (spec.get("clusterIPs") or spec.get("clusterIP")):
        spec = default_spec(spec, ips)
    body["spec"] = spec
    return body


def render(result: Preview) -> str:
    """The preview as text: Services, then pools, then anything that needs fixing."""
    lines = ["SERVICE                        POOL          ADDRESSES"]
    for row in result.rows:
        outcome = row.outcome
        if isinstance(outcome, Allocation):
            ips = ", ".join(str(ip) for ip in outcome.ips)
            note = "" if row.announced else "  (no L2Advertisement covers this pool)"
            lines.append(f"{row.service:<30} {outcome.pool:<13} {ips}{note}")
        elif isinstance(outcome, Refusal):
            lines.append(f"{row.service:<30} {'-':<13} pending: {outcome.explain()}")
        else:
            lines.append(f"{row.service:<30} {'-':<13} invalid: {outcome}")
    lines += ["", "POOL          IPv4 IN USE/FREE   IPv6 IN USE/FREE"]
    for usage in result.allocator.usage():
        v4 = f"{usage.assigned[Family.IPV4]}/{usage.available(Family.IPV4)}"
        v6 = f"{usage.assigned[Family.IPV6]}/{usage.available(Family.IPV6)}"
        lines.append(f"{usage.pool:<13} {v4:<18} {v6}")
    if result.problems:
        lines += ["", "PROBLEMS"] + [f"- {p}" for p in result.problems]
    return "\n".join(lines)
