"""The programs' door to the Kubernetes API besides kopf's watches: writes, Events and Leases.

Shell. Each method is one request through `k8s.transport`, on the event loop; objects go and
come as plain dicts, as kopf hands them over (no client models: docs/footprint.md). Errors come
back as `ApiError` with the HTTP status (0 when the server could not be reached), which the
caller maps to a retry. Nothing here decides anything.
"""

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

from k8s.credentials import Credentials, load
from k8s.transport import ApiError, Transport
from metalpool import names

__all__ = ["MERGE_PATCH", "Api", "ApiError", "connect"]

logger = logging.getLogger(__name__)
MERGE_PATCH = "application/merge-patch+json"
LIST_TIMEOUT = 120.0  # a whole-cluster list at start may be large
LEASES = "/apis/coordination.k8s.io/v1"
CUSTOM = f"/apis/{names.GROUP}/{names.VERSION}"
SERVICES = "/api/v1/services"  # every namespace's
ENDPOINT_SLICES = "/apis/discovery.k8s.io/v1/endpointslices"  # every namespace's


def connect(credentials: Credentials | None = None) -> "Api":
    """An `Api` for KUBECONFIG (or ~/.kube/config), else the in-cluster ServiceAccount."""
    chosen = credentials or load()
    logger.info("API server %s (%s)", chosen.server, chosen.source)
    return Api(Transport(chosen))


def _at(*segments: str) -> str:
    return "/" + "/".join(quote(segment, safe="") for segment in segments)


def _core(namespace: str, plural: str, name: str = "", *rest: str) -> str:
    return "/api/v1" + _at("namespaces", namespace, plural, *filter(None, (name, *rest)))


def _custom(namespace: str, plural: str, name: str = "", *rest: str) -> str:
    return CUSTOM + _at("namespaces", namespace, plural, *filter(None, (name, *rest)))


def _lease(namespace: str, name: str = "") -> str:
    return LEASES + _at("namespaces", namespace, "leases", *filter(None, (name,)))


class Api:
    """The few calls the controller and the speaker make besides kopf's watches."""

    def __init__(self, transport: Transport) -> None:
        self._http = transport
        self.credentials = transport.credentials

    def current_token(self) -> str | None:
        """The bearer token requests carry now (for kopf's own connection)."""
        return self._http.current_token()

    async def close(self) -> None:
        """Close the connections."""
        await self._http.close()

    # ---------------------------------------------------------------- Services and Events

    async def patch_service_status(
        self, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> None:
        """Merge-patch a Service's /status (its annotations too: Services accept them there)."""
        await self._patch(_core(namespace, "services", name, "status"), patch)

    async def create_event(self, namespace: str, body: Mapping[str, Any]) -> None:
        """Post a core/v1 Event."""
        await self._http.request("POST", _core(namespace, "events"), body=body)

    # ---------------------------------------------------------------- our custom resources

    async def patch_pool(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        """Merge-patch an IPAddressPool, not its status (its quarantine annotation)."""
        await self._patch(_custom(namespace, names.POOL_PLURAL, name), patch)

    async def patch_pool_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        """Merge-patch an IPAddressPool's /status."""
        path = _custom(namespace, names.POOL_PLURAL, name, "status")
        await self._patch(path, {"status": status})

    async def create_l2_status(self, namespace: str, body: Mapping[str, Any]) -> str:
        """Create a ServiceL2Status (its name is generated); returns the name."""
        path = _custom(namespace, names.L2_STATUS_PLURAL)
        created = await self._http.request("POST", path, body=body)
        return str(created["metadata"]["name"])

    async def patch_l2_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        """Merge-patch a ServiceL2Status's /status."""
        path = _custom(namespace, names.L2_STATUS_PLURAL, name, "status")
        await self._patch(path, {"status": status})

    async def delete_l2_status(self, namespace: str, name: str) -> None:
        """Delete a ServiceL2Status; one already gone is fine."""
        try:
            await self._http.request("DELETE", _custom(namespace, names.L2_STATUS_PLURAL, name))
        except ApiError as error:
            if not error.is_not_found:
                raise

    # ---------------------------------------------------------------- Secrets and ConfigMaps

    async def read_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A Secret as a plain dict, or None when there is none."""
        return await self._read(_core(namespace, "secrets", name))

    async def create_secret(self, namespace: str, body: Mapping[str, Any]) -> None:
        """Create a Secret (409 when it already exists)."""
        await self._http.request("POST", _core(namespace, "secrets"), body=body)

    async def read_config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A ConfigMap as a plain dict, or None when there is none."""
        return await self._read(_core(namespace, "configmaps", name))

    # ---------------------------------------------------------------- Leases

    async def read_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A Lease as a plain dict, or None when there is none."""
        return await self._read(_lease(namespace, name))

    async def write_lease(
        self, namespace: str, name: str, spec: Mapping[str, Any], resource_version: str
    ) -> None:
        """Create the Lease, or replace it if `resource_version` (its last seen version) is set."""
        body: dict[str, Any] = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name, "namespace": namespace},
            "spec": dict(spec),
        }
        if resource_version:
            body["metadata"]["resourceVersion"] = resource_version
            await self._http.request("PUT", _lease(namespace, name), body=body)
        else:
            await self._http.request("POST", _lease(namespace), body=body)

    @staticmethod
    def leases_at(namespace: str) -> str:
        """The path of one namespace's Leases (to list and watch)."""
        return _lease(namespace)

    # ---------------------------------------------------------------- any collection

    async def list_at(self, path: str) -> tuple[list[dict[str, Any]], str]:
        """A collection's items, and the list's resourceVersion to watch from."""
        listed = await self._http.request("GET", path, timeout=LIST_TIMEOUT)
        version = str((listed.get("metadata") or {}).get("resourceVersion") or "")
        return list(listed.get("items") or []), version

    def watch_at(
        self, path: str, query: Mapping[str, str], *, seconds: int
    ) -> AsyncIterator[dict[str, Any]]:
        """A collection's changes (`query` has the resourceVersion), until the server ends it."""
        asked = {**query, "timeoutSeconds": str(seconds)}
        return self._http.watch(path, asked, read_timeout=seconds + 15)

    # ---------------------------------------------------------------- the requests

    async def _patch(self, path: str, patch: Mapping[str, Any]) -> None:
        await self._http.request("PATCH", path, body=patch, content_type=MERGE_PATCH)

    async def _read(self, path: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = await self._http.request("GET", path)
        except ApiError as error:
            if error.is_not_found:
                return None
            raise
        return found
