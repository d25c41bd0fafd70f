"""Running kopf beside our own tasks, in one event loop, and stopping both in the right order.

Shell. Both programs embed kopf for its watches and indexes only. kopf installs its own
SIGTERM/SIGINT handlers when it starts; we take them back once it is ready, because our stop
must run our own steps (release the Lease: peers act at once) before kopf winds down. Our tasks
are started before kopf, so kopf's bookkeeping of "its" tasks leaves them alone.
"""

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Set
from typing import Any

import kopf

from k8s.api import Api
from k8s.credentials import CredentialsError

KOPF_STOP_TIMEOUT = 10.0
OURS_STOP_TIMEOUT = 2.0


class NoDiffBase(kopf.DiffBaseStorage):
    """No essence kept or built: only change handlers compare one, and we register none.

    kopf's default builds the essence of every object on every event (a deep copy of the
    body) to diff it against the one it stored; with event and index handlers only, nothing
    reads that diff and nothing is ever stored.
    """

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence | None:  # type: ignore[override]  # None: no essence, as for an object never handled
        """No essence: kopf then skips its comparison."""
        return None

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        """Nothing was stored."""
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        """Nothing to store (kopf calls this only after change handlers)."""


def settings() -> kopf.OperatorSettings:
    """Kopf as a read-only watcher: it posts no Events, scans nothing and diffs nothing."""
    chosen = kopf.OperatorSettings()
    chosen.posting.enabled = False  # Events are ours to post, with MetalLB's reasons
    chosen.scanning.disabled = True  # cluster-wide watching: no namespace or CRD scanning
    chosen.persistence.diffbase_storage = NoDiffBase()
    return chosen


def login(api: Api) -> kopf.ConnectionInfo:
    """The connection kopf makes: the server, CA and identity of `api` (a fresh token too)."""
    credentials = api.credentials
    token = api.current_token()
    return kopf.ConnectionInfo(
        server=credentials.server,
        ca_data=credentials.ca.read() if credentials.ca else None,
        insecure=credentials.insecure or None,
        scheme="Bearer" if token else None,
        token=token,
        username=None if token else credentials.username,
        password=None if token else credentials.password,
        certificate_data=credentials.certificate.read() if credentials.certificate else None,
        private_key_data=credentials.key.read() if credentials.key else None,
        default_namespace=credentials.namespace,
    )


async def run_beside(
    registry: kopf.OperatorRegistry,
    api: Api,
    ours: Iterable[asyncio.Task[None]],
    stopping: asyncio.Event,
    before_kopf_stops: Callable[[], Awaitable[None]],
) -> Set[asyncio.Task[Any]]:
    """Run kopf until a signal, or until one of `ours` or kopf ends; returns what ended.

    kopf connects as `api` does. On the way out: our tasks are cancelled, `before_kopf_stops`
    runs, then kopf stops.
    """

    @kopf.on.login(registry=registry)
    def connection(**_: Any) -> kopf.ConnectionInfo:
        return login(api)

    ours = list(ours)
    kopf_stop, kopf_ready = asyncio.Event(), asyncio.Event()
    operator = asyncio.create_task(
        kopf.operator(
            registry=registry,
            settings=settings(),
            clusterwide=True,
            standalone=True,
            stop_flag=kopf_stop,
            ready_flag=kopf_ready,
        ),
        name="kopf",
    )
    signals = asyncio.create_task(_take_signals(kopf_ready, stopping), name="signals")
    stopped = asyncio.create_task(stopping.wait(), name="stopped")
    done, _ = await asyncio.wait({*ours, operator, stopped}, return_when=asyncio.FIRST_COMPLETED)
    for task in (*ours, stopped, signals):
        task.cancel()
    # Bounded: one task that ignores its cancellation must not keep the Lease from release.
    _, stuck = await asyncio.wait(ours, timeout=OURS_STOP_TIMEOUT) if ours else (set(), set())
    for task in stuck:
        logging.getLogger(__name__).warning("%s did not stop in time", task.get_name())
    await before_kopf_stops()
    kopf_stop.set()
    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
        await asyncio.wait_for(operator, timeout=KOPF_STOP_TIMEOUT)
    return done


async def _take_signals(kopf_ready: asyncio.Event, stopping: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await kopf_ready.wait()
    for signum in (signal.SIGTERM, signal.SIGINT):  # kopf replaced ours when it started
        loop.add_signal_handler(signum, stopping.set)


def unexpected_end(done: Set[asyncio.Task[Any]], logger: logging.Logger) -> bool:
    """Whether any task in `done` other than the signal watcher ended (and say which)."""
    for task in done:
        if task.get_name() != "stopped":
            error = None if task.cancelled() else task.exception()
            logger.error("%s ended unexpectedly: %r", task.get_name(), error)
            return True
    return False


def run_program(
    program: Callable[[], Coroutine[Any, Any, int]], logger: logging.Logger, *, verbose: bool
) -> int:
    """Log as configured, run `program` in a new event loop; its exit code.

    A program that cannot find how to reach the API server says so in one line and exits 1:
    that is a configuration to fix, not a bug with a traceback.
    """
    configure_logging(verbose)
    try:
        return asyncio.run(program())
    except CredentialsError as error:
        logger.error("cannot reach the API server: %s", error)  # noqa: TRY400 - see above
        return 1


def configure_logging(verbose: bool) -> None:
    """Log to stderr; kopf only says what matters unless --verbose."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("kopf").setLevel(logging.INFO if verbose else logging.WARNING)
