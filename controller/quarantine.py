"""A pool's quarantine annotation, written (docs/lan.md): the one pool write outside status.

The seam the reconciler writes it through: `k8s.api.Api.patch_pool` in the program, a fake in
tests. Errors are `k8s.api`'s `ApiError`, so the reconciler retries them like any other write.
"""

from collections.abc import Mapping
from typing import Any, Protocol


class PoolWriter(Protocol):
    """The one pool call the quarantine needs."""

    async def patch_pool(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        """Merge-patch an IPAddressPool (not its status); raises `ApiError` (409: it changed)."""
