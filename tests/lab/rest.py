"""A small synchronous HTTP client for the API-server tests: exact status codes, raw bodies.

The official client hides status codes behind exceptions and kubectl behind text; these tests
want to see what went over the wire.
"""

import http.client
import json
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

from lab.apiserver.auth import tls
from lab.apiserver.auth.tokens import ADMIN_TOKEN, bearer

T = TypeVar("T")


class Rest:
    """Requests against one server URL; bodies are JSON unless told otherwise."""

    def __init__(self, url: str, *, token: str | None = ADMIN_TOKEN) -> None:
        parsed = urllib.parse.urlsplit(url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 443
        # The servers in this process serve this process's certificate (lab.apiserver.auth.tls).
        self.context = tls.client_context(tls.credentials().ca)
        self.token = token  # the lab's admin by default; None sends no credentials

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        accept: str = "application/json",
        timeout: float = 10,
    ) -> tuple[int, Any]:
        connection = self._connect(timeout)
        try:
            payload = (
                None
                if body is None
                else (body if isinstance(body, bytes) else json.dumps(body).encode())
            )
            headers = {"Accept": accept, **self.credentials()}
            if payload is not None:
                headers["Content-Type"] = content_type
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            raw = response.read()
            try:
                return response.status, json.loads(raw) if raw else None
            except ValueError:
                return response.status, raw.decode()
        finally:
            connection.close()

    def credentials(self) -> dict[str, str]:
        """The Authorization header, when there is a token to send."""
        return {} if self.token is None else bearer(self.token)

    def _connect(self, timeout: float) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(
            self.host, self.port, timeout=timeout, context=self.context
        )

    def get(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> tuple[int, Any]:
        return self.request("POST", path, body, **kwargs)

    def put(self, path: str, body: Any, **kwargs: Any) -> tuple[int, Any]:
        return self.request("PUT", path, body, **kwargs)

    def patch(self, path: str, body: Any, kind: str = "merge", **kwargs: Any) -> tuple[int, Any]:
        types = {
            "merge": "application/merge-patch+json",
            "json": "application/json-patch+json",
            "strategic": "application/strategic-merge-patch+json",
            "apply": "application/apply-patch+yaml",
        }
        return self.request("PATCH", path, body, content_type=types[kind], **kwargs)

    def delete(self, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        return self.request("DELETE", path, body, **kwargs)

    def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        """The body of a request that must succeed (2xx)."""
        status, answer = self.request(method, path, body, **kwargs)
        assert 200 <= status < 300, (status, answer)
        return answer

    def watch(self, path: str, *, until: int | None = None, timeout: float = 5) -> list[Any]:
        """Events of a watch, until the server ends it, `until` events arrived, or `timeout`."""
        connection = self._connect(timeout)
        events: list[Any] = []
        try:
            headers = {"Accept": "application/json", **self.credentials()}
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            assert response.status == 200, response.read()
            assert response.getheader("Content-Type") == "application/json"
            while until is None or len(events) < until:
                try:
                    line = response.readline()
                except TimeoutError:
                    break
                if not line:
                    break
                events.append(json.loads(line))
        finally:
            connection.close()
        return events


def eventually(check: Callable[[], T], *, timeout: float = 10, interval: float = 0.05) -> T:
    """Poll until `check()` returns something truthy (and return it), or fail at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout} s: {check}")
        time.sleep(interval)
