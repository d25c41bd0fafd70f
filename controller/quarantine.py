"""A pool's quarantine annotation, written (docs/lan.md): the one pool write outside status.

Shell. Kept here rather than in k8s/api.py while the controller is the only program that writes
a pool's metadata (as memberlist.py keeps its Secret calls); errors come back as `k8s.api`'s
`ApiError`, so the reconciler retries them like any other write.
"""

from collections.abc import Mapping
from typing import Any, Protocol

from kubernetes import client

from k8s.api import MERGE_PATCH, call
from metalpool import names


class PoolWriter(Protocol):
    """The one pool call the quarantine needs."""

    async def patch_pool(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        """Merge-patch an IPAddressPool (not its status); raises `ApiError` (409: it changed)."""


class Pools:
    """`PoolWriter` through the official client."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self._custom = client.CustomObjectsApi(api_client)

    async def patch_pool(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        """Merge-patch an IPAddressPool's metadata (its quarantine annotation)."""
        await call(
            self._custom.patch_namespaced_custom_object,
            names.GROUP,
            names.VERSION,
            namespace,
            names.POOL_PLURAL,
            name,
            dict(patch),
            _content_type=MERGE_PATCH,
        )
