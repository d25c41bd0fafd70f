"""What the controller does about the address conflicts speakers report (docs/lan.md).

Pure. An address a Service holds automatically and another device answers for is quarantined
in two steps, each level-triggered: first the address is added to its pool's quarantine
annotation (durable: it survives a controller restart); once the allocator has read it back
from the pool, `allocate` moves the Service (allocator.py), and the Service's conflict
annotation loses the addresses it no longer holds in that same status write. An address the
Service asked for is never quarantined and never moved: the speaker keeps saying why it is not
announced.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from controller.allocator import Allocator
from metalpool import names
from metalpool.addresses import IPAddress
from metalpool.errors import SpecError
from metalpool.pools import Pool
from metalpool.quarantine import Conflict, Quarantined, read_quarantine
from metalpool.services import LBService


@dataclass(frozen=True, slots=True, kw_only=True)
class QuarantineRequest:
    """Add `entry` to pool `pool`'s quarantine annotation (the shell stamps `since`)."""

    pool: str
    entry: Quarantined


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolQuarantines:
    """Every pool's quarantine as read from its annotation, and what could not be used."""

    entries: Mapping[str, Mapping[IPAddress, Quarantined]]
    problems: tuple[SpecError, ...] = ()  # unreadable annotations: nothing in them counts
    ignored: tuple[str, ...] = ()  # entries naming an address outside their pool


def read_quarantines(
    pools: Iterable[Pool], objs: Mapping[str, Mapping[str, Any]]
) -> PoolQuarantines:
    """Read the quarantine of every pool in force from its object (`objs`: pool name → object).

    A malformed annotation quarantines nothing (and is a problem to report loudly); an entry
    for an address outside the pool is ignored (and said).
    """
    entries: dict[str, dict[IPAddress, Quarantined]] = {}
    problems: list[SpecError] = []
    ignored: list[str] = []
    for pool in pools:
        obj = objs.get(pool.name)
        if obj is None:
            continue
        try:
            found = read_quarantine(obj)
        except SpecError as error:
            problems.append(error)
            continue
        kept = {ip: q for ip, q in found.items() if pool.contains(ip)}
        ignored.extend(
            f"IPAddressPool {pool.namespace}/{pool.name}: {names.QUARANTINE_ANNOTATION}"
            f" names {ip}, which is not an address of the pool; ignored"
            for ip in found
            if ip not in kept
        )
        if kept:
            entries[pool.name] = kept
    return PoolQuarantines(entries=entries, problems=tuple(problems), ignored=tuple(ignored))


def to_quarantine(
    allocator: Allocator,
    service: LBService,
    held: tuple[IPAddress, ...],
    conflicts: Iterable[Conflict],
) -> tuple[QuarantineRequest, ...]:
    """The conflicted addresses `service` holds (`held`) automatically and not yet quarantined."""
    requests: dict[IPAddress, QuarantineRequest] = {}
    for conflict in conflicts:
        ip = conflict.ip
        pool = allocator.pool_of(ip)
        if (
            ip not in held
            or ip in service.requested_ips
            or ip in requests
            or pool is None
            or allocator.quarantined(ip) is not None
        ):
            continue
        entry = Quarantined(
            ip=ip,
            mac=conflict.mac,
            interface=conflict.interface,
            node=conflict.node,
            service=str(service.key),
        )
        requests[ip] = QuarantineRequest(pool=pool.name, entry=entry)
    return tuple(requests.values())


def left_quarantined(
    allocator: Allocator, shown: tuple[IPAddress, ...], kept: tuple[IPAddress, ...]
) -> tuple[str, ...]:
    """Why each quarantined address the Service shows and no longer keeps was left, in words."""
    return tuple(
        f"address {ip} is held by another device ({entry.describe()}): it is quarantined in"
        f" pool {pool.name}, and the Service moves off it"
        for ip in shown
        if ip not in kept
        and (entry := allocator.quarantined(ip)) is not None
        and (pool := allocator.pool_of(ip)) is not None
    )


def remaining_conflicts(
    conflicts: tuple[Conflict, ...], ingress: tuple[IPAddress, ...]
) -> tuple[Conflict, ...] | None:
    """The conflict annotation to write: the entries for addresses still held; None to keep it."""
    remaining = tuple(c for c in conflicts if c.ip in ingress)
    return None if remaining == conflicts else remaining
