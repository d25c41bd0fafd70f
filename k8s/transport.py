"""HTTP to the API server on aiohttp, the stack kopf already loads: requests, and watch streams.

Shell. One keep-alive connection pool per process, on the event loop: no threads and no second
HTTP stack (the official client brought urllib3, its models and 35 MiB; docs/footprint.md).
A refusal comes back as `ApiError` with the HTTP status and the message of the server's Status
body; a server that cannot be reached, or a request that times out, as `ApiError` with status 0.
Nothing here knows a kind: paths are built by `k8s.api`.
"""

import asyncio
import base64
import contextlib
import json
import ssl
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp

from k8s.credentials import Credentials, Pem

JSON = "application/json"
TIMEOUT = 10.0  # seconds per request; a hung request must not stall the reconcile loop
CONNECTIONS = 20  # requests in flight at once (status writes, Events, Leases)
TOKEN_REREAD = 60.0  # seconds a token read from a file is used before it is read again


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
    def is_gone(self) -> bool:
        """Whether a watch's resourceVersion is too old to resume from (410)."""
        return self.status == 410  # noqa: PLR2004 - HTTP Gone

    @property
    def is_refusal(self) -> bool:
        """Whether the server refused the request as it is (4xx): sending it again fails again."""
        return 400 <= self.status < 500  # noqa: PLR2004 - HTTP client errors


class Transport:
    """Requests to one API server as one identity."""

    def __init__(self, credentials: Credentials, *, connections: int = CONNECTIONS) -> None:
        self._credentials = credentials
        self._connections = connections
        self._ssl = tls_context(credentials) if credentials.server.startswith("https:") else None
        self._session: aiohttp.ClientSession | None = None
        self._token: str | None = credentials.token
        self._token_read = -TOKEN_REREAD

    @property
    def credentials(self) -> Credentials:
        """Who this transport speaks as, and to which server."""
        return self._credentials

    def current_token(self) -> str | None:
        """The bearer token to send now (one from a file is re-read once a minute)."""
        path = self._credentials.token_file
        if path is None:
            return self._token
        now = time.monotonic()
        if now - self._token_read >= TOKEN_REREAD:
            # kubelet replaces the file atomically; on a failed read the last token is kept.
            with contextlib.suppress(OSError):
                self._token = path.read_text(encoding="utf-8").strip() or None
            self._token_read = now
        return self._token

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = JSON,
        timeout: float = TIMEOUT,  # noqa: ASYNC109 - per request, passed on to aiohttp
    ) -> Any:
        """Send one request; the decoded JSON answer, or None for an empty one."""
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = {**self._headers(), "Accept": JSON}
        if data is not None:
            headers["Content-Type"] = content_type
        try:
            async with self._open().request(
                method,
                self._credentials.server + path,
                params=query,
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
                ssl=self._ssl_option(),
                server_hostname=self._credentials.server_name,
            ) as response:
                raw = await response.read()
                if response.status >= 300:  # noqa: PLR2004 - not a success
                    raise _refusal(response.status, raw)
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise ApiError(0, f"API server unreachable: {_describe(error)}") from error
        return json.loads(raw) if raw else None

    async def watch(
        self, path: str, query: Mapping[str, str], *, read_timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        """The events of one watch request, as the server sends them, until it ends it.

        An ERROR event is raised as `ApiError` with the Status's code (410: list again).
        """
        try:
            async with self._open().get(
                self._credentials.server + path,
                params={**query, "watch": "true"},
                headers={**self._headers(), "Accept": JSON},
                timeout=aiohttp.ClientTimeout(total=None, sock_read=read_timeout),
                ssl=self._ssl_option(),
                server_hostname=self._credentials.server_name,
            ) as response:
                if response.status >= 300:  # noqa: PLR2004 - not a success
                    raise _refusal(response.status, await response.read())
                ended = False
                try:
                    async for event in _lines(response.content):
                        if event.get("type") == "ERROR":
                            status = event.get("object") or {}
                            code = int(status.get("code") or 0)
                            raise ApiError(code, str(status.get("message")))
                        yield event
                    ended = True
                finally:
                    if not ended:
                        _cut(response)
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise ApiError(0, f"API server unreachable: {_describe(error)}") from error

    async def close(self) -> None:
        """Close the connections (the session is made again if used after)."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections),
                headers={"User-Agent": "metalpool"},
            )
        return self._session

    def _ssl_option(self) -> ssl.SSLContext | bool:
        return self._ssl if self._ssl is not None else False

    def _headers(self) -> dict[str, str]:
        token = self.current_token()
        if token:
            return {"Authorization": f"Bearer {token}"}
        credentials = self._credentials
        if credentials.username is not None:
            pair = f"{credentials.username}:{credentials.password or ''}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        return {}


def tls_context(credentials: Credentials) -> ssl.SSLContext:
    """The client side of TLS: the kubeconfig's CA (else the system's) and client certificate."""
    ca = credentials.ca
    context = ssl.create_default_context(cadata=ca.read().decode() if ca else None)
    if credentials.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if credentials.certificate is not None:
        _load_client_certificate(context, credentials.certificate, credentials.key)
    return context


def _load_client_certificate(context: ssl.SSLContext, certificate: Pem, key: Pem | None) -> None:
    # ssl reads a certificate chain from files only: inline data goes through a private
    # directory that is gone as soon as it is read.
    with tempfile.TemporaryDirectory(prefix="metalpool-") as private:
        certfile = Path(private) / "tls.crt"
        certfile.write_bytes(certificate.read())
        keyfile = None
        if key is not None:
            keyfile = Path(private) / "tls.key"
            keyfile.touch(mode=0o600)
            keyfile.write_bytes(key.read())
        context.load_cert_chain(certfile, keyfile)


def _cut(response: aiohttp.ClientResponse) -> None:
    """Drop a watch given up midway (cancelled, or ended by an ERROR event) at once.

    aiohttp would close it politely, with a TLS close handshake that runs on after the watch is
    gone and may outlive the event loop (a stop, a test's end), leaving its socket to the GC.
    """
    connection = response.connection
    if connection is not None and connection.transport is not None:
        connection.transport.abort()


def _refusal(status: int, raw: bytes) -> ApiError:
    try:
        decoded = json.loads(raw)
        message = str(decoded.get("message") or decoded.get("reason") or "")
    except (ValueError, AttributeError):
        message = raw[:200].decode(errors="replace")
    return ApiError(status, message or f"status {status}")


async def _lines(content: aiohttp.StreamReader) -> AsyncIterator[dict[str, Any]]:
    """Newline-delimited JSON objects, however the chunks split them."""
    pending = b""
    async for chunk in content.iter_any():
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            if line.strip():
                yield json.loads(line)
    if pending.strip():
        yield json.loads(pending)


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError | asyncio.TimeoutError):
        return "timed out"
    return str(error) or type(error).__name__
