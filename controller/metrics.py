"""The controller's Prometheus metrics, under MetalLB's names and labels (compat §5).

Shell. Dashboards and alerts written for MetalLB read these unchanged. Gauges named `*_total`
are MetalLB's choice and kept; `metallb_allocator_services_allocated_total` is registered by
MetalLB but never set, so it is not exported here either.
"""

from collections.abc import Iterable

from prometheus_client import Counter, Gauge, disable_created_metrics, start_http_server

from controller.occupancy import PoolUsage
from metalpool.addresses import Family

disable_created_metrics()  # type: ignore[no-untyped-call]  # MetalLB exports no *_created series

_POOL = ["pool"]
ADDRESSES = Gauge("metallb_allocator_addresses_total", "Usable addresses in the pool", _POOL)
ADDRESSES_V4 = Gauge("metallb_allocator_ipv4_addresses_total", "Usable IPv4 addresses", _POOL)
ADDRESSES_V6 = Gauge("metallb_allocator_ipv6_addresses_total", "Usable IPv6 addresses", _POOL)
IN_USE = Gauge("metallb_allocator_addresses_in_use_total", "Addresses in use", _POOL)
IN_USE_V4 = Gauge("metallb_allocator_ipv4_addresses_in_use_total", "IPv4 addresses in use", _POOL)
IN_USE_V6 = Gauge("metallb_allocator_ipv6_addresses_in_use_total", "IPv6 addresses in use", _POOL)
QUARANTINED = Gauge(  # MetalPool's own: MetalLB has no quarantine
    "metalpool_allocator_quarantined_addresses",
    "Addresses of the pool another device holds, never handed out (docs/lan.md)",
    _POOL,
)
_POOL_GAUGES = (ADDRESSES, ADDRESSES_V4, ADDRESSES_V6, IN_USE, IN_USE_V4, IN_USE_V6, QUARANTINED)
UPDATES = Counter("metallb_k8s_client_updates", "Reconciles of a single object")
UPDATE_ERRORS = Counter("metallb_k8s_client_update_errors", "Reconciles that failed")
CONFIG_LOADED = Gauge("metallb_k8s_client_config_loaded_bool", "1 once a configuration loaded")
CONFIG_STALE = Gauge(
    "metallb_k8s_client_config_stale_bool", "1 while some pool is rejected as invalid"
)

_exported: set[str] = set()


def export_usage(usages: Iterable[PoolUsage]) -> None:
    """Set every pool's gauges; drop the series of pools that are gone (as MetalLB does)."""
    current = set()
    for usage in usages:
        current.add(usage.pool)
        v4, v6 = usage.capacity[Family.IPV4], usage.capacity[Family.IPV6]
        used4, used6 = usage.assigned[Family.IPV4], usage.assigned[Family.IPV6]
        ADDRESSES.labels(usage.pool).set(min(v4 + v6, 2**63 - 1))
        ADDRESSES_V4.labels(usage.pool).set(v4)
        ADDRESSES_V6.labels(usage.pool).set(v6)
        IN_USE.labels(usage.pool).set(used4 + used6)
        IN_USE_V4.labels(usage.pool).set(used4)
        IN_USE_V6.labels(usage.pool).set(used6)
        QUARANTINED.labels(usage.pool).set(len(usage.quarantined))
    for gone in _exported - current:
        for gauge in _POOL_GAUGES:
            gauge.remove(gone)
    _exported.clear()
    _exported.update(current)


def serve(port: int) -> None:
    """Serve /metrics on `port` from a background thread (0 disables it)."""
    if port:
        start_http_server(port)
