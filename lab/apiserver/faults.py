"""Fault injection for controller tests: fail chosen requests, drop watch streams.

Usage (from the test thread or the server's loop; it is thread-safe):

    rule = server.faults.fail(method="PATCH", resource="services", subresource="status",
                              status=409, times=1)
    ...                      # the next matching request gets a 409 Status; then the rule is spent
    assert rule.hits == 1
    server.faults.drop_watches()      # every open watch stream ends now; clients resume
    server.faults.clear()

A rule matches when every given criterion holds: `method` (GET/POST/PUT/PATCH/DELETE; a watch is
a GET with `watch=true`), `path` (a regex searched in the URL path), `resource` (the plural),
`subresource` ('' for the main resource), `watch` (True/False). `times=None` fails forever.
Failed requests are answered before the cluster sees them, so nothing changes.
"""

import asyncio
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from lab.apiserver.objects.errors import ApiError


@dataclass(slots=True, kw_only=True)
class Rule:
    """One armed fault; `hits` counts the requests it failed."""

    status: int
    message: str
    method: str | None = None
    path: re.Pattern[str] | None = None
    resource: str | None = None
    subresource: str | None = None
    watch: bool | None = None
    remaining: int | None = 1
    hits: int = 0

    def matches(self, method: str, path: str, resource: str, subresource: str, watch: bool) -> bool:
        """Whether a request meets every criterion this rule sets."""
        return (
            (self.method is None or self.method == method)
            and (self.path is None or self.path.search(path) is not None)
            and (self.resource is None or self.resource == resource)
            and (self.subresource is None or self.subresource == subresource)
            and (self.watch is None or self.watch == watch)
        )


@dataclass(slots=True)
class Faults:
    """The armed rules and the open watch streams' closers."""

    rules: list[Rule] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _closers: set[Callable[[], None]] = field(default_factory=set)
    _loop: asyncio.AbstractEventLoop | None = None

    def fail(
        self,
        *,
        status: int = 500,
        times: int | None = 1,
        method: str | None = None,
        path: str | None = None,
        resource: str | None = None,
        subresource: str | None = None,
        watch: bool | None = None,
        message: str = "injected fault",
    ) -> Rule:
        """Arm a rule: the next `times` matching requests get `status`."""
        rule = Rule(
            status=status,
            message=message,
            method=method.upper() if method else None,
            path=re.compile(path) if path is not None else None,
            resource=resource,
            subresource=subresource,
            watch=watch,
            remaining=times,
        )
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Disarm every rule."""
        with self._lock:
            self.rules.clear()

    def check(
        self, method: str, path: str, resource: str, subresource: str, watch: bool
    ) -> ApiError | None:
        """The error to answer this request with, consuming one use of the first matching rule."""
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, path, resource, subresource, watch):
                    rule.hits += 1
                    if rule.remaining is not None:
                        rule.remaining -= 1
                        if rule.remaining <= 0:
                            self.rules.remove(rule)
                    return ApiError(rule.status, rule.message)
        return None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to the server's loop, where watch streams live."""
        self._loop = loop

    def track(self, closer: Callable[[], None]) -> None:
        """Register an open watch stream's closer (called by the server)."""
        with self._lock:
            self._closers.add(closer)

    def untrack(self, closer: Callable[[], None]) -> None:
        """Forget a finished watch stream."""
        with self._lock:
            self._closers.discard(closer)

    def drop_watches(self) -> int:
        """End every open watch stream, as a restarting apiserver would; returns how many."""
        with self._lock:
            closers = list(self._closers)
        for closer in closers:
            if self._loop is None or _in_loop(self._loop):
                closer()
            else:
                self._loop.call_soon_threadsafe(closer)
        return len(closers)


def _in_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
