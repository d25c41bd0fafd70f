"""The allocator: which address each LoadBalancer Service holds, decided as MetalLB decides it.

Pure, in memory, no I/O; the Services' status is the store of record and the shell replays it
into `claim` on start. Order of preference (compat §3.3): requested IPs ▸ the `address-pool`
annotation ▸ pools whose serviceAllocation selects the Service, by priority ▸ plain autoAssign
pools. Ties between pools are broken by pool name (MetalLB breaks them at random). Inside a pool
the lowest usable address in `spec.addresses` order wins; an address already used by Services
that may share with this one counts as usable. A quarantined address (docs/lan.md) is never
handed out automatically, and a Service holding one it did not ask for is moved; an address a
Service asks for is given even when quarantined. No pool is ever enumerated: cost and memory
follow the addresses in use, not the pools' sizes.
"""

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from controller.families import families_of, family_mismatch, prefers_dual, unallocatable
from controller.occupancy import NamespaceLabels, PoolOccupancy, PoolUsage
from controller.refusals import PoolSkip, PoolVerdict, Reason, Refusal, quoted
from controller.sharing import Terms, sharing_conflict
from metalpool.addresses import Family, IPAddress, is_buggy
from metalpool.pools import Pool
from metalpool.quarantine import Quarantined
from metalpool.services import LBService, ServiceKey

Quarantines = Mapping[str, Mapping[IPAddress, Quarantined]]  # pool name → its quarantine


@dataclass(frozen=True, slots=True, kw_only=True)
class Allocation:
    """The addresses one Service holds, all from one pool (IPv4 first, unless requested)."""

    service: ServiceKey
    pool: str
    ips: tuple[IPAddress, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Eviction:
    """An allocation that a pool change made invalid; it has been released."""

    allocation: Allocation
    refusal: Refusal


class Allocator:
    """Holds every Service's addresses and hands out new ones; see the module docstring."""

    def __init__(
        self,
        pools: Iterable[Pool] = (),
        namespace_labels: NamespaceLabels | None = None,
        quarantines: Quarantines | None = None,
    ) -> None:
        self._pools: dict[str, PoolOccupancy] = {}
        self._index: dict[Family, tuple[list[int], list[tuple[int, PoolOccupancy]]]] = {}
        self._held: dict[ServiceKey, tuple[Allocation, Terms, LBService]] = {}
        self._users: dict[IPAddress, dict[ServiceKey, Terms]] = {}
        self._by_sharing_key: dict[str, set[IPAddress]] = {}
        self.set_pools(pools, namespace_labels, quarantines)

    # ------------------------------------------------------------------ queries

    @property
    def has_pools(self) -> bool:
        """Whether any pool is configured (with none, MetalLB converges no Service)."""
        return bool(self._pools)

    def has_pool(self, name: str) -> bool:
        """Whether a pool called `name` is configured."""
        return name in self._pools

    def holding(self, key: ServiceKey) -> Allocation | None:
        """What `key` holds now."""
        held = self._held.get(key)
        return held[0] if held else None

    def users(self, ip: IPAddress) -> frozenset[ServiceKey]:
        """The Services holding `ip`."""
        return frozenset(self._users.get(ip, ()))

    def pool_of(self, ip: IPAddress) -> Pool | None:
        """The pool `ip` belongs to (an avoided .0/.255 address belongs to none)."""
        state = self._state_of(ip)
        return state.pool if state else None

    def quarantined(self, ip: IPAddress) -> Quarantined | None:
        """The quarantine entry of `ip` in its pool, or None when it is not quarantined."""
        state = self._state_of(ip)
        return state.quarantined.get(ip) if state else None

    def usage(self) -> tuple[PoolUsage, ...]:
        """Every pool's counters, by pool name."""
        return tuple(state.usage(self._users) for _, state in sorted(self._pools.items()))

    # ------------------------------------------------------------------ changes

    def set_pools(
        self,
        pools: Iterable[Pool],
        namespace_labels: NamespaceLabels | None = None,
        quarantines: Quarantines | None = None,
    ) -> tuple[Eviction, ...]:
        """Take a new set of pools (namespace labels, quarantines); release what they disallow.

        Held addresses still inside a pool that accepts the Service are kept, re-attributed to
        that pool if it is another one. The rest are released and returned, each with its reason.
        A quarantine releases nothing here: `allocate` moves the Service when it next runs.
        """
        labels = namespace_labels or {}
        quarantines = quarantines or {}
        self._pools = {
            p.name: PoolOccupancy.build(p, labels, quarantines.get(p.name)) for p in pools
        }
        self._index = {}
        for family in Family:
            spans = sorted(
                (int(r.first), int(r.last), state)
                for state in self._pools.values()
                for r in state.pool.ranges
                if r.family is family
            )
            self._index[family] = ([s[0] for s in spans], [(s[1], s[2]) for s in spans])
        held, self._held, self._users, self._by_sharing_key = self._held, {}, {}, {}
        evictions = []
        for key in sorted(held):
            allocation, terms, service = held[key]
            home = self._home_of(allocation.ips, service)
            if isinstance(home, Refusal):
                evictions.append(Eviction(allocation=allocation, refusal=home))
                continue
            kept = Allocation(service=key, pool=home.pool.name, ips=allocation.ips)
            self._record(kept, terms, service)
        return tuple(evictions)

    def release(self, key: ServiceKey) -> Allocation | None:
        """Free what `key` holds; returns it."""
        held = self._held.pop(key, None)
        if held is None:
            return None
        allocation, terms, _ = held
        for ip in allocation.ips:
            users = self._users[ip]
            del users[key]
            if terms.sharing_key and not any(
                t.sharing_key == terms.sharing_key for t in users.values()
            ):
                self._by_sharing_key[terms.sharing_key].discard(ip)
            if not users:
                del self._users[ip]
                self._mark(ip, in_use=False)
        return allocation

    def claim(self, service: LBService, ips: tuple[IPAddress, ...]) -> Allocation | Refusal:
        """Give `service` exactly `ips` (requested, or held before a restart), if the rules allow.

        Nothing changes on refusal. Claiming what the Service holds already changes nothing.
        """
        if (refusal := unallocatable(service)) is not None:
            return refusal
        if (refusal := family_mismatch(service, ips)) is not None:
            return refusal
        state = self._home_of(ips, service)
        if isinstance(state, Refusal):
            return state
        terms = Terms.of(service)
        for ip in ips:
            conflict = sharing_conflict(service.key, terms, ip, self._users.get(ip, {}))
            if conflict is not None:
                return conflict
        self.release(service.key)
        return self._take(service, state, ips, terms)

    def allocate(self, service: LBService) -> Allocation | Refusal:
        """Make sure `service` holds addresses that fit its current spec; idempotent.

        What it holds is kept while it still fits (requested IPs, requested pool, family, pool
        rules, sharing); otherwise it is released and a new allocation is made by precedence.
        On refusal the Service holds nothing.
        """
        held = self._held.get(service.key)
        if held is not None:
            allocation = held[0]
            wants_other_ips = service.requested_ips and set(service.requested_ips) != set(
                allocation.ips
            )
            wants_other_pool = service.pool and service.pool != allocation.pool
            quarantined = any(
                ip not in service.requested_ips and self.quarantined(ip) for ip in allocation.ips
            )
            if not wants_other_ips and not wants_other_pool and not quarantined:
                kept = self.claim(service, allocation.ips)
                if isinstance(kept, Allocation):
                    return kept
            self.release(service.key)
        if (refusal := unallocatable(service)) is not None:
            return refusal
        if service.requested_ips:
            mismatch = family_mismatch(service, service.requested_ips, requested=True)
            return mismatch or self.claim(service, service.requested_ips)
        if service.pool:
            return self._from_named_pool(service)
        return self._automatically(service)

    def top_up(self, service: LBService) -> Allocation | Refusal | None:
        """Add the missing family to a PreferDualStack Service holding one address (compat §3.4).

        None when there is nothing to add; a Refusal (keeping the single address) when the pool
        has no free address of the other family.
        """
        held = self._held.get(service.key)
        if held is None or not prefers_dual(service) or len(held[0].ips) != 1:
            return None
        allocation, terms, _ = held
        state = self._pools[allocation.pool]
        missing = Family.IPV6 if allocation.ips[0].version == 4 else Family.IPV4  # noqa: PLR2004
        ip = self._first_usable(state, missing, service, terms)
        if ip is None:
            return Refusal(
                reason=Reason.POOL_EXHAUSTED
                if state.offers(missing)
                else Reason.FAMILY_UNAVAILABLE,
                message=f"no available IPs in pool {state.pool.name} for {missing} IPFamily",
            )
        ips = tuple(sorted((*allocation.ips, ip), key=lambda a: a.version))
        return self.claim(service, ips)

    # ------------------------------------------------------------------ allocation paths

    def _from_named_pool(self, service: LBService) -> Allocation | Refusal:
        name = service.pool or ""
        state = self._pools.get(name)
        if state is None:
            return Refusal(reason=Reason.POOL_NOT_FOUND, message=f'unknown pool "{name}"')
        if (why := state.excludes(service)) is not None:
            return Refusal(
                reason=Reason.POOL_INCOMPATIBLE,
                message=f"pool {name} not compatible for ip assignment",
                verdicts=(PoolVerdict(pool=name, skip=PoolSkip.NOT_SELECTED, detail=why),),
            )
        verdicts: list[PoolVerdict] = []
        found = self._best_of([state], service, verdicts)
        if found is not None:
            return found
        family = verdicts[0].family if verdicts else ""
        lacking = all(v.skip is PoolSkip.LACKS_FAMILY for v in verdicts)
        return Refusal(
            reason=Reason.FAMILY_UNAVAILABLE if lacking else Reason.POOL_EXHAUSTED,
            message=f"no available IPs in pool {name} for {family} IPFamily",
            verdicts=tuple(verdicts),
        )

    def _automatically(self, service: LBService) -> Allocation | Refusal:
        verdicts: list[PoolVerdict] = []
        pinned: list[PoolOccupancy] = []
        fallback: list[PoolOccupancy] = []
        for name, state in sorted(self._pools.items()):
            why = state.excludes(service)
            if why is not None:
                verdicts.append(PoolVerdict(pool=name, skip=PoolSkip.NOT_SELECTED, detail=why))
            elif not state.pool.auto_assign:
                verdicts.append(
                    PoolVerdict(
                        pool=name,
                        skip=PoolSkip.AUTO_ASSIGN_DISABLED,
                        detail="autoAssign is false; ask for it with the"
                        " metallb.io/address-pool annotation",
                    )
                )
            else:
                (pinned if state.pool.allocation is not None else fallback).append(state)
        pinned.sort(key=PoolOccupancy.priority)
        for group in (pinned, fallback):
            found = self._best_of(group, service, verdicts)
            if found is not None:
                return found
        return Refusal(
            reason=_reason_for(verdicts, tried=bool(pinned or fallback)),
            message="no available IPs",
            verdicts=tuple(verdicts),
        )

    def _best_of(
        self, group: list[PoolOccupancy], service: LBService, verdicts: list[PoolVerdict]
    ) -> Allocation | None:
        """The first pool of `group` able to serve `service`'s families (compat §3.3)."""
        wanted = families_of(service)
        terms = Terms.of(service)
        partial: dict[Family, Allocation] = {}
        for state in group:
            found: dict[Family, IPAddress] = {}
            for family in wanted:
                ip = self._first_usable(state, family, service, terms)
                if ip is not None:
                    found[family] = ip
                else:
                    verdicts.append(_verdict_without(state, family))
            if len(found) == len(wanted):
                return self._take(service, state, tuple(found.values()), terms)
            for family, ip in found.items():
                partial.setdefault(
                    family, Allocation(service=service.key, pool=state.pool.name, ips=(ip,))
                )
        if prefers_dual(service):
            secondary = Family.IPV4 if service.primary_family is Family.IPV6 else Family.IPV6
            for family in (service.primary_family, secondary):
                if family in partial:
                    chosen = partial[family]
                    return self._take(service, self._pools[chosen.pool], chosen.ips, terms)
        return None

    def _take(
        self, service: LBService, state: PoolOccupancy, ips: tuple[IPAddress, ...], terms: Terms
    ) -> Allocation:
        allocation = Allocation(service=service.key, pool=state.pool.name, ips=ips)
        self._record(allocation, terms, service)
        return allocation

    def _first_usable(
        self, state: PoolOccupancy, family: Family, service: LBService, terms: Terms
    ) -> IPAddress | None:
        """The first address of `family` in `state`'s scan order that `service` may use."""
        if not state.offers(family):
            return None
        best = state.lowest_free(family)
        for ip in self._by_sharing_key.get(terms.sharing_key, ()) if terms.sharing_key else ():
            if Family.of(ip) is not family:
                continue
            position = state.position(ip)
            if position is None or (best is not None and position >= best):
                continue
            if ip in state.quarantined:
                continue
            if sharing_conflict(service.key, terms, ip, self._users[ip]) is None:
                best = position
        return state.numbering[family].address(best[1]) if best is not None else None

    # ------------------------------------------------------------------ bookkeeping

    def _state_of(self, ip: IPAddress) -> PoolOccupancy | None:
        starts, spans = self._index[Family.of(ip)]
        i = bisect_right(starts, int(ip)) - 1
        if i < 0 or spans[i][0] < int(ip):
            return None
        state = spans[i][1]
        # The span found holds ip, so only the pool's avoided .0/.255 addresses remain to rule out.
        return None if state.pool.avoid_buggy_ips and is_buggy(ip) else state

    def _home_of(self, ips: tuple[IPAddress, ...], service: LBService) -> PoolOccupancy | Refusal:
        """The one pool that holds all of `ips` and accepts `service`, or why there is none."""
        states = {self._state_of(ip) for ip in ips}
        state = states.pop() if len(states) == 1 else None
        if state is None:
            return Refusal(
                reason=Reason.REQUESTED_IP_NOT_IN_ANY_POOL,
                message=f"{quoted(ips)} is not allowed in config",
            )
        if service.pool and state.pool.name != service.pool:
            return Refusal(
                reason=Reason.REQUESTED_IP_NOT_IN_REQUESTED_POOL,
                message=f"requested loadBalancer IP(s) {quoted(ips)} is not compatible with"
                f" requested address pool {service.pool}",
            )
        if (why := state.excludes(service)) is not None:
            return Refusal(
                reason=Reason.POOL_INCOMPATIBLE,
                message=f"pool {state.pool.name} not compatible for ip assignment",
                verdicts=(
                    PoolVerdict(pool=state.pool.name, skip=PoolSkip.NOT_SELECTED, detail=why),
                ),
            )
        return state

    def _record(self, allocation: Allocation, terms: Terms, service: LBService) -> None:
        self._held[allocation.service] = (allocation, terms, service)
        for ip in allocation.ips:
            users = self._users.setdefault(ip, {})
            if not users:
                self._mark(ip, in_use=True)
            users[allocation.service] = terms
            if terms.sharing_key:
                self._by_sharing_key.setdefault(terms.sharing_key, set()).add(ip)

    def _mark(self, ip: IPAddress, *, in_use: bool) -> None:
        state = self._state_of(ip)
        if state is not None:
            (state.occupy if in_use else state.vacate)(ip)


def _verdict_without(state: PoolOccupancy, family: Family) -> PoolVerdict:
    if not state.offers(family):
        return PoolVerdict(
            pool=state.pool.name,
            skip=PoolSkip.LACKS_FAMILY,
            detail=f"has no {family} addresses",
            family=family,
        )
    return PoolVerdict(
        pool=state.pool.name,
        skip=PoolSkip.EXHAUSTED,
        detail=f"no {family} address free for this Service ({state.in_use[family]} in use)",
        family=family,
    )


def _reason_for(verdicts: list[PoolVerdict], *, tried: bool) -> Reason:
    if not tried:
        return Reason.NO_POOL_MATCHES
    skips = {v.skip for v in verdicts if v.skip in (PoolSkip.LACKS_FAMILY, PoolSkip.EXHAUSTED)}
    return Reason.FAMILY_UNAVAILABLE if skips == {PoolSkip.LACKS_FAMILY} else Reason.POOL_EXHAUSTED
