"""Holding a coordination.k8s.io Lease: the controller's leadership, each speaker's liveness.

Shell. A process that finds the Lease held by a live peer waits and retries; the holder renews
it well before it runs out, and gives it up on a graceful stop so peers act within a retry
period instead of a whole lease duration. A holder that cannot renew in time is told so
(`LeaseLost`): a controller must stop allocating, a speaker must stop answering. Whether a peer's
claim has run out is judged by this process's monotonic clock (`metalpool.leases.is_claimable`);
the wall clock is only written into the Lease, never compared.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from k8s.api import Api, ApiError
from metalpool.leases import (
    Observation,
    claim_spec,
    is_claimable,
    observe,
    parse_lease,
    release_spec,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaseSettings:
    """Timings, as client-go's leader election uses them (15 s / 5 s / 2 s by default)."""

    namespace: str
    name: str = "metalpool-controller"
    identity: str
    duration: float = 15.0
    renew_every: float = 5.0
    retry_every: float = 2.0


class LeaseLost(Exception):  # noqa: N818 - an event, not an error in our code
    """Another replica holds the Lease now, or it could not be renewed in time."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LeaseHolder:
    """Acquire, keep and release one Lease (the controller's, or a speaker's own)."""

    def __init__(
        self,
        api: Api,
        settings: LeaseSettings,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._api = api
        self._settings = settings
        self._monotonic = monotonic  # judges peers' claims and our own renewals
        self._wall = wall  # only written into the Lease (the API's format)
        self._seen: Observation | None = None
        self._claimed_at = 0.0  # monotonic start of the last successful take or renewal
        self.holds_lease = False

    async def acquire(self) -> None:
        """Return once this replica holds the Lease; wait as long as a live peer holds it."""
        settings = self._settings
        announced = unreadable = False
        while True:
            try:
                if await self._try_claim():
                    break
            except ApiError as error:
                # Not a reason to lead, nor to die: client-go retries a failed Get the same way.
                if not unreadable:
                    logger.warning("could not read Lease %s (retrying): %s", settings.name, error)
                unreadable = True
            else:
                unreadable = False
                if not announced:
                    logger.info("standing by: another holder has Lease %s", settings.name)
                    announced = True
            await asyncio.sleep(settings.retry_every)
        logger.info(
            "holding Lease %s/%s as %s", settings.namespace, settings.name, settings.identity
        )
        self.holds_lease = True

    async def keep(self) -> None:
        """Renew until the Lease is lost; then raise `LeaseLost`."""
        settings = self._settings
        while True:
            await asyncio.sleep(settings.renew_every)
            try:
                renewed = await self._try_claim()
            except ApiError as error:
                logger.warning("could not renew Lease %s: %s", settings.name, error)
                renewed = None
            # Counted from the start of the last good attempt: peers saw that write no earlier.
            expired = self._monotonic() - self._claimed_at >= settings.duration
            if renewed is False or (not renewed and expired):
                self.holds_lease = False
                raise LeaseLost(f"Lease {settings.name} is no longer ours")

    async def release(self) -> None:
        """Give the Lease up so a standby takes over at once (best effort)."""
        settings = self._settings
        if not self.holds_lease:
            return
        self.holds_lease = False
        try:
            raw = await self._api.read_lease(settings.namespace, settings.name)
            if raw is None:
                return
            current = parse_lease(raw)
            if current.holder == settings.identity:
                spec = release_spec(current, self._wall())
                await self._api.write_lease(
                    settings.namespace, settings.name, spec, current.resource_version
                )
                logger.info("released Lease %s", settings.name)
        except ApiError as error:
            logger.warning("could not release Lease %s: %s", settings.name, error)

    async def _try_claim(self) -> bool:
        """Take or renew the Lease; False while a live peer holds it (or a race was lost)."""
        settings = self._settings
        started = self._monotonic()
        raw = await self._api.read_lease(settings.namespace, settings.name)
        current = parse_lease(raw) if raw is not None else None
        now = self._monotonic()
        self._seen = observe(self._seen, current, now)
        if not is_claimable(self._seen, settings.identity, now, settings.duration):
            return False
        spec = claim_spec(current, settings.identity, self._wall(), settings.duration)
        try:
            await self._api.write_lease(
                settings.namespace,
                settings.name,
                spec,
                current.resource_version if current else "",
            )
        except ApiError as error:
            if error.is_conflict:
                return False  # someone else wrote it first; read again next time
            raise
        self._claimed_at = started
        return True
