"""The programs' door to the Kubernetes API besides kopf's watches: writes, Events and Leases.

Shell. The official client is synchronous, so each call runs in a worker thread; errors come
back as `ApiError` with the HTTP status (0 when the server could not be reached), which the
caller maps to a retry. Nothing here decides anything.
"""

import asyncio
import functools
import json
import logging
from collections.abc import Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from metalpool import names

logger = logging.getLogger(__name__)
MERGE_PATCH = "application/merge-patch+json"
TIMEOUT = 10  # seconds per request; a hung request must not stall the reconcile loop
LIST_TIMEOUT = 120  # a whole-cluster list at start may be large
WORKERS = 20  # requests in flight at once (status writes, Events, Leases)


class ApiError(Exception):
    """A request the API server refused or never answered."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"HTTP {status}: {message}" if status else message)

    @property
    def is_conflict(self) -> bool:
        """Whether the object changed since it was read (409)."""
        return self.status == 409  # noqa: PLR2004 - HTTP Conflict

    @property
    def is_not_found(self) -> bool:
        """Whether the object does not exist (404)."""
        return self.status == 404  # noqa: PLR2004 - HTTP Not Found

    @property
    def is_refusal(self) -> bool:
        """Whether the server refused the request as it is (4xx): sending it again fails again."""
        return 400 <= self.status < 500  # noqa: PLR2004 - HTTP client errors


def load_config() -> client.ApiClient:
    """A client from KUBECONFIG (or ~/.kube/config), else the in-cluster service account."""
    try:
        config.load_kube_config()  # type: ignore[no-untyped-call]  # the client is untyped here
    except config.ConfigException:
        config.load_incluster_config()  # type: ignore[no-untyped-call]  # the client is untyped here
    configuration = client.Configuration.get_default_copy()
    # One pooled connection per worker thread: the default (5 per CPU) is below WORKERS, and a
    # connection the full pool discards is a new TLS handshake, on both sides, per request.
    configuration.connection_pool_maxsize = WORKERS
    return client.ApiClient(configuration)


class Api:
    """The few calls the controller and the speaker make besides watching."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self._client = api_client
        # Our own pool: asyncio's default one has CPUs + 4 threads, too few for the writers.
        self._executor = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="api")
        self._discovery = client.DiscoveryV1Api(api_client)
        self._core = client.CoreV1Api(api_client)
        self._custom = client.CustomObjectsApi(api_client)
        self._leases = client.CoordinationV1Api(api_client)

    async def patch_service_status(
        self, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> None:
        """Merge-patch a Service's /status (its annotations too: Services accept them there)."""
        await self._call(
            _unread(self._core.patch_namespaced_service_status),
            name,
            namespace,
            patch,
            _content_type=MERGE_PATCH,
        )

    async def patch_pool_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        """Merge-patch an IPAddressPool's /status."""
        await self._call(
            _unread(self._custom.patch_namespaced_custom_object_status),
            names.GROUP,
            names.VERSION,
            namespace,
            names.POOL_PLURAL,
            name,
            {"status": status},
            _content_type=MERGE_PATCH,
        )

    async def create_l2_status(self, namespace: str, body: Mapping[str, Any]) -> str:
        """Create a ServiceL2Status (its name is generated); returns the name."""
        created = await self._call(
            self._custom.create_namespaced_custom_object,
            names.GROUP,
            names.VERSION,
            namespace,
            names.L2_STATUS_PLURAL,
            body,
        )
        return str(created["metadata"]["name"])

    async def patch_l2_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        """Merge-patch a ServiceL2Status's /status."""
        await self._call(
            self._custom.patch_namespaced_custom_object_status,
            names.GROUP,
            names.VERSION,
            namespace,
            names.L2_STATUS_PLURAL,
            name,
            {"status": status},
            _content_type=MERGE_PATCH,
        )

    async def delete_l2_status(self, namespace: str, name: str) -> None:
        """Delete a ServiceL2Status; one already gone is fine."""
        try:
            await self._call(
                self._custom.delete_namespaced_custom_object,
                names.GROUP,
                names.VERSION,
                namespace,
                names.L2_STATUS_PLURAL,
                name,
            )
        except ApiError as error:
            if not error.is_not_found:
                raise

    async def create_event(self, namespace: str, body: Mapping[str, Any]) -> None:
        """Post a core/v1 Event."""
        await self._call(_unread(self._core.create_namespaced_event), namespace, body)

    async def read_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A Lease as a plain dict, or None when there is none."""
        try:
            lease = await self._call(self._leases.read_namespaced_lease, name, namespace)
        except ApiError as failure:
            if failure.is_not_found:
                return None
            raise
        plain: dict[str, Any] = self._client.sanitize_for_serialization(lease)  # type: ignore[no-untyped-call]  # untyped
        return plain

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
            await self._call(self._leases.replace_namespaced_lease, name, namespace, body)
        else:
            await self._call(self._leases.create_namespaced_lease, namespace, body)

    async def list_services(self) -> list[dict[str, Any]]:
        """Every Service in the cluster, as plain dicts (one request, not deserialised twice)."""
        return await self._list(self._core.list_service_for_all_namespaces)

    async def list_endpoint_slices(self) -> list[dict[str, Any]]:
        """Every EndpointSlice in the cluster, as plain dicts."""
        return await self._list(self._discovery.list_endpoint_slice_for_all_namespaces)

    async def _list(self, method: Any) -> list[dict[str, Any]]:
        response = await self._call(method, _preload_content=False, request_timeout=LIST_TIMEOUT)
        items: list[dict[str, Any]] = json.loads(response.data)["items"]
        return items

    async def _call(
        self, method: Any, *args: Any, request_timeout: float = TIMEOUT, **kwargs: Any
    ) -> Any:
        return await call(
            method, *args, request_timeout=request_timeout, executor=self._executor, **kwargs
        )


def _unread(method: Any) -> Any:
    """`method`, its answer read off the connection but never decoded into the client's models.

    For writes whose answer nobody reads: the decoding is work done while holding the GIL the
    event loop needs, for nothing (small: ~0.04 ms per Service answer, one per assigned
    Service). Refusals are still raised (the client checks the status before handing back the
    raw response).
    """

    def send(*args: Any, **kwargs: Any) -> None:
        method(*args, _preload_content=False, **kwargs).data  # noqa: B018 - frees the connection

    return send


async def call(
    method: Any,
    *args: Any,
    request_timeout: float = TIMEOUT,
    executor: Executor | None = None,
    **kwargs: Any,
) -> Any:
    """Run one blocking call of the official client off the loop; its failures as `ApiError`."""
    bound = functools.partial(method, *args, _request_timeout=request_timeout, **kwargs)
    try:
        return await asyncio.get_running_loop().run_in_executor(executor, bound)
    except ApiException as error:
        raise ApiError(error.status or 0, str(error.reason)) from error
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise ApiError(0, f"API server unreachable: {error}") from error
