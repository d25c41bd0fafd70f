"""Running the API server: in the caller's event loop, or in a thread of its own.

(`python -m lab.apiserver` runs it as a process; `lab.apiserver.process` drives that one.)

In async code:

    async with ApiServer() as server:          # port 0: a free port on 127.0.0.1
        ...server.url...

From synchronous code (pytest fixtures, kopf's KopfRunner, kubectl subprocesses):

    with ApiServerThread() as server:
        write_kubeconfig(path, server.url, ca=server.ca)
        server.faults.fail(method="PATCH", resource="services", status=503)
        server.call(lambda: server.cluster.store.compact())   # run code in the server's loop

The cluster state belongs to the server's loop: touch `server.cluster` only through `call()`
when the server runs in a thread. `faults` is thread-safe. An outage (`go_dark`, then
`serve_again`) closes every listener and connection but keeps the cluster, as a restarting
kube-apiserver keeps etcd; it listens again on the same port and on fresh sockets from the
openers given to `serve_with`.
"""

import asyncio
import logging
import socket
import threading
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Self, TypeVar

from aiohttp import web

from lab.apiserver.auth import tls
from lab.apiserver.auth.access import Access
from lab.apiserver.faults import Faults
from lab.apiserver.http.server import RequestRecord, ServerState, build_app
from lab.apiserver.objects.cluster import Cluster
from lab.apiserver.objects.store import DEFAULT_HISTORY

logger = logging.getLogger(__name__)
T = TypeVar("T")
JOURNAL_SIZE = 10_000


class ApiServer:
    """The emulated API server on an aiohttp runner, listening on host:port (0 = any free)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        history: int = DEFAULT_HISTORY,
        credentials: tls.Credentials | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.credentials = credentials or tls.credentials()
        self._tls = tls.server_context(self.credentials)
        self.cluster = Cluster(history=history)
        self.faults = Faults()
        self.requests: deque[RequestRecord] = deque(maxlen=JOURNAL_SIZE)
        self.access = Access()  # kept across outages: the tokens it issued stay valid
        self._runner: web.AppRunner | None = None
        self._openers: list[Callable[[], socket.socket]] = []

    @property
    def url(self) -> str:
        """The base URL clients use: `https://127.0.0.1:PORT`."""
        return f"https://{self.host}:{self.port}"

    @property
    def ca(self) -> bytes:
        """The PEM CA certificate clients must trust (kubeconfig certificate-authority-data)."""
        return self.credentials.ca

    @property
    def is_serving(self) -> bool:
        """Whether it listens (started, and not dark)."""
        return self._runner is not None

    async def start(self) -> None:
        """Bind and serve; `port` becomes the real port when it was 0."""
        self.faults.attach(asyncio.get_running_loop())
        app = build_app(ServerState(self.cluster, self.faults, self.requests, self.access))
        # handler_cancellation ends a watch handler when its client disconnects.
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port, ssl_context=self._tls).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])  # the real port when 0 was asked
        logger.info("API server listening on %s", self.url)

    async def serve_on(self, sock: socket.socket) -> None:
        """Also serve on an already listening socket (one bound inside a network namespace)."""
        if self._runner is None:
            raise RuntimeError("start the server first")
        await web.SockSite(self._runner, sock, ssl_context=self._tls).start()

    async def serve_with(self, opener: Callable[[], socket.socket]) -> None:
        """Also serve on a listening socket from `opener`: one now, a fresh one after an outage.

        While dark, `opener` is only remembered; `serve_again` calls it.
        """
        self._openers.append(opener)
        if self.is_serving:
            await self.serve_on(opener())

    async def go_dark(self) -> None:
        """An outage: stop listening, end every watch, close every connection; keep the cluster."""
        await self.stop()
        logger.info("API server dark: no listener, no connection")

    async def serve_again(self) -> None:
        """End an outage: listen on the same port, and on a fresh socket from every opener."""
        if self.is_serving:
            return
        await self.start()
        for opener in self._openers:
            await self.serve_on(opener())

    async def stop(self) -> None:
        """End all watches and stop serving."""
        self.faults.drop_watches()
        if self._runner is not None:
            server = self._runner.server
            handlers = server.connections if server is not None else []
            transports = [h.transport for h in handlers if h.transport is not None]
            await self._runner.cleanup()
            # A TLS transport's close waits for the peer's close_notify (up to 30 s), longer
            # than the loop may live: cut what is left, as a crashing server would.
            for transport in transports:
                transport.abort()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.stop()


class ApiServerThread:
    """An `ApiServer` in a daemon thread with its own event loop, for synchronous callers."""

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, history: int = DEFAULT_HISTORY
    ) -> None:
        self._server = ApiServer(host=host, port=port, history=history)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="apiserver", daemon=True)

    @property
    def url(self) -> str:
        """The base URL clients use."""
        return self._server.url

    @property
    def ca(self) -> bytes:
        """The PEM CA certificate clients must trust."""
        return self._server.ca

    @property
    def faults(self) -> Faults:
        """The fault-injection rules (thread-safe)."""
        return self._server.faults

    @property
    def cluster(self) -> Cluster:
        """The cluster state; read or change it only via `call()`."""
        return self._server.cluster

    @property
    def access(self) -> Access:
        """The authentication and RBAC gate (its `denied` list is read by tests)."""
        return self._server.access

    @property
    def requests(self) -> deque[RequestRecord]:
        """The journal of recent requests (appended by the server thread)."""
        return self._server.requests

    def start(self) -> None:
        """Start the thread and wait until the server listens."""
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._error is not None:
            raise RuntimeError("the API server failed to start") from self._error
        if not self._ready.is_set():
            raise RuntimeError("the API server did not start within 30 s")

    def stop(self) -> None:
        """Stop the server and join the thread."""
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._server.stop(), self._loop).result(timeout=30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)

    def serve_on(self, sock: socket.socket) -> None:
        """Also serve on `sock` (see `ApiServer.serve_on`)."""
        asyncio.run_coroutine_threadsafe(self._server.serve_on(sock), self._loop).result(30)

    def call(self, function: Callable[[], T], timeout: float = 30) -> T:
        """Run `function()` in the server's loop, where the cluster state lives."""

        async def run() -> T:
            return function()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=timeout)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._server.start())
        except Exception as error:
            logger.exception("the API server failed to start")
            self._error = error
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
